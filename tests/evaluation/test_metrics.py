"""Rank correlation and summaries."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from fpr_agents.evaluation.metrics import average_ranks, spearman, summarize


def test_ranks_share_ties() -> None:
    np.testing.assert_allclose(average_ranks([10, 20, 20, 5]), [2.0, 3.5, 3.5, 1.0])


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
