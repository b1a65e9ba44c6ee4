"""``planner_model``: an SB3 model made from a shipped planner or a checkpoint acts as the planner
does, and SB3's evaluation runs on it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sb3_contrib import MaskablePPO
from sb3_contrib.common.maskable.utils import get_action_masks
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

import envs  # noqa: F401  (registers the FPR ids)
from fpr_agents.policy import PlanningStateCallback, load_planner, planner_model
from fpr_agents.policy.planner import PlannerNetwork


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def planner_actions(
    planner: PlannerNetwork, obs: dict[str, np.ndarray], masks: np.ndarray | None
) -> np.ndarray:
    """The planner's own greedy actions: its forward pass, argmax over the valid actions.

    :param planner: the planner.
    :param obs: a batch of observations.
    :param masks: (B, n_actions) bool, or None for no masking.
    :return: (B,) actions.
    """
    with torch.no_grad():
        logits = planner({k: torch.as_tensor(v).float() for k, v in obs.items()}).logits
    if masks is not None:
        logits = logits.masked_fill(~torch.as_tensor(masks), float("-inf"))
    return logits.argmax(-1).numpy()


@pytest.mark.parametrize(("algo", "algo_cls"), [("ppo", PPO), ("maskable_ppo", MaskablePPO)])
def test_shipped_planner_model_acts_as_the_planner(algo: str, algo_cls: type) -> None:
    env = make_vec_env("FPR/Maze-9x9-v0", n_envs=4, seed=3)
    model = planner_model("maze_large", env, algo=algo, device="cpu", seed=0)
    assert isinstance(model, algo_cls)
    planner = load_planner("maze_large")
    planner.adapt_to(env.get_attr("task_description")[0])  # trained on 15x15, any side works
    for key, value in planner.state_dict().items():
        assert torch.equal(model.policy.planner.state_dict()[key], value)
    obs = env.reset()
    masks = get_action_masks(env) if algo == "maskable_ppo" else None
    kwargs = {"action_masks": masks} if masks is not None else {}
    actions, _ = model.predict(obs, deterministic=True, **kwargs)
    np.testing.assert_array_equal(actions, planner_actions(planner, obs, masks))
    rewards, lengths = evaluate_policy(model, env, n_eval_episodes=2, return_episode_rewards=True)
    assert len(rewards) == len(lengths) == 2
    env.close()


def test_planner_model_takes_a_checkpoint_and_a_solver(tmp_path) -> None:
    env = make_vec_env("FPR/Maze-9x9-v0", n_envs=2, seed=0)
    model = planner_model(
        "fpr_agents/checkpoints/maze_large.safetensors",
        env,
        algo="maskable_ppo",
        solver={"max_iters": 8},
        policy_kwargs={"grad_iters": 1},
        n_steps=8,
        batch_size=8,
        n_epochs=1,
        device="cpu",
    )
    assert model.policy.planner.config.max_iters == 8 and model.policy.grad_iters == 1
    model.learn(16, callback=PlanningStateCallback())
    assert (model.policy.last_solve_stats["iterations"] <= 8).all()
    env.close()


def test_planner_model_refuses_what_the_planner_fixes() -> None:
    env = make_vec_env("FPR/Maze-9x9-v0", n_envs=1, seed=0)
    with pytest.raises(ValueError, match="shape the weights"):
        planner_model("maze_large", env, solver={"d_model": 8})
    with pytest.raises(ValueError, match="come from the planner"):
        planner_model("maze_large", env, policy_kwargs={"reasoner": {}})
    with pytest.raises(ValueError, match="algo must be one of"):
        planner_model("maze_large", env, algo="dqn")
    with pytest.raises(ValueError, match="shipped planner"):
        planner_model("no_such_planner", env)
    sudoku = make_vec_env("FPR/Sudoku-4x4-v0", n_envs=1, seed=0)
    with pytest.raises(ValueError, match=r"'action_layout'|'family'"):
        planner_model("maze_large", sudoku)
