"""The environment speed benchmark: its quick mode end to end, its samplers and its timing."""

from __future__ import annotations

import importlib.util
import math
import random
import time

import gymnasium as gym
import numpy as np
import pytest

from bench.envs import (
    ARCLE_SKIP_REASON,
    BenchConfig,
    Comparison,
    build_comparisons,
    build_workloads,
    format_report,
    main,
    masked_sampler,
    measure_rate,
    run_benchmarks,
    uniform_sampler,
)

ARCLE_INSTALLED = importlib.util.find_spec("arcle") is not None


@pytest.mark.slow
def test_quick_mode_prints_every_row_with_positive_rates(capsys: pytest.CaptureFixture) -> None:
    report = main(["--quick", "--device", "cpu"])
    printed = capsys.readouterr().out

    expected_keys = [workload.key for workload in build_workloads(ARCLE_INSTALLED)]
    assert [result.workload.key for result in report.results] == expected_keys
    for result in report.results:
        if result.workload.key.startswith("arcle") and not ARCLE_INSTALLED:
            assert result.skipped
            continue
        assert len(result.rates) == report.config.repeats, result.workload.key
        assert all(math.isfinite(rate) and rate > 0 for rate in result.rates), result.workload.key
        assert result.workload.label in printed

    assert [c.comparison.label for c in report.comparisons] == [
        c.label for c in build_comparisons()
    ]
    for compared in report.comparisons:
        if ARCLE_INSTALLED or compared.comparison.baseline not in ("arcle_valid", "arcle_no_mask"):
            assert compared.ratio > 0 and compared.met in (True, False), compared.comparison.label
            assert compared.ours_rate == report.result(compared.comparison.ours).median

    # The ratio table comes last: every line after its heading is a ratio row.
    ratio_part = printed.rsplit("Ratios", 1)[1]
    ratio_lines = [line for line in ratio_part.splitlines() if line.startswith("| ")]
    assert len(ratio_lines) == 1 + len(build_comparisons())  # header + rows
    assert printed.rstrip().splitlines()[-1].startswith(f"| {build_comparisons()[-1].label}")


@pytest.mark.slow
def test_without_arcle_its_rows_say_skipped() -> None:
    config = BenchConfig(repeats=1, seconds=0.005, warmup_seconds=0.0)
    report = run_benchmarks(config, arcle_available=False)
    text = format_report(report)

    arcle_rows = [line for line in text.splitlines() if "ARCLE/O2ARCv2Env-v0 (" in line]
    assert len(arcle_rows) == 2
    assert all(ARCLE_SKIP_REASON in line for line in arcle_rows)
    arcle_comparisons = [
        c for c in report.comparisons if (c.comparison.baseline or "").startswith("arcle")
    ]
    assert len(arcle_comparisons) == 2
    assert all(c.skipped and c.met is None for c in arcle_comparisons)
    assert report.result("arc_masked").median > 0


def test_masked_sampler_draws_every_valid_action_and_only_those() -> None:
    env = gym.make("FPR/Maze-9x9-v0")
    env.reset(seed=3)
    sample = masked_sampler(env, random.Random(0))
    mask = env.unwrapped.action_masks()
    drawn = [sample() for _ in range(400)]
    assert set(drawn) == set(np.flatnonzero(mask).tolist())


def test_uniform_sampler_covers_the_action_space() -> None:
    env = gym.make("FPR/Maze-9x9-v0")
    sample = uniform_sampler(env, random.Random(1))
    drawn = {sample() for _ in range(400)}
    assert drawn == set(range(env.action_space.n))


@pytest.mark.skipif(not ARCLE_INSTALLED, reason="arcle (the bench extra) is not installed")
@pytest.mark.filterwarnings("ignore:.*WARN:")  # gymnasium's checker on ARCLE's spaces and reuse
def test_arcle_valid_sampler_selects_inside_the_grid() -> None:
    import arcle  # noqa: F401  (registers the ARCLE/... ids)

    from bench.envs import ARCLE_ENV_ID, arcle_valid_sampler

    np.random.seed(0)
    env = gym.make(ARCLE_ENV_ID, max_episode_steps=1000)
    env.reset(seed=0)
    arcle_env = env.unwrapped
    flood_fills = {i for i, name in enumerate(arcle_env.op_names) if "floodfill" in name.lower()}
    assert len(flood_fills) == 10
    sample = arcle_valid_sampler(env, random.Random(0))
    operations = set()
    for _ in range(300):
        rows, cols = arcle_env.current_state["grid_dim"].tolist()
        action = sample()
        selection = action["selection"]
        operations.add(action["operation"])
        assert selection[:rows, :cols].any()
        assert not selection[rows:, :].any() and not selection[:, cols:].any()
        if action["operation"] in flood_fills:
            assert selection.sum() == 1
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    assert operations == set(range(len(arcle_env.operations)))


def test_measure_rate_counts_units_per_second() -> None:
    rate = measure_rate(lambda: time.sleep(0.01), seconds=0.1)
    assert 10 < rate <= 100  # each unit sleeps at least 10 ms
    assert measure_rate(lambda: None, seconds=0.0) > 0  # runs at least once


@pytest.mark.parametrize("kwargs", [{"repeats": 0}, {"seconds": 0.0}, {"warmup_seconds": -1.0}])
def test_config_rejects_bad_values(kwargs: dict) -> None:
    with pytest.raises(ValueError, match="BenchConfig"):
        BenchConfig(**kwargs)


def test_comparison_needs_exactly_one_baseline() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Comparison("x", "maze_9x9_masked", "minigrid_8x8", 1.0, "both", target_rate=5.0)
    with pytest.raises(ValueError, match="exactly one"):
        Comparison("x", "maze_9x9_masked", None, 1.0, "neither")
