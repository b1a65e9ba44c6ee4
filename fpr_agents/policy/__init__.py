"""Stable-Baselines3 policies built on the fixed-point reasoner, their logging callbacks, and SB3
models from trained planners (:func:`planner_model`)."""

from fpr_agents.policy.callbacks import (
    CriticWarmupCallback,
    FrozenReasonerCallback,
    PlanningDepthCallback,
    PlanningStateCallback,
)
from fpr_agents.policy.heads import CellSymbolHead, MoveHead, ValueHead
from fpr_agents.policy.loading import load_planner
from fpr_agents.policy.models import planner_model
from fpr_agents.policy.planner import PlannerNetwork, PlannerOutput, check_task_description
from fpr_agents.policy.planning_state import PlanningState
from fpr_agents.policy.policies import (
    FixedPointPlannerPolicy,
    MaskableFixedPointPlannerPolicy,
    task_description_from_env_id,
)

__all__ = [
    "CellSymbolHead",
    "CriticWarmupCallback",
    "FixedPointPlannerPolicy",
    "FrozenReasonerCallback",
    "MaskableFixedPointPlannerPolicy",
    "MoveHead",
    "PlannerNetwork",
    "PlannerOutput",
    "PlanningDepthCallback",
    "PlanningState",
    "PlanningStateCallback",
    "ValueHead",
    "check_task_description",
    "load_planner",
    "planner_model",
    "task_description_from_env_id",
]
