"""The training benchmark: its quick mode end to end, with equal steps for both policies."""

from __future__ import annotations

import contextlib
import io
import math
from dataclasses import replace

import pytest
import torch

from bench.common import given_options
from bench.training import (
    OPTION_FIELDS,
    QUICK_CONFIG,
    TrainingBenchArgs,
    TrainingBenchConfig,
    main,
)
from fpr_agents.arguments import parse_args


def test_quick_mode_trains_both_policies_and_gives_a_complete_finite_table(
    capsys: pytest.CaptureFixture,
) -> None:
    torch.set_num_threads(1)
    report = main(["--quick", "--random-weights", "--device", "cpu"])
    printed = capsys.readouterr().out

    (table,) = report.tables
    assert [row[0] for row in table.rows] == ["planner policy (FPR)", "SB3 MultiInputPolicy"]
    steps = QUICK_CONFIG.chunks * QUICK_CONFIG.chunk_steps
    assert f"{steps} env steps each" in table.title  # equal steps for both
    assert [row.label for row in report.ratios] == [
        "PPO env steps/s, training (rollouts + updates)",
        "PPO env steps/s, rollouts only",
        f"greedy success at equal steps ({steps})",
    ]
    for row in report.ratios:
        assert math.isfinite(row.value), row.label
        assert row.met is None  # issue 6 sets no aim here
    for policy in ("planner", "default"):
        assert report.values[f"{policy}_steps_per_second"] > 0
        # Rollouts are part of training, so they alone run at least as fast.
        rollouts = report.values[f"{policy}_rollout_steps_per_second"]
        assert rollouts >= report.values[f"{policy}_steps_per_second"]
        assert 0.0 <= report.values[f"{policy}_eval_success"] <= 100.0
    assert "random weights" in printed
    assert printed.rstrip().splitlines()[-1].startswith("| greedy success at equal steps")


def test_bad_budgets_raise_value_errors() -> None:
    with pytest.raises(ValueError, match="chunks"):
        TrainingBenchConfig(chunks=0)
    with pytest.raises(ValueError, match="n_envs"):
        TrainingBenchConfig(n_envs=0)


def test_only_the_flags_given_override_the_bench_config() -> None:
    args = parse_args(
        TrainingBenchArgs, ["--chunks", "3", "--d-model", "32", "--grad-iters", "1"], ""
    )
    assert given_options(args, OPTION_FIELDS) == {"chunks": 3, "d_model": 32, "grad_iters": 1}
    assert given_options(parse_args(TrainingBenchArgs, [], ""), OPTION_FIELDS) == {}
    assert args.bench_config() == replace(TrainingBenchConfig(), chunks=3, d_model=32, grad_iters=1)
    with pytest.raises(SystemExit) as refused, contextlib.redirect_stderr(io.StringIO()):
        parse_args(TrainingBenchArgs, ["--chunks", "0"], "")  # the config refuses it
    assert refused.value.code == 2
