"""bench.sudoku_oneshot runs quickly on the shipped 9x9 planner and its tables are complete."""

from __future__ import annotations

import gymnasium as gym
import pytest
import torch

import envs  # noqa: F401  (registers the FPR ids)
from bench import sudoku_oneshot
from fpr_agents.checkpoints import shipped_checkpoint
from fpr_agents.policy.planner import PlannerNetwork
from train.common import load_planner

INKALA = sudoku_oneshot.FAMOUS_PUZZLES["Inkala 2012"]


@pytest.mark.slow
def test_quick_bench_reports_every_set(capsys: pytest.CaptureFixture[str]) -> None:
    report = sudoku_oneshot.main(["--quick", "--halting", "fixed_point"])
    text = capsys.readouterr().out
    names = [*sudoku_oneshot.GENERATED_SETS, "all generated"]
    cap = load_planner(shipped_checkpoint("sudoku9")).config.max_iters
    for name in names:
        assert 0.0 <= report.values[f"{name}/exact"] <= report.values[f"{name}/cell_accuracy"]
        assert 1.0 <= report.values[f"{name}/iterations"] <= cap
        assert f"| {name}" in text
    assert report.values["minimal, singles-grade/search_share"] == 0.0
    assert report.values["minimal, search-grade/search_share"] == 1.0
    assert "halting 'fixed_point'" in report.method
    famous = [key for key in report.values if key.startswith("famous/") and key.endswith("/exact")]
    assert len(famous) == len(sudoku_oneshot.FAMOUS_PUZZLES) == 4
    assert len(report.ratios) == 2 * (len(sudoku_oneshot.GENERATED_SETS) - 1)


def test_famous_puzzles_are_unique_and_graded() -> None:
    famous, dropped = sudoku_oneshot.famous_set(sudoku_oneshot.FAMOUS_PUZZLES)
    assert dropped == []
    assert famous.labels == list(sudoku_oneshot.FAMOUS_PUZZLES)
    assert all(len(text) == 81 for text in sudoku_oneshot.FAMOUS_PUZZLES.values())
    clues = (famous.boards > 0).sum(axis=(1, 2))
    assert clues.min() == 17
    by_name = dict(zip(famous.labels, famous.stuck, strict=True))
    assert by_name["Inkala 2012"] and by_name["Easter Monster"]  # they need search
    assert not by_name["17 clues, anti brute force"]  # singles solve it


def test_a_puzzle_without_a_unique_solution_is_dropped() -> None:
    famous, dropped = sudoku_oneshot.famous_set({"empty": "." * 81, "Inkala": INKALA})
    assert famous.labels == ["Inkala"] and famous.boards.shape == (1, 9, 9)
    assert dropped == ["empty dropped: more than one solution (the project's solver)"]
    none, _ = sudoku_oneshot.famous_set({"empty": "." * 81})
    assert none.boards.shape == (0, 9, 9) and none.rounds.shape == (0,)
    score = sudoku_oneshot.score_set(None, none, None)  # nothing to solve: no planner needed
    assert score.exact.shape == score.iterations.shape == (0,)


def test_a_planner_without_a_cell_head_is_refused() -> None:
    task = gym.make("FPR/Maze-9x9-v0").unwrapped.task_description
    planner = PlannerNetwork(task, {"d_model": 16, "n_heads": 2})
    famous, _ = sudoku_oneshot.famous_set({"Inkala": INKALA})
    with pytest.raises(ValueError, match="needs a Sudoku planner"):
        sudoku_oneshot.score_set(planner, famous, torch.device("cpu"))
