"""Gymnasium environments of fpr-agents: Maze (on MiniGrid), Sudoku and ARC.

Importing this package registers every environment under the namespace ``FPR``
(``FPR/Maze-v0``, ``FPR/Sudoku-v0``, ``FPR/ARC-v0`` and their variants), so
``gymnasium.make("envs:FPR/Maze-v0")`` works without an explicit import.
"""

from __future__ import annotations

import gymnasium as gym

from envs import arc, maze, maze_dynamic, sudoku

__all__ = ["registered_ids"]

_MODULES = (maze, maze_dynamic, sudoku, arc)  # each holds its REGISTRATIONS


def _register_all() -> None:
    for module in _MODULES:
        for spec in module.REGISTRATIONS:
            if spec["id"] not in gym.registry:
                gym.register(**spec)


def registered_ids() -> list[str]:
    """Every environment id this package registers, sorted.

    :return: ids such as ``"FPR/Maze-v0"``.
    """
    return sorted(spec["id"] for module in _MODULES for spec in module.REGISTRATIONS)


_register_all()
