"""A user's mistake in any entry point: one line naming what and where, exit 2, nothing written;
booleans as --flag/--no-flag; no abbreviated flags."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

from train.common import parse_args, save_checkpoint

ROOT = Path(__file__).resolve().parents[2]
SUDOKU9 = ROOT / "fpr_agents" / "checkpoints" / "sudoku9.safetensors"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", *args], capture_output=True, text=True, cwd=ROOT, env=env,
        timeout=300, check=False,
    )  # fmt: skip


def _broken_checkpoints(tmp_path: Path) -> tuple[Path, Path]:
    truncated = tmp_path / "truncated.safetensors"
    save_checkpoint(truncated, {"w": torch.ones(256)}, {"kind": "fpr_agents.planner"})
    truncated.write_bytes(truncated.read_bytes()[:100])
    bad_json = tmp_path / "badjson.safetensors"
    save_checkpoint(bad_json, {"w": torch.ones(4)}, {"kind": "fpr_agents.planner"})
    bad_json.with_suffix(".json").write_text('{"kind": ')
    return truncated, bad_json


@pytest.mark.slow
def test_every_user_error_is_one_line_exit_2_and_writes_nothing(tmp_path: Path) -> None:
    truncated, bad_json = _broken_checkpoints(tmp_path)
    bad_recipe = tmp_path / "recipe.yaml"
    bad_recipe.write_text("pretrain:\n  optim: {total_steps: 4}\n  nope_key: 1\n")
    out = tmp_path / "out"
    cases = {
        "unknown flag": (["train.evaluate", "--no-such-flag", "1"], "unrecognized arguments"),
        "abbreviated flag": (["train.ppo", "--total-timestep", "100"], "--total-timestep"),
        "bad value": (["train.evaluate", "--episodes", "zero"], "--episodes"),
        "wrong env id": (["train.evaluate", "--env", "FPR/Nope-v0"], "FPR/Nope-v0"),
        "missing config": (["train.pretrain", "--config", "nope.yaml"], "nope.yaml"),
        "unknown recipe key": (["train.pretrain", "--config", str(bad_recipe)], "'nope_key'"),
        "component not selected": (["train.pretrain", "--residual-weight", "1"], "--regularisers"),
        "truncated checkpoint": (["train.evaluate", "--checkpoint", str(truncated)], "truncated"),
        "bad JSON": (["train.evaluate", "--checkpoint", str(bad_json)], "badjson.json"),
        "resume, other architecture": (
            [
                "train.pretrain",
                "--env",
                "FPR/Sudoku-9x9-v0",
                "--resume",
                str(SUDOKU9),
                "--d-model",
                "32",
            ],
            "--d-model 32 differs",
        ),
    }
    if not torch.cuda.is_available():
        cases["cuda without CUDA"] = (["train.evaluate", "--device", "cuda"], "--device cuda")
    for name, (args, named) in cases.items():
        done = _run(*args, "--out", str(out))
        assert done.returncode == 2, (name, done.stderr[-500:])
        assert "Traceback" not in done.stderr, name
        last = done.stderr.strip().splitlines()[-1]
        assert "error:" in last and named in last, (name, last)
        assert not out.exists(), name
    taken = tmp_path / "taken"
    taken.mkdir()
    for trainer in ("train.pretrain", "train.ppo"):
        done = _run(trainer, "--out", str(taken))
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-500:]
        last = done.stderr.strip().splitlines()[-1]
        assert "error:" in last and f"--out {taken} already exists" in last, (trainer, last)
        assert list(taken.iterdir()) == [], trainer


@dataclass
class _Args:
    attention: bool = field(default=False, metadata={"help": "grid attention"})
    total_timesteps: int = field(default=10, metadata={"help": "steps"})


def test_booleans_take_flag_no_flag_or_a_value() -> None:
    assert parse_args(_Args, ["--attention"], "t").attention is True
    assert parse_args(_Args, ["--no-attention"], "t").attention is False
    assert parse_args(_Args, ["--attention", "false"], "t").attention is False
    assert parse_args(_Args, [], "t").attention is False
    with pytest.raises(SystemExit):
        parse_args(_Args, ["--attention", "maybe"], "t")


def test_abbreviated_flags_are_refused() -> None:
    assert parse_args(_Args, ["--total-timesteps", "5"], "t").total_timesteps == 5
    with pytest.raises(SystemExit):
        parse_args(_Args, ["--total-timestep", "5"], "t")
