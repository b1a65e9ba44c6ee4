"""SB3 models whose planner policy starts from a trained planner: one call from a shipped name
or a checkpoint to a ``PPO`` / ``MaskablePPO`` ready to ``predict``, evaluate or ``learn``.

    model = planner_model("maze_large", env, algo="maskable_ppo")
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from gymnasium import Env
from sb3_contrib import MaskablePPO
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import VecEnv

from fpr_agents.checkpoints.files import compare_architecture
from fpr_agents.policy.loading import load_planner
from fpr_agents.policy.planner import ARCHITECTURE_FIELDS, PlannerNetwork
from fpr_agents.policy.policies import FixedPointPlannerPolicy, MaskableFixedPointPlannerPolicy

ALGOS = {
    "ppo": (PPO, FixedPointPlannerPolicy),
    "maskable_ppo": (MaskablePPO, MaskableFixedPointPlannerPolicy),
}
# Policy arguments that the planner itself fixes.
_FROM_PLANNER = ("task_description", "reasoner", "head_hidden", "value_at_agent")


def env_task_description(env: Env | VecEnv) -> dict[str, Any]:
    """The task description of an env or of a vector env's first env.

    :param env: a Gymnasium env (wrapped or not) or an SB3 vector env.
    :return: its ``task_description``.
    """
    if isinstance(env, VecEnv):
        return dict(env.get_attr("task_description")[0])
    task = getattr(env.unwrapped, "task_description", None)
    if task is None:
        raise ValueError(f"{env.unwrapped} has no task_description: planners need one")
    return dict(task)


def planner_model(
    checkpoint: str | os.PathLike[str] | PlannerNetwork,
    env: Env | VecEnv,
    algo: str = "ppo",
    solver: Mapping[str, Any] | None = None,
    policy_kwargs: Mapping[str, Any] | None = None,
    **model_kwargs: Any,
) -> PPO | MaskablePPO:
    """A PPO or MaskablePPO model whose planner policy holds a trained planner's weights.

    The policy is built from ``env``'s task description (any grid size of the planner's task) and
    the planner's architecture, then given its weights. Pass ``PlanningStateCallback()`` to every
    ``learn`` so rollouts warm-start within episodes.

    :param checkpoint: a shipped planner's name (``"maze_large"``), a checkpoint of
        ``train.pretrain`` or ``train.ppo`` (``.safetensors``), or a planner.
    :param env: the env (or vector env) the model acts in.
    :param algo: ``"ppo"`` or ``"maskable_ppo"``.
    :param solver: solver settings to change, e.g. ``{"max_iters": 256}`` (SolverConfig fields:
        the architecture comes from the planner); None keeps the planner's.
    :param policy_kwargs: further policy arguments (``grad_iters``, ``warm_start``,
        ``latent_cache``, ...).
    :param model_kwargs: passed on to the algorithm (``n_steps``, ``seed``, ``device``, ...).
    :return: the model.
    """
    if algo not in ALGOS:
        raise ValueError(f"algo must be one of {sorted(ALGOS)}, got {algo!r}")
    fixed = sorted(set(policy_kwargs or {}) & set(_FROM_PLANNER))
    if fixed:
        raise ValueError(f"policy_kwargs {fixed} come from the planner (solver= sets its solver)")
    planner = checkpoint if isinstance(checkpoint, PlannerNetwork) else load_planner(checkpoint)
    task = env_task_description(env)
    compare_architecture(
        {k: task.get(k) for k in ARCHITECTURE_FIELDS},
        {k: planner.task.get(k) for k in ARCHITECTURE_FIELDS},
        "task description",
    )
    reasoner = planner.config.with_solver(**(solver or {}))  # refuses architecture fields
    algo_cls, policy_cls = ALGOS[algo]
    kwargs = {
        "task_description": task,
        "reasoner": asdict(reasoner),  # plain values: they are saved in the .zip
        "head_hidden": planner.value_head.net[0].out_features,
        "value_at_agent": planner.value_at_agent,
        **(policy_kwargs or {}),
    }
    model = algo_cls(policy_cls, env, policy_kwargs=kwargs, **model_kwargs)
    model.policy.planner.load_state_dict(planner.state_dict())
    return model
