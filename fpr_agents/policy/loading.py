"""Building a :class:`PlannerNetwork` from a checkpoint of ``train.pretrain`` or ``train.ppo``, or
from a shipped planner's name."""

from __future__ import annotations

import os

import torch

from fpr_agents.checkpoints.files import (
    PLANNER_PREFIXES,
    load_checkpoint,
    resolve_checkpoint,
    strip_prefix,
)
from fpr_agents.policy.planner import PlannerNetwork


def load_planner(
    path: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> PlannerNetwork:
    """Build a planner from a checkpoint of ``train.pretrain`` or ``train.ppo`` (``--policy
    planner``), or from a shipped planner's name.

    :param path: the ``.safetensors`` file, or a shipped name such as ``"maze_large"``.
    :param device: where to put the planner.
    :return: the planner with its weights, in eval mode.
    """
    path = resolve_checkpoint(path)
    tensors, meta = load_checkpoint(path)
    kind = meta.get("kind")
    if kind not in PLANNER_PREFIXES or "reasoner" not in meta:
        raise ValueError(
            f"{path} holds no planner (kind={kind!r}); expected a checkpoint of train.pretrain "
            "or of train.ppo with --policy planner"
        )
    planner = PlannerNetwork(
        meta["task_description"],
        meta["reasoner"],
        meta["head_hidden"],
        meta.get("stack_sizes"),
        meta.get("value_at_agent", False),  # written before the option: pooled value head
    )
    planner.load_state_dict(strip_prefix(tensors, PLANNER_PREFIXES[kind]))
    return planner.to(device).eval()
