"""Difficulty buckets and reports add up."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from fpr_agents.evaluation.report import (
    bucket_edges,
    bucket_index,
    depth_markdown,
    depth_report,
    markdown_table,
)
from fpr_agents.evaluation.rollout import DecisionRecord, EpisodeRecord, RolloutResult


@given(st.lists(st.integers(0, 50), min_size=1, max_size=200), st.integers(1, 8))
def test_every_value_falls_in_one_bucket(values: list[int], n_buckets: int) -> None:
    edges = bucket_edges(values, n_buckets)
    assert edges == sorted(edges) and len(edges) - 1 <= n_buckets
    indices = [bucket_index(v, edges) for v in values]
    assert all(0 <= i < len(edges) - 1 for i in indices)


def test_depth_report_counts_add_up() -> None:
    rng = np.random.default_rng(0)
    decisions = [
        DecisionRecord(e, s, float(d), int(d) + 1, 1e-4, True)
        for e in range(6)
        for s, d in enumerate(rng.integers(0, 20, size=5))
    ]
    episodes = [EpisodeRecord(e, e % 2 == 0, 1.0, 5, float(e * 3), e) for e in range(6)]
    report = depth_report(RolloutResult(decisions, episodes), n_buckets=4)
    assert sum(b["decisions"] for b in report["buckets"]) == len(decisions)
    assert sum(b["episodes"] for b in report["buckets"]) <= len(episodes)
    assert report["spearman_iterations_difficulty"] > 0.99  # iterations = difficulty + 1
    low, high = report["spearman_interval"]  # episodes resampled: exactly 1 in every resample
    assert abs(low - 1.0) < 1e-12 and abs(high - 1.0) < 1e-12
    assert "(95% interval 1.00 to 1.00, episodes resampled)" in depth_markdown(report)
    assert report["success_rate"] == 0.5
    one_episode = depth_report(RolloutResult(decisions[:5], episodes[:1]), n_buckets=4)
    assert "interval" not in depth_markdown(one_episode)  # undefined with one episode


def test_markdown_table_shape() -> None:
    text = markdown_table(["a", "b"], [[1, 0.5], [2, float("nan")]])
    lines = text.splitlines()
    assert lines[0] == "| a | b |" and lines[2] == "| 1 | 0.50 |" and lines[3] == "| 2 | nan |"


def test_json_safe_writes_valid_json_for_non_finite_values() -> None:
    import json

    from fpr_agents.evaluation.report import json_safe

    report = {"a": float("nan"), "b": [float("inf"), 1.5, np.float32(2.0)], "c": np.int64(3)}
    text = json.dumps(json_safe(report), allow_nan=False)
    assert json.loads(text) == {"a": None, "b": [None, 1.5, 2.0], "c": 3}


def test_halting_warnings_name_the_problem() -> None:
    from fpr_agents.evaluation.report import halting_warnings

    shares = {"converged": 0.0, "diverged": 1.0, "stalled": 0.01, "capped": 0.2}
    warnings = halting_warnings(shares, "FPR/Maze-9x9-v0")
    assert len(warnings) == 2
    assert "100.0% of decisions diverged" in warnings[0] and "capped" in warnings[1]
    assert halting_warnings({"diverged": 0.0, "stalled": 0.0, "capped": 0.0}, "x") == []


def test_event_report_separates_decisions_after_events() -> None:
    from fpr_agents.evaluation.report import event_report

    result = RolloutResult()
    steps = [("none", 0, 2), ("door", 12, 20), ("none", 0, 2), ("goal", 30, 40), ("none", 0, 1)]
    for episode in range(2):
        for step, (event, replan, iterations) in enumerate(steps):
            result.decisions.append(
                DecisionRecord(episode=episode, step=step, difficulty=5.0, iterations=iterations,
                               residual=0.0, converged=True, event=event, replan_cells=replan)
            )  # fmt: skip
        result.episodes.append(
            EpisodeRecord(episode=episode, success=episode == 0, episode_return=0.0, length=5,
                          initial_difficulty=5.0, seed=episode)
        )  # fmt: skip
    report = event_report(result)
    assert report is not None and report["after_events"] == 4
    assert report["quiet"]["count"] == 6 and report["quiet"]["mean"] == 5 / 3
    assert report["kinds"]["door"]["iterations"]["mean"] == 20
    assert report["kinds"]["goal"]["success_rate"] == 0.5
    assert report["spearman_iterations_replan"] == 1.0
    assert len(report["spearman_replan_interval"]) == 2
    quiet_only = RolloutResult(decisions=[d for d in result.decisions if d.event == "none"])
    assert event_report(quiet_only) is None


def test_event_plot_is_written(tmp_path) -> None:
    from fpr_agents.evaluation.report import plot_events

    result = RolloutResult(
        decisions=[
            DecisionRecord(episode=0, step=s, difficulty=1.0, iterations=1 + 9 * (s == 2),
                           residual=0.0, converged=True, event="door" if s == 2 else "none",
                           replan_cells=4 * (s == 2))
            for s in range(5)
        ]
    )  # fmt: skip
    plot_events(result, str(tmp_path / "events.png"))
    assert (tmp_path / "events.png").stat().st_size > 0
