"""Metrics of planning depth: rank correlation, summaries and difficulty buckets."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# A share of decisions past which reports and callbacks warn: a planner that blows up, cycles or
# runs to its cap on this many decisions is not thinking "as long as needed", whatever its success.
WARN_SHARES = {"diverged": 0.0, "stalled": 0.05, "capped": 0.05}


def average_ranks(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Ranks (1-based) of ``values``, tied entries sharing the mean of their ranks.

    :param values: a 1-D sequence of numbers (each NaN ranks last, on its own).
    :return: float array of the same length.
    """
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"average_ranks expects a 1-D sequence, got shape {array.shape}")
    ranks = np.empty(len(array), dtype=np.float64)
    if len(array) == 0:
        return ranks
    order = np.argsort(array, kind="mergesort")
    sorted_values = array[order]
    starts_group = np.empty(len(array), dtype=bool)  # where a run of equal values begins
    starts_group[0] = True
    starts_group[1:] = sorted_values[1:] != sorted_values[:-1]  # NaN != NaN: a run of its own
    first = np.flatnonzero(starts_group)  # (G,) first sorted position of each run
    last = np.append(first[1:], len(array)) - 1  # (G,) its last
    ranks[order] = (0.5 * (first + last) + 1.0)[np.cumsum(starts_group) - 1]
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


def spearman_interval(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    groups: Sequence[int] | np.ndarray,
    confidence: float = 0.95,
    resamples: int = 400,
    seed: int = 0,
) -> tuple[float, float]:
    """A percentile bootstrap interval of :func:`spearman`, resampling whole groups.

    The decisions of one episode are not independent draws (they share its maze, its events,
    its plan), so the interval resamples episodes with replacement, each with all of its
    decisions, and recomputes the correlation; the interval holds the middle ``confidence`` of
    those values. Seeded, so a report is reproducible.

    :param x: first sequence.
    :param y: second sequence, as long.
    :param groups: the group (episode) of each pair, as long.
    :param confidence: the share of the resampled correlations inside the interval, in (0, 1).
    :param resamples: bootstrap resamples (at least 1).
    :param seed: the resampling's random seed.
    :return: (low, high), or (NaN, NaN) when fewer than two groups or the correlation is
        undefined in too many resamples (over half of them).
    """
    xs, ys = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    labels = np.asarray(groups)
    if not (xs.shape == ys.shape == labels.shape) or xs.ndim != 1:
        raise ValueError(
            f"spearman_interval needs three 1-D sequences of equal length, got shapes "
            f"{xs.shape}, {ys.shape} and {labels.shape}"
        )
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"spearman_interval: confidence must be in (0, 1), got {confidence!r}")
    if resamples < 1:
        raise ValueError(f"spearman_interval: resamples must be at least 1, got {resamples!r}")
    nan = (float("nan"), float("nan"))
    order = np.argsort(labels, kind="mergesort")  # the pairs grouped, group by group
    _, starts, counts = np.unique(labels[order], return_index=True, return_counts=True)
    if len(starts) < 2:
        return nan
    xs, ys = xs[order], ys[order]
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        chosen = rng.integers(0, len(starts), size=len(starts))  # (G,) groups drawn
        lengths = counts[chosen]
        # the positions of every chosen group's pairs, one run per draw
        offsets = np.repeat(starts[chosen] - np.cumsum(lengths) + lengths, lengths)
        index = np.arange(int(lengths.sum())) + offsets
        values.append(spearman(xs[index], ys[index]))
    finite = np.asarray(values)[np.isfinite(values)]
    if len(finite) * 2 < resamples:
        return nan
    tail = 50.0 * (1.0 - confidence)
    low, high = np.percentile(finite, [tail, 100.0 - tail])
    return float(low), float(high)


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
