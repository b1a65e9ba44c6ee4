"""The latent cache: PPO's update starts from the fixed points its rollout reached."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from sb3_contrib import MaskablePPO
from stable_baselines3.common.utils import obs_as_tensor

import envs  # noqa: F401
from fpr_agents.policy import MaskableFixedPointPlannerPolicy
from fpr_agents.policy.latent_cache import LatentCache, observation_digests


def test_digests_see_values_not_dtypes() -> None:
    grid = torch.tensor([[[0, 1], [2, 1]], [[0, 1], [2, 2]]], dtype=torch.uint8)
    agent = torch.tensor([[0, 1], [0, 1]], dtype=torch.uint8)
    as_bytes = observation_digests({"grid": grid, "agent": agent})
    as_floats = observation_digests({"agent": agent.float(), "grid": grid.float()})
    assert as_bytes == as_floats  # rollouts pass uint8, the buffer float32
    assert as_bytes[0] != as_bytes[1]  # one cell differs
    flat = observation_digests({"grid": grid.reshape(2, 4), "agent": agent})
    assert flat[0] != as_bytes[0]  # the shape is part of the key
    with pytest.raises(ValueError, match="'grid' holds 2 samples, others 1"):
        observation_digests({"agent": agent[:1], "grid": grid})


def test_cache_returns_stored_latents_and_the_start_elsewhere() -> None:
    cache = LatentCache(capacity=2)
    z = torch.arange(3 * 2 * 2 * 1, dtype=torch.float32).reshape(3, 2, 2, 1)
    cache.store([b"a", b"b", b"c"], z)
    assert len(cache) == 2  # full: "c" is not kept
    start = torch.full((3, 2, 2, 1), -1.0)
    merged, found = cache.lookup([b"c", b"b", b"a"], start)
    assert found == 2
    torch.testing.assert_close(merged[0], start[0])
    torch.testing.assert_close(merged[1], z[1])
    torch.testing.assert_close(merged[2], z[0])
    assert cache.lookup([b"a"], torch.zeros(1, 3, 3, 1))[1] == 0  # another grid size
    cache.clear()
    assert len(cache) == 0 and cache.lookup([b"a"], start[:1])[1] == 0
    with pytest.raises(ValueError, match="2 digests for 3"):
        cache.store([b"a", b"b"], z)
    with pytest.raises(ValueError, match="capacity"):
        LatentCache(-1)


def _policy(
    latent_cache: int, update_resolves: bool = False
) -> tuple[MaskableFixedPointPlannerPolicy, dict[str, np.ndarray]]:
    env = gym.make("FPR/Maze-9x9-v0")
    torch.manual_seed(0)
    model = MaskablePPO(
        MaskableFixedPointPlannerPolicy,
        env,
        n_steps=16,
        batch_size=16,
        seed=0,
        policy_kwargs={
            "task_description": env.unwrapped.task_description,
            "reasoner": {"d_model": 16, "attention": False, "mlp_kernel": 3, "max_iters": 64},
            "latent_cache": latent_cache,
            "update_resolves": update_resolves,
        },
    )
    observations = [env.reset(seed=seed)[0] for seed in range(4)]
    batch = {key: np.stack([o[key] for o in observations]) for key in observations[0]}
    return model.policy, batch


@pytest.mark.parametrize(
    ("latent_cache", "update_resolves"), [(16384, False), (16384, True), (0, False)]
)
def test_update_starts_from_the_rollouts_fixed_points(
    latent_cache: int, update_resolves: bool
) -> None:
    policy, batch = _policy(latent_cache, update_resolves)
    policy.set_training_mode(False)  # a rollout
    with torch.no_grad():
        actions, _, log_probs = policy(obs_as_tensor(batch, "cpu"))
    rollout_iterations = policy.last_solve_stats["iterations"]
    assert (rollout_iterations > 1).all()
    policy.set_training_mode(True)  # the update, from the buffer's float32 copies
    stored = {key: torch.as_tensor(value, dtype=torch.float32) for key, value in batch.items()}
    solved = []
    original = policy.planner.reasoner.solve

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        result = original(*args, **kwargs)
        solved.append(result.iterations)
        return result

    policy.planner.reasoner.solve = counting  # type: ignore[method-assign]
    _, update_log_probs, _ = policy.evaluate_actions(stored, actions)
    torch.testing.assert_close(update_log_probs, log_probs, atol=1e-4, rtol=0)
    if latent_cache and not update_resolves:
        assert solved == []  # its iterations with gradient start from the rollout's fixed point
    elif latent_cache:
        assert len(solved) == 1 and (solved[0] == 1).all()  # started at its fixed point
    else:
        np.testing.assert_array_equal(solved[0], rollout_iterations)
    policy.set_training_mode(False)  # the next rollout: the weights moved, the cache empties
    assert len(policy._latents) == 0


def test_a_frozen_reasoner_reads_the_rollouts_fixed_points_without_an_iteration() -> None:
    policy, batch = _policy(16384)
    policy.set_training_mode(False)  # a rollout
    with torch.no_grad():
        actions, values, log_probs = policy(obs_as_tensor(batch, "cpu"))
    policy.set_training_mode(True)
    stored = {key: torch.as_tensor(value, dtype=torch.float32) for key, value in batch.items()}
    steps = []
    original = policy.planner.reasoner.step

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        steps.append(1)
        return original(*args, **kwargs)

    policy.planner.reasoner.step = counting  # type: ignore[method-assign]
    policy.evaluate_actions(stored, actions)
    assert len(steps) == policy.grad_iters  # a trainable reasoner unrolls its iterations
    steps.clear()
    for param in policy.planner.reasoner.parameters():
        param.requires_grad_(False)
    policy.evaluate_actions(stored, actions)
    assert len(steps) == policy.grad_iters  # the embedding still trains through the unroll
    steps.clear()
    for param in policy.planner.embedding.parameters():
        param.requires_grad_(False)
    update_values, update_log_probs, _ = policy.evaluate_actions(stored, actions)
    assert steps == []  # frozen: the heads read the rollout's fixed points as they are
    torch.testing.assert_close(update_log_probs, log_probs, atol=1e-6, rtol=0)
    torch.testing.assert_close(update_values, values, atol=1e-6, rtol=0)
    assert update_log_probs.requires_grad  # the heads still learn
