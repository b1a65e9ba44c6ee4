"""``train.imitate``: a tiny run writes a checkpoint that ``train.evaluate`` and ``train.ppo``
take, DAgger labels the learner's own states with the oracle, bad input is a one-line error, and
one seed gives one result."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from sb3_contrib import MaskablePPO

import envs  # noqa: F401  (registers the FPR ids)
from fpr_agents.arguments import UserError, build
from fpr_agents.policy.planner import PlannerNetwork
from fpr_agents.policy.policies import stack_sizes_from_space
from fpr_agents.reasoner import ReasonerConfig
from train import evaluate, imitate, ppo
from train.common import env_task_description, load_checkpoint, load_planner

ROOT = Path(__file__).resolve().parents[2]
TINY = [
    "--env", "FPR/Sudoku-4x4-v0", "--rounds", "2", "--episodes", "4", "--epochs", "1",
    "--batch-size", "8", "--d-model", "16", "--n-heads", "2", "--attention",
    "--max-iters", "6", "--grad-iters", "1", "--eval-episodes", "2", "--parallel", "4",
    "--progress", "false",
]  # fmt: skip


def _tiny_planner(env: gym.Env) -> PlannerNetwork:
    task = env_task_description(env)
    config = ReasonerConfig(d_model=16, n_heads=2, attention=False, mlp_kernel=3, max_iters=4)
    return PlannerNetwork(
        task, config, stack_sizes=stack_sizes_from_space(env.observation_space, task)
    )


@pytest.mark.slow
def test_tiny_sudoku_run_writes_what_evaluate_and_ppo_take(tmp_path: Path) -> None:
    result = imitate.main([*TINY, "--out", str(tmp_path / "run")])
    _, meta = load_checkpoint(result["checkpoint"])
    assert meta["kind"] == "fpr_agents.planner" and meta["trainer"] == "imitate"
    assert [row["round"] for row in meta["rounds"]] == [0, 1]
    assert meta["rounds"][0]["beta"] == 1.0 and meta["rounds"][1]["beta"] == 0.5
    assert result["samples"] == meta["rounds"][-1]["samples"] > 0
    planner = load_planner(result["checkpoint"])
    assert planner.config.d_model == 16 and planner.config.attention
    report = evaluate.main(
        [
            "--env", "FPR/Sudoku-4x4-v0", "--checkpoint", result["checkpoint"], "--episodes", "2",
            "--parallel", "2", "--caps", "", "--sizes", "", "--no-cold",
            "--out", str(tmp_path / "eval"), "--progress", "false", "--threads", "1",
        ]
    )  # fmt: skip
    assert len(report["episodes"]) == 2
    model = MaskablePPO.load(result["model_zip"], device="cpu")
    loaded = model.policy.state_dict()
    for name, value in planner.state_dict().items():
        assert torch.equal(loaded[f"planner.{name}"], value), name
    tuned = ppo.main(
        [
            "--env", "FPR/Sudoku-4x4-v0", "--pretrained", result["checkpoint"],
            "--algo", "maskable_ppo", "--total-timesteps", "16", "--n-steps", "8",
            "--batch-size", "8", "--n-envs", "2", "--n-epochs", "1", "--max-iters", "4",
            "--eval-every", "16", "--eval-episodes", "1", "--checkpoint-every", "16",
            "--progress", "false", "--out", str(tmp_path / "ppo"),
        ]
    )  # fmt: skip
    assert Path(tuned["checkpoint"]).exists()


def test_dagger_labels_the_learners_own_states_with_the_oracle() -> None:
    seeds = [3, 4, 5, 6]
    env_list = [gym.make("FPR/Maze-9x9-v0") for _ in range(2)]
    torch.manual_seed(0)
    planner = _tiny_planner(env_list[0])
    keys = list(env_list[0].observation_space.spaces)  # type: ignore[attr-defined]
    oracle = imitate.Demonstrations(keys)
    rng = np.random.default_rng(0)
    cpu = torch.device("cpu")
    play = imitate.collect(env_list, planner, seeds, 1.0, rng, oracle, 0, cpu)
    assert play["learner_share"] == 0.0 and play["off_oracle_share"] == 0.0
    assert play["episode_success"] == 1.0
    data = imitate.Demonstrations(keys)
    play = imitate.collect(env_list, planner, seeds, 0.0, rng, data, 1, cpu)
    assert play["learner_share"] == 1.0 and play["off_oracle_share"] > 0
    oracle_states = set(oracle.state_keys())
    off_path = [i for i, key in enumerate(data.state_keys()) if key not in oracle_states]
    assert off_path, "the untrained learner only visited states the oracle visits"
    # each label is the oracle's move from that state: replay the maze with the agent put there
    check = gym.make("FPR/Maze-9x9-v0")
    for i in off_path:
        agent = tuple(int(v) for v in data.obs["agent"][i])
        goal = divmod(int(np.flatnonzero(data.obs["grid"][i] == 2)[0]), 9)
        obs, _ = check.reset(seed=data.seeds[i], options={"start": agent, "goal": goal})
        assert np.array_equal(obs["grid"], data.obs["grid"][i])
        assert data.actions[i] == check.unwrapped.oracle_action()  # type: ignore[attr-defined]
        assert data.masks[i][data.actions[i]]
    for env in [*env_list, check]:
        env.close()


def test_sudoku_learner_states_are_labelled_with_the_solution() -> None:
    env_list = [gym.make("FPR/Sudoku-4x4-v0")]
    task = env_task_description(env_list[0])
    config = ReasonerConfig(d_model=16, n_heads=2, attention=True, max_iters=4)
    planner = PlannerNetwork(
        task, config, stack_sizes=stack_sizes_from_space(env_list[0].observation_space, task)
    )
    data = imitate.Demonstrations(["board", "given"])
    imitate.collect(env_list, planner, [1, 2], 0.0, np.random.default_rng(0), data, 0,
                    torch.device("cpu"))  # fmt: skip
    check = gym.make("FPR/Sudoku-4x4-v0")
    for i in range(len(data)):
        check.reset(seed=data.seeds[i])
        solution = check.unwrapped._solution.reshape(-1)  # type: ignore[attr-defined]
        cell, digit = divmod(data.actions[i], 4)
        assert data.obs["board"][i][cell] == 0 and solution[cell] == digit + 1
    check.close()
    env_list[0].close()


@pytest.mark.slow
@pytest.mark.parametrize("env_id", ["FPR/Maze-9x9-v0", "FPR/Sudoku-4x4-v0", "FPR/ARC-Concepts-v0"])
def test_every_family_plays_labels_and_trains(env_id: str) -> None:
    args = build(
        imitate.ImitateArgs,
        {"env": env_id, "d_model": 16, "n_heads": 2, "attention": True, "position_embedding": 30,
         "max_iters": 3, "grad_iters": 1, "batch_size": 8, "epochs": 1},
    )  # fmt: skip
    env_list = [gym.make(env_id)]
    cpu = torch.device("cpu")
    planner = imitate.build_planner(args, env_list[0], cpu)
    data = imitate.Demonstrations(list(env_list[0].observation_space.spaces))  # type: ignore[attr-defined]
    rng = np.random.default_rng(0)
    imitate.collect(env_list, planner, [1], 0.5, rng, data, 0, cpu)
    assert len(data) > 0 and all(data.masks[i][data.actions[i]] for i in range(len(data)))
    before = [p.detach().clone() for p in planner.parameters()]
    optimizer = torch.optim.AdamW(planner.parameters(), lr=1e-2)
    step, fit = imitate.train_epochs(planner, optimizer, data, args, rng, cpu, None, 0)
    assert step >= 1 and np.isfinite(fit["loss"])
    assert any(not torch.equal(a, p) for a, p in zip(before, planner.parameters(), strict=True))
    env_list[0].close()


def test_a_planner_acting_by_rule_is_refused_as_pretrained(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with pytest.raises(UserError, match="ARC action rule"):
        imitate.main(["--env", "FPR/ARC-Concepts-v0", "--pretrained", "arc_concepts",
                      "--out", str(out)])  # fmt: skip
    assert not out.exists()


def test_unknown_env_is_a_user_error_before_anything_is_written(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with pytest.raises(UserError, match="FPR/Nope-v0"):
        imitate.main(["--env", "FPR/Nope-v0", "--out", str(out)])
    assert not out.exists()


@given(beta=st.floats(allow_nan=True, allow_infinity=True))
def test_beta_outside_zero_one_is_refused(beta: float) -> None:
    if 0.0 <= beta <= 1.0:
        assert build(imitate.DaggerArgs, {"beta": beta}).beta == beta
    else:
        with pytest.raises(ValueError, match="--beta must be a probability"):
            build(imitate.DaggerArgs, {"beta": beta})


def test_beta_schedules() -> None:
    def betas(schedule: str) -> list[float]:
        args = imitate.DaggerArgs(rounds=4, beta=0.8, beta_schedule=schedule, beta_decay=0.5)
        return [args.beta_at(r) for r in range(4)]

    assert betas("constant") == [0.8] * 4
    assert betas("linear") == pytest.approx([0.8, 0.8 * 2 / 3, 0.8 / 3, 0.0])
    assert betas("exponential") == pytest.approx([0.8, 0.4, 0.2, 0.1])


@pytest.mark.slow
def test_bad_input_is_one_line_exit_2(tmp_path: Path) -> None:
    out = tmp_path / "run"
    cases = {
        "unknown env": (["--env", "FPR/Nope-v0"], "FPR/Nope-v0"),
        "bad beta": (["--beta", "1.5"], "--beta must be a probability in [0, 1], got 1.5"),
        "bad schedule": (["--beta-schedule", "cosine"], "--beta-schedule"),
    }
    for name, (args, named) in cases.items():
        done = subprocess.run(
            [sys.executable, "-m", "train.imitate", *args, "--out", str(out)], cwd=ROOT,
            capture_output=True, text=True, timeout=300, check=False,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        assert done.returncode == 2, (name, done.stderr[-500:])
        assert "Traceback" not in done.stderr, name
        last = done.stderr.strip().splitlines()[-1]
        assert "error:" in last and named in last, (name, last)
        assert not out.exists(), name


@pytest.mark.slow
def test_one_seed_one_result(tmp_path: Path) -> None:
    first = imitate.main([*TINY, "--seed", "7", "--out", str(tmp_path / "a")])
    second = imitate.main([*TINY, "--seed", "7", "--out", str(tmp_path / "b")])
    other = imitate.main([*TINY, "--seed", "8", "--out", str(tmp_path / "c")])
    tensors_a, _ = load_checkpoint(first["checkpoint"])
    tensors_b, _ = load_checkpoint(second["checkpoint"])
    tensors_c, _ = load_checkpoint(other["checkpoint"])
    assert tensors_a.keys() == tensors_b.keys()
    assert all(torch.equal(tensors_a[k], tensors_b[k]) for k in tensors_a)
    assert first["rounds"] == second["rounds"]
    assert not all(torch.equal(tensors_a[k], tensors_c[k]) for k in tensors_a)
