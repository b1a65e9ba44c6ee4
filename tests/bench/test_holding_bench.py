"""bench.holding runs on the shipped maze planner and its table is complete."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bench import holding
from envs.maze import MOVES
from fpr_agents.arguments import parse_args
from train.oracle_data import MazeOracle


def test_holding_trace_is_complete() -> None:
    results = holding.main(["--sizes", "9", "--mazes", "2", "--horizon", "12"])
    rows = results[9]
    assert [r["iteration"] for r in rows] == [1, 10, 12]
    for row in rows:
        assert 0.0 <= row["cell_accuracy"] <= 1.0 and 0.0 <= row["greedy_success"] <= 1.0
        assert 0.0 <= row["reach_share"] <= 1.0
        assert math.isfinite(row["residual_median"]) and row["residual_median"] >= 0.0


def test_holding_splits_accuracy_by_distance_from_the_goal() -> None:
    results = holding.main(
        ["--sizes", "9", "--mazes", "3", "--horizon", "10", "--distance-bins", "3,6"]
    )
    for row in results[9]:
        counts, shares = row["cells_by_distance"], row["accuracy_by_distance"]
        assert len(counts) == len(shares) == 3 and counts[0] > 0
        total = sum(counts)
        weighted = sum(c * a for c, a in zip(counts, shares, strict=True) if c) / total
        assert math.isclose(weighted, row["cell_accuracy"], rel_tol=1e-5)
        settled = [v for v in row["settled_by_distance"] if not math.isnan(v)]
        assert settled and all(1 <= v <= row["iteration"] for v in settled)
    with pytest.raises(ValueError, match="increasing positive integers"):
        holding.trace("unused", 9, 1, 1, [1], 0, distance_bins=[6, 3])
    with pytest.raises(SystemExit):
        holding.main(["--sizes", "9", "--distance-bins", "a,b"])


def test_holding_list_flags_parse_by_type() -> None:
    args = parse_args(holding.HoldingArgs, ["--sizes", "9,15", "--distance-bins", "3, 6"], "")
    assert args.sizes == (9, 15) and args.distance_bins == (3, 6)
    assert parse_args(holding.HoldingArgs, ["--distance-bins", ""], "").distance_bins == ()
    for bad in (["--sizes", "9,x"], ["--distance-bins", "3,6.5"], ["--distance-bins", "6,3"]):
        with pytest.raises(SystemExit) as refused:
            parse_args(holding.HoldingArgs, bad, "")
        assert refused.value.code == 2


def _follow(moves: np.ndarray, grid: np.ndarray, goal: tuple[int, int], start) -> bool:
    row, col = start
    for _ in range(grid.size):
        if (row, col) == goal:
            return True
        d_row, d_col = MOVES[moves[row, col]]
        inside = 0 <= row + d_row < grid.shape[0] and 0 <= col + d_col < grid.shape[1]
        if inside and grid[row + d_row, col + d_col] != 0:
            row, col = row + d_row, col + d_col
    return (row, col) == goal


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_reaches_goal_agrees_with_following_each_cell(seed: int) -> None:
    rng = np.random.default_rng(seed)
    batch = MazeOracle().batch_from_sizes([9, 7], rng)
    grid = batch.obs["grid"]
    goals = [tuple(g) for g in batch.extra["goal"]]
    # the oracle's own field reaches the goal from every cell
    best = batch.optimal.float().argmax(-1)
    assert bool(holding.reaches_goal(best, grid, goals)[batch.cells].all())
    # a random field: the same answer as walking it cell by cell
    moves = torch.from_numpy(rng.integers(0, 4, size=grid.shape))
    reach = holding.reaches_goal(moves, grid, goals).numpy()
    for b in range(2):
        for row, col in np.argwhere(grid[b].numpy() != 0):
            walked = _follow(moves[b].numpy(), grid[b].numpy(), goals[b], (row, col))
            assert reach[b, row, col] == walked
