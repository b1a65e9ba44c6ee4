"""Train the shape head of an ARC planner on generated concept tasks of every family, alone.

The rest of the planner is frozen and its weights are copied unchanged; the output checkpoint is
the input one with the head's weights added (or replaced) and a ``shape_head`` record in its
JSON (command, arguments, steps, accuracy per family on unseen tasks). The head reads only the
demo pairs, the test input and their extents (``fpr_agents.policy.arc_shape``).

    python -m train.arc_shape --checkpoint arc_concepts --out runs/arc_shape/arc.safetensors
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from envs.arc_concepts import CONCEPT_FAMILIES
from fpr_agents.arguments import flat_values
from fpr_agents.checkpoints.files import PLANNER_PREFIXES, resolve_checkpoint
from fpr_agents.policy.arc_shape import top_shapes
from fpr_agents.policy.planner import PlannerNetwork
from train.common import (
    cli,
    env_task_description,
    load_checkpoint,
    load_planner,
    parse_args,
    save_checkpoint,
)
from train.oracle_data import ArcConceptOracle, OracleBatch


@dataclass
class ArcShapeArgs:
    """Arguments of ``python -m train.arc_shape``: every field is a ``--flag``."""

    checkpoint: str = field(
        default="arc_concepts", metadata={"help": "ARC planner (a shipped name or a file)"}
    )
    out: str = field(
        default="runs/arc_shape/arc_concepts.safetensors",
        metadata={"help": "checkpoint to write (the planner with its trained shape head)"},
    )
    env: str = field(default="FPR/ARC-Concepts-v0", metadata={"help": "env the planner plays"})
    families: tuple[str, ...] = field(
        default=CONCEPT_FAMILIES,
        metadata={"help": "concept families of the training tasks", "choices": CONCEPT_FAMILIES},
    )
    max_depth: int = field(default=2, metadata={"help": "longest composition trained on"})
    steps: int = field(default=300, metadata={"help": "optimizer steps"})
    batch_size: int = field(default=64, metadata={"help": "tasks per step"})
    lr: float = field(default=0.01, metadata={"help": "Adam learning rate"})
    seed: int = field(default=0, metadata={"help": "seed of the training tasks"})
    eval_tasks: int = field(default=128, metadata={"help": "unseen tasks per family to score"})
    eval_seed: int = field(default=40_000, metadata={"help": "seed of the scored tasks"})
    threads: int = field(default=1, metadata={"help": "torch CPU threads"})

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "eval_tasks", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1")
        if not 1 <= self.max_depth <= 3:
            raise ValueError(f"--max-depth must be 1, 2 or 3, got {self.max_depth}")
        if not self.families:
            raise ValueError("--families must name at least one family")


def _answer_shapes(batch: OracleBatch) -> torch.Tensor:
    """(B, 2) long: each task's answer size."""
    return torch.tensor(batch.extra["answer_shape"], dtype=torch.long)


@torch.no_grad()
def shape_accuracy(planner: PlannerNetwork, batch: OracleBatch) -> float:
    """Share of a batch's tasks whose answer size the shape head gets right.

    :param planner: an ARC planner.
    :param batch: tasks from :class:`ArcConceptOracle`.
    :return: the share in [0, 1].
    """
    shapes, _ = top_shapes(planner.shape_logits(batch.obs), k=1)
    return float((shapes[:, 0] == _answer_shapes(batch)).all(-1).float().mean())


def accuracy_by_family(
    planner: PlannerNetwork, env: str, tasks: int, seed: int, max_depth: int
) -> dict[str, float]:
    """Shape accuracy per concept family on unseen tasks (one family per task), and on tasks of
    every family composed up to ``max_depth`` (``"all"``).

    :param planner: an ARC planner.
    :param env: the env id.
    :param tasks: tasks per family.
    :param seed: their seed.
    :param max_depth: composition depth of the ``"all"`` tasks.
    :return: family -> share.
    """
    rng = np.random.default_rng(seed)
    scores = {}
    for family in CONCEPT_FAMILIES:
        source = ArcConceptOracle(env, (family,), max_depth=1, any_shape=True)
        scores[family] = shape_accuracy(planner, source.batch(tasks, rng, painted_share=0.0))
    mixed = ArcConceptOracle(env, CONCEPT_FAMILIES, max_depth=max_depth, any_shape=True)
    scores["all"] = shape_accuracy(planner, mixed.batch(tasks, rng, painted_share=0.0))
    return scores


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Train the head, score it, write the checkpoint.

    :param argv: command-line arguments.
    :return: the ``shape_head`` record written to the checkpoint's JSON.
    """
    args = parse_args(ArcShapeArgs, argv, (__doc__ or "").splitlines()[0])
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    path = resolve_checkpoint(args.checkpoint)
    planner = load_planner(path)
    head = planner.shape_head
    if head is None:
        raise ValueError(f"{path} is not an ARC planner: it has no shape head")
    planner.requires_grad_(False)
    head.requires_grad_(True)
    optimizer = torch.optim.Adam(head.parameters(), lr=args.lr)
    source = ArcConceptOracle(args.env, args.families, args.max_depth, any_shape=True)
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    for step in range(1, args.steps + 1):
        batch = source.batch(args.batch_size, rng, painted_share=0.0)
        loss = planner.shape_loss(batch.obs, _answer_shapes(batch))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 50 == 0 or step == args.steps:
            print(f"step {step}: loss {loss.item():.4f}", flush=True)
    seconds = time.perf_counter() - started
    head.trained.fill_(True)
    planner.eval()
    accuracy = accuracy_by_family(
        planner, args.env, args.eval_tasks, args.eval_seed, args.max_depth
    )
    tensors, meta = load_checkpoint(path)
    prefix = PLANNER_PREFIXES[meta["kind"]]
    tensors = {k: v for k, v in tensors.items() if not k.startswith(prefix + "shape_head.")}
    tensors.update({f"{prefix}shape_head.{k}": v for k, v in head.state_dict().items()})
    record = {
        "command": " ".join(["python -m train.arc_shape", *(argv or sys.argv[1:])]),
        "args": flat_values(args),
        "steps": args.steps,
        "seconds": round(seconds, 1),
        "accuracy": accuracy,
    }
    task = dict(meta["task_description"])
    env_task = env_task_description(gym.make(args.env))
    if "submissions_key" in env_task:  # the env counts submissions: the rule reads the count
        task["submissions_key"] = env_task["submissions_key"]
    save_checkpoint(args.out, tensors, {**meta, "task_description": task, "shape_head": record})
    Path(args.out).with_suffix(".md").write_text(
        "| family | shape accuracy |\n|---|---|\n"
        + "".join(f"| {name} | {share:.1%} |\n" for name, share in accuracy.items())
    )
    print("| family | shape accuracy |\n|---|---|")
    for name, share in accuracy.items():
        print(f"| {name} | {share:.1%} |")
    return record


if __name__ == "__main__":
    cli(main)
