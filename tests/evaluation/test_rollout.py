"""``run_episodes`` reads each decision's difficulty from the info key it is told to."""

from __future__ import annotations

import gymnasium as gym
import pytest
import torch

import envs  # noqa: F401  (registers the ids)
from fpr_agents.evaluation.rollout import run_episodes
from fpr_agents.policy.planner import PlannerNetwork


def _planner(env: gym.Env) -> PlannerNetwork:
    torch.manual_seed(0)
    return PlannerNetwork(
        env.unwrapped.task_description,  # type: ignore[attr-defined]
        {"d_model": 16, "n_heads": 2, "max_iters": 4, "halting": "fixed_depth", "fixed_depth": 2},
        head_hidden=8,
    )


def test_difficulty_comes_from_the_named_info_key() -> None:
    env = gym.make("FPR/Sudoku-4x4-v0")
    planner = _planner(env)
    seeds = [3, 4]
    expected = {}
    for seed in seeds:
        _, info = env.reset(seed=seed)
        expected[seed] = (float(info["difficulty"]), float(info["propagation_rounds"]))
    default = run_episodes(planner, [env], seeds, max_steps=3)
    rounds = run_episodes(planner, [env], seeds, max_steps=3, difficulty_key="propagation_rounds")
    for result, which in ((default, 0), (rounds, 1)):
        firsts = [d.difficulty for d in result.decisions if d.step == 0]
        assert firsts == [expected[seed][which] for seed in seeds]
    # the two keys disagree on these boards (9 blanks against 1 round), so the key was used
    assert [d.difficulty for d in default.decisions] != [d.difficulty for d in rounds.decisions]


def test_a_difficulty_key_the_env_lacks_is_named() -> None:
    env = gym.make("FPR/Sudoku-4x4-v0")
    with pytest.raises(ValueError, match=r"'rounds'.*has no such key"):
        run_episodes(_planner(env), [env], [3], max_steps=2, difficulty_key="rounds")
