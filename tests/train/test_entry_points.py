"""``train.pretrain`` and ``train.ppo`` end to end with tiny budgets, from the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from fpr_agents.arguments import UserError, build
from fpr_agents.policy import PlannerNetwork
from train import ppo, pretrain
from train.common import load_checkpoint, load_planner, parse_args, save_checkpoint

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
    "--eval-every", "16", "--eval-episodes", "1", "--checkpoint-every", "16",
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
    # Without --out a resume writes a new run folder; the first run's checkpoint stays.
    resumed = pretrain.main(
        [
            *TINY_PRETRAIN, "--total-steps", "6", "--max-iters", "12", "--patience", "3",
            "--resume", str(checkpoint), "--out", str(tmp_path / "second"),
        ]
    )  # fmt: skip
    assert resumed["step"] == 6 and resumed["checkpoint"].startswith(str(tmp_path / "second"))
    assert json.loads(checkpoint.with_suffix(".json").read_text())["step"] == 4
    meta = json.loads((tmp_path / "second" / "checkpoint.json").read_text())
    assert meta["step"] == 6
    assert meta["reasoner"]["max_iters"] == 12 and meta["reasoner"]["patience"] == 3
    second = tmp_path / "second" / "checkpoint.safetensors"
    before = second.stat().st_mtime_ns
    evaluated = pretrain.main([*TINY_PRETRAIN, "--resume", str(second), "--eval-only"])
    assert evaluated["step"] == 6 and "size9" in evaluated["metrics"]
    assert second.stat().st_mtime_ns == before  # nothing written


def _scalar_steps(run_dir: Path, tag: str) -> list[int]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    # the folder as TensorBoard reads it: every events file in order, purges applied
    accumulator = EventAccumulator(str(run_dir))
    accumulator.Reload()
    return [event.step for event in accumulator.Scalars(tag)]


def test_pretrain_resumed_in_place_does_not_repeat_tensorboard_steps(tmp_path) -> None:
    run = tmp_path / "run"
    # checkpoints every 2 steps: the run's last checkpoint is at step 4, its events go to 5
    pretrain.main([*TINY_PRETRAIN, "--total-steps", "5", "--checkpoint-every", "4",
                   "--out", str(run)])  # fmt: skip
    checkpoint = run / "checkpoint.safetensors"
    assert json.loads(checkpoint.with_suffix(".json").read_text())["step"] == 5
    # a crash after step 4's checkpoint: write the step-4 state back, as if 5 never finished
    tensors, meta = load_checkpoint(checkpoint)
    save_checkpoint(checkpoint, tensors, {**meta, "step": 4})
    pretrain.main([*TINY_PRETRAIN, "--total-steps", "7", "--resume", str(checkpoint),
                   "--out", str(run)])  # fmt: skip
    assert sorted(_scalar_steps(run, "pretrain/loss")) == [1, 2, 3, 4, 5, 6, 7]


def test_pretrain_refuses_an_existing_out_folder_before_training(tmp_path) -> None:
    (tmp_path / "taken").mkdir()
    with pytest.raises(UserError, match="already exists"):
        pretrain.main([*TINY_PRETRAIN, "--out", str(tmp_path / "taken")])
    assert list((tmp_path / "taken").iterdir()) == []


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
    resumed = pretrain.main(
        [*TINY_PRETRAIN, "--total-steps", "6", "--resume", str(checkpoint), "--runs-dir",
         str(tmp_path / "resumed")]
    )  # fmt: skip
    assert resumed["step"] == 6
    assert load_planner(resumed["checkpoint"]).value_at_agent is False


def test_pretrain_resume_keeps_the_checkpoints_architecture(tmp_path) -> None:
    first = pretrain.main([*TINY_PRETRAIN, "--runs-dir", str(tmp_path)])  # d_model 16
    # A model flag left at its default (d_model 64) takes the checkpoint's value.
    tiny_default_width = [a for a in TINY_PRETRAIN if a not in ("--d-model", "16")]
    resumed = pretrain.main(
        [*tiny_default_width, "--total-steps", "6", "--resume", first["checkpoint"],
         "--runs-dir", str(tmp_path / "resumed")]
    )  # fmt: skip
    meta = json.loads(Path(resumed["checkpoint"]).with_suffix(".json").read_text())
    assert meta["reasoner"]["d_model"] == 16 and meta["args"]["d_model"] == 16
    # One set to another value than the checkpoint's is refused, naming the flag.
    with pytest.raises(UserError, match="--d-model 32 differs from the checkpoint's 16"):
        pretrain.main([*TINY_PRETRAIN, "--d-model", "32", "--resume", first["checkpoint"]])
    with pytest.raises(UserError, match="--mlp-kernel 3 differs from the checkpoint's 1"):
        pretrain.main([*TINY_PRETRAIN, "--mlp-kernel", "3", "--resume", first["checkpoint"]])


def _trained_weights(tmp_path: Path, name: str, *extra: str) -> dict[str, torch.Tensor]:
    result = pretrain.main([*TINY_PRETRAIN, *extra, "--out", str(tmp_path / name)])
    return load_checkpoint(result["checkpoint"])[0]


def _differ(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return any(not torch.equal(a[k], b[k]) for k in a)


def test_each_named_component_changes_what_is_trained(tmp_path) -> None:
    plain = _trained_weights(tmp_path, "plain")
    assert not _differ(plain, _trained_weights(tmp_path, "again"))  # same seed, same weights
    variants = {
        "latent noise": ["--regularisers", "latent_noise", "--latent-noise", "0.3"],
        "residual": ["--regularisers", "residual", "--residual-weight", "0.5"],
        "wavefront": ["--objective", "wavefront", "--wave-speeds", "1,3"],
        "goal switch": ["--starts", "goal_switch", "--goal-switch", "1.0", "--switch-iters", "3",
                        "--switch-removes", "0.5"],
        "event switch": ["--starts", "event_switch", "--event-switch", "1.0", "--event-iters",
                         "3", "--event-kinds", "door,goal"],
    }  # fmt: skip
    for name, extra in variants.items():
        assert _differ(plain, _trained_weights(tmp_path, name.replace(" ", "_"), *extra)), name
    meta = json.loads((tmp_path / "event_switch" / "checkpoint.json").read_text())
    assert meta["args"]["starts"] == ["event_switch"] and meta["args"]["event_switch"] == 1.0


def test_maze_only_components_are_refused_elsewhere_before_training(tmp_path) -> None:
    sudoku = [*TINY_PRETRAIN, "--env", "FPR/Sudoku-4x4-v0", "--min-blanks", "2",
              "--max-blanks", "6"]  # fmt: skip
    for extra, named in (
        (["--starts", "goal_switch", "--goal-switch", "0.01"], "--starts goal_switch"),
        (["--starts", "event_switch"], "--starts event_switch"),
        (["--objective", "wavefront"], "--objective wavefront"),
    ):
        with pytest.raises(UserError, match=f"{named} is for maze envs, not the 'sudoku'"):
            pretrain.main([*sudoku, *extra, "--out", str(tmp_path / "s")])
        assert not (tmp_path / "s").exists()


def test_a_parameter_of_an_unselected_component_is_refused() -> None:
    for extra, named in (
        (["--wave-speeds", "1,3"], "--objective wavefront"),
        (["--residual-weight", "0.5"], "--regularisers residual"),
        (["--event-iters", "3"], "--starts event_switch"),
    ):
        with pytest.raises(SystemExit):
            parse_args(pretrain.PretrainArgs, extra, "t")
        args = parse_args(pretrain.PretrainArgs, [*extra, *named.split()], "t")
        assert args.loss.components() is not None


def test_resuming_a_shipped_planner_writes_a_new_run_folder(tmp_path) -> None:
    from fpr_agents.checkpoints import CHECKPOINT_DIR

    before = sorted(p.name for p in CHECKPOINT_DIR.iterdir())
    result = pretrain.main(
        [
            "--config", "planners/maze_mixed.yaml",
            "--resume", str(CHECKPOINT_DIR / "maze_mixed.safetensors"),
            "--total-steps", "3001", "--batch-size", "2", "--segments", "1", "--n-no-grad-max", "1",
            "--k-grad", "1", "--eval-every", "100000", "--eval-batches", "1", "--eval-sizes", "9",
            "--max-size", "9", "--progress", "false", "--runs-dir", str(tmp_path),
        ]
    )  # fmt: skip
    assert str(tmp_path) in result["checkpoint"]
    assert sorted(p.name for p in CHECKPOINT_DIR.iterdir()) == before
    with pytest.raises(UserError, match="never written to"):
        pretrain.main(["--resume", str(CHECKPOINT_DIR / "maze_mixed.safetensors"),
                       "--out", str(CHECKPOINT_DIR)])  # fmt: skip


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
            "--total-timesteps", "48", "--resume", str(checkpoint), "--out", str(run_dir),
        ]
    )  # fmt: skip
    assert resumed["num_timesteps"] >= 48 and resumed["run_dir"] == str(run_dir)
    (log,) = run_dir.glob("ppo_*")  # the same TensorBoard log, events after 32 purged
    steps = sorted({s for s in _scalar_steps(log, "time/fps")})
    assert steps and max(steps) >= 48


def test_ppo_critic_warmup_resolves_and_rejects_bad_values() -> None:
    assert (
        build(
            ppo.PPOArgs, {"n_envs": 2, "n_steps": 8, "pretrained": "p.safetensors"}
        ).warmup_steps()
        == 32
    )
    assert build(ppo.PPOArgs, {"pretrained": None}).warmup_steps() == 0
    assert build(ppo.PPOArgs, {"critic_warmup": 100}).warmup_steps() == 100
    assert build(ppo.PPOArgs, {"policy": "default", "critic_warmup": 100}).warmup_steps() == 0
    with pytest.raises(ValueError, match="--critic-warmup"):
        build(ppo.PPOArgs, {"critic_warmup": -2})
    with pytest.raises(ValueError, match="--latent-cache must be >= 0, got -1"):
        build(ppo.PPOArgs, {"latent_cache": -1})


def test_ppo_freezes_a_pretrained_planners_reasoner_unless_asked() -> None:
    assert build(ppo.PPOArgs, {"pretrained": "p.safetensors"}).freezes_reasoner()
    assert not build(ppo.PPOArgs, {"pretrained": None}).freezes_reasoner()
    train = {"pretrained": "p.safetensors", "reasoner_updates": "train"}
    assert not build(ppo.PPOArgs, train).freezes_reasoner()
    assert build(ppo.PPOArgs, {"reasoner_updates": "freeze"}).freezes_reasoner()
    assert not build(
        ppo.PPOArgs, {"policy": "default", "reasoner_updates": "freeze"}
    ).freezes_reasoner()
    with pytest.raises(ValueError, match="--reasoner-updates must be one of"):
        build(ppo.PPOArgs, {"reasoner_updates": "thaw"})


def test_ppo_planner_callbacks_run_warmup_then_freeze_then_planning_state() -> None:
    pretrained = build(ppo.PPOArgs, {"pretrained": "p.safetensors"})
    names = [type(c).__name__ for c in ppo.planner_callbacks(pretrained)]
    assert names == [
        "CriticWarmupCallback",
        "FrozenReasonerCallback",
        "PlanningStateCallback",
        "PlanningDepthCallback",
    ]
    scratch = build(ppo.PPOArgs, {"pretrained": None})
    names = [type(c).__name__ for c in ppo.planner_callbacks(scratch, log_depth=False)]
    assert names == ["PlanningStateCallback"]
    assert ppo.planner_callbacks(build(ppo.PPOArgs, {"policy": "default"})) == []


def test_ppo_entropy_bonus_is_off_for_a_pretrained_planner_unless_asked() -> None:
    assert build(ppo.PPOArgs, {"pretrained": "p.safetensors"}).entropy_coefficient() == 0.0
    assert build(ppo.PPOArgs, {"pretrained": None}).entropy_coefficient() == 0.01
    assert (
        build(ppo.PPOArgs, {"pretrained": "p.safetensors", "ent_coef": 0.05}).entropy_coefficient()
        == 0.05
    )
    with pytest.raises(ValueError, match="--ent-coef"):
        build(ppo.PPOArgs, {"ent_coef": -0.5})


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
