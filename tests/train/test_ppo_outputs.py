"""What ``train.ppo`` leaves in its run folder besides the safetensors checkpoint: an SB3 ``.zip``
that ``PPO.load`` / ``MaskablePPO.load`` read back with the trained actions, and Monitor CSVs."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from sb3_contrib import MaskablePPO
from sb3_contrib.common.maskable.utils import get_action_masks
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

import envs  # noqa: F401  (registers the FPR ids)
from fpr_agents.arguments import parse_args
from tests.policy.test_models import planner_actions
from tests.train.test_entry_points import TINY_PPO
from train import ppo, pretrain
from train.common import load_planner


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.mark.slow
@pytest.mark.parametrize(("algo", "algo_cls"), [("ppo", PPO), ("maskable_ppo", MaskablePPO)])
def test_ppo_zip_loads_with_the_trained_actions(algo: str, algo_cls: type, tmp_path) -> None:
    out = tmp_path / "run"
    result = ppo.main([*TINY_PPO, "--algo", algo, "--out", str(out)])
    run_dir = Path(result["run_dir"])
    assert run_dir == out and result["model_zip"] == str(out / "checkpoint.zip")
    assert (out / "checkpoint.zip").exists() and (out / "checkpoint.safetensors").exists()
    loaded = algo_cls.load(out / "checkpoint.zip", device="cpu")
    trained = load_planner(result["checkpoint"])  # the trained weights, as the run saved them
    env = make_vec_env("FPR/Maze-9x9-v0", n_envs=4, seed=7)
    obs = env.reset()
    masks = get_action_masks(env) if algo == "maskable_ppo" else None
    kwargs = {"action_masks": masks} if masks is not None else {}
    actions, _ = loaded.predict(obs, deterministic=True, **kwargs)
    np.testing.assert_array_equal(actions, planner_actions(trained, obs, masks))
    env.close()


@pytest.mark.slow
def test_ppo_writes_monitor_csvs_into_the_run_folder(tmp_path) -> None:
    result = ppo.main([*TINY_PPO, "--runs-dir", str(tmp_path)])
    files = sorted((Path(result["run_dir"]) / "monitor").glob("*.monitor.csv"))
    assert [f.name for f in files] == ["0.monitor.csv", "1.monitor.csv"]  # --n-envs 2
    for file in files:
        lines = file.read_text().splitlines()
        assert lines[0].startswith("#")  # Monitor's JSON header
        header = next(csv.reader([lines[1]]))
        assert header == ["r", "l", "t", "is_success"]


def test_progress_bars_are_on_by_default_and_installed() -> None:
    assert ppo.PPOArgs().logging.progress is True
    assert pretrain.PretrainArgs().logging.progress is True
    # SB3's progress bar needs both
    assert importlib.util.find_spec("tqdm") and importlib.util.find_spec("rich")


@pytest.mark.parametrize("pretrained", [[], ["--pretrained", "maze_large"]])
def test_compile_runs_the_planners_step_through_torch_compile(pretrained: list[str]) -> None:
    for flag, compiled in (([], False), (["--compile"], True)):
        args = parse_args(ppo.PPOArgs, [*TINY_PPO, *pretrained, *flag], "train.ppo")
        env = ppo.make_envs(args, 2, 0)
        model = ppo.build_model(args, env, None)
        assert (model.policy.planner.reasoner.compiled_step is not None) == compiled
        env.close()
    default = parse_args(ppo.PPOArgs, [*TINY_PPO, "--policy", "default", "--compile"], "x")
    env = ppo.make_envs(default, 2, 0)
    assert not hasattr(ppo.build_model(default, env, None).policy, "planner")  # nothing to compile
    env.close()
