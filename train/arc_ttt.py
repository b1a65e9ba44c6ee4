"""Test-time training for ARC: a short fine-tune on one task's own demonstrations, then an answer
voted over augmented copies of the task, two answers kept (pass@2).

What ARC solvers of this size do, small enough for a CPU:

1. **Fine-tune** a copy of the planner on the task alone: each batch holds augmented copies of
   the task (``envs.arc_augment``: the 8 symmetries of the square, colour permutations that keep
   the background) in which one demonstration plays the test pair and the others stay
   demonstrations (leave one out), trained as pretraining trains (deep supervision over a
   truncated unroll, every answer cell against its colour). The test pair itself is never seen.
2. **Vote**: the fine-tuned planner reads the test answer on several augmented copies of the task;
   each answer is mapped back (``invert_grid``) and counted; the two answers with the most votes
   are the two attempts (the env's two submissions). Ties go to the copy seen first (the identity).

The canvas is given at the answer's shape, as in the one-shot bench (``shape_of`` may give another
shape, e.g. a shape head's prediction). Everything is seeded by the ``rng`` passed in.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from envs.arc_augment import Augmentation, random_augmentations
from envs.arc_tasks import ArcTask
from fpr_agents.policy.planner import PlannerNetwork
from fpr_agents.reasoner.training import truncated_unroll
from train.arc_data import BatchTask, augmented
from train.oracle_data import ArcConceptOracle, set_loss


@dataclass(frozen=True)
class TaskTuningConfig:
    """How long and how the planner is fine-tuned on one task, and how its answer is voted.

    :param steps: optimiser steps on the task's demonstrations (0: no fine-tune, vote only).
    :param batch_size: augmented leave-one-out copies per step.
    :param learning_rate: AdamW learning rate (no warm-up, constant).
    :param n_no_grad_max: most iterations without gradient before the graded ones (drawn).
    :param k_grad: iterations with gradient per step.
    :param votes: augmented copies the answer is read on (the identity first).
    """

    steps: int = 24
    batch_size: int = 8
    learning_rate: float = 1e-3
    n_no_grad_max: int = 12
    k_grad: int = 4
    votes: int = 8

    def __post_init__(self) -> None:
        for name in ("steps", "n_no_grad_max"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("batch_size", "k_grad", "votes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")


@dataclass(frozen=True)
class TaskAnswer:
    """The attempts for one task's first test pair.

    :param attempts: at most two answers, most voted first, (h, w) uint8 each.
    :param votes: the votes of each attempt.
    :param seconds: wall time of the fine-tune and the vote.
    """

    attempts: tuple[np.ndarray, ...]
    votes: tuple[int, ...]
    seconds: float

    def solves_first(self, answer: np.ndarray) -> bool:
        """Whether the most voted attempt is the answer (pass@1).

        :param answer: the true (h, w) answer.
        :return: True when it equals it exactly.
        """
        return _same(self.attempts[0], answer)

    def solves(self, answer: np.ndarray) -> bool:
        """Whether one of the attempts is the answer (pass@2).

        :param answer: the true (h, w) answer.
        :return: True when an attempt equals it exactly.
        """
        return any(_same(attempt, answer) for attempt in self.attempts)


def _same(grid: np.ndarray, answer: np.ndarray) -> bool:
    """Whether two grids are equal, shape included."""
    return grid.shape == answer.shape and bool((grid == answer).all())


def leave_one_out(task: ArcTask, n_demos: int) -> list[BatchTask]:
    """The task's demonstrations as tasks of their own: each demonstration in turn plays the
    test pair, the others (at most ``n_demos``) are its demonstrations.

    :param task: the task (at least two demonstrations).
    :param n_demos: demonstrations the planner reads.
    :return: one task per demonstration.
    :raises ValueError: for a task with fewer than two demonstrations.
    """
    if len(task.train) < 2:
        raise ValueError(
            f"task {task.task_id!r}: test-time training needs at least 2 demonstrations, "
            f"got {len(task.train)}"
        )
    pairs = list(task.train)
    return [
        ([p for j, p in enumerate(pairs) if j != held][:n_demos], pairs[held])
        for held in range(len(pairs))
    ]


def fine_tune_on_task(
    planner: PlannerNetwork,
    source: ArcConceptOracle,
    task: ArcTask,
    config: TaskTuningConfig,
    rng: np.random.Generator,
) -> PlannerNetwork:
    """Fine-tune a copy of ``planner`` on ``task``'s demonstrations (the planner is unchanged).

    :param planner: the pretrained ARC planner.
    :param source: the oracle source that batches tasks for it (its side and demo count).
    :param task: the task; its test pairs are not read.
    :param config: the fine-tune's settings.
    :param rng: the source of every random choice (augmentations, held-out demos, unrolls).
    :return: the fine-tuned copy, in eval mode.
    """
    tuned = copy.deepcopy(planner)
    if config.steps == 0:
        return tuned.eval()
    tuned.train()
    optimizer = torch.optim.AdamW(tuned.parameter_groups(), lr=config.learning_rate)
    held_out = leave_one_out(task, source.n_demos)
    for _ in range(config.steps):
        augmentations = random_augmentations(rng, config.batch_size)
        tasks = []
        for augmentation in augmentations:
            demos, test = held_out[int(rng.integers(len(held_out)))]
            tasks.append(augmented(augmentation, demos, test))
        batch = source.batch_from_pairs(tasks, rng, painted_share=None)
        x, mask = tuned.embed(batch.obs)  # (B, H, W, d)
        n_no_grad = int(rng.integers(0, config.n_no_grad_max + 1))
        z = truncated_unroll(tuned.reasoner, x, mask, torch.zeros_like(x), n_no_grad, config.k_grad)
        loss = set_loss(source.cell_logits(tuned, z), batch.optimal, batch.cells)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(tuned.parameters(), 1.0)
        optimizer.step()
    return tuned.eval()


def vote(
    planner: PlannerNetwork,
    source: ArcConceptOracle,
    task: ArcTask,
    n_votes: int,
    rng: np.random.Generator,
    shape_of: Callable[[ArcTask], tuple[int, int]] | None = None,
) -> tuple[tuple[np.ndarray, ...], tuple[int, ...]]:
    """Read the first test answer on augmented copies of the task and count the answers.

    :param planner: the planner (fine-tuned or not).
    :param source: the oracle source that batches tasks for it.
    :param task: the task.
    :param n_votes: augmented copies read (the identity first, then random ones).
    :param rng: the source of the augmentations.
    :param shape_of: the answer shape to give the canvas (default: the true answer's shape).
    :return: (the two most voted answers, their votes), most voted first.
    """
    test_in, test_out = task.test[0]
    shape = test_out.shape if shape_of is None else shape_of(task)
    blank_answer = np.zeros(shape, dtype=np.uint8)  # only its shape reaches the canvas
    demos = list(task.train)[: source.n_demos]
    augmentations = [Augmentation(), *random_augmentations(rng, n_votes)]
    augmentations = list(dict.fromkeys(augmentations))[:n_votes]  # identity once, first
    tasks = [augmented(a, demos, (test_in, blank_answer)) for a in augmentations]
    batch = source.batch_from_pairs(tasks, rng, painted_share=0.0)
    with torch.no_grad():
        x, mask = planner.embed(batch.obs)
        z = planner.reasoner.solve(x, mask).z
        colours = source.cell_logits(planner, z).argmax(-1).cpu().numpy()  # (V, side, side)
    counts: dict[bytes, tuple[int, int, np.ndarray]] = {}
    for order, augmentation in enumerate(augmentations):
        h, w = augmentation.apply_grid(blank_answer).shape
        answer = augmentation.invert_grid(colours[order, :h, :w].astype(np.uint8))
        key = answer.shape[0].to_bytes(1, "little") + answer.tobytes()
        seen, first, _ = counts.get(key, (0, order, answer))
        counts[key] = (seen + 1, first, answer)
    ranked = sorted(counts.values(), key=lambda item: (-item[0], item[1]))[:2]
    return tuple(answer for _, _, answer in ranked), tuple(seen for seen, _, _ in ranked)


def answer_task(
    planner: PlannerNetwork,
    source: ArcConceptOracle,
    task: ArcTask,
    config: TaskTuningConfig,
    rng: np.random.Generator,
    shape_of: Callable[[ArcTask], tuple[int, int]] | None = None,
) -> TaskAnswer:
    """Fine-tune on the task's demonstrations, then vote two attempts at its first test answer.

    :param planner: the pretrained ARC planner (unchanged).
    :param source: the oracle source that batches tasks for it.
    :param task: the task.
    :param config: fine-tune and vote settings.
    :param rng: the source of every random choice.
    :param shape_of: the canvas shape to answer in (default: the true answer's shape).
    :return: the attempts, their votes and the seconds taken.
    """
    start = time.perf_counter()
    tuned = fine_tune_on_task(planner, source, task, config, rng)
    attempts, votes = vote(tuned, source, task, config.votes, rng, shape_of)
    return TaskAnswer(attempts, votes, time.perf_counter() - start)
