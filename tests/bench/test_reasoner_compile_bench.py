"""The reasoner benchmark's compiled rows: beside the eager ones, compile time apart."""

from __future__ import annotations

import math

import pytest
import torch

from bench.reasoner import main


@pytest.mark.slow
def test_compiled_rows_sit_beside_the_eager_ones(capsys: pytest.CaptureFixture) -> None:
    torch.set_num_threads(1)
    argv = ["--quick", "--random-weights", "--device", "cpu", "--compile", "--batches", "1,2"]
    report = main([*argv, "--no-memory", "--no-second-architecture"])
    assert "Compiled step (torch.compile) against eager" in capsys.readouterr().out
    speed, compiled = report.tables  # no memory table
    assert [row[1] for row in speed.rows] == [row[1] for row in compiled.rows] == ["1", "2"]
    # Batch 1 and batch 2 each compile a graph (batch 1 is specialised), outside the timings.
    for batch in (1, 2):
        assert report.values[f"conv_b{batch}_compile_seconds"] > 0
        assert math.isfinite(report.values[f"conv_b{batch}_compiled_speedup"])
    assert [row[-1].endswith("(1)") for row in compiled.rows] == [True, True]
    labels = [row.label for row in report.ratios]
    assert sum("compiled step speed-up" in label for label in labels) == 2
    assert all(math.isfinite(value) for value in report.values.values())
