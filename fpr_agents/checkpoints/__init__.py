"""Small trained planners shipped inside the package, so the main job runs without training first.

Each ``<name>.safetensors`` has a ``<name>.json`` beside it with the reasoner config, the task
description, the command and commit that produced it and its metrics; ``README.md`` in this folder
lists them. Load one with ``fpr_agents.policy.load_planner("maze")``, or make an SB3 model of it
with ``fpr_agents.policy.planner_model("maze", env)``.
"""

from __future__ import annotations

from pathlib import Path

CHECKPOINT_DIR = Path(__file__).resolve().parent


def shipped_names() -> list[str]:
    """Names of the shipped checkpoints.

    :return: e.g. ``["maze", "sudoku4"]``.
    """
    return sorted(path.stem for path in CHECKPOINT_DIR.glob("*.safetensors"))


def shipped_checkpoint(name: str) -> Path:
    """Path of a shipped checkpoint.

    :param name: its name (see :func:`shipped_names`).
    :return: the ``.safetensors`` path.
    """
    path = CHECKPOINT_DIR / f"{name}.safetensors"
    if not path.exists():
        raise ValueError(f"no shipped checkpoint named {name!r}; shipped: {shipped_names()}")
    return path
