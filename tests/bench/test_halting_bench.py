"""The halting benchmark: its quick mode end to end and its batch-level halting baseline."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from bench.halting import HaltingBenchConfig, MixedSet, main, solve_batch_level
from fpr_agents.policy.planner import PlannerNetwork
from fpr_agents.reasoner import FixedPointReasoner, ReasonerConfig

EXPECTED_RATIOS = [
    "adaptive vs fixed depth at equal accuracy: iterations",
    "adaptive vs fixed depth at equal accuracy: wall time",
    "adaptive vs fixed depth at the cap: iterations",
    "adaptive vs learned halting head: iterations",
    "compaction speed-up over batch-level halting, batch 64",
    "compaction speed-up over batch-level halting, batch 256",
    "warm vs cold start: iterations per env step (cold / warm)",
    "warm vs cold start: identical actions",
]


def test_quick_mode_with_random_weights_says_so_and_is_complete(
    capsys: pytest.CaptureFixture,
) -> None:
    torch.set_num_threads(1)
    report = main(["--quick", "--random-weights", "--device", "cpu"])
    printed = capsys.readouterr().out

    assert "RANDOM WEIGHTS" in printed and "meaningless" in printed
    assert [row.label for row in report.ratios] == EXPECTED_RATIOS
    for row in report.ratios:
        assert math.isfinite(row.value) and row.value >= 0, row.label
        assert (row.met is None) == (row.aim == "-"), row.label
    for key, value in report.values.items():
        if key != "spearman_iterations_difficulty":  # NaN when all iterations are equal
            assert math.isfinite(value), key
    halting, compaction, episodes = report.tables
    assert len(halting.rows) == 5 and len(compaction.rows) == 2 and len(episodes.rows) == 2
    # The fixed depth at equal accuracy is the smallest one: no deeper than the cap, and the
    # adaptive solve spends between 1 and the cap iterations per puzzle.
    cap = 12
    assert 1 <= report.values["fixed_star_depth"] <= cap
    assert report.values["fixed_cap_iterations"] == 8 * cap
    assert 8 <= report.values["adaptive_iterations"] <= 8 * cap
    assert 0.0 <= report.values["identical_actions_percent"] <= 100.0
    assert printed.rstrip().splitlines()[-1].startswith(f"| {EXPECTED_RATIOS[-1]}")


def _mixed_inputs(masked: bool) -> tuple[FixedPointReasoner, torch.Tensor, torch.Tensor | None]:
    torch.manual_seed(0)
    reasoner = FixedPointReasoner(ReasonerConfig(d_model=8, n_heads=2, attention=True))
    x = torch.randn(6, 5, 5, 8) * torch.tensor([0.1, 0.5, 1.0, 2.0, 4.0, 8.0]).view(6, 1, 1, 1)
    mask = None
    if masked:
        mask = torch.ones(6, 5, 5, dtype=torch.bool)
        mask[0, 3:, :] = False  # smaller grids padded to 5x5, top-left aligned
        mask[2, :, 2:] = False
    return reasoner, x, mask


@pytest.mark.parametrize("masked", [False, True])
def test_batch_level_halting_gives_each_sample_the_result_of_per_sample_halting(
    masked: bool,
) -> None:
    reasoner, x, mask = _mixed_inputs(masked)
    per_sample = reasoner.solve(x, mask, max_iters=40, tol=1e-4)
    waited = solve_batch_level(reasoner, x, mask, max_iters=40, tol=1e-4)

    assert torch.equal(waited.iterations, per_sample.iterations)
    assert torch.equal(waited.converged, per_sample.converged)
    torch.testing.assert_close(waited.z, per_sample.z, atol=1e-5, rtol=1e-4)
    # Every sample waited for the slowest: the batch ran as long as its slowest sample.
    assert waited.batch_iterations == int(per_sample.iterations.max())
    assert len(set(per_sample.iterations.tolist())) > 1  # the mix really is mixed


def test_batch_level_halting_stops_at_the_cap_and_checks_its_input() -> None:
    reasoner, x, _ = _mixed_inputs(masked=False)
    capped = solve_batch_level(reasoner, x, max_iters=2, tol=0.0)
    assert capped.batch_iterations == 2
    assert capped.iterations.tolist() == [2] * 6
    assert not capped.converged.any()
    with pytest.raises(ValueError, match="max_iters"):
        solve_batch_level(reasoner, x, max_iters=0)
    with pytest.raises(ValueError, match="solve_batch_level"):
        solve_batch_level(reasoner, x[..., :4])


def test_mixed_sets_draw_labelled_batches_for_maze_and_sudoku_and_refuse_arc() -> None:
    rng = np.random.default_rng(0)
    maze_task = gym.make("FPR/Maze-v0").unwrapped.task_description
    maze = MixedSet.for_planner(
        PlannerNetwork(maze_task, {"d_model": 8, "attention": False}), (5, 9), 0.5
    )
    batch = maze.draw(6, rng)
    assert batch.obs["grid"].shape[0] == 6 and batch.cells.any()
    sudoku_task = gym.make("FPR/Sudoku-4x4-v0").unwrapped.task_description
    sudoku = MixedSet.for_planner(
        PlannerNetwork(sudoku_task, {"d_model": 8, "attention": False}), (5, 9), 0.5
    )
    blanks = sudoku.draw(5, rng).cells.flatten(1).sum(dim=1)
    assert blanks.min() >= 2 and blanks.max() <= 8
    arc_task = gym.make("FPR/ARC-Concepts-v0").unwrapped.task_description
    with pytest.raises(ValueError, match="arc"):
        MixedSet.for_planner(
            PlannerNetwork(arc_task, {"d_model": 8, "attention": False}), (5, 9), 0.5
        )
    with pytest.raises(ValueError, match="odd"):
        MixedSet.for_planner(
            PlannerNetwork(maze_task, {"d_model": 8, "attention": False}), (6, 9), 0.5
        )


def test_bad_bench_settings_raise_value_errors() -> None:
    with pytest.raises(ValueError, match="max_iters"):
        HaltingBenchConfig(max_iters=0)
    with pytest.raises(ValueError, match="compaction_batches"):
        HaltingBenchConfig(compaction_batches=())
