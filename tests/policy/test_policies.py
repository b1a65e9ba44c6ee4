"""The planner policies under PPO and MaskablePPO on every env family."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from sb3_contrib import MaskablePPO
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

import envs  # noqa: F401
from fpr_agents.policy import (
    CriticWarmupCallback,
    FixedPointPlannerPolicy,
    FrozenReasonerCallback,
    MaskableFixedPointPlannerPolicy,
    PlanningDepthCallback,
    PlanningStateCallback,
)

TINY_REASONER = {"d_model": 16, "n_heads": 2, "max_iters": 6, "attention": True}
FAMILIES = ["FPR/Maze-9x9-v0", "FPR/Sudoku-4x4-v0", "FPR/ARC-Concepts-v0"]


def _model(algo: type, env_id: str, seed: int = 0, **kwargs: object) -> PPO:
    env = make_vec_env(env_id, n_envs=2, seed=seed)
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
        policy_kwargs={"task_description": task, "reasoner": TINY_REASONER, **kwargs},
    )


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.mark.parametrize("algo", [PPO, MaskablePPO])
@pytest.mark.parametrize("env_id", FAMILIES)
def test_learn_smoke_records_solve_stats(algo: type, env_id: str) -> None:
    model = _model(algo, env_id)
    model.learn(16, callback=PlanningDepthCallback())
    stats = model.policy.last_solve_stats
    assert stats is not None
    assert stats["iterations"].shape == stats["residual"].shape == stats["converged"].shape
    assert (stats["iterations"] >= 1).all() and (stats["iterations"] <= 6).all()


def _losses_and_actions(seed: int) -> tuple[list[float], np.ndarray]:
    model = _model(MaskablePPO, "FPR/Maze-9x9-v0", seed=seed)
    model.learn(16)
    losses = [model.logger.name_to_value[k] for k in sorted(model.logger.name_to_value)]
    obs = model.env.reset()
    actions, _ = model.predict(
        obs, deterministic=True, action_masks=model.env.env_method("action_masks")
    )
    return losses, actions


def test_two_runs_with_one_seed_match() -> None:
    first = _losses_and_actions(3)
    second = _losses_and_actions(3)
    assert first[0] == second[0]
    np.testing.assert_array_equal(first[1], second[1])


@pytest.mark.parametrize("algo", [PPO, MaskablePPO])
def test_save_load_gives_same_actions(algo: type, tmp_path) -> None:
    model = _model(algo, "FPR/Sudoku-4x4-v0")
    model.learn(8)
    path = tmp_path / "model.zip"
    model.save(path)
    loaded = algo.load(path, device="cpu")
    env = gym.make("FPR/Sudoku-4x4-v0")
    for seed in range(3):
        obs, _ = env.reset(seed=seed)
        a, _ = model.predict(obs, deterministic=True)
        b, _ = loaded.predict(obs, deterministic=True)
        assert int(a) == int(b)
    for key, value in model.policy.state_dict().items():
        torch.testing.assert_close(value, loaded.policy.state_dict()[key])


@pytest.mark.parametrize("env_id", FAMILIES)
def test_truncated_gradient_reaches_every_parameter(env_id: str) -> None:
    model = _model(MaskablePPO, env_id)
    policy = model.policy
    env = gym.make(env_id)
    obs, _ = env.reset(seed=0)
    batch = {k: torch.as_tensor(v[None]).float() for k, v in obs.items()}
    masks = env.unwrapped.action_masks()[None]
    actions = torch.as_tensor([int(np.flatnonzero(masks[0])[0])])
    values, log_prob, entropy = policy.evaluate_actions(batch, actions, action_masks=masks)
    (values.sum() - log_prob.sum() - entropy.sum()).backward()
    planner_params = dict(policy.planner.named_parameters())
    unused = {"reasoner.halt_head.weight", "reasoner.halt_head.bias"}
    for name, param in planner_params.items():
        if name in unused:
            continue
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name


def test_warm_start_reuses_fixed_point_and_keeps_actions() -> None:
    warm = _model(PPO, "FPR/Maze-9x9-v0", warm_start=True)
    env = gym.make("FPR/Maze-9x9-v0")
    obs, _ = env.reset(seed=0)
    batch = {k: torch.as_tensor(v[None]) for k, v in obs.items()}
    with torch.no_grad():
        first, _, _ = warm.policy(batch, deterministic=True)
        cold_iterations = warm.policy.last_solve_stats["iterations"].copy()
        warm.policy.observe_episode_starts(np.array([False]))  # the same episode goes on
        second, _, _ = warm.policy(batch, deterministic=True)
        warm_iterations = warm.policy.last_solve_stats["iterations"]
    assert int(first) == int(second)
    assert cold_iterations[0] > 2
    assert warm_iterations[0] <= 2


def test_missing_task_description_is_a_clear_error() -> None:
    env = make_vec_env("FPR/Maze-9x9-v0", n_envs=1)
    with pytest.raises(ValueError, match="task_description"):
        PPO(FixedPointPlannerPolicy, env, device="cpu")


def test_bad_task_description_names_field() -> None:
    env = make_vec_env("FPR/Maze-9x9-v0", n_envs=1)
    task = dict(env.get_attr("task_description")[0])
    del task["moves"]
    with pytest.raises(ValueError, match="moves"):
        PPO(FixedPointPlannerPolicy, env, device="cpu", policy_kwargs={"task_description": task})


def test_critic_warmup_trains_only_the_value_head_then_everything() -> None:
    model = _model(PPO, "FPR/Maze-9x9-v0")  # 2 envs x 8 steps = 16 env steps per rollout
    planner = model.policy.planner
    before = {k: v.clone() for k, v in planner.state_dict().items()}
    warmup = CriticWarmupCallback(32)
    model.learn(32, callback=warmup)  # two updates, both inside the warm-up
    after = planner.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("value_head.") for k in changed)
    assert all(p.requires_grad for p in planner.parameters())  # released at the end
    model.learn(16, callback=warmup, reset_num_timesteps=False)  # past the warm-up
    moved = {k for k in before if not torch.equal(before[k], planner.state_dict()[k])}
    assert any(k.startswith("reasoner.") for k in moved)
    assert any(k.startswith("move_head.") for k in moved)
    with pytest.raises(ValueError, match="steps"):
        CriticWarmupCallback(-1)


def test_a_frozen_reasoner_leaves_the_plan_and_trains_the_heads() -> None:
    model = _model(PPO, "FPR/Maze-9x9-v0")  # 2 envs x 8 steps = 16 env steps per rollout
    planner = model.policy.planner
    before = {k: v.clone() for k, v in planner.state_dict().items()}
    chain = [CriticWarmupCallback(16), FrozenReasonerCallback()]  # the order train.ppo uses
    model.learn(48, callback=chain)  # a value-only update, then two of the heads
    moved = {k for k in before if not torch.equal(before[k], planner.state_dict()[k])}
    assert any(k.startswith("move_head.") for k in moved)
    assert any(k.startswith("value_head.") for k in moved)
    assert all(k.startswith(("move_head.", "value_head.")) for k in moved)
    assert all(p.requires_grad for p in planner.parameters())  # released at the end


def test_arc_extent_options_learn_and_reload(tmp_path) -> None:
    """Mirror views and edge embeddings read the extents SB3 hands over (float copies of the
    env's ``shapes``) in rollouts, updates and after a reload."""
    env = make_vec_env("FPR/ARC-Concepts-v0", n_envs=2, seed=0)
    reasoner = {**TINY_REASONER, "mirror_views": True, "edge_embedding": 10}
    model = MaskablePPO(
        MaskableFixedPointPlannerPolicy,
        env,
        n_steps=8,
        batch_size=8,
        n_epochs=1,
        seed=0,
        device="cpu",
        policy_kwargs={
            "task_description": env.get_attr("task_description")[0],
            "reasoner": reasoner,
        },
    )
    model.learn(16)
    assert model.policy.planner.mirror_embedding is not None
    path = tmp_path / "arc.zip"
    model.save(path)
    loaded = MaskablePPO.load(path, device="cpu")
    obs = env.reset()
    masks = np.stack(env.env_method("action_masks"))
    first, _ = model.predict(obs, deterministic=True, action_masks=masks)
    again, _ = loaded.predict(obs, deterministic=True, action_masks=masks)
    np.testing.assert_array_equal(first, again)


def test_depth_callback_logs_iterations_after_events_and_halting_shares() -> None:
    from stable_baselines3.common.logger import KVWriter, Logger

    class Capture(KVWriter):
        def __init__(self) -> None:
            self.keys: set[str] = set()

        def write(self, key_values, key_excluded, step: int = 0) -> None:
            self.keys.update(key_values)

    env = make_vec_env("FPR/Maze-Dynamic-15x15-v0", n_envs=2, seed=0)
    task = env.get_attr("task_description")[0]
    model = PPO(
        FixedPointPlannerPolicy, env, n_steps=32, batch_size=32, n_epochs=1, seed=0, device="cpu",
        policy_kwargs={"task_description": task, "reasoner": {**TINY_REASONER, "max_iters": 3}},
    )  # fmt: skip
    capture = Capture()
    model.set_logger(Logger(None, [capture]))
    with pytest.warns(RuntimeWarning, match="capped"):  # 3 iterations: every decision capped
        model.learn(64, callback=[PlanningStateCallback(), PlanningDepthCallback()])
    for key in ("iterations_after_event", "iterations_quiet", "capped_share", "stalled_share"):
        assert f"planner/{key}" in capture.keys, key


def test_masked_distribution_skips_checks_and_restores_them() -> None:
    model = _model(MaskablePPO, "FPR/Maze-9x9-v0")
    policy = model.policy
    before = torch.distributions.Distribution._validate_args
    logits = torch.tensor([[0.0, 1.0, 2.0, 3.0]])
    masks = np.array([[True, False, True, False]])
    distribution = policy._masked(logits, masks)
    assert torch.distributions.Distribution._validate_args == before  # restored
    probs = distribution.distribution.probs
    assert probs[0, 1] == 0 and probs[0, 3] == 0  # the mask still applies
    torch.testing.assert_close(probs[0, 2] / probs[0, 0], torch.tensor(np.e**2, dtype=probs.dtype))
    with pytest.raises(RuntimeError):  # a bad mask still fails, and the setting comes back
        policy._masked(logits, np.array([[True, False]]))
    assert torch.distributions.Distribution._validate_args == before
