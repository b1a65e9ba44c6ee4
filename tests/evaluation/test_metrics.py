"""Rank correlation, its interval, and summaries."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fpr_agents.evaluation.metrics import (
    average_ranks,
    spearman,
    spearman_interval,
    summarize,
)


def test_ranks_share_ties() -> None:
    np.testing.assert_allclose(average_ranks([10, 20, 20, 5]), [2.0, 3.5, 3.5, 1.0])
    np.testing.assert_allclose(average_ranks([2.0, math.nan, 1.0, math.nan]), [2, 3, 1, 4])
    assert average_ranks([]).shape == (0,)


@given(st.lists(st.integers(-5, 5), min_size=1, max_size=40))
def test_ranks_by_their_definition(values: list[int]) -> None:
    # a value's rank: the values below it, plus the middle of the run of values equal to it
    array = np.asarray(values)
    expected = [(array < v).sum() + ((array == v).sum() + 1) / 2 for v in values]
    np.testing.assert_allclose(average_ranks(values), expected)


def test_spearman_of_monotone_maps() -> None:
    x = [1.0, 2.0, 3.0, 4.0, 5.0]
    assert math.isclose(spearman(x, [v**3 for v in x]), 1.0)
    assert math.isclose(spearman(x, [-v for v in x]), -1.0)
    assert math.isnan(spearman(x, [1.0] * 5))


@given(st.lists(st.floats(-1e6, 1e6), min_size=3, max_size=30, unique=True))
def test_spearman_matches_pearson_of_ranks(values: list[float]) -> None:
    other = [v * v for v in values]
    expected = np.corrcoef(np.argsort(np.argsort(values)), average_ranks(other))[0, 1]
    rho = spearman(values, other)
    if not math.isnan(rho):
        assert abs(rho - expected) < 1e-9


def test_summary() -> None:
    summary = summarize([1, 2, 3, 4, 10])
    assert summary["mean"] == 4.0 and summary["median"] == 3.0 and summary["max"] == 10.0
    assert summary["count"] == 5
    assert math.isnan(summarize([])["mean"])


def _grouped_sample(groups: int, per_group: int, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 40, size=groups * per_group)
    y = x + rng.normal(0, 15, size=x.shape)
    return x, y, np.repeat(np.arange(groups), per_group)


def test_the_interval_holds_the_correlation_and_narrows_with_more_episodes() -> None:
    x, y, groups = _grouped_sample(40, 5, seed=1)
    low, high = spearman_interval(x, y, groups)
    assert low < spearman(x, y) < high
    x2, y2, groups2 = _grouped_sample(400, 5, seed=2)
    low2, high2 = spearman_interval(x2, y2, groups2)
    assert low2 < spearman(x2, y2) < high2
    assert high2 - low2 < 0.5 * (high - low)
    assert spearman_interval(x, y, groups) == (low, high)  # seeded
    assert spearman_interval(x, y, groups, seed=1) != (low, high)


def test_the_interval_resamples_whole_episodes() -> None:
    # Copies of a pair inside its episode add no information: the interval stays as wide as
    # with one pair per episode (a bootstrap of single pairs would narrow it about 4.5x).
    x, y, groups = _grouped_sample(60, 1, seed=3)
    once = spearman_interval(x, y, groups)
    copied = spearman_interval(np.repeat(x, 20), np.repeat(y, 20), np.repeat(groups, 20))
    np.testing.assert_allclose(copied, once, atol=1e-9)
    pairs = spearman_interval(np.repeat(x, 20), np.repeat(y, 20), np.arange(1200))
    assert pairs[1] - pairs[0] < 0.5 * (once[1] - once[0])


def test_an_undefined_interval_is_nan() -> None:
    x, y, _ = _grouped_sample(10, 3, seed=4)
    assert all(math.isnan(v) for v in spearman_interval(x, y, [0] * len(x)))  # one episode
    assert all(math.isnan(v) for v in spearman_interval(x, [1.0] * len(x), np.arange(len(x))))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"groups": [0, 1]}, "equal length"),
        ({"confidence": 1.0}, "confidence"),
        ({"resamples": 0}, "resamples"),
    ],
)
def test_the_interval_refuses_bad_input(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"x": [1, 2, 3], "y": [3, 1, 2], "groups": [0, 1, 2]}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        spearman_interval(**arguments)  # type: ignore[arg-type]
