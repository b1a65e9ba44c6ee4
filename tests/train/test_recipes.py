"""Every shipped planner has its recipe under ``train/configs/planners/``: one command retrains
it. The recipe's last stage must say what the shipped planner's own record says it was trained
with, build the same architecture, and ship with the solver settings users get."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fpr_agents.arguments import flat_values, parse_args
from fpr_agents.checkpoints import CHECKPOINT_DIR
from fpr_agents.reasoner.config import ARCHITECTURE_FIELDS
from train.common import CONFIG_DIR
from train.pretrain import PretrainArgs
from train.ship import ShipArgs

SHIPPED = sorted(p.stem for p in CHECKPOINT_DIR.glob("*.safetensors"))
RECIPES = CONFIG_DIR / "planners"
# What a run was called and where it wrote: not part of the recipe.
BOOKKEEPING = {
    "exp_name", "runs_dir", "resume", "out", "device", "threads", "eval_only", "progress",
    "eval_every", "eval_batches", "eval_sizes", "checkpoint_every", "compile",
}  # fmt: skip
# Flags that became named components: the old value that meant "off".
COMPONENT_FLAGS = {
    "wave_speeds": ("objective", "wavefront", ""),
    "residual_weight": ("regularisers", "residual", 0.0),
    "latent_noise": ("regularisers", "latent_noise", 0.0),
    "goal_switch": ("starts", "goal_switch", 0.0),
    "event_switch": ("starts", "event_switch", 0.0),
}
RENAMED = {"lr": "learning_rate"}


def _normalise(value: Any) -> Any:
    if isinstance(value, str) and "," in value:
        return tuple(float(v) for v in value.split(","))
    if isinstance(value, (list, tuple)):
        return tuple(float(v) if isinstance(v, (int, float)) else v for v in value)
    return value


def recorded_differences(recorded: dict[str, Any], recipe: dict[str, Any]) -> list[str]:
    """Where a recipe disagrees with the arguments a checkpoint records (old flag names and
    component switches translated).

    :param recorded: the checkpoint JSON's ``args``.
    :param recipe: the recipe's flat values.
    :return: one line per disagreement.
    """
    differences = []
    for old_name, value in recorded.items():
        name = RENAMED.get(old_name, old_name)
        if name in BOOKKEEPING:
            continue
        # Records written before the components had names: the old value that meant "off".
        if name in COMPONENT_FLAGS and COMPONENT_FLAGS[name][0] not in recorded:
            selector, component, off = COMPONENT_FLAGS[name]
            selected = recipe[selector]
            on = component in (selected if isinstance(selected, tuple) else (selected,))
            if on != (value not in (off, None, "")):
                differences.append(f"{name}={value!r} but {selector}={selected!r}")
            if on and _normalise(recipe[name]) != _normalise(value):
                differences.append(f"{name}: recorded {value!r}, recipe {recipe[name]!r}")
            continue
        if name in ("generators", "families") and isinstance(value, str):
            value = tuple(v for v in value.split(",") if v)
        if name in recipe and _normalise(recipe[name]) != _normalise(value):
            differences.append(f"{name}: recorded {value!r}, recipe {recipe[name]!r}")
    return differences


def test_every_shipped_planner_has_a_recipe() -> None:
    assert SHIPPED and sorted(p.stem for p in RECIPES.glob("*.yaml")) == SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_the_recipe_says_what_the_planner_was_trained_with(name: str) -> None:
    meta = json.loads((CHECKPOINT_DIR / f"{name}.json").read_text())
    args = parse_args(PretrainArgs, ["--config", f"planners/{name}.yaml"], "t")
    recipe = flat_values(args)
    assert recorded_differences(meta["args"], recipe) == []
    assert args.env == meta["args"]["env"]
    built = args.reasoner_config()
    for field in ARCHITECTURE_FIELDS:
        if field in meta["reasoner"]:
            assert getattr(built, field) == meta["reasoner"][field], (name, field)
    ship = parse_args(ShipArgs, ["--config", f"planners/{name}.yaml", "--checkpoint", "x"], "t")
    assert ship.name == name
    for key in ("patience", "halting", "readout_signal"):
        if getattr(ship, key):
            assert meta["reasoner"][key] == getattr(ship, key), (name, key)
    if ship.readout_fresh_tol >= 0:
        assert meta["reasoner"]["readout_fresh_tol"] == ship.readout_fresh_tol, name
    if ship.readout_warm_check is not None:
        assert meta["reasoner"]["readout_warm_check"] == ship.readout_warm_check, name


def test_the_difference_check_can_fail() -> None:
    recipe = flat_values(parse_args(PretrainArgs, ["--config", "planners/maze_large.yaml"], "t"))
    assert recorded_differences({"lr": 0.001, "wave_speeds": "1.5,3"}, recipe) == []
    assert recorded_differences({"lr": 0.002}, recipe) == [
        "learning_rate: recorded 0.002, recipe 0.001"
    ]
    assert recorded_differences({"residual_weight": 0.0}, recipe)  # on in the recipe
    assert recorded_differences({"goal_switch": 0.5}, recipe)  # off in the recipe


def test_the_checkpoints_readme_lists_each_retrain_command() -> None:
    text = (CHECKPOINT_DIR / "README.md").read_text()
    for name in SHIPPED:
        assert f"python -m train.pretrain --config planners/{name}.yaml" in text, name


def test_a_staged_recipe_runs_its_stages_in_one_folder(tmp_path: Path) -> None:
    from train import pretrain

    recipe = tmp_path / "two.yaml"
    recipe.write_text(
        "pretrain:\n  env: FPR/Maze-v0\n"
        "  model: {d_model: 16, n_heads: 2}\n  solver: {max_iters: 8}\n"
        "  data: {min_size: 7, max_size: 9}\n  loss: {segments: 1, n_no_grad_max: 1, k_grad: 1}\n"
        "  optim: {batch_size: 2}\n"
        "  logging: {eval_every: 100, eval_batches: 1, eval_sizes: [9], progress: false}\n"
        "  stages:\n    - optim: {total_steps: 2}\n    - optim: {total_steps: 3}\n"
        "      data: {max_size: 11}\n"
    )
    result = pretrain.main(["--config", str(recipe), "--out", str(tmp_path / "run")])
    assert result["step"] == 3 and result["checkpoint"] == str(
        tmp_path / "run/checkpoint.safetensors"
    )
    meta = json.loads((tmp_path / "run" / "checkpoint.json").read_text())
    assert meta["args"]["max_size"] == 11 and meta["args"]["resume"].endswith(
        "checkpoint.safetensors"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "two.yaml"]


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED)
def test_each_recipe_runs_as_written_on_a_tiny_budget(name: str, tmp_path: Path) -> None:
    from train import pretrain

    tiny = ["--total-steps", "1", "--batch-size", "2", "--eval-batches", "1", "--eval-sizes", "9",
            "--min-size", "7", "--max-size", "9", "--min-blanks", "2", "--max-blanks", "4",
            "--n-no-grad-max", "1", "--segments", "1", "--no-progress"]  # fmt: skip
    out = tmp_path / "run"
    result = pretrain.main(["--config", f"planners/{name}.yaml", *tiny, "--out", str(out)])
    assert result["checkpoint"] == str(out / "checkpoint.safetensors")
    meta = json.loads((out / "checkpoint.json").read_text())
    shipped = json.loads((CHECKPOINT_DIR / f"{name}.json").read_text())
    for field in ARCHITECTURE_FIELDS:
        if field in shipped["reasoner"]:
            assert meta["reasoner"][field] == shipped["reasoner"][field], (name, field)
