"""RL Zoo (``rl_zoo3``) trains and replays the FPR ids with the shipped hyperparameter files:
``train/configs/rl_zoo/ppo_planner.yaml`` (the planner policy) and ``ppo_multi_input.yaml``
(SB3's MultiInputPolicy), from its own command line, with tiny budgets."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest
import yaml
from stable_baselines3 import PPO

import envs  # noqa: F401  (registers the FPR ids)
from fpr_agents.policy import FixedPointPlannerPolicy, PlanningStateCallback

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "train" / "configs" / "rl_zoo"
PLANNER = CONFIGS / "ppo_planner.yaml"
MULTI_INPUT = CONFIGS / "ppo_multi_input.yaml"
ENV_ID = "FPR/Maze-9x9-v0"
TINY_REASONER = "dict(d_model=8, n_heads=2, attention=False, max_iters=4)"
TINY_PPO = ["n_envs:2", "n_steps:16", "batch_size:32", "n_epochs:1"]


def _entries(path: Path) -> dict[str, dict[str, Any]]:
    """The entries of a hyperparameter file, as RL Zoo reads it.

    :param path: the YAML file.
    :return: env id (or ``default``) -> hyperparameters.
    """
    return yaml.safe_load(path.read_text())


def _by_name(name: str) -> Any:
    """What a dotted name in a hyperparameter file names (RL Zoo imports it the same way).

    :param name: ``module.attribute``.
    :return: the attribute.
    """
    module, attribute = name.rsplit(".", 1)
    return getattr(importlib.import_module(module), attribute)


def _zoo(module: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``python -m rl_zoo3.<module>`` on one thread.

    :param module: ``train`` or ``enjoy``.
    :param args: its arguments.
    :param cwd: the working folder.
    :return: the finished process.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = "1"
    return subprocess.run(
        [sys.executable, "-m", f"rl_zoo3.{module}", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.parametrize("env_id", sorted(_entries(PLANNER)))
def test_planner_entries_name_their_own_env(env_id: str) -> None:
    entry = _entries(PLANNER)[env_id]
    assert env_id in gym.registry
    assert issubclass(_by_name(entry["policy"]), FixedPointPlannerPolicy)
    assert PlanningStateCallback in [_by_name(name) for name in entry["callback"]]
    policy_kwargs = eval(entry["policy_kwargs"])  # as RL Zoo reads it
    assert policy_kwargs["task_description"] == f"envs:{env_id}"


def test_multi_input_file_covers_every_id() -> None:
    assert _entries(MULTI_INPUT)["default"]["policy"] == "MultiInputPolicy"


@pytest.mark.slow
def test_train_then_enjoy_the_planner(tmp_path: Path) -> None:
    pytest.importorskip("rl_zoo3")
    logs = tmp_path / "logs"
    kwargs = f"dict(task_description='{ENV_ID}', reasoner={TINY_REASONER})"
    train = _zoo(
        "train", "--algo", "ppo", "--env", ENV_ID, "--gym-packages", "envs",
        "--conf-file", str(PLANNER), "--n-timesteps", "64", "--log-folder", str(logs),
        "--eval-freq", "-1", "--seed", "0", "--num-threads", "1",
        "--hyperparams", *TINY_PPO, f"policy_kwargs:{kwargs}",
        cwd=tmp_path,
    )  # fmt: skip
    assert train.returncode == 0, train.stdout[-2000:] + train.stderr[-3000:]
    run = logs / "ppo" / "FPR-Maze-9x9-v0_1"
    assert "residual_mean" in train.stdout  # PlanningDepthCallback logged planner/
    model = PPO.load(run / "FPR-Maze-9x9-v0.zip", device="cpu")
    assert isinstance(model.policy, FixedPointPlannerPolicy)
    env = gym.make(ENV_ID)
    assert model.policy.task_description == env.unwrapped.task_description  # the dict, saved
    env.close()
    assert model.policy.reasoner_config["d_model"] == 8
    enjoy = _zoo(
        "enjoy", "--algo", "ppo", "--env", ENV_ID, "--gym-packages", "envs",
        "--folder", str(logs), "--n-timesteps", "12", "--no-render", "--num-threads", "1",
        cwd=tmp_path,
    )  # fmt: skip
    assert enjoy.returncode == 0, enjoy.stdout[-2000:] + enjoy.stderr[-3000:]
    assert "FPR-Maze-9x9-v0.zip" in enjoy.stdout


@pytest.mark.slow
def test_train_with_multi_input_policy(tmp_path: Path) -> None:
    pytest.importorskip("rl_zoo3")
    train = _zoo(
        "train", "--algo", "ppo", "--env", ENV_ID, "--gym-packages", "envs",
        "--conf-file", str(MULTI_INPUT), "--n-timesteps", "32", "--log-folder", str(tmp_path),
        "--eval-freq", "-1", "--num-threads", "1", "--hyperparams", *TINY_PPO,
        cwd=tmp_path,
    )  # fmt: skip
    assert train.returncode == 0, train.stdout[-2000:] + train.stderr[-3000:]
    assert (tmp_path / "ppo" / "FPR-Maze-9x9-v0_1" / "FPR-Maze-9x9-v0.zip").is_file()
