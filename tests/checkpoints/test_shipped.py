"""Each shipped planner loads and, on a small fixed seed set, reaches the success it promises.

The asserted floors sit well below the figures in fpr_agents/checkpoints/README.md (measured on
hundreds of episodes) so that the test is stable, but far above what an untrained planner gets.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import envs  # noqa: F401
from bench.arc_oneshot import exact_share
from fpr_agents.checkpoints import shipped_checkpoint, shipped_names
from fpr_agents.evaluation.rollout import run_episodes
from train.common import load_planner
from train.oracle_data import ArcConceptOracle

# name -> (env id, episodes, success floor, iteration cap)
FLOORS = {
    "maze": ("FPR/Maze-15x15-v0", 16, 0.8, 1024),
    "maze_large": ("FPR/Maze-33x33-v0", 12, 0.75, 1024),  # trained on 9x9-15x15 only
    "maze_mixed": ("FPR/Maze-Caves-33x33-v0", 12, 0.75, 1024),  # caves: open areas, pockets
    "sudoku4": ("FPR/Sudoku-4x4-v0", 24, 0.9, 64),
    "sudoku6": ("FPR/Sudoku-6x6-v0", 16, 0.9, 64),
    "sudoku9": ("FPR/Sudoku-9x9-v0", 12, 0.6, 64),
}


# ARC planners are scored one-shot (the answer read from the fixed point), per trained family:
# name -> [(family, tasks, exact floor), ...]
ONE_SHOT_FLOORS = {
    "arc_concepts": [("denoise", 16, 0.8), ("flip", 16, 0.5)],
    # trained on to real tasks: it keeps most of its concepts (0.81 and 0.75 when set)
    "arc_real": [("denoise", 16, 0.6), ("flip", 16, 0.5)],
}


def test_every_shipped_checkpoint_has_a_floor() -> None:
    floored = set(FLOORS) | set(ONE_SHOT_FLOORS)
    assert set(shipped_names()) <= floored, "add a success floor for each shipped planner"
    assert shipped_names(), "no planner is shipped"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FLOORS))
def test_shipped_planner_reaches_its_floor(name: str) -> None:
    if name not in shipped_names():
        pytest.skip(f"{name} is not shipped")
    torch.set_num_threads(1)
    env_id, episodes, floor, cap = FLOORS[name]
    planner = load_planner(shipped_checkpoint(name))
    result = run_episodes(
        planner,
        [gym.make(env_id) for _ in range(min(episodes, 12))],
        seeds=list(range(90_000, 90_000 + episodes)),
        max_iters=cap,
    )
    assert len(result.episodes) == episodes
    assert result.success_rate >= floor, f"{name}: success {result.success_rate:.2f} < {floor}"


def test_unknown_shipped_name_lists_the_shipped_ones() -> None:
    with pytest.raises(ValueError, match="shipped"):
        shipped_checkpoint("nope")


@pytest.mark.parametrize("name", sorted(ONE_SHOT_FLOORS))
def test_shipped_arc_planner_reads_answers_of_its_families(name: str) -> None:
    torch.set_num_threads(1)
    planner = load_planner(shipped_checkpoint(name))
    for family, tasks, floor in ONE_SHOT_FLOORS[name]:
        source = ArcConceptOracle("FPR/ARC-Concepts-v0", (family,))
        batch = source.batch(tasks, np.random.default_rng(90_000), painted_share=0.0)
        exact = exact_share(planner, source, batch)
        assert exact >= floor, f"{name} on {family}: exact {exact:.2f} < {floor}"
