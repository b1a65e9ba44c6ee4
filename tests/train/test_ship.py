"""``train.ship`` copies weights and provenance into the package, and refuses bad input."""

from __future__ import annotations

import json

import pytest
import torch

from fpr_agents import checkpoints
from train import ship
from train.common import load_planner, save_checkpoint


def test_ship_writes_weights_and_provenance(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(ship, "CHECKPOINT_DIR", tmp_path / "shipped")
    source = tmp_path / "run" / "checkpoint.safetensors"
    task = {
        "family": "maze", "grid_shape": [9, 9], "grid_keys": {"grid": 3},
        "action_layout": "move_at_agent", "moves": [[-1, 0], [0, 1], [1, 0], [0, -1]],
        "agent_key": "agent",
    }  # fmt: skip
    from fpr_agents.policy.planner import PlannerNetwork

    planner = PlannerNetwork(task, {"d_model": 16, "n_heads": 2}, head_hidden=8)
    tensors = {f"model.{k}": v for k, v in planner.state_dict().items()}
    tensors["optim.0.exp_avg"] = torch.zeros(3)
    meta = {
        "kind": "fpr_agents.planner", "reasoner": planner.config_dict(), "task_description": task,
        "head_hidden": 8, "stack_sizes": {}, "metrics": {"size15": {"exact": 1.0}},
        "value_at_agent": True,
    }  # fmt: skip
    save_checkpoint(source, tensors, meta)
    target = ship.main(["--checkpoint", str(source), "--name", "tiny"])
    stored = json.loads(target.with_suffix(".json").read_text())
    assert stored["shipped_from"] == str(source) and stored["metrics"] == meta["metrics"]
    assert len(stored["shipped_at_commit"]) in (7, 40) or stored["shipped_at_commit"] == "unknown"
    loaded = load_planner(target)
    for key, value in planner.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value)
    assert loaded.config.patience == planner.config.patience
    patient = ship.main(["--checkpoint", str(source), "--name", "tiny", "--patience", "40"])
    assert load_planner(patient).config.patience == 40
    loose = ship.main(["--checkpoint", str(source), "--name", "tiny", "--tol", "0.01"])
    assert load_planner(loose).config.tol == 0.01
    assert load_planner(loose).config.patience == planner.config.patience
    readout = ship.main(["--checkpoint", str(source), "--name", "tiny", "--halting", "readout"])
    assert load_planner(readout).config.halting == "readout"
    choices = ship.main(
        ["--checkpoint", str(source), "--name", "tiny", "--halting", "readout",
         "--readout-signal", "choices"]
    )  # fmt: skip
    assert load_planner(choices).config.readout_signal == "choices"
    checked = ship.main(
        ["--checkpoint", str(source), "--name", "tiny", "--readout-fresh-tol", "0.1",
         "--readout-warm-check", "true"]
    )  # fmt: skip
    config = load_planner(checked).config
    assert (config.readout_fresh_tol, config.readout_warm_check) == (0.1, True)
    assert config.readout_signal == planner.config.readout_signal  # the others kept
    with pytest.raises(SystemExit):  # not one of the choices
        ship.main(["--checkpoint", str(source), "--name", "tiny", "--readout-signal", "digits"])
    with pytest.raises(ValueError, match="--halting must be one of"):
        ship.ShipArgs(checkpoint=str(source), name="tiny", halting="often")
    with pytest.raises(SystemExit):  # argparse's error: "--patience must be >= 0"
        ship.main(["--checkpoint", str(source), "--name", "tiny", "--patience", "-1"])
    with pytest.raises(ValueError, match="--tol must be >= 0"):
        ship.ShipArgs(checkpoint=str(source), name="tiny", tol=-0.5)


def test_ship_needs_name_and_checkpoint() -> None:
    with pytest.raises(SystemExit):
        ship.main(["--name", "x"])


def test_package_lists_shipped_checkpoints() -> None:
    for name in checkpoints.shipped_names():
        assert checkpoints.shipped_checkpoint(name).exists()
