"""Test-time training on one ARC task: leave-one-out demonstrations, a seeded fine-tune of a
copy, and answers voted over augmented copies mapped back to the task's frame."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from envs.arc_tasks import ArcTask, open_task_source
from fpr_agents.checkpoints import shipped_checkpoint
from train.arc_ttt import (
    TaskAnswer,
    TaskTuningConfig,
    answer_task,
    fine_tune_on_task,
    leave_one_out,
    vote,
)
from train.common import load_planner
from train.oracle_data import ArcConceptOracle


@pytest.fixture(scope="module")
def planner_and_source():
    torch.set_num_threads(1)
    return load_planner(shipped_checkpoint("arc_concepts")), ArcConceptOracle("FPR/ARC-Concepts-v0")


def _task(seed: int = 3) -> ArcTask:
    return open_task_source("concepts").get(f"concept:{seed}")


def test_leave_one_out_holds_each_demonstration_out_once() -> None:
    task = _task()
    held = leave_one_out(task, n_demos=3)
    assert len(held) == len(task.train)
    for index, (demos, test) in enumerate(held):
        assert test is task.train[index]
        assert all(pair is not test for pair in demos) and len(demos) == len(task.train) - 1
    lonely = ArcTask("one", task.train[:1], task.test)
    with pytest.raises(ValueError, match=r"'one'.*at least 2 demonstrations"):
        leave_one_out(lonely, 3)


def test_fine_tune_changes_a_copy_and_repeats_with_a_seed(planner_and_source) -> None:
    planner, source = planner_and_source
    before = {k: v.clone() for k, v in planner.state_dict().items()}
    config = TaskTuningConfig(steps=2, batch_size=2, n_no_grad_max=2, k_grad=1)
    first = fine_tune_on_task(planner, source, _task(), config, np.random.default_rng(7))
    again = fine_tune_on_task(planner, source, _task(), config, np.random.default_rng(7))
    other = fine_tune_on_task(planner, source, _task(), config, np.random.default_rng(8))
    assert all(torch.equal(v, planner.state_dict()[k]) for k, v in before.items())  # untouched
    tuned, repeat, moved = first.state_dict(), again.state_dict(), other.state_dict()
    assert any(not torch.equal(tuned[k], before[k]) for k in before)
    assert all(torch.equal(tuned[k], repeat[k]) for k in before)
    assert any(not torch.equal(tuned[k], moved[k]) for k in before)
    assert not first.training


def test_one_vote_is_the_plain_readout_and_answers_come_back_in_the_tasks_frame(
    planner_and_source,
) -> None:
    planner, source = planner_and_source
    task = _task()
    (alone,), (count,) = vote(planner, source, task, 1, np.random.default_rng(0))
    demos = list(task.train)[: source.n_demos]
    batch = source.batch_from_pairs([(demos, task.test[0])], np.random.default_rng(0), 0.0)
    with torch.no_grad():
        x, mask = planner.embed(batch.obs)
        readout = source.cell_logits(planner, planner.reasoner.solve(x, mask).z).argmax(-1)
    h, w = task.test[0][1].shape
    assert count == 1 and np.array_equal(alone, readout[0, :h, :w].numpy())
    # A non-square canvas under transposing augmentations still answers in the asked shape.
    attempts, votes = vote(planner, source, task, 8, np.random.default_rng(1), lambda t: (2, 5))
    assert all(a.shape == (2, 5) for a in attempts) and sum(votes) <= 8 and len(attempts) <= 2


def test_answer_scores_pass_at_two_and_checks_its_config(planner_and_source) -> None:
    planner, source = planner_and_source
    task = _task()
    answer = answer_task(planner, source, task, TaskTuningConfig(steps=0, votes=2),
                         np.random.default_rng(0))  # fmt: skip
    assert answer.seconds > 0 and 1 <= len(answer.attempts) <= 2
    truth = task.test[0][1]
    assert TaskAnswer((truth.copy(),), (1,), 0.0).solves(truth)
    assert TaskAnswer((truth.copy(),), (1,), 0.0).solves_first(truth)
    second = TaskAnswer((truth[:1].copy(), truth.copy()), (2, 1), 0.0)
    assert second.solves(truth) and not second.solves_first(truth)
    assert not TaskAnswer((truth[:1].copy(),), (1,), 0.0).solves(truth)
    with pytest.raises(ValueError, match="votes must be >= 1"):
        TaskTuningConfig(votes=0)
    with pytest.raises(ValueError, match="learning_rate must be > 0"):
        TaskTuningConfig(learning_rate=0.0)
