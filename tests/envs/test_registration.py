"""Every registered ``FPR/`` id: both checkers, seeded determinism, pickling and vector envs."""

from __future__ import annotations

import pickle
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

import envs

ALL_IDS = envs.registered_ids()
# One id per family for the costlier multi-process checks.
FAMILY_IDS = ["FPR/Maze-9x9-v0", "FPR/Sudoku-4x4-v0", "FPR/ARC-Concepts-v0"]
# Ids whose grids are too large for a fast random rollout in every test run still get the checkers.
ROLLOUT_STEPS = 30


def _masked_random_actions(env: gym.Env, rng: np.random.Generator, n: int) -> list[int]:
    """Draw up to ``n`` valid actions one at a time, stepping ``env`` until the episode ends."""
    actions = []
    for _ in range(n):
        mask = env.unwrapped.action_masks()
        action = int(rng.choice(np.flatnonzero(mask)))
        actions.append(action)
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            break
    return actions


def _rollout(env_id: str, seed: int, actions: list[int]) -> list[tuple]:
    env = gym.make(env_id)
    obs, info = env.reset(seed=seed)
    trace = [(_flatten(obs), info["difficulty"])]
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(action)
        trace.append((_flatten(obs), reward, terminated, truncated, info["difficulty"]))
        if terminated or truncated:
            break
    env.close()
    return trace


def _flatten(obs: dict) -> bytes:
    return b"".join(np.ascontiguousarray(obs[k]).tobytes() for k in sorted(obs))


def test_ids_are_registered_under_namespace() -> None:
    for required in ("FPR/Maze-v0", "FPR/Sudoku-v0", "FPR/ARC-v0", "FPR/ARC-AGI-1-v0"):
        assert required in ALL_IDS
    assert all(env_id.startswith("FPR/") for env_id in ALL_IDS)
    assert all(gym.spec(env_id).max_episode_steps for env_id in ALL_IDS)


def test_make_with_module_prefix_works() -> None:
    env = gym.make("envs:FPR/Maze-v0")
    env.reset(seed=0)
    env.close()


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_checkers_pass_without_warnings(env_id: str) -> None:
    env = gym.make(env_id)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gym_check_env(env.unwrapped, skip_render_check=False)
        sb3_check_env(env, warn=True)
    env.close()


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_seeded_rollouts_are_identical(env_id: str) -> None:
    env = gym.make(env_id)
    env.reset(seed=7)
    actions = _masked_random_actions(env, np.random.default_rng(0), ROLLOUT_STEPS)
    env.close()
    assert _rollout(env_id, 7, actions) == _rollout(env_id, 7, actions)


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_task_description_matches_spaces(env_id: str) -> None:
    env = gym.make(env_id)
    obs, _ = env.reset(seed=1)
    desc = env.unwrapped.task_description
    height, width = desc["grid_shape"]
    assert all(space.shape and len(space.shape) == 1 for space in env.observation_space.values())
    for key, vocab in desc["grid_keys"].items():
        assert obs[key].ndim == 1 and obs[key].size % (height * width) == 0, key
        assert obs[key].min() >= 0 and obs[key].max() < vocab, key
    n_actions = env.action_space.n
    if desc["action_layout"] == "move_at_agent":
        assert n_actions == len(desc["moves"])
        assert obs[desc["agent_key"]].shape == (2,)
    else:
        assert desc["action_layout"] == "symbol_per_cell"
        assert n_actions == height * width * desc["n_symbols"] + len(desc["global_actions"])
    assert env.unwrapped.action_masks().shape == (n_actions,)
    env.close()


@pytest.mark.parametrize("env_id", FAMILY_IDS)
def test_pickle_round_trip_keeps_state(env_id: str) -> None:
    env = gym.make(env_id)
    env.reset(seed=3)
    clone = pickle.loads(pickle.dumps(env))
    action = int(np.flatnonzero(env.unwrapped.action_masks())[0])
    a = env.step(action)
    b = clone.step(action)
    assert _flatten(a[0]) == _flatten(b[0])
    assert a[1:4] == b[1:4]


@pytest.mark.parametrize("env_id", FAMILY_IDS)
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_gymnasium_vector_envs(env_id: str, mode: str) -> None:
    vec = gym.make_vec(env_id, num_envs=2, vectorization_mode=mode)
    obs, _ = vec.reset(seed=0)
    assert all(value.shape[0] == 2 for value in obs.values())
    for _ in range(3):
        obs, reward, terminated, truncated, _ = vec.step(vec.action_space.sample() * 0)
    assert reward.shape == terminated.shape == truncated.shape == (2,)
    vec.close()


@pytest.mark.parametrize("env_id", FAMILY_IDS)
@pytest.mark.parametrize(
    "vec_cls", [DummyVecEnv, pytest.param(SubprocVecEnv, marks=pytest.mark.slow)]
)
def test_sb3_vector_envs(env_id: str, vec_cls: type) -> None:
    # The "envs:" prefix makes a fresh worker process import (and so register) the envs first.
    vec = vec_cls([lambda: gym.make(f"envs:{env_id}") for _ in range(2)])
    vec.seed(0)
    vec.reset()
    masks = vec.env_method("action_masks")
    actions = np.array([int(np.flatnonzero(m)[0]) for m in masks])
    _, rewards, dones, infos = vec.step(actions)
    assert rewards.shape == (2,) and dones.shape == (2,)
    assert all("difficulty" in info and "is_success" in info for info in infos)
    vec.close()
