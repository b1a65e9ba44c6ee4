"""Does a maze planner hold its answer? Plain iteration (no damping, no halting) over a long
horizon, printing per-cell accuracy, greedy success and the residual at checkpoints.

A planner that holds its answer keeps its accuracy once reached while its residual falls; one that
drifts passes through a nearly right field and leaves it. Accuracy is also split by the cells'
distance from the goal (``--distance-bins``), which shows where a field goes wrong: beyond the
distances seen in training, or near the goal after a wrong plan from far away has spread back;
with bins, the table also gives the iteration from which the cells of each bin stay right (a
planner whose plan spreads from the goal settles far cells late, one that guesses settles them
early).

    python -m bench.holding --checkpoint fpr_agents/checkpoints/maze.safetensors --sizes 15
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from envs.maze import MOVES
from fpr_agents.arguments import parse_args
from fpr_agents.checkpoints import shipped_checkpoint
from train.common import load_planner
from train.oracle_data import MazeOracle, cell_correct


def reaches_goal(
    moves: torch.Tensor, grid: torch.Tensor, goals: Sequence[tuple[int, int]]
) -> torch.Tensor:
    """Which cells reach the goal by following the field's moves (a move into a wall stays put).

    Pointer jumping: each cell's successor is composed with itself ``ceil(log2(H * W))`` times, so
    every path of up to ``H * W`` moves is followed without a Python loop over cells.

    :param moves: (B, H, W) long, the move index at each cell (into ``envs.maze.MOVES``).
    :param grid: (B, H, W), 0 on walls.
    :param goals: each maze's goal (row, col).
    :return: (B, H, W) bool, True where following the moves ends on the goal.
    """
    batch, height, width = moves.shape
    rows = torch.arange(height).view(1, height, 1).expand(batch, height, width)
    cols = torch.arange(width).view(1, 1, width).expand(batch, height, width)
    steps = torch.tensor(MOVES)  # (4, 2)
    to_row = (rows + steps[moves, 0]).clamp(0, height - 1)
    to_col = (cols + steps[moves, 1]).clamp(0, width - 1)
    free = grid.flatten(1) != 0  # (B, H*W)
    target = (to_row * width + to_col).flatten(1)  # (B, H*W)
    blocked = ~free.gather(1, target)
    here = (rows * width + cols).flatten(1)
    successor = torch.where(blocked, here, target)  # (B, H*W)
    for b, (goal_row, goal_col) in enumerate(goals):
        successor[b, goal_row * width + goal_col] = goal_row * width + goal_col
    for _ in range(max(1, math.ceil(math.log2(height * width)))):
        successor = successor.gather(1, successor)
    goal_index = torch.tensor([r * width + c for r, c in goals]).unsqueeze(1)  # (B, 1)
    return (successor == goal_index).view(batch, height, width)


def trace(
    checkpoint: str,
    size: int,
    mazes: int,
    horizon: int,
    marks: Sequence[int],
    seed: int,
    distance_bins: Sequence[int] = (),
) -> list[dict[str, Any]]:
    """Iterate the planner's map from z = 0 and score the readout at each mark.

    :param checkpoint: a maze planner checkpoint.
    :param size: maze side.
    :param mazes: mazes in the batch.
    :param horizon: iterations to run.
    :param marks: iterations at which to score.
    :param seed: seed of the mazes.
    :param distance_bins: increasing edges of the distance-from-goal bins; the accuracy of the
        cells in [0, e1), [e1, e2), ..., [e_last, inf) is reported (empty: no split).
    :return: one row per mark: iteration, cell accuracy, greedy success, ``reach_share`` (the
        share of cells from which following the field reaches the goal, by any path), median and
        max residual,
        ``accuracy_by_distance`` (one value per bin, NaN for a bin without cells),
        ``cells_by_distance`` (the cells in each bin) and ``settled_by_distance`` (per bin, the
        median over the cells right at this mark of the iteration from which each has stayed
        right; NaN for a bin with none).
    """
    edges = [int(e) for e in distance_bins]
    if any(e <= 0 for e in edges) or edges != sorted(set(edges)):
        raise ValueError(f"distance bins must be increasing positive integers, got {edges}")
    planner = load_planner(checkpoint)
    source = MazeOracle()
    batch = source.batch_from_sizes([size] * mazes, np.random.default_rng(seed))
    distance = batch.extra["distance"]  # (B, H, W), -1 off the free squares
    goals = [tuple(goal) for goal in batch.extra["goal"]]
    bins = [0, *edges, np.inf]
    rows = []
    settled = torch.ones(distance.shape, dtype=torch.long)  # iteration from which a cell is right
    with torch.no_grad():
        x, mask = planner.embed(batch.obs)  # (B, H, W, d)
        z = torch.zeros_like(x)
        for iteration in range(1, horizon + 1):
            f_z = planner.reasoner.step(z, x, mask)
            change = (f_z - z).abs().amax(dim=(1, 2, 3))
            residual = change / (f_z.abs().amax(dim=(1, 2, 3)) + 1e-6)  # (B,)
            z = f_z
            if edges or iteration in marks:
                logits = source.cell_logits(planner, z)
                correct = cell_correct(logits, batch.optimal)  # (B, H, W)
                settled[~correct] = iteration + 1
            if iteration in marks:
                accuracy = correct[batch.cells].float().mean()
                by_distance, counts, settle = [], [], []
                for low, high in itertools.pairwise(bins):
                    cells = batch.cells & (distance >= low) & (distance < high)
                    share = correct[cells].float().mean() if cells.any() else torch.tensor(np.nan)
                    by_distance.append(float(share))
                    counts.append(int(cells.sum()))
                    right = settled[cells & correct].float()
                    settle.append(float(right.median()) if right.numel() else float("nan"))
                rows.append(
                    {
                        "iteration": iteration,
                        "cell_accuracy": float(accuracy),
                        "greedy_success": float(source.greedy_success(logits, batch).mean()),
                        "reach_share": float(
                            reaches_goal(logits.argmax(-1), batch.obs["grid"], goals)[batch.cells]
                            .float()
                            .mean()
                        ),
                        "residual_median": float(residual.median()),
                        "residual_max": float(residual.max()),
                        "accuracy_by_distance": by_distance,
                        "cells_by_distance": counts,
                        "settled_by_distance": settle,
                    }
                )
    return rows


@dataclass
class HoldingArgs:
    """Arguments of ``python -m bench.holding``: every field is a ``--flag``."""

    checkpoint: str | None = field(
        default=None, metadata={"help": "maze planner (none: the shipped one)"}
    )
    sizes: tuple[int, ...] = field(default=(15,), metadata={"help": "maze sides"})
    mazes: int = field(default=16, metadata={"help": "mazes per size"})
    horizon: int = field(default=400, metadata={"help": "iterations to run"})
    seed: int = field(default=5, metadata={"help": "seed of the mazes"})
    threads: int = field(default=1, metadata={"help": "torch CPU threads"})
    distance_bins: tuple[int, ...] = field(
        default=(),
        metadata={
            "help": "edges of distance-from-goal bins for split accuracy, e.g. 40,80,160 "
            "(empty: none)"
        },
    )

    def __post_init__(self) -> None:
        if not self.sizes:
            raise ValueError("--sizes: give at least one maze side")
        bins = list(self.distance_bins)
        if any(e <= 0 for e in bins) or bins != sorted(set(bins)):
            raise ValueError(
                f"--distance-bins must be increasing positive integers, got {self.distance_bins}"
            )


def main(argv: Sequence[str] | None = None) -> dict[int, list[dict[str, Any]]]:
    """Run the trace for each size and print a table per size.

    :param argv: command-line arguments.
    :return: size -> rows.
    """
    args = parse_args(HoldingArgs, argv, (__doc__ or "").splitlines()[0])
    edges = list(args.distance_bins)
    torch.set_num_threads(args.threads)
    checkpoint = args.checkpoint or str(shipped_checkpoint("maze"))
    marks = [m for m in (1, 10, 25, 50, 100, 150, 200, 300, 400, 600, 800) if m <= args.horizon]
    marks = sorted({*marks, args.horizon})
    results = {}
    for size in args.sizes:
        rows = trace(checkpoint, size, args.mazes, args.horizon, marks, args.seed, edges)
        results[size] = rows
        bounds = [0, *edges]
        labels = [f"d {lo}-{hi}" for lo, hi in zip(bounds[:-1], edges, strict=True)]
        labels += [f"d >= {bounds[-1]}"] if edges else []
        print(f"\nsize {size}, {args.mazes} mazes, plain iteration from z = 0")
        header = [
            "iteration",
            "cell accuracy",
            "greedy success",
            "cells reaching the goal",
            "residual median",
            "residual max",
            *labels,
        ]
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for r in rows:
            cells = [
                str(r["iteration"]),
                f"{r['cell_accuracy']:.3f}",
                f"{r['greedy_success']:.2f}",
                f"{r['reach_share']:.3f}",
                f"{r['residual_median']:.1e}",
                f"{r['residual_max']:.1e}",
                # without bins the split is one bin, all cells: no column
                *(f"{a:.3f}" for a in r["accuracy_by_distance"][: len(labels)]),
            ]
            print("| " + " | ".join(cells) + " |")
        if edges:
            last = rows[-1]
            settle = ", ".join(
                f"{label}: {value:.0f}"
                for label, value in zip(labels, last["settled_by_distance"], strict=True)
            )
            print(
                f"iteration from which a cell stays right, median over the cells right at "
                f"iteration {last['iteration']}: {settle}"
            )
    return results


if __name__ == "__main__":
    main()
