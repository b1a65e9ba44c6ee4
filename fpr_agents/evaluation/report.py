"""Planning-depth reports: difficulty buckets, sweeps, Markdown tables and PNG plots."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from fpr_agents.evaluation.metrics import WARN_SHARES, spearman, spearman_interval, summarize
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
    episodes_of = [d.episode for d in result.decisions]
    return {
        "buckets": buckets,
        "spearman_iterations_difficulty": spearman(iterations, difficulty)
        if len(iterations) > 1
        else float("nan"),
        # 95%, the episodes resampled with all their decisions
        "spearman_interval": list(spearman_interval(iterations, difficulty, episodes_of)),
        "decisions": len(result.decisions),
        "episodes": len(result.episodes),
        "success_rate": result.success_rate,
        "iterations": summarize(iterations),
        "converged_share": float(np.mean([d.converged for d in result.decisions]))
        if result.decisions
        else float("nan"),
        "halting": halting_shares(result),
        # decisions solved from scratch because the agent came back to a state of its episode
        "replanned": int(sum(d.replanned for d in result.decisions)),
        "looped_episodes": int(sum(e.looped for e in result.episodes)),
    }


HALTING_FLAGS = ("held", "converged", "readout_stable", "stalled", "diverged", "capped")


def halting_shares(result: RolloutResult) -> dict[str, float]:
    """Why decisions halted: the share of each reason (a decision may have two, e.g. converged
    and readout-stable at the same iteration).

    :param result: the evaluation's records.
    :return: flag -> share of decisions (NaN when there are none).
    """
    return {flag: result.share(flag) for flag in HALTING_FLAGS}


def halting_warnings(shares: Mapping[str, float], where: str) -> list[str]:
    """Plain-language warnings for halting shares that say the planner is not working.

    :param shares: :func:`halting_shares` output.
    :param where: what was evaluated (named in each warning).
    :return: one sentence per problem (empty when none).
    """
    warnings = []
    for flag, limit in WARN_SHARES.items():
        value = shares.get(flag, float("nan"))
        if np.isfinite(value) and value > limit:
            warnings.append(
                f"{where}: {100 * value:.1f}% of decisions {flag} (more than {100 * limit:.0f}%): "
                "the planner's answers there are not fixed points"
            )
    return warnings


def json_safe(value: Any) -> Any:
    """A report with every non-finite float replaced by None, so ``json.dumps`` writes valid
    JSON (bare NaN and Infinity are not JSON).

    :param value: nested dicts, lists and scalars.
    :return: the same structure.
    """
    if isinstance(value, Mapping):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _fmt(value: Any, digits: int = 2) -> str:
    if isinstance(value, float):
        return "nan" if not np.isfinite(value) else f"{value:.{digits}f}"
    return str(value)


def _interval(report: Mapping[str, Any], key: str) -> str:
    """`` (95% interval a to b)`` for a report's Spearman interval, or nothing when it is
    missing or undefined (fewer than two episodes, a constant sequence).

    :param report: a depth or event report.
    :param key: the interval's key.
    :return: the text to put after the correlation.
    """
    interval = report.get(key)
    if not interval or not all(np.isfinite(value) for value in interval):
        return ""
    low, high = interval
    return f" (95% interval {_fmt(low)} to {_fmt(high)}, episodes resampled)"


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
        f"{_fmt(report['spearman_iterations_difficulty'])}{_interval(report, 'spearman_interval')} "
        f"over {report['decisions']} decisions; "
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


def plot_depth(
    result: RolloutResult,
    report: Mapping[str, Any],
    path: str,
    cold: RolloutResult | None = None,
    cold_report: Mapping[str, Any] | None = None,
) -> None:
    """What the planner's depth follows, as one picture a person reads without the README.

    Without ``cold``: iterations of every decision against the difficulty of its state, with
    bucket means. With ``cold`` (the same episodes, every decision solved from scratch): on the
    left each state's own depth against its difficulty, on the right each episode's total
    iterations with warm start within the episode against cold, so the two things that set the
    cost are side by side: how hard the situation is, and how much of the plan is already known.

    :param result: the warm-started records.
    :param report: the matching :func:`depth_report`.
    :param path: PNG file to write.
    :param cold: the same episodes played cold, or None.
    :param cold_report: the :func:`depth_report` of ``cold``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if cold is None or cold_report is None:
        fig, ax = plt.subplots(figsize=(5, 3.5), dpi=100)
        _depth_scatter(ax, result, report, "decisions")
        ax.set_title(f"Spearman {_fmt(report['spearman_iterations_difficulty'])}")
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)
        return
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2), dpi=100)
    _depth_scatter(left, cold, cold_report, "decisions (solved cold)")
    left.set_title(
        f"Each state's own depth: Spearman {_fmt(cold_report['spearman_iterations_difficulty'])}",
        fontsize=10,
    )
    warm_totals, cold_totals = episode_totals(result), episode_totals(cold)
    episodes = sorted(set(warm_totals) & set(cold_totals))
    initial = {e.episode: e.initial_difficulty for e in result.episodes}
    xs = [initial.get(e, np.nan) for e in episodes]
    right.scatter(xs, [cold_totals[e] for e in episodes], s=14, color="C1", label="cold")
    right.scatter(xs, [warm_totals[e] for e in episodes], s=14, color="C2", label="warm start")
    right.set_yscale("log")
    right.set_xlabel("difficulty at the episode's start")
    right.set_ylabel("iterations per episode")
    ratio = episode_iterations(result, cold)["cold_over_warm"]
    right.set_title(f"Whole episodes: warm start costs {1 / ratio:.2f}x cold", fontsize=10)
    right.legend(fontsize=8)
    fig.suptitle("How long the planner thinks, and what sets it", fontsize=12)
    fig.text(
        0.5,
        0.01,
        "Left: every decision solved from scratch takes longer the harder its state. Right: "
        "within an episode the plan carries over, so later decisions need almost nothing.",
        ha="center",
        fontsize=8,
    )
    fig.tight_layout(rect=(0, 0.04, 1, 0.95))
    fig.savefig(path)
    plt.close(fig)


def _depth_scatter(ax: Any, result: RolloutResult, report: Mapping[str, Any], label: str) -> None:
    """Iterations of each decision against its state's difficulty, with bucket means.

    :param ax: the matplotlib axes.
    :param result: the records.
    :param report: their :func:`depth_report`.
    :param label: legend label of the decisions.
    """
    difficulty = [d.difficulty for d in result.decisions]
    iterations = [d.iterations for d in result.decisions]
    ax.scatter(difficulty, iterations, s=6, alpha=0.3, label=label)
    centres = [(b["low"] + b["high"]) / 2 for b in report["buckets"]]
    means = [b["iterations"]["mean"] for b in report["buckets"]]
    ax.plot(centres, means, "o-", color="C3", label="bucket mean")
    ax.set_xlabel("difficulty of the state")
    ax.set_ylabel("iterations")
    ax.legend(fontsize=8)


def episode_totals(result: RolloutResult) -> dict[int, int]:
    """Total iterations of each episode.

    :param result: the records.
    :return: episode index -> iterations summed over its decisions.
    """
    totals: dict[int, int] = {}
    for decision in result.decisions:
        totals[decision.episode] = totals.get(decision.episode, 0) + decision.iterations
    return totals


def episode_iterations(warm: RolloutResult, cold: RolloutResult | None) -> dict[str, float]:
    """Mean iterations per episode, warm-started and cold, and their ratio.

    :param warm: the warm-started episodes.
    :param cold: the same episodes played cold, or None.
    :return: ``{"warm", "cold", "cold_over_warm"}`` (NaN where not measured).
    """

    def per_episode(result: RolloutResult) -> float:
        totals = episode_totals(result)
        return float(np.mean(list(totals.values()))) if totals else float("nan")

    warm_total = per_episode(warm)
    cold_total = per_episode(cold) if cold is not None else float("nan")
    ratio = cold_total / warm_total if warm_total > 0 else float("nan")
    return {"warm": warm_total, "cold": cold_total, "cold_over_warm": ratio}


def episode_iterations_markdown(per_episode: Mapping[str, float]) -> str:
    """The :func:`episode_iterations` as one sentence.

    :param per_episode: its output.
    :return: Markdown.
    """
    return (
        f"Iterations per episode: warm {_fmt(per_episode['warm'], 1)}, cold "
        f"{_fmt(per_episode['cold'], 1)} ({_fmt(per_episode['cold_over_warm'], 1)}x)."
    )


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


def event_report(result: RolloutResult) -> dict[str, Any] | None:
    """Depth where the world changes: the iterations of the decisions right after each kind of
    event against the quiet ones, how they follow the share of the plan an event invalidated,
    and success per event kind.

    :param result: the evaluation's records (of an env that reports ``info["event"]``).
    :return: ``{"quiet": summary, "kinds": {kind: {...}}, "spearman_iterations_replan": rho,
        "after_events": n}``, or None when no decision followed an event.
    """
    after = [d for d in result.decisions if d.event != "none"]
    if not after:
        return None
    quiet = [d.iterations for d in result.decisions if d.event == "none"]
    success = {e.episode: e.success for e in result.episodes}
    kinds = {}
    for kind in sorted({d.event for d in after}):
        decisions = [d for d in after if d.event == kind]
        episodes = sorted({d.episode for d in decisions})
        kinds[kind] = {
            "decisions": len(decisions),
            "iterations": summarize([d.iterations for d in decisions]),
            "replan_cells": summarize([d.replan_cells for d in decisions]),
            "episodes": len(episodes),
            "success_rate": float(np.mean([success[e] for e in episodes if e in success]))
            if any(e in success for e in episodes)
            else float("nan"),
        }
    iterations = [d.iterations for d in after]
    replan = [d.replan_cells for d in after]
    return {
        "quiet": summarize(quiet),
        "kinds": kinds,
        "after_events": len(after),
        "spearman_iterations_replan": spearman(iterations, replan)
        if len(after) > 1
        else float("nan"),
        "spearman_replan_interval": list(
            spearman_interval(iterations, replan, [d.episode for d in after])
        ),
    }


def event_markdown(report: Mapping[str, Any]) -> str:
    """The :func:`event_report` as a Markdown table and a summary line.

    :param report: the event report.
    :return: Markdown.
    """
    rows = [["quiet", report["quiet"]["count"], report["quiet"]["mean"], report["quiet"]["median"],
             report["quiet"]["p90"], "", ""]]  # fmt: skip
    for kind, row in report["kinds"].items():
        its = row["iterations"]
        rows.append([f"after {kind}", its["count"], its["mean"], its["median"], its["p90"],
                     row["replan_cells"]["mean"], row["success_rate"]])  # fmt: skip
    header = ["decisions", "n", "iters mean", "iters median", "iters p90", "replan cells",
              "success (episodes with it)"]  # fmt: skip
    line = (
        f"Spearman(iterations, replan cells) = {_fmt(report['spearman_iterations_replan'])}"
        f"{_interval(report, 'spearman_replan_interval')} over the {report['after_events']} "
        "decisions right after an event."
    )
    return markdown_table(header, rows) + "\n\n" + line


EVENT_COLOURS = {"door": "C3", "shortcut": "C2", "goal": "C1"}


def plot_events(result: RolloutResult, path: str, episodes: int = 4) -> None:
    """Iterations per decision along a few episodes, with the events marked.

    :param result: the records (of an env that reports ``info["event"]``).
    :param path: PNG file to write.
    :param episodes: how many episodes (one panel each; those with the most events first).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_episode: dict[int, list[Any]] = {}
    for decision in result.decisions:
        by_episode.setdefault(decision.episode, []).append(decision)
    ranked = sorted(by_episode, key=lambda e: -sum(d.event != "none" for d in by_episode[e]))
    chosen = sorted(ranked[:episodes])
    fig, axes = plt.subplots(len(chosen), 1, figsize=(8, 1.8 * len(chosen) + 0.8), dpi=100,
                             squeeze=False)  # fmt: skip
    for ax, episode in zip(axes[:, 0], chosen, strict=True):
        decisions = sorted(by_episode[episode], key=lambda d: d.step)
        steps = [d.step for d in decisions]
        iterations = [d.iterations for d in decisions]
        ax.plot(steps, iterations, "-", color="C0", lw=1)
        thought = [d for d in decisions if not getattr(d, "held", False)]
        held = [d for d in decisions if getattr(d, "held", False)]
        ax.plot([d.step for d in thought], [d.iterations for d in thought], ".", color="C0",
                label="solved")  # fmt: skip
        if held:
            ax.plot([d.step for d in held], [0] * len(held), "o", color="0.6", ms=3,
                    label="plan held: 0 iterations")  # fmt: skip
        # symlog: the held decisions' zeros stay on the axis, the spikes stay readable
        ax.set_yscale("symlog", linthresh=1.0)
        top = 1.6 * max(max(iterations), 1) + 1
        ax.set_ylim(-0.3, top)
        for d in decisions:
            if d.event != "none":
                colour = EVENT_COLOURS.get(d.event, "C4")
                ax.axvline(d.step, color=colour, alpha=0.6, lw=1.5)
                ax.annotate(f"{d.event} ({d.replan_cells})", (d.step, top),
                            fontsize=7, color=colour, ha="left", va="top")  # fmt: skip
        if held and episode == chosen[0]:
            ax.legend(fontsize=7, loc="center right")
        ax.set_ylabel("iterations")
        ax.set_title(f"episode {episode}", fontsize=9, loc="left")
    axes[-1, 0].set_xlabel("step of the episode")
    fig.suptitle("Thinking where the world changes: iterations per decision, events marked "
                 "(cells of the plan they changed)", fontsize=10)  # fmt: skip
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
