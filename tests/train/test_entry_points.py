"""``train.pretrain`` and ``train.ppo`` end to end with tiny budgets, from the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from fpr_agents.policy import PlannerNetwork
from train import ppo, pretrain
from train.common import load_checkpoint, load_planner, save_checkpoint

ROOT = Path(__file__).resolve().parents[2]
TINY_PRETRAIN = [
    "--total-steps", "4", "--batch-size", "4", "--segments", "2", "--n-no-grad-max", "2",
    "--k-grad", "1", "--d-model", "16", "--n-heads", "2", "--max-iters", "8",
    "--eval-every", "2", "--eval-batches", "1", "--eval-sizes", "9", "--checkpoint-every", "2",
    "--min-size", "7", "--max-size", "9", "--progress", "false",
]  # fmt: skip
TINY_PPO = [
    "--total-timesteps", "32", "--n-steps", "8", "--batch-size", "8", "--n-envs", "2",
    "--n-epochs", "1", "--d-model", "16", "--n-heads", "2", "--max-iters", "4",
    "--eval-freq", "16", "--eval-episodes", "1", "--checkpoint-freq", "16",
    "--progress", "false",
]  # fmt: skip


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = "1"
    return env


@pytest.mark.slow
def test_pretrain_cli_then_resume(tmp_path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "train.pretrain", *TINY_PRETRAIN, "--runs-dir", str(tmp_path)],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    (run_dir,) = tmp_path.iterdir()
    checkpoint = run_dir / "checkpoint.safetensors"
    meta = json.loads(checkpoint.with_suffix(".json").read_text())
    assert meta["step"] == 4 and "size9" in meta["metrics"]
    buckets = meta["metrics"]["size9"]["by_difficulty"]
    assert sum(bucket["samples"] for bucket in buckets) == 4  # --batch-size 4, one eval batch
    # Solver settings may change on resume (only the fields that shape the weights must match).
    resumed = pretrain.main(
        [
            *TINY_PRETRAIN, "--total-steps", "6", "--max-iters", "12", "--patience", "3",
            "--resume", str(checkpoint),
        ]
    )  # fmt: skip
    assert resumed["step"] == 6
    meta = json.loads(checkpoint.with_suffix(".json").read_text())
    assert meta["step"] == 6
    assert meta["reasoner"]["max_iters"] == 12 and meta["reasoner"]["patience"] == 3
    before = checkpoint.stat().st_mtime_ns
    evaluated = pretrain.main([*TINY_PRETRAIN, "--resume", str(checkpoint), "--eval-only", "true"])
    assert evaluated["step"] == 6 and "size9" in evaluated["metrics"]
    assert checkpoint.stat().st_mtime_ns == before  # nothing written


def test_pretrain_resumes_a_checkpoint_with_the_pooled_value_head(tmp_path) -> None:
    # Checkpoints written before ``value_at_agent`` hold no such key and a pooled value head.
    first = pretrain.main([*TINY_PRETRAIN, "--runs-dir", str(tmp_path)])
    checkpoint = Path(first["checkpoint"])
    tensors, meta = load_checkpoint(checkpoint)
    assert meta["value_at_agent"] is True
    pooled = PlannerNetwork(meta["task_description"], meta["reasoner"], value_at_agent=False)
    weights = {k: v for k, v in tensors.items() if not k.startswith(("optim.", "model.value"))}
    weights.update({f"model.{k}": v for k, v in pooled.state_dict().items() if "value" in k})
    del meta["value_at_agent"]
    save_checkpoint(checkpoint, weights, meta)
    resumed = pretrain.main([*TINY_PRETRAIN, "--total-steps", "6", "--resume", str(checkpoint)])
    assert resumed["step"] == 6
    assert load_planner(checkpoint).value_at_agent is False


def test_pretrain_resume_with_other_architecture_names_field(tmp_path) -> None:
    first = pretrain.main([*TINY_PRETRAIN, "--runs-dir", str(tmp_path)])
    with pytest.raises(ValueError, match="'d_model'"):
        pretrain.main([*TINY_PRETRAIN, "--d-model", "32", "--resume", first["checkpoint"]])
    with pytest.raises(ValueError, match="'mlp_kernel'"):
        pretrain.main([*TINY_PRETRAIN, "--mlp-kernel", "3", "--resume", first["checkpoint"]])


def test_pretrain_with_latent_noise_trains_other_weights(tmp_path) -> None:
    extra = ["--residual-weight", "0.5", "--far-goals", "0.5"]
    clean = pretrain.main([*TINY_PRETRAIN, *extra, "--runs-dir", str(tmp_path / "clean")])
    noisy = pretrain.main(
        [*TINY_PRETRAIN, *extra, "--latent-noise", "0.3", "--runs-dir", str(tmp_path / "noisy")]
    )
    clean_weights, _ = load_checkpoint(clean["checkpoint"])
    noisy_weights, meta = load_checkpoint(noisy["checkpoint"])
    assert meta["args"]["latent_noise"] == 0.3
    assert any(not torch.equal(clean_weights[k], noisy_weights[k]) for k in clean_weights)
    with pytest.raises(ValueError, match=r"--latent-noise must be >= 0, got -0\.1"):
        pretrain.PretrainArgs(latent_noise=-0.1)
    with pytest.raises(ValueError, match="--residual-weight must be >= 0, got nan"):
        pretrain.PretrainArgs(residual_weight=float("nan"))


def test_pretrain_with_event_switches_trains_other_weights(tmp_path) -> None:
    plain = pretrain.main([*TINY_PRETRAIN, "--runs-dir", str(tmp_path / "plain")])
    evented = pretrain.main(
        [
            *TINY_PRETRAIN, "--event-switch", "1.0", "--event-iters", "3",
            "--event-kinds", "door,goal", "--wave-speeds", "1.5,3",
            "--runs-dir", str(tmp_path / "evented"),
        ]
    )  # fmt: skip
    plain_weights, _ = load_checkpoint(plain["checkpoint"])
    evented_weights, meta = load_checkpoint(evented["checkpoint"])
    assert meta["args"]["event_switch"] == 1.0
    assert any(not torch.equal(plain_weights[k], evented_weights[k]) for k in plain_weights)
    with pytest.raises(ValueError, match=r"--event-switch must be a share in \[0, 1\]"):
        pretrain.PretrainArgs(event_switch=1.5)
    with pytest.raises(ValueError, match="--event-iters must be >= 1"):
        pretrain.PretrainArgs(event_iters=0)
    with pytest.raises(ValueError, match="--event-kinds: unknown kinds \\['earthquake'\\]"):
        pretrain.PretrainArgs(event_kinds="door,earthquake")
    with pytest.raises(ValueError, match="--event-switch is for maze envs, not 'sudoku'"):
        pretrain.main(
            [
                *TINY_PRETRAIN, "--env", "FPR/Sudoku-4x4-v0", "--min-blanks", "2",
                "--max-blanks", "6", "--event-switch", "0.5", "--runs-dir", str(tmp_path / "s"),
            ]
        )  # fmt: skip


def test_resuming_a_shipped_planner_writes_a_new_run_folder(tmp_path) -> None:
    from fpr_agents.checkpoints import CHECKPOINT_DIR

    before = sorted(p.name for p in CHECKPOINT_DIR.iterdir())
    result = pretrain.main(
        [
            "--config", "maze_mixed.yaml",
            "--resume", str(CHECKPOINT_DIR / "maze_mixed.safetensors"),
            "--total-steps", "3001", "--batch-size", "2", "--segments", "1", "--n-no-grad-max", "1",
            "--k-grad", "1", "--eval-every", "100000", "--eval-batches", "1", "--eval-sizes", "9",
            "--max-size", "9", "--progress", "false", "--runs-dir", str(tmp_path),
        ]
    )  # fmt: skip
    assert str(tmp_path) in result["checkpoint"]
    assert sorted(p.name for p in CHECKPOINT_DIR.iterdir()) == before


def test_pretrain_with_goal_switches_trains_other_weights(tmp_path) -> None:
    plain = pretrain.main([*TINY_PRETRAIN, "--runs-dir", str(tmp_path / "plain")])
    switched = pretrain.main(
        [
            *TINY_PRETRAIN, "--goal-switch", "1.0", "--switch-iters", "3",
            "--switch-removes", "0.5", "--runs-dir", str(tmp_path / "switched"),
        ]
    )  # fmt: skip
    plain_weights, _ = load_checkpoint(plain["checkpoint"])
    switched_weights, meta = load_checkpoint(switched["checkpoint"])
    assert meta["args"]["goal_switch"] == 1.0
    assert any(not torch.equal(plain_weights[k], switched_weights[k]) for k in plain_weights)
    with pytest.raises(ValueError, match=r"--goal-switch must be a share in \[0, 1\], got 2"):
        pretrain.PretrainArgs(goal_switch=2.0)
    with pytest.raises(ValueError, match="--switch-removes must be a share"):
        pretrain.PretrainArgs(switch_removes=-1.0)
    with pytest.raises(ValueError, match="--switch-iters must be >= 1"):
        pretrain.PretrainArgs(switch_iters=0)
    # refused before training starts, however rare the switches
    with pytest.raises(ValueError, match="--goal-switch is for maze envs, not 'sudoku'"):
        pretrain.main(
            [
                *TINY_PRETRAIN, "--env", "FPR/Sudoku-4x4-v0", "--min-blanks", "2",
                "--max-blanks", "6", "--goal-switch", "0.01", "--runs-dir", str(tmp_path / "s"),
            ]
        )  # fmt: skip


def test_pretrain_with_a_wavefront_trains_other_weights(tmp_path) -> None:
    plain = pretrain.main([*TINY_PRETRAIN, "--runs-dir", str(tmp_path / "plain")])
    wave = pretrain.main(
        [
            *TINY_PRETRAIN, "--wave-speeds", "1,3", "--residual-weight", "0.5",
            "--runs-dir", str(tmp_path / "wave"),
        ]
    )  # fmt: skip
    plain_weights, _ = load_checkpoint(plain["checkpoint"])
    wave_weights, meta = load_checkpoint(wave["checkpoint"])
    assert meta["args"]["wave_speeds"] == "1,3"
    assert any(not torch.equal(plain_weights[k], wave_weights[k]) for k in plain_weights)
    assert pretrain.PretrainArgs(wave_speeds=" 1.5, 3 ").wave() == (1.5, 3.0)
    assert pretrain.PretrainArgs().wave() is None
    for bad in ("2", "1,2,3", "a,b", "3,1", "0,1", "1,inf"):
        with pytest.raises(ValueError, match="--wave-speeds"):
            pretrain.PretrainArgs(wave_speeds=bad)
    with pytest.raises(ValueError, match="--wave-speeds counts iterations from a zero latent"):
        pretrain.PretrainArgs(wave_speeds="1,3", goal_switch=0.5)
    with pytest.raises(ValueError, match="--wave-speeds is for maze envs, not 'sudoku'"):
        pretrain.main(
            [
                *TINY_PRETRAIN, "--env", "FPR/Sudoku-4x4-v0", "--min-blanks", "2",
                "--max-blanks", "6", "--wave-speeds", "1,3", "--runs-dir", str(tmp_path / "s"),
            ]
        )  # fmt: skip


def test_residual_penalty_counts_only_the_cells_that_should_hold_still() -> None:
    moved = torch.zeros(1, 2, 2, 3)
    moved[0, 0, 0] = 10.0  # a cell the wave is crossing
    moved[0, 1, 1] = 1.0
    still = torch.tensor([[[False, True], [True, True]]])
    assert float(pretrain.residual_penalty(moved, still)) == pytest.approx(
        3.0 / 9
    )  # 3 cells x 3 channels
    assert float(pretrain.residual_penalty(moved, None)) == pytest.approx(303.0 / 12)
    assert float(pretrain.residual_penalty(moved, torch.zeros(1, 2, 2, dtype=torch.bool))) == 0


def test_pretrain_sudoku_family(tmp_path) -> None:
    result = pretrain.main(
        [
            *TINY_PRETRAIN, "--env", "FPR/Sudoku-4x4-v0", "--min-blanks", "2",
            "--max-blanks", "6", "--runs-dir", str(tmp_path),
        ]
    )  # fmt: skip
    assert 0.0 <= result["metrics"]["full"]["cell_accuracy"] <= 1.0


@pytest.mark.slow
def test_pretrain_with_two_processes(tmp_path) -> None:
    out = subprocess.run(
        [
            sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
            "-m", "train.pretrain", *TINY_PRETRAIN, "--runs-dir", str(tmp_path),
        ],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    (run_dir,) = tmp_path.iterdir()
    assert json.loads((run_dir / "checkpoint.json").read_text())["step"] == 4


@pytest.mark.slow
def test_ppo_cli_from_pretrained_then_resume(tmp_path) -> None:
    planner = pretrain.main([*TINY_PRETRAIN, "--runs-dir", str(tmp_path / "pre")])
    out = subprocess.run(
        [
            sys.executable, "-m", "train.ppo", *TINY_PPO, "--algo", "maskable_ppo",
            "--pretrained", planner["checkpoint"], "--runs-dir", str(tmp_path / "ppo"),
        ],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    (run_dir,) = (tmp_path / "ppo").iterdir()
    checkpoint = run_dir / "checkpoint.safetensors"
    assert json.loads(checkpoint.with_suffix(".json").read_text())["num_timesteps"] == 32
    assert any(p.name.startswith("events.") for p in run_dir.rglob("*"))
    resumed = ppo.main(
        [
            *TINY_PPO, "--algo", "maskable_ppo", "--pretrained", planner["checkpoint"],
            "--total-timesteps", "48", "--resume", str(checkpoint),
        ]
    )  # fmt: skip
    assert resumed["num_timesteps"] >= 48


def test_ppo_critic_warmup_resolves_and_rejects_bad_values() -> None:
    assert ppo.PPOArgs(n_envs=2, n_steps=8, pretrained="p.safetensors").warmup_steps() == 32
    assert ppo.PPOArgs(pretrained=None).warmup_steps() == 0
    assert ppo.PPOArgs(critic_warmup=100).warmup_steps() == 100
    assert ppo.PPOArgs(policy="default", critic_warmup=100).warmup_steps() == 0
    with pytest.raises(ValueError, match="--critic-warmup"):
        ppo.PPOArgs(critic_warmup=-2)
    with pytest.raises(ValueError, match="--latent-cache must be >= 0, got -1"):
        ppo.PPOArgs(latent_cache=-1)


def test_ppo_entropy_bonus_is_off_for_a_pretrained_planner_unless_asked() -> None:
    assert ppo.PPOArgs(pretrained="p.safetensors").entropy_coefficient() == 0.0
    assert ppo.PPOArgs(pretrained=None).entropy_coefficient() == 0.01
    assert ppo.PPOArgs(pretrained="p.safetensors", ent_coef=0.05).entropy_coefficient() == 0.05
    with pytest.raises(ValueError, match="--ent-coef"):
        ppo.PPOArgs(ent_coef=-0.5)


def test_ppo_default_policy_and_bad_env(tmp_path) -> None:
    result = ppo.main([*TINY_PPO, "--policy", "default", "--runs-dir", str(tmp_path)])
    assert result["num_timesteps"] >= 32
    with pytest.raises(ValueError, match="registered FPR ids"):
        ppo.main([*TINY_PPO, "--env", "FPR/Nope-v0", "--runs-dir", str(tmp_path)])


def test_ppo_pretrained_from_other_task_names_field(tmp_path) -> None:
    planner = pretrain.main([*TINY_PRETRAIN, "--runs-dir", str(tmp_path / "pre")])
    with pytest.raises(ValueError, match=r"'action_layout'|'family'"):
        ppo.main(
            [
                *TINY_PPO, "--env", "FPR/Sudoku-4x4-v0", "--pretrained", planner["checkpoint"],
                "--runs-dir", str(tmp_path / "ppo"),
            ]
        )  # fmt: skip


def test_pretrain_arc_concepts_family(tmp_path) -> None:
    result = pretrain.main(
        [
            *TINY_PRETRAIN, "--env", "FPR/ARC-Concepts-v0", "--families", "recolour,flip",
            "--runs-dir", str(tmp_path),
        ]
    )  # fmt: skip
    assert 0.0 <= result["metrics"]["fresh"]["cell_accuracy"] <= 1.0
    with pytest.raises(ValueError, match="scale_up"):
        pretrain.main([*TINY_PRETRAIN, "--env", "FPR/ARC-Concepts-v0", "--families", "scale_up"])
