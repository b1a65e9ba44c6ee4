"""Metrics of planning depth: rank correlation, summaries and difficulty buckets."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# A share of decisions past which reports and callbacks warn: a planner that blows up, cycles or
# runs to its cap on this many decisions is not thinking "as long as needed", whatever its success.
WARN_SHARES = {"diverged": 0.0, "stalled": 0.05, "capped": 0.05}


def average_ranks(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Ranks (1-based) of ``values``, tied entries sharing the mean of their ranks.

    :param values: a 1-D sequence of numbers.
    :return: float array of the same length.
    """
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"average_ranks expects a 1-D sequence, got shape {array.shape}")
    order = np.argsort(array, kind="mergesort")
    ranks = np.empty(len(array), dtype=np.float64)
    sorted_values = array[order]
    start = 0
    while start < len(array):
        stop = start + 1
        while stop < len(array) and sorted_values[stop] == sorted_values[start]:
            stop += 1
        ranks[order[start:stop]] = 0.5 * (start + stop - 1) + 1.0
        start = stop
    return ranks


def spearman(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float:
    """Spearman rank correlation of two equally long sequences.

    :param x: first sequence.
    :param y: second sequence.
    :return: the correlation in [-1, 1], or NaN when fewer than two points or either is constant.
    """
    rx, ry = average_ranks(x), average_ranks(y)
    if len(rx) != len(ry):
        raise ValueError(f"spearman needs sequences of equal length, got {len(rx)} and {len(ry)}")
    if len(rx) < 2 or np.all(rx == rx[0]) or np.all(ry == ry[0]):
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def summarize(values: Sequence[float] | np.ndarray) -> dict[str, float]:
    """Mean, median, 90th percentile, min and max of ``values`` (NaN for an empty input).

    :param values: numbers to summarise.
    :return: a dict with keys mean, median, p90, min, max, count.
    """
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        nan = float("nan")
        return {"mean": nan, "median": nan, "p90": nan, "min": nan, "max": nan, "count": 0}
    return {
        "mean": float(array.mean()),
        "median": float(np.median(array)),
        "p90": float(np.percentile(array, 90)),
        "min": float(array.min()),
        "max": float(array.max()),
        "count": int(array.size),
    }
