"""Does a maze planner hold its answer? Plain iteration (no damping, no halting) over a long
horizon, printing per-cell accuracy, greedy success and the residual at checkpoints.

A planner that holds its answer keeps its accuracy once reached while its residual falls; one that
drifts passes through a nearly right field and leaves it.

    python -m bench.holding --checkpoint fpr_agents/checkpoints/maze.safetensors --sizes 15
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np
import torch

from fpr_agents.checkpoints import shipped_checkpoint
from train.common import load_planner
from train.oracle_data import MazeOracle, cell_correct


def trace(
    checkpoint: str, size: int, mazes: int, horizon: int, marks: Sequence[int], seed: int
) -> list[dict[str, float]]:
    """Iterate the planner's map from z = 0 and score the readout at each mark.

    :param checkpoint: a maze planner checkpoint.
    :param size: maze side.
    :param mazes: mazes in the batch.
    :param horizon: iterations to run.
    :param marks: iterations at which to score.
    :param seed: seed of the mazes.
    :return: one row per mark: iteration, cell accuracy, greedy success, median and max residual.
    """
    planner = load_planner(checkpoint)
    source = MazeOracle()
    batch = source.batch_from_sizes([size] * mazes, np.random.default_rng(seed))
    rows = []
    with torch.no_grad():
        x, mask = planner.embed(batch.obs)  # (B, H, W, d)
        z = torch.zeros_like(x)
        for iteration in range(1, horizon + 1):
            f_z = planner.reasoner.step(z, x, mask)
            change = (f_z - z).abs().amax(dim=(1, 2, 3))
            residual = change / (f_z.abs().amax(dim=(1, 2, 3)) + 1e-6)  # (B,)
            z = f_z
            if iteration in marks:
                logits = source.cell_logits(planner, z)
                accuracy = cell_correct(logits, batch.optimal)[batch.cells].float().mean()
                rows.append(
                    {
                        "iteration": iteration,
                        "cell_accuracy": float(accuracy),
                        "greedy_success": float(source.greedy_success(logits, batch).mean()),
                        "residual_median": float(residual.median()),
                        "residual_max": float(residual.max()),
                    }
                )
    return rows


def main(argv: Sequence[str] | None = None) -> dict[int, list[dict[str, float]]]:
    """Run the trace for each size and print a table per size.

    :param argv: command-line arguments.
    :return: size -> rows.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="maze planner (default: shipped)")
    parser.add_argument("--sizes", default="15", help="maze sides, comma-separated")
    parser.add_argument("--mazes", type=int, default=16, help="mazes per size")
    parser.add_argument("--horizon", type=int, default=400, help="iterations to run")
    parser.add_argument("--seed", type=int, default=5, help="seed of the mazes")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    checkpoint = args.checkpoint or str(shipped_checkpoint("maze"))
    marks = [m for m in (1, 10, 25, 50, 100, 150, 200, 300, 400, 600, 800) if m <= args.horizon]
    marks = sorted({*marks, args.horizon})
    results = {}
    for size in (int(s) for s in args.sizes.split(",")):
        rows = trace(checkpoint, size, args.mazes, args.horizon, marks, args.seed)
        results[size] = rows
        print(f"\nsize {size}, {args.mazes} mazes, plain iteration from z = 0")
        print("| iteration | cell accuracy | greedy success | residual median | residual max |")
        print("|---|---|---|---|---|")
        for r in rows:
            print(
                f"| {r['iteration']} | {r['cell_accuracy']:.3f} | {r['greedy_success']:.2f} | "
                f"{r['residual_median']:.1e} | {r['residual_max']:.1e} |"
            )
    return results


if __name__ == "__main__":
    main()
