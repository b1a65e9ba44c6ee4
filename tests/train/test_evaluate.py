"""``train.evaluate`` on a tiny budget writes every file it promises, with consistent numbers."""

from __future__ import annotations

import json

import pytest

from train import evaluate, pretrain

TINY = [
    "--total-steps", "2", "--batch-size", "4", "--segments", "1", "--n-no-grad-max", "1",
    "--k-grad", "1", "--d-model", "16", "--n-heads", "2", "--max-iters", "8",
    "--eval-every", "2", "--eval-batches", "1", "--eval-sizes", "9", "--min-size", "7",
    "--max-size", "9",
]  # fmt: skip


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> str:
    runs = tmp_path_factory.mktemp("runs")
    return pretrain.main([*TINY, "--runs-dir", str(runs)])["checkpoint"]


@pytest.mark.slow
def test_evaluate_writes_report_plots_and_tensorboard(checkpoint: str, tmp_path) -> None:
    out = tmp_path / "eval"
    report = evaluate.main(
        [
            "--env", "FPR/Maze-9x9-v0", "--checkpoint", checkpoint, "--episodes", "4",
            "--sweep-episodes", "2", "--parallel", "2", "--caps", "1,4", "--sizes", "7,9",
            "--out", str(out), "--progress", "false", "--threads", "1",
        ]
    )  # fmt: skip
    for name in (
        "report.json", "report.md", "depth_vs_difficulty.png", "success_vs_cap.png",
        "success_vs_fixed_depth.png", "success_vs_size.png",
    ):  # fmt: skip
        assert (out / name).stat().st_size > 0, name
    assert any((out / "tensorboard").iterdir())
    stored = json.loads((out / "report.json").read_text())
    assert len(stored["episodes"]) == 4
    depth = report["depth"]
    assert sum(b["decisions"] for b in depth["buckets"]) == depth["decisions"]
    assert depth["decisions"] == sum(e["length"] for e in stored["episodes"])
    fixed = [r for r in report["forced_depth"] if r["halting"] == "fixed depth"]
    assert [r["cap"] for r in fixed] == [1, 4]
    # At fixed depth every decision takes exactly the cap.
    assert all(r["mean_iterations"] == r["cap"] for r in fixed)
    capped = [r for r in report["forced_depth"] if r["halting"] != "fixed depth"]
    assert all(r["mean_iterations"] <= r["cap"] for r in capped)
    assert [r["size"] for r in report["size_sweep"]] == [7, 9]
    assert "## Forced-depth sweep" in (out / "report.md").read_text()


@pytest.mark.slow
def test_evaluate_overrides_the_solver_settings(checkpoint: str, tmp_path) -> None:
    common = [
        "--env", "FPR/Maze-9x9-v0", "--checkpoint", checkpoint, "--episodes", "2",
        "--parallel", "2", "--caps", "", "--sizes", "", "--progress", "false", "--threads", "1",
    ]  # fmt: skip
    stored = evaluate.main([*common, "--out", str(tmp_path / "a")])["solver"]
    assert stored["tol"] == 1e-3 and stored["max_iters"] == 8  # the checkpoint's own
    assert (stored["readout_fresh_tol"], stored["readout_warm_check"]) == (0.05, False)
    own_stall = stored["stall_patience"]
    report = evaluate.main(
        [*common, "--tol", "0.5", "--patience", "3", "--max-iters", "5", "--out", str(tmp_path),
         "--readout-fresh-tol", "0.2", "--readout-warm-check", "true",
         "--stall-patience", str(own_stall + 7)]
    )  # fmt: skip
    solver = report["solver"]
    assert (solver["tol"], solver["patience"], solver["max_iters"]) == (0.5, 3, 5)
    assert (solver["readout_fresh_tol"], solver["readout_warm_check"]) == (0.2, True)
    assert solver["stall_patience"] == own_stall + 7
    off = evaluate.main([*common, "--stall-patience", "0", "--out", str(tmp_path / "b")])
    assert off["solver"]["stall_patience"] == 0  # 0 switches the guard off
    assert json.loads((tmp_path / "report.json").read_text())["solver"]["tol"] == 0.5
    assert report["depth"]["iterations"]["max"] <= 5  # the cap holds
    with pytest.raises(ValueError, match="--tol must be >= 0"):
        evaluate.EvaluateSolverArgs(tol=-1.0)


def test_checkpoint_of_other_family_is_refused(checkpoint: str, tmp_path) -> None:
    with pytest.raises(ValueError, match="maze"):
        evaluate.main(
            ["--env", "FPR/Sudoku-4x4-v0", "--checkpoint", checkpoint, "--out", str(tmp_path)]
        )


def test_a_planner_that_diverges_is_reported_loudly(checkpoint: str, tmp_path, capsys) -> None:
    from train.common import load_checkpoint, save_checkpoint

    tensors, meta = load_checkpoint(checkpoint)
    name = next(k for k in tensors if "reasoner" in k and tensors[k].is_floating_point())
    tensors[name] = tensors[name].clone()
    tensors[name].view(-1)[0] = float("nan")
    broken = tmp_path / "broken.safetensors"
    save_checkpoint(broken, tensors, meta)
    out = tmp_path / "eval"
    report = evaluate.main(
        [
            "--env", "FPR/Maze-9x9-v0", "--checkpoint", str(broken), "--episodes", "2",
            "--parallel", "2", "--caps", "", "--sizes", "", "--out", str(out),
            "--progress", "false", "--threads", "1",
        ]
    )  # fmt: skip
    assert report["depth"]["halting"]["diverged"] == 1.0
    assert any("diverged" in warning for warning in report["warnings"])
    assert "diverged" in capsys.readouterr().err
    json.loads((out / "report.json").read_text(), parse_constant=_refuse)  # valid JSON only
    assert "## Warnings" in (out / "report.md").read_text()


def _refuse(name: str) -> None:
    raise AssertionError(f"report.json holds the non-JSON constant {name}")


def test_evaluate_readout_halting_and_cold_depth(checkpoint: str, tmp_path) -> None:
    report = evaluate.main(
        [
            "--env", "FPR/Maze-9x9-v0", "--checkpoint", checkpoint, "--episodes", "2",
            "--parallel", "2", "--caps", "", "--sizes", "", "--out", str(tmp_path / "r"),
            "--progress", "false", "--threads", "1", "--halting", "readout",
        ]
    )  # fmt: skip
    assert report["solver"]["halting"] == "readout"
    assert report["cold_depth"]["decisions"] == report["depth"]["decisions"]
    assert report["episode_iterations"]["cold"] >= report["episode_iterations"]["warm"] > 0
    with pytest.raises(SystemExit) as stop:
        evaluate.main(["--halting", "sometimes", "--out", str(tmp_path / "bad")])
    assert stop.value.code == 2


@pytest.mark.slow
def test_evaluate_on_a_dynamic_maze_reports_depth_where_the_world_changes(
    checkpoint: str, tmp_path
) -> None:
    out = tmp_path / "dynamic"
    report = evaluate.main(
        [
            "--env", "FPR/Maze-Dynamic-15x15-v0", "--checkpoint", checkpoint, "--episodes", "3",
            "--parallel", "3", "--caps", "", "--sizes", "", "--out", str(out),
            "--progress", "false", "--threads", "1",
        ]
    )  # fmt: skip
    events = report["events"]["warm"]
    assert events is not None and events["after_events"] > 0
    decisions = report["decisions"]
    assert sum(d["event"] != "none" for d in decisions) == events["after_events"]
    assert all(d["replan_cells"] == 0 for d in decisions if d["event"] == "none")
    assert (out / "iterations_along_episodes.png").stat().st_size > 0
    assert "Where the world changes" in (out / "report.md").read_text()
