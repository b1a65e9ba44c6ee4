"""bench.arc_ttt answers real tasks with and without a fine-tune and reports time per task."""

from __future__ import annotations

import pytest

from bench import arc_ttt
from fpr_agents.arguments import UserError


@pytest.mark.slow
def test_arc_ttt_table_is_complete() -> None:
    results = arc_ttt.main(["--quick", "--votes", "2", "--batch-size", "2"])
    assert set(results) == {"vote only", "fine-tuned, 2 steps"}
    for row in results.values():
        assert row["tasks"] == 2 and row["seconds_per_task"] > 0
        assert 0.0 <= row["pass@1"] <= row["pass@2"] <= 1.0
        assert 0.0 <= row["episode success"] <= 1.0  # played from the observation alone


def test_arc_ttt_refuses_a_split_with_nothing_to_answer(tmp_path) -> None:
    with pytest.raises(UserError, match=r"--split .*no \.json task file"):
        arc_ttt.main(["--split", str(tmp_path), "--quick"])
