"""bench.holding runs on the shipped maze planner and its table is complete."""

from __future__ import annotations

import math

from bench import holding


def test_holding_trace_is_complete() -> None:
    results = holding.main(["--sizes", "9", "--mazes", "2", "--horizon", "12"])
    rows = results[9]
    assert [r["iteration"] for r in rows] == [1, 10, 12]
    for row in rows:
        assert 0.0 <= row["cell_accuracy"] <= 1.0 and 0.0 <= row["greedy_success"] <= 1.0
        assert math.isfinite(row["residual_median"]) and row["residual_median"] >= 0.0
