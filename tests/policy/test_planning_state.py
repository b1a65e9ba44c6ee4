"""Planning state is per env and per episode, and never shared between callers."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from sb3_contrib import MaskablePPO
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback, CallbackList, EvalCallback
from stable_baselines3.common.env_util import make_vec_env

import envs  # noqa: F401
from fpr_agents.policy import (
    FixedPointPlannerPolicy,
    MaskableFixedPointPlannerPolicy,
    PlanningState,
    PlanningStateCallback,
)
from fpr_agents.reasoner import ReasonerConfig

# A solve capped well before convergence: where it ends depends on where it starts.
CAPPED = {"d_model": 16, "n_heads": 2, "max_iters": 3, "attention": False, "mlp_kernel": 3}
ENV_ID = "FPR/Maze-9x9-v0"


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def _model(algo: type = PPO, n_envs: int = 2, seed: int = 0, **reasoner: object) -> PPO:
    env = make_vec_env(ENV_ID, n_envs=n_envs, seed=seed)
    task = env.get_attr("task_description")[0]
    policy = MaskableFixedPointPlannerPolicy if algo is MaskablePPO else FixedPointPlannerPolicy
    return algo(
        policy,
        env,
        n_steps=8,
        batch_size=8,
        n_epochs=1,
        seed=seed,
        device="cpu",
        policy_kwargs={"task_description": task, "reasoner": {**CAPPED, **reasoner}},
    )


def _episode_observations(seed: int, steps: int) -> list[dict[str, np.ndarray]]:
    env = gym.make(ENV_ID)
    obs, _ = env.reset(seed=seed)
    seen = [obs]
    for _ in range(steps):
        obs, _, terminated, truncated, _ = env.step(env.unwrapped.oracle_action())
        if terminated or truncated:
            break
        seen.append(obs)
    return seen


def _residual_of_predict(model: PPO, obs: dict[str, np.ndarray], state, start: bool):
    action, new_state = model.predict(
        obs, state=state, episode_start=np.array([start]), deterministic=True
    )
    return int(action), float(model.policy.last_solve_stats["residual"][0]), new_state


@pytest.mark.parametrize("halting", ["fixed_point", "fixed_depth"])
def test_first_decision_does_not_depend_on_earlier_episodes(halting: str) -> None:
    model = _model(halting=halting, fixed_depth=3)
    target = _episode_observations(seed=5, steps=0)[0]
    fresh_action, fresh_residual, _ = _residual_of_predict(model, target, None, True)
    state = None
    for step, obs in enumerate(_episode_observations(seed=1, steps=6)):
        _, _, state = _residual_of_predict(model, obs, state, step == 0)
    assert state is not None and state[1].all()  # an earlier episode's latent is held
    action, residual, _ = _residual_of_predict(model, target, state, True)
    assert action == fresh_action
    assert residual == fresh_residual


def test_predict_without_state_is_always_cold() -> None:
    model = _model()
    episode = _episode_observations(seed=2, steps=4)
    cold = [_residual_of_predict(model, obs, None, False)[1] for obs in episode]
    again = [_residual_of_predict(model, obs, None, False)[1] for obs in reversed(episode)]
    assert cold == list(reversed(again))


def test_predict_state_warm_starts_within_an_episode() -> None:
    model = _model(max_iters=64)
    obs = _episode_observations(seed=3, steps=0)[0]
    model.predict(obs, deterministic=True)
    cold = int(model.policy.last_solve_stats["iterations"][0])
    _, state = model.predict(obs, episode_start=np.array([True]), deterministic=True)
    model.predict(obs, state=state, episode_start=np.array([False]), deterministic=True)
    warm = int(model.policy.last_solve_stats["iterations"][0])
    model.predict(obs, state=state, episode_start=np.array([True]), deterministic=True)
    restarted = int(model.policy.last_solve_stats["iterations"][0])
    assert warm < cold
    assert restarted == cold


def test_maskable_predict_carries_state() -> None:
    model = _model(MaskablePPO, max_iters=64)
    env = gym.make(ENV_ID)
    obs, _ = env.reset(seed=0)
    masks = env.unwrapped.action_masks()
    _, state = model.predict(obs, deterministic=True, action_masks=masks)
    cold = int(model.policy.last_solve_stats["iterations"][0])
    model.predict(obs, state=state, deterministic=True, action_masks=masks)
    assert int(model.policy.last_solve_stats["iterations"][0]) < cold


class _RolloutIterations(BaseCallback):
    """Records the iterations of every rollout decision of the training envs."""

    def __init__(self) -> None:
        super().__init__()
        self.iterations: list[list[int]] = []

    def _on_step(self) -> bool:
        self.iterations.append(self.model.policy.rollout_solve_stats["iterations"].tolist())
        return True


def _training_iterations(evaluate: bool) -> list[list[int]]:
    model = _model(seed=4, max_iters=16)
    record = _RolloutIterations()
    callbacks: list[BaseCallback] = [PlanningStateCallback(), record]
    if evaluate:
        eval_env = make_vec_env(ENV_ID, n_envs=1, seed=99)
        callbacks.append(EvalCallback(eval_env, n_eval_episodes=1, eval_freq=3, verbose=0))
    model.learn(32, callback=CallbackList(callbacks))
    return record.iterations


@pytest.mark.slow
def test_evaluation_during_learn_leaves_training_decisions_alone() -> None:
    assert _training_iterations(evaluate=True) == _training_iterations(evaluate=False)


def test_rollouts_warm_start_within_episodes_only() -> None:
    model = _model(max_iters=64)
    policy = model.policy
    obs = model.env.reset()
    tensors = policy.obs_to_tensor(obs)[0]
    with torch.no_grad():
        policy(tensors)
        cold = policy.rollout_solve_stats["iterations"].copy()
        policy.observe_episode_starts(np.array([False, True]))
        policy(tensors)
        mixed = policy.rollout_solve_stats["iterations"].copy()
        policy(tensors)  # no episode starts told since: unknown, so cold
        unknown = policy.rollout_solve_stats["iterations"].copy()
    assert mixed[0] < cold[0]
    assert mixed[1] == cold[1]
    np.testing.assert_array_equal(unknown, cold)


def test_bootstrap_value_starts_where_the_next_decision_does() -> None:
    model = _model(max_iters=64)
    policy = model.policy
    tensors = policy.obs_to_tensor(model.env.reset())[0]
    with torch.no_grad():
        policy(tensors)
        cold = policy.rollout_solve_stats["iterations"].copy()
        policy.observe_episode_starts(np.array([False, False]))
        value = policy.predict_values(tensors)
        warm = policy.last_solve_stats["iterations"].copy()
        _, stored_value, _ = policy(tensors)
    assert (warm < cold).all()
    torch.testing.assert_close(value, stored_value)


def test_planning_state_round_trip_and_resets() -> None:
    state = PlanningState(3)
    z = torch.randn(3, 4, 5, 8)
    state.update(z)
    latents, has = state.to_sb3()
    assert latents.shape == (3, 4, 5, 8) and has.all()
    again = PlanningState.from_sb3((latents, has), np.array([False, True, False]), 3)
    assert again.latents[1] is None
    torch.testing.assert_close(again.latents[0], z[0])
    config = ReasonerConfig(d_model=8, attention=False)
    start = again.start(config, torch.zeros(3, 4, 5, 8), None)
    assert start is not None
    torch.testing.assert_close(start[1], torch.zeros(4, 5, 8))  # the reset row starts cold
    torch.testing.assert_close(start[2], z[2])
    other_size = again.start(config, torch.zeros(3, 6, 6, 8), None)
    assert other_size is None  # latents of another grid shape are never used


def test_planning_state_rejects_mismatched_sizes() -> None:
    state = PlanningState(2)
    with pytest.raises(ValueError, match="3 entries for 2 envs"):
        state.reset(np.array([True, False, True]))
    with pytest.raises(ValueError, match="previous predict"):
        PlanningState.from_sb3(np.zeros(3), None, 2)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="holds 3 envs for 2"):
        PlanningState.from_sb3((np.zeros((3, 1)), np.ones(3, bool)), None, 2)
