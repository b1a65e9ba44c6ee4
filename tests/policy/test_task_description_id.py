"""The planner policies accept an env id in place of the task description (as RL Zoo's
hyperparameter files give it) and save the resolved description, never the id."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import pytest
import torch
from sb3_contrib import MaskablePPO
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

import envs  # noqa: F401
from fpr_agents.policy import (
    FixedPointPlannerPolicy,
    MaskableFixedPointPlannerPolicy,
    task_description_from_env_id,
)

TINY_REASONER = {"d_model": 8, "n_heads": 2, "max_iters": 4, "attention": False}
ENV_ID = "FPR/Maze-9x9-v0"


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def _expected() -> dict:
    env = gym.make(ENV_ID)
    task = dict(env.unwrapped.task_description)
    env.close()
    return task


@pytest.mark.parametrize("env_id", [ENV_ID, f"envs:{ENV_ID}"])
def test_env_id_resolves_to_the_task_description(env_id: str) -> None:
    assert task_description_from_env_id(env_id) == _expected()


def test_unregistered_id_says_how_to_register() -> None:
    with pytest.raises(ValueError, match="import envs first"):
        task_description_from_env_id("FPR/No-Such-Env-v0")


def test_env_without_task_description_is_refused() -> None:
    with pytest.raises(ValueError, match="no task_description"):
        task_description_from_env_id("CartPole-v1")


@pytest.mark.parametrize(
    ("algo", "policy"),
    [(PPO, FixedPointPlannerPolicy), (MaskablePPO, MaskableFixedPointPlannerPolicy)],
)
def test_policy_takes_an_env_id_and_saves_the_dict(
    algo: type, policy: type, tmp_path: Path
) -> None:
    env = make_vec_env(ENV_ID, n_envs=1, seed=0)
    kwargs = {"task_description": f"envs:{ENV_ID}", "reasoner": TINY_REASONER}
    model = algo(policy, env, n_steps=8, batch_size=8, policy_kwargs=kwargs, device="cpu")
    assert model.policy.task_description == _expected()
    assert model.policy._get_constructor_parameters()["task_description"] == _expected()
    obs = env.reset()
    actions, _ = model.predict(obs, deterministic=True)
    model.save(tmp_path / "model.zip")
    loaded = algo.load(tmp_path / "model.zip", device="cpu")
    assert loaded.policy.task_description == _expected()
    again, _ = loaded.predict(obs, deterministic=True)
    assert (actions == again).all()
