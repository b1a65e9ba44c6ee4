"""Factories of small reasoners and configurations for the reasoner tests."""

from __future__ import annotations

import torch

from fpr_agents.reasoner import FixedPointReasoner, ReasonerConfig


def small_config(**overrides: object) -> ReasonerConfig:
    """A small reasoner configuration (d=16, 2 heads of width 8) with fields overridden.

    :param overrides: fields to change.
    :return: the configuration.
    """
    fields: dict[str, object] = {"d_model": 16, "n_heads": 2, "mlp_ratio": 2.0}
    fields.update(overrides)
    return ReasonerConfig(**fields)  # type: ignore[arg-type]


def small_reasoner(seed: int = 0, **overrides: object) -> FixedPointReasoner:
    """A seeded small reasoner in eval mode.

    :param seed: torch seed of the weights.
    :param overrides: configuration fields to change.
    :return: the reasoner.
    """
    torch.manual_seed(seed)
    return FixedPointReasoner(small_config(**overrides)).eval()
