"""bench.arc_oneshot runs on the shipped ARC planner and its table is complete."""

from __future__ import annotations

import pytest

from bench import arc_oneshot


@pytest.mark.slow
def test_arc_oneshot_table_is_complete() -> None:
    results = arc_oneshot.main(["--families", "denoise,flip", "--tasks", "4", "--threads", "1"])
    assert set(results) == {"denoise", "flip", "arc-agi-1/evaluation", "generated"}
    assert results["arc-agi-1/evaluation"]["tasks"] > 0
    assert all(0.0 <= row["exact"] <= 1.0 for row in results.values() if "exact" in row)
    assert all(row["iterations"] >= 1 for row in results.values())
    generated = results["generated"]
    assert generated["tasks"] == 8 and -1.0 <= generated["spearman"] <= 1.0
