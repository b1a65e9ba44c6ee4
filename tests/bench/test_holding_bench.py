"""bench.holding runs on the shipped maze planner and its table is complete."""

from __future__ import annotations

import math

import pytest

from bench import holding


def test_holding_trace_is_complete() -> None:
    results = holding.main(["--sizes", "9", "--mazes", "2", "--horizon", "12"])
    rows = results[9]
    assert [r["iteration"] for r in rows] == [1, 10, 12]
    for row in rows:
        assert 0.0 <= row["cell_accuracy"] <= 1.0 and 0.0 <= row["greedy_success"] <= 1.0
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
