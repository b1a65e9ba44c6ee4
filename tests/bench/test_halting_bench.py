"""The halting benchmark: its quick mode end to end, its batch-level halting baseline, and the
pieces of its curves (decision sets, criteria, fixed-depth sweeps, depth search)."""

from __future__ import annotations

import contextlib
import io
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

from bench.common import BenchReport
from bench.halting import (
    QUICK_CONFIG,
    SECTIONS,
    Criterion,
    DecisionSet,
    HaltingBenchArgs,
    HaltingBenchConfig,
    MixedSet,
    depth_curve,
    halting_criteria,
    main,
    run_benchmark,
    smallest_sufficient_depth,
    solve_batch_level,
    solve_decisions,
    solver_settings,
)
from fpr_agents.arguments import parse_args
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
    "readout vs smallest sufficient fixed depth, per decision at equal accuracy: iterations",
    "readout vs fixed-point halting, per decision at equal accuracy: iterations",
    "shifted set: accuracy lost by fixed depth",
    "shifted set: accuracy lost by readout",
    "shifted set: accuracy lost by fixed_point",
    "agent: readout vs best fixed depth, iterations per episode",
    "agent: fixed_point vs best fixed depth, iterations per episode",
    "agent: readout_every_decision vs best fixed depth, iterations per episode",
]
TABLE_STARTS = [
    "Halting on ",
    "Per-sample compaction",
    "Warm vs cold start",
    "Accuracy against iterations per decision, in distribution",
    "Accuracy against iterations per decision, shifted",
    "At equal accuracy in distribution",
    "In distribution (",
    "Agent level",
    "Per decision, warm and cold start",
]
QUICK_CAP = 12  # QUICK_CONFIG.max_iters
QUICK_DECISIONS = 8  # QUICK_CONFIG.eval_size
QUICK_SHIFTED = 4  # QUICK_CONFIG.shift_size


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[BenchReport, str, Path]:
    """One quick run with random weights: its report, what it printed and its figure folder."""
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("bench_halting")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        report = main(["--quick", "--random-weights", "--device", "cpu", "--out", str(out)])
    return report, printed.getvalue(), out


def _table(report: BenchReport, start: str) -> Any:
    return next(table for table in report.tables if table.title.startswith(start))


@pytest.mark.slow
def test_quick_mode_with_random_weights_says_so_and_is_complete(
    quick: tuple[BenchReport, str, Path],
) -> None:
    report, printed, _ = quick

    assert "RANDOM WEIGHTS" in printed and "meaningless" in printed
    assert [row.label for row in report.ratios] == EXPECTED_RATIOS
    for row in report.ratios:
        assert math.isfinite(row.value), row.label
        assert (row.met is None) == (row.aim == "-"), row.label
    for row in report.ratios[:8]:
        assert row.value >= 0, row.label
    for key, value in report.values.items():
        if not key.startswith("spearman"):  # NaN when all iterations are equal
            assert math.isfinite(value), key
    assert [next(t for t in report.tables if t.title.startswith(s)) for s in TABLE_STARTS]
    assert len(report.tables) == len(TABLE_STARTS)
    halting = _table(report, "Halting on ")
    assert len(halting.rows) == 5
    assert len(_table(report, "Per-sample compaction").rows) == 2
    assert len(_table(report, "Warm vs cold start").rows) == 2
    # The fixed depth at equal accuracy is the smallest one: no deeper than the cap, and the
    # adaptive solve spends between 1 and the cap iterations per puzzle.
    cap = QUICK_CAP
    assert 1 <= report.values["fixed_star_depth"] <= cap
    assert report.values["fixed_cap_iterations"] == 8 * cap
    assert 8 <= report.values["adaptive_iterations"] <= 8 * cap
    assert 0.0 <= report.values["identical_actions_percent"] <= 100.0
    assert printed.rstrip().splitlines()[-1].startswith(f"| {EXPECTED_RATIOS[-1]}")


@pytest.mark.slow
def test_quick_mode_draws_both_figures(quick: tuple[BenchReport, str, Path]) -> None:
    _, printed, out = quick
    for name in ("accuracy_vs_iterations.png", "iterations_vs_difficulty.png"):
        path = out / name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert path.stat().st_size > 10_000, name  # axes, curves and legends, not a blank
        assert str(path) in printed


@pytest.mark.slow
def test_curves_count_fixed_depth_as_depth_times_decisions_and_adaptive_within_the_cap(
    quick: tuple[BenchReport, str, Path],
) -> None:
    values = quick[0].values
    depth = values["curves_fixed_depth"]
    assert 1 <= depth <= QUICK_CAP
    assert values["curves_decisions"] == QUICK_DECISIONS
    assert values["curves_fixed_depth_iterations"] == depth * QUICK_DECISIONS
    assert values["shift_fixed_depth_iterations"] == depth * QUICK_SHIFTED
    for rule in ("readout", "fixed_point", "learned"):
        assert QUICK_DECISIONS <= values[f"curves_{rule}_iterations"] <= QUICK_CAP * QUICK_DECISIONS
        assert QUICK_SHIFTED <= values[f"shift_{rule}_iterations"] <= QUICK_CAP * QUICK_SHIFTED
    # The chosen readout setting is the cheapest sufficient one: no dearer than the default.
    best = values["curves_best_adaptive_accuracy"]
    if values["curves_default_readout_accuracy"] >= best - 1.0:
        assert values["curves_readout_iterations"] <= values["curves_default_readout_iterations"]
    ratio = quick[0].ratio(EXPECTED_RATIOS[8])
    assert ratio.value == pytest.approx(
        values["curves_readout_iterations"] / values["curves_fixed_depth_iterations"]
    )
    lost = quick[0].ratio("shifted set: accuracy lost by readout")
    assert lost.value == pytest.approx(
        values["curves_readout_accuracy"] - values["shift_readout_accuracy"]
    )
    in_rows = _table(quick[0], "Accuracy against iterations per decision, in distribution").rows
    assert sum(row[0].endswith(" *") for row in in_rows) == 4  # readout, fixed point, learned, D


@pytest.mark.slow
def test_agent_level_fixed_depth_spends_depth_times_decisions(
    quick: tuple[BenchReport, str, Path],
) -> None:
    report = quick[0]
    values = report.values
    depths = sorted(int(k[len("agent_fixed") : -len("_iterations")]) for k in values
                    if k.startswith("agent_fixed") and k.endswith("_iterations"))  # fmt: skip
    assert depths and depths[0] == 1  # the sweep starts at its first depth
    for depth in depths:
        decisions = values[f"agent_fixed{depth}_decisions"]
        assert decisions >= 2  # at least one decision per episode
        assert values[f"agent_fixed{depth}_iterations"] == depth * decisions
    for rule in ("readout", "fixed_point"):
        assert values[f"agent_{rule}_best_depth"] in depths
        assert values[f"agent_{rule}_vs_best_depth"] == pytest.approx(
            report.ratio(f"agent: {rule} vs best fixed depth, iterations per episode").value
        )
    rows = _table(report, "Agent level").rows
    assert [row[0] for row in rows[:3]] == [
        "readout, plans held", "fixed_point, plans held", "readout, solving every decision",
    ]  # fmt: skip
    assert all(row[1] == "warm" for row in rows)
    spearman_rows = _table(report, "Per decision, warm and cold start").rows
    assert [(row[0], row[1]) for row in spearman_rows] == [
        (rule, start)
        for rule in ("readout", "fixed_point", "learned")
        for start in ("warm", "cold")
    ]
    for rule in ("readout", "fixed_point", "learned"):
        for start in ("warm", "cold"):
            rho = values[f"spearman_{rule}_{start}"]
            assert math.isnan(rho) or -1.0 <= rho <= 1.0
    # A cold start never spends fewer iterations than the same rule warm-started, per step here.
    assert values["decision_iterations_readout_cold"] >= values["decision_iterations_readout_warm"]


def test_sections_can_be_chosen(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    with contextlib.redirect_stdout(io.StringIO()):
        report = main(
            ["--quick", "--random-weights", "--device", "cpu", "--out", str(tmp_path),
             "--sections", "agent", "--agent-depths", "2,3", "--agent-fixed-starts", "warm,cold"]
        )  # fmt: skip
    assert [table.title.split(":")[0] for table in report.tables] == ["Agent level"]
    values = report.values
    for key in ("agent_fixed2", "agent_fixed1", "agent_fixed2_cold", "agent_fixed1_cold"):
        # 2 sufficed (random weights: every agent fails alike): the bisection tried 1 as well
        depth = 2 if key.startswith("agent_fixed2") else 1
        assert values[f"{key}_iterations"] == depth * values[f"{key}_decisions"], key
    rows = report.tables[0].rows
    assert ("fixed depth 1", "cold") in {(row[0], row[1]) for row in rows}
    assert [row.label for row in report.ratios] == [
        *EXPECTED_RATIOS[-3:],
        *(f"{label} (fixed depth cold)" for label in EXPECTED_RATIOS[-3:]),
    ]
    assert not list(tmp_path.iterdir())  # the agent section draws no figure
    assert set(SECTIONS) >= {"curves", "agent", "difficulty"}
    with pytest.raises(SystemExit), contextlib.redirect_stderr(io.StringIO()):
        main(["--quick", "--sections", "curves,nonsense"])


def test_list_flags_parse_by_type_and_override_the_config_only_when_given() -> None:
    argv = [
        "--quick",
        "--maze-sizes",
        "5,7",
        "--readout-tols",
        "0.1, 0.01",
        "--agent-depths",
        "1,3",
    ]
    bench = parse_args(HaltingBenchArgs, argv, "").bench_config()
    assert bench.maze_sizes == (5, 7) and bench.agent_depths == (1, 3)
    assert bench.readout_tols == (0.1, 0.01)
    assert bench.tols == QUICK_CONFIG.tols  # not given: the quick config's
    assert parse_args(HaltingBenchArgs, [], "").bench_config() == HaltingBenchConfig()
    # --agent-learned is always passed on: right while both configs agree on its default
    assert QUICK_CONFIG.agent_learned == HaltingBenchConfig.agent_learned
    assert not parse_args(HaltingBenchArgs, ["--no-agent-learned"], "").bench_config().agent_learned
    for bad in (["--agent-depths", "1,x"], ["--maze-sizes", "9"], ["--agent-depths", "0"]):
        with pytest.raises(SystemExit) as refused, contextlib.redirect_stderr(io.StringIO()):
            parse_args(HaltingBenchArgs, bad, "")
        assert refused.value.code == 2, bad


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


def test_bench_settings_of_the_curves_are_checked() -> None:
    with pytest.raises(ValueError, match="readout_patiences"):
        HaltingBenchConfig(readout_patiences=(0,))
    with pytest.raises(ValueError, match="tols"):
        HaltingBenchConfig(tols=())
    with pytest.raises(ValueError, match="agent_depths"):
        HaltingBenchConfig(agent_depths=(0, 4))
    with pytest.raises(ValueError, match="shift_sudoku_blanks"):
        HaltingBenchConfig(shift_sudoku_blanks=(0.8, 0.7))
    with pytest.raises(ValueError, match="decision_cells"):
        HaltingBenchConfig(decision_cells="anywhere")
    with pytest.raises(ValueError, match="agent_fixed_starts"):
        HaltingBenchConfig(agent_fixed_starts=("hot",))


def test_smallest_sufficient_depth_sweeps_then_bisects_and_plays_each_depth_once() -> None:
    calls: list[int] = []

    def success(depth: int) -> float:
        calls.append(depth)
        return 100.0 if depth >= 13 else 50.0

    assert smallest_sufficient_depth(success, 99.0, (1, 2, 4, 8, 16, 32), 64) == 13
    assert calls[:5] == [1, 2, 4, 8, 16] and len(calls) == len(set(calls))
    assert set(calls[5:]) <= set(range(9, 16))
    assert smallest_sufficient_depth(lambda d: 100.0, 99.0, (4, 8), 64) == 1
    assert smallest_sufficient_depth(lambda d: 0.0, 99.0, (4, 8), 64) is None
    assert smallest_sufficient_depth(lambda d: float(d >= 50) * 100, 99.0, (4, 8), 64) == 50


def _maze_planner(seed: int = 0) -> PlannerNetwork:
    task = gym.make("FPR/Maze-v0").unwrapped.task_description
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return PlannerNetwork(task, {"d_model": 16, "n_heads": 2, "attention": False}).eval()


def _maze_decisions(planner: PlannerNetwork, n: int = 6, where: str = "random") -> DecisionSet:
    mixed = MixedSet.for_planner(planner, (5, 9), 0.5)
    rng = np.random.default_rng(3)
    return DecisionSet.draw(planner, mixed, n, rng, torch.device("cpu"), where)


class _OracleLogits:
    """A stand-in source whose logits are the oracle's moves (or their complement)."""

    def __init__(self, batch: Any, right: bool) -> None:
        self.batch, self.right = batch, right

    def cell_logits(self, planner: PlannerNetwork, z: torch.Tensor) -> torch.Tensor:
        optimal = self.batch.optimal.float()
        return optimal if self.right else 1.0 - optimal


def test_a_maze_decision_is_the_move_at_the_agent_cell_there() -> None:
    planner = _maze_planner()
    at_start = _maze_decisions(planner, where="start")
    starts = at_start.batch.extra["start"]
    assert at_start.obs["agent"].tolist() == [[float(r), float(c)] for r, c in starts]
    decisions = _maze_decisions(planner, n=48)
    free = decisions.batch.obs["grid"].numpy() != 0
    grid = np.pad(free, ((0, 0), (1, 1), (1, 1))).astype(int)
    distance = decisions.batch.extra["distance"]
    for i, (row, col) in enumerate(decisions.start.tolist()):
        assert distance[i, row, col] > 0  # a free cell that reaches the goal, not the goal
        around = grid[i, row, col + 1] + grid[i, row + 2, col + 1] + grid[i, row + 1, col]
        assert around + grid[i, row + 1, col + 2] >= 2  # not a dead end: the move is not forced
        assert decisions.difficulty[i] == distance[i, row, col]
    assert decisions.start.tolist() != [list(cell) for cell in decisions.batch.extra["start"]]
    z = torch.zeros(decisions.size, 9, 9, 16)
    decisions.source = _OracleLogits(decisions.batch, right=True)  # type: ignore[assignment]
    assert decisions.accuracy(planner, z) == (100.0, 100.0)
    decisions.source = _OracleLogits(decisions.batch, right=False)  # type: ignore[assignment]
    accuracy, field_accuracy = decisions.accuracy(planner, z)
    assert accuracy == 0.0 and field_accuracy < 50.0
    with pytest.raises(ValueError, match="decision cells"):
        _maze_decisions(planner, where="goal")


def test_the_fixed_depth_sweep_reads_what_a_fixed_depth_solve_reads() -> None:
    planner = _maze_planner()
    decisions = _maze_decisions(planner)
    curve = depth_curve(planner, decisions, 5, torch.device("cpu"))
    assert [point.depth for point in curve] == [1, 2, 3, 4, 5]
    for depth in (1, 3, 5):
        solved = solve_decisions(
            planner, decisions, Criterion("fixed_depth", "d"), depth, torch.device("cpu")
        )
        assert solved.iterations.tolist() == [depth] * decisions.size
        assert (solved.accuracy, solved.field_accuracy) == pytest.approx(
            (curve[depth - 1].accuracy, curve[depth - 1].field_accuracy)
        )
        assert curve[depth - 1].total == depth * decisions.size
    # Past its depth the sweep goes on, up to the cap, while the accuracy wanted is not reached.
    assert len(depth_curve(planner, decisions, 2, torch.device("cpu"), lambda a: False, 4)) == 4


def test_readout_decisions_halt_within_the_cap_and_the_settings_come_back() -> None:
    planner = _maze_planner()
    decisions = _maze_decisions(planner)
    own = planner.config
    criterion = Criterion("readout", "r", (("readout_tol", 0.5), ("readout_patience", 1)))
    with solver_settings(planner, criterion.solver):
        assert planner.config.readout_tol == 0.5 and planner.reasoner.config.readout_patience == 1
    assert planner.config == own and planner.reasoner.config == own
    with pytest.raises(RuntimeError), solver_settings(planner, (("readout_tol", 0.2),)):
        raise RuntimeError("inside")
    assert planner.config == own
    point = solve_decisions(planner, decisions, criterion, 7, torch.device("cpu"))
    assert int(point.iterations.min()) >= 1 and int(point.iterations.max()) <= 7
    assert sum(point.halted.values()) >= 100.0 - 1e-6  # every decision halted for a reason


def test_criteria_sweep_each_rule_and_mark_the_planner_defaults() -> None:
    bench = HaltingBenchConfig(
        tols=(1e-2, 1e-3), readout_tols=(0.1, 0.01), readout_patiences=(1, 2),
        readout_decided=(0.5, 0.9),
    )  # fmt: skip
    criteria = halting_criteria(bench, ReasonerConfig())
    rules = [c.rule for c in criteria]
    assert rules.count("fixed_point") == 2 and rules.count("learned") == 1
    assert rules.count("readout") == 5  # 2 x 2 tolerances and patiences, plus decided 0.9
    assert len(set(criteria)) == len(criteria)
    defaults = [c for c in criteria if c.default]
    assert [c.rule for c in defaults] == ["fixed_point", "readout", "learned"]
    assert dict(defaults[1].solver) == {
        "readout_tol": 0.01, "readout_patience": 2, "readout_decided": 0.5,
    }  # fmt: skip


@pytest.mark.slow
def test_the_bench_runs_a_planner_that_halts_by_the_readout_rule_by_default() -> None:
    """Shipped planners now default to halting="readout", which a bare reasoner cannot run."""
    torch.set_num_threads(1)
    planner = _maze_planner()
    planner.set_solver(halting="readout")
    bench = replace(QUICK_CONFIG, compaction_batches=(4,), head_batch_size=2)
    report = run_benchmark(
        planner, bench, torch.device("cpu"), False, "test", None, ("halting", "compaction", "warm")
    )
    assert [t.title.split(" ")[0] for t in report.tables] == ["Halting", "Per-sample", "Warm"]
    assert "'readout'" in report.tables[-1].title
    assert planner.config.halting == "readout"
