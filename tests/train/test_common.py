"""Argument parsing, checkpoints and error messages shared by the entry points."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import torch

from fpr_agents.checkpoints.files import CheckpointError
from train.common import (
    check_env_id,
    compare_architecture,
    load_checkpoint,
    parse_args,
    resolve_device,
    run_name,
    save_checkpoint,
)


@dataclass
class _Args:
    config_section = "section"
    lr: float = field(default=0.1, metadata={"help": "learning rate"})
    name: str = field(default="a", metadata={"help": "a name"})
    flag: bool = field(default=False, metadata={"help": "a switch"})
    path: str | None = field(default=None, metadata={"help": "optional path"})


def test_yaml_then_flags_override_defaults(tmp_path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("section:\n  lr: 0.5\n  name: from-yaml\n")
    args = parse_args(_Args, ["--config", str(config), "--name", "cli", "--flag", "true"], "t")
    assert args == _Args(lr=0.5, name="cli", flag=True, path=None)


def test_unknown_yaml_key_is_reported(tmp_path, capsys) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("section:\n  learning_rat: 0.5\n")
    with pytest.raises(SystemExit):
        parse_args(_Args, ["--config", str(config)], "t")
    assert "learning_rat" in capsys.readouterr().err


def test_checkpoint_round_trip_is_atomic(tmp_path) -> None:
    path = tmp_path / "ck.safetensors"
    save_checkpoint(path, {"w": torch.arange(4.0)}, {"step": 3})
    tensors, meta = load_checkpoint(path)
    torch.testing.assert_close(tensors["w"], torch.arange(4.0))
    assert meta == {"step": 3}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.json", "ck.safetensors"]


def test_missing_checkpoint_says_which_file(tmp_path) -> None:
    with pytest.raises(CheckpointError, match=r"nothing\.safetensors"):
        load_checkpoint(tmp_path / "nothing.safetensors")


def test_damaged_checkpoints_name_the_file(tmp_path) -> None:
    save_checkpoint(tmp_path / "ck.safetensors", {"w": torch.ones(64)}, {"step": 3})
    data = (tmp_path / "ck.safetensors").read_bytes()
    (tmp_path / "ck.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"ck\.safetensors cannot be read"):
        load_checkpoint(tmp_path / "ck.safetensors")
    save_checkpoint(tmp_path / "ok.safetensors", {"w": torch.ones(4)}, {"step": 3})
    (tmp_path / "ok.json").write_text('{"step": 3,')
    with pytest.raises(CheckpointError, match=r"ok\.json is not valid JSON \(line 1"):
        load_checkpoint(tmp_path / "ok.safetensors")
    (tmp_path / "ok.json").write_text("[1, 2]")
    with pytest.raises(CheckpointError, match="must hold a JSON object"):
        load_checkpoint(tmp_path / "ok.safetensors")


def test_architecture_mismatch_names_field() -> None:
    with pytest.raises(ValueError, match="'d_model'"):
        compare_architecture({"d_model": 32, "n_layers": 1}, {"d_model": 64, "n_layers": 1}, "x")
    compare_architecture({"a": 1}, {"a": 1}, "x")


def test_unknown_env_lists_registered_ids() -> None:
    with pytest.raises(ValueError, match="FPR/Maze-v0"):
        check_env_id("FPR/Mase-v0")


def test_device_and_run_name() -> None:
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda")
    name = run_name("FPR/Maze-v0", "exp", 3)
    assert name.startswith("FPR-Maze-v0__exp__3__")
