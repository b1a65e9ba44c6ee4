"""Planning-depth reports: difficulty buckets, sweeps, Markdown tables and PNG plots."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from fpr_agents.evaluation.metrics import spearman, summarize
from fpr_agents.evaluation.rollout import RolloutResult


def bucket_edges(values: Sequence[float], n_buckets: int) -> list[float]:
    """Edges of up to ``n_buckets`` buckets holding about equal counts (quantiles, deduplicated).

    :param values: the difficulties.
    :param n_buckets: buckets wanted (>= 1).
    :return: increasing edges; bucket i is ``edges[i] <= v < edges[i + 1]`` (last one closed).
    """
    if n_buckets < 1:
        raise ValueError(f"n_buckets must be >= 1, got {n_buckets}")
    array = np.asarray(values, dtype=np.float64)
    array = array[np.isfinite(array)]
    if array.size == 0:
        return []
    edges = np.unique(np.quantile(array, np.linspace(0.0, 1.0, n_buckets + 1)))
    if edges.size == 1:
        edges = np.array([edges[0], edges[0]])
    return [float(e) for e in edges]


def bucket_index(value: float, edges: Sequence[float]) -> int:
    """The bucket of ``value`` for :func:`bucket_edges` edges (-1 when outside or NaN).

    :param value: a difficulty.
    :param edges: bucket edges.
    :return: bucket index.
    """
    if not np.isfinite(value) or len(edges) < 2 or value < edges[0] or value > edges[-1]:
        return -1
    index = int(np.searchsorted(edges, value, side="right")) - 1
    return min(index, len(edges) - 2)


def depth_report(result: RolloutResult, n_buckets: int = 5) -> dict[str, Any]:
    """Success and iterations per difficulty bucket, and their rank correlation.

    Decisions are bucketed by the difficulty of the state they were taken in; episodes by their
    initial difficulty (with the same edges).

    :param result: the evaluation's records.
    :param n_buckets: buckets wanted.
    :return: ``{"buckets": [...], "spearman": rho, "decisions": n, "episodes": n, "success_rate",
        "iterations": summary, "converged_share"}``.
    """
    difficulty = [d.difficulty for d in result.decisions]
    iterations = [d.iterations for d in result.decisions]
    edges = bucket_edges(difficulty, n_buckets)
    buckets = []
    for b in range(max(0, len(edges) - 1)):
        decisions = [d for d in result.decisions if bucket_index(d.difficulty, edges) == b]
        episodes = [e for e in result.episodes if bucket_index(e.initial_difficulty, edges) == b]
        its = [d.iterations for d in decisions]
        buckets.append(
            {
                "low": edges[b],
                "high": edges[b + 1],
                "decisions": len(decisions),
                "iterations": summarize(its),
                "converged_share": float(np.mean([d.converged for d in decisions]))
                if decisions
                else float("nan"),
                "episodes": len(episodes),
                "success_rate": float(np.mean([e.success for e in episodes]))
                if episodes
                else float("nan"),
            }
        )
    return {
        "buckets": buckets,
        "spearman_iterations_difficulty": spearman(iterations, difficulty)
        if len(iterations) > 1
        else float("nan"),
        "decisions": len(result.decisions),
        "episodes": len(result.episodes),
        "success_rate": result.success_rate,
        "iterations": summarize(iterations),
        "converged_share": float(np.mean([d.converged for d in result.decisions]))
        if result.decisions
        else float("nan"),
    }


def _fmt(value: Any, digits: int = 2) -> str:
    if isinstance(value, float):
        return "nan" if not np.isfinite(value) else f"{value:.{digits}f}"
    return str(value)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table.

    :param header: column names.
    :param rows: cells (floats are shown with two decimals).
    :return: the table text.
    """
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def depth_markdown(report: Mapping[str, Any]) -> str:
    """The depth-against-difficulty table of a :func:`depth_report`.

    :param report: the report.
    :return: Markdown.
    """
    rows = [
        [
            f"{b['low']:g}-{b['high']:g}", b["decisions"], b["iterations"]["mean"],
            b["iterations"]["median"], b["iterations"]["p90"], b["converged_share"],
            b["episodes"], b["success_rate"],
        ]
        for b in report["buckets"]
    ]  # fmt: skip
    header = [
        "difficulty", "decisions", "iters mean", "iters median", "iters p90", "converged",
        "episodes", "success",
    ]  # fmt: skip
    return markdown_table(header, rows) + (
        f"\n\nSpearman(iterations, difficulty) = "
        f"{_fmt(report['spearman_iterations_difficulty'])} over {report['decisions']} decisions; "
        f"success {_fmt(report['success_rate'])} over {report['episodes']} episodes."
    )


def sweep_markdown(rows: Sequence[Mapping[str, Any]], key: str, label: str) -> str:
    """A table of a sweep (forced depth or size): success and iterations per setting.

    :param rows: one dict per setting with ``key``, ``success_rate``, ``mean_iterations``,
        ``converged_share``.
    :param key: the swept field.
    :param label: its column name.
    :return: Markdown.
    """
    header = [label, "success", "iters/decision", "converged"]
    body = [[r[key], r["success_rate"], r["mean_iterations"], r["converged_share"]] for r in rows]
    return markdown_table(header, body)


def plot_depth(result: RolloutResult, report: Mapping[str, Any], path: str) -> None:
    """Scatter of iterations against difficulty with bucket means.

    :param result: the records.
    :param report: the matching :func:`depth_report`.
    :param path: PNG file to write.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5), dpi=100)
    difficulty = [d.difficulty for d in result.decisions]
    iterations = [d.iterations for d in result.decisions]
    ax.scatter(difficulty, iterations, s=6, alpha=0.3, label="decisions")
    centres = [(b["low"] + b["high"]) / 2 for b in report["buckets"]]
    means = [b["iterations"]["mean"] for b in report["buckets"]]
    ax.plot(centres, means, "o-", color="C3", label="bucket mean")
    ax.set_xlabel("difficulty of the state")
    ax.set_ylabel("iterations to the fixed point")
    ax.set_title(f"Spearman {_fmt(report['spearman_iterations_difficulty'])}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_sweep(
    rows: Sequence[Mapping[str, Any]], key: str, label: str, path: str, log_x: bool = False
) -> None:
    """Success and iterations against a swept setting.

    :param rows: sweep rows (see :func:`sweep_markdown`).
    :param key: the swept field (numeric).
    :param label: x-axis label.
    :param path: PNG file to write.
    :param log_x: logarithmic x axis.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    numeric = [r for r in rows if isinstance(r[key], (int, float))]
    fig, ax = plt.subplots(figsize=(5, 3.5), dpi=100)
    xs = [r[key] for r in numeric]
    ax.plot(xs, [r["success_rate"] for r in numeric], "o-", color="C0")
    ax.set_xlabel(label)
    ax.set_ylabel("success rate", color="C0")
    ax.set_ylim(-0.02, 1.02)
    if log_x:
        ax.set_xscale("log", base=2)
    twin = ax.twinx()
    twin.plot(xs, [r["mean_iterations"] for r in numeric], "s--", color="C1")
    twin.set_ylabel("iterations per decision", color="C1")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
