"""The Fixed-Point Reasoner: a looped, weight-tied Transformer on a 2D grid, iterated per sample to
a fixed point (docs/architecture.md, "The reasoner")."""

from fpr_agents.reasoner.config import ArchitectureConfig, ReasonerConfig, SolverConfig
from fpr_agents.reasoner.core import FixedPointReasoner, GateValues
from fpr_agents.reasoner.layers import (
    ConvSwiGLU,
    Gate,
    GridAttention,
    GridConv,
    GridEmbedding,
    RMSNorm,
    SwiGLU,
)
from fpr_agents.reasoner.solve import SolveResult, relative_residual, solve_fixed_point
from fpr_agents.reasoner.training import halting_loss, truncated_unroll

__all__ = [
    "ArchitectureConfig",
    "ConvSwiGLU",
    "FixedPointReasoner",
    "Gate",
    "GateValues",
    "GridAttention",
    "GridConv",
    "GridEmbedding",
    "RMSNorm",
    "ReasonerConfig",
    "SolveResult",
    "SolverConfig",
    "SwiGLU",
    "halting_loss",
    "relative_residual",
    "solve_fixed_point",
    "truncated_unroll",
]
