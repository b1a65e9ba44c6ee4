"""PPO (or MaskablePPO) with the fixed-point planner policy, optionally from a pretrained planner.

Read top to bottom: arguments, seeding, vectorised envs, the model (planner policy or SB3's
default ``MultiInputPolicy`` for comparison), callbacks (planning depth to TensorBoard, periodic
evaluation with success rate, atomic safetensors checkpoints), then ``learn``. ``--resume`` picks
up an interrupted run from its last checkpoint.

    python -m train.ppo --config maze.yaml --pretrained fpr_agents/checkpoints/maze.safetensors
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sb3_contrib import MaskablePPO
from sb3_contrib.common.maskable.callbacks import MaskableEvalCallback
from stable_baselines3 import PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList, EvalCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv

from fpr_agents.policy import (
    CriticWarmupCallback,
    FixedPointPlannerPolicy,
    MaskableFixedPointPlannerPolicy,
    PlanningDepthCallback,
    PlanningStateCallback,
)
from fpr_agents.policy.models import planner_model
from fpr_agents.reasoner import ReasonerConfig
from train.common import (
    ReasonerShapeArgs,
    check_env_id,
    cli,
    copy_weights,
    load_checkpoint,
    load_optimizer_tensors,
    optimizer_tensors,
    parse_args,
    resolve_device,
    run_name,
    save_checkpoint,
    save_model_zip,
    seed_everything,
    strip_prefix,
)


@dataclass
class PPOArgs(ReasonerShapeArgs):
    """Arguments of ``python -m train.ppo`` (every field is a ``--flag``)."""

    config_section = "ppo"

    env: str = field(default="FPR/Maze-9x9-v0", metadata={"help": "env id"})
    exp_name: str = field(default="ppo", metadata={"help": "experiment name in the run folder"})
    seed: int = field(default=0, metadata={"help": "seed of everything"})
    device: str = field(default="auto", metadata={"help": "auto (CUDA if present), cpu or cuda"})
    threads: int = field(default=1, metadata={"help": "torch CPU threads"})
    algo: str = field(default="ppo", metadata={"help": "ppo or maskable_ppo"})
    policy: str = field(default="planner", metadata={"help": "planner or default (SB3's MLP)"})
    n_envs: int = field(default=4, metadata={"help": "vectorised envs"})
    vec_env: str = field(default="dummy", metadata={"help": "dummy or subproc"})
    total_timesteps: int = field(default=20_000, metadata={"help": "env steps to train for"})
    n_steps: int = field(default=128, metadata={"help": "rollout length per env"})
    batch_size: int = field(default=128, metadata={"help": "minibatch size"})
    n_epochs: int = field(default=4, metadata={"help": "epochs per update"})
    learning_rate: float = field(default=3e-4, metadata={"help": "Adam learning rate"})
    gamma: float = field(default=0.99, metadata={"help": "discount"})
    gae_lambda: float = field(default=0.95, metadata={"help": "GAE lambda"})
    ent_coef: float = field(
        default=-1.0,
        metadata={"help": "entropy bonus (-1: 0 with --pretrained, 0.01 without)"},
    )
    clip_range: float = field(default=0.2, metadata={"help": "PPO clip range"})
    pretrained: str | None = field(
        default=None, metadata={"help": "planner checkpoint from train.pretrain to start from"}
    )
    critic_warmup: int = field(
        default=-1,
        metadata={
            "help": "env steps during which only the value head learns (-1: two rollouts "
            "with --pretrained, none without)"
        },
    )
    d_model: int = field(
        default=48, metadata={"help": "reasoner width (ignored with --pretrained)"}
    )
    max_iters: int = field(default=64, metadata={"help": "iteration cap per decision"})
    tol: float = field(default=1e-3, metadata={"help": "fixed-point tolerance"})
    grad_iters: int = field(default=2, metadata={"help": "iterations with gradient in updates"})
    warm_start: bool = field(default=True, metadata={"help": "warm-start rollouts from last z"})
    latent_cache: int = field(
        default=16384,
        metadata={"help": "rollout fixed points kept for the update to start from (0: none)"},
    )
    eval_freq: int = field(default=5_000, metadata={"help": "env steps between evaluations"})
    eval_episodes: int = field(default=20, metadata={"help": "episodes per evaluation"})
    checkpoint_freq: int = field(default=5_000, metadata={"help": "env steps between checkpoints"})
    runs_dir: str = field(default="runs", metadata={"help": "folder of run folders"})
    resume: str | None = field(default=None, metadata={"help": "checkpoint to resume from"})
    out: str | None = field(
        default=None,
        metadata={"help": "also copy the final checkpoint here (and its SB3 .zip beside it)"},
    )
    progress: bool = field(default=True, metadata={"help": "show SB3's progress bar"})
    verbose: int = field(default=0, metadata={"help": "SB3 verbosity"})

    def entropy_coefficient(self) -> float:
        """The entropy bonus (``--ent-coef``, with -1 resolved).

        A pretrained planner already plays well, so its advantages are near zero and an entropy
        bonus would be the only steady gradient: it flattens the policy through the shared
        reasoner (measured on 9x9 mazes, from 100% greedy success: after 4,096 steps, 90% of 20
        episodes with 0.01, 100% of 100 with 0).

        :return: the coefficient.
        """
        if self.ent_coef >= 0:
            return self.ent_coef
        return 0.0 if self.pretrained and self.policy == "planner" else 0.01

    def warmup_steps(self) -> int:
        """Env steps of value-only updates (``--critic-warmup``, with -1 resolved).

        :return: steps; 0 for the default policy.
        """
        if self.policy != "planner":
            return 0
        if self.critic_warmup >= 0:
            return self.critic_warmup
        return 2 * self.n_envs * self.n_steps if self.pretrained else 0

    def __post_init__(self) -> None:
        if self.algo not in ("ppo", "maskable_ppo"):
            raise ValueError(f"--algo must be ppo or maskable_ppo, got {self.algo!r}")
        if self.policy not in ("planner", "default"):
            raise ValueError(f"--policy must be planner or default, got {self.policy!r}")
        if self.vec_env not in ("dummy", "subproc"):
            raise ValueError(f"--vec-env must be dummy or subproc, got {self.vec_env!r}")
        if self.ent_coef < 0 and self.ent_coef != -1:
            raise ValueError(f"--ent-coef must be >= 0 or -1 (auto), got {self.ent_coef}")
        if self.critic_warmup < -1:
            raise ValueError(f"--critic-warmup must be >= -1, got {self.critic_warmup}")
        if self.latent_cache < 0:
            raise ValueError(f"--latent-cache must be >= 0, got {self.latent_cache}")
        for name in ("n_envs", "total_timesteps", "n_steps", "batch_size", "n_epochs"):
            if getattr(self, name) < 1:
                raise ValueError(
                    f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}"
                )


def make_envs(args: PPOArgs, n_envs: int, seed: int, monitor_dir: str | None = None) -> VecEnv:
    """Vectorised envs, seeded, each in SB3's ``Monitor``.

    :param args: the arguments.
    :param n_envs: how many.
    :param seed: seed of the first env (the others get seed + i).
    :param monitor_dir: folder of the monitors' ``<i>.monitor.csv`` (episode return, length,
        time and success; appended to on ``--resume``), or None for no files.
    :return: the vector env.
    """
    vec_cls = SubprocVecEnv if args.vec_env == "subproc" else DummyVecEnv
    monitor_kwargs = {"info_keywords": ("is_success",), "override_existing": not args.resume}
    # "envs:" makes worker processes import the envs package, which registers the FPR ids.
    return make_vec_env(
        f"envs:{args.env}",
        n_envs=n_envs,
        seed=seed,
        vec_env_cls=vec_cls,
        monitor_dir=monitor_dir,
        monitor_kwargs=monitor_kwargs if monitor_dir is not None else None,
    )


def build_model(args: PPOArgs, env: VecEnv, tensorboard_log: str | None) -> BaseAlgorithm:
    """The PPO / MaskablePPO model with the chosen policy (weights from --pretrained if given).

    :param args: the arguments.
    :param env: the training envs.
    :param tensorboard_log: TensorBoard folder or None.
    :return: the model.
    """
    algo_cls = MaskablePPO if args.algo == "maskable_ppo" else PPO
    common = {
        "n_steps": args.n_steps,
        "batch_size": args.batch_size,
        "n_epochs": args.n_epochs,
        "learning_rate": args.learning_rate,
        "gamma": args.gamma,
        "gae_lambda": args.gae_lambda,
        "ent_coef": args.entropy_coefficient(),
        "clip_range": args.clip_range,
        "seed": args.seed,
        "device": resolve_device(args.device),
        "tensorboard_log": tensorboard_log,
        "verbose": args.verbose,
    }
    if args.policy == "default":
        return algo_cls("MultiInputPolicy", env, **common)
    planner_kwargs = {
        "grad_iters": args.grad_iters,
        "warm_start": args.warm_start,
        "latent_cache": args.latent_cache,
    }
    if args.pretrained is not None:
        solver = {"max_iters": args.max_iters, "tol": args.tol}
        return planner_model(args.pretrained, env, args.algo, solver, planner_kwargs, **common)
    config = ReasonerConfig(
        d_model=args.d_model, **args.reasoner_shape(), max_iters=args.max_iters, tol=args.tol
    )
    policy_cls = (
        MaskableFixedPointPlannerPolicy if args.algo == "maskable_ppo" else FixedPointPlannerPolicy
    )
    policy_kwargs = {
        "task_description": env.get_attr("task_description")[0],
        "reasoner": asdict(config),
        **planner_kwargs,
    }
    return algo_cls(policy_cls, env, policy_kwargs=policy_kwargs, **common)


class SafetensorsCheckpointCallback(BaseCallback):
    """Every ``every`` env steps, write the policy and optimiser state atomically (safetensors +
    JSON with the arguments and the step count), loadable without executing code, and the model
    as SB3 saves it (``.zip`` beside it, for ``PPO.load`` / ``MaskablePPO.load``).

    :param path: the checkpoint file.
    :param every: env steps between checkpoints.
    :param args: the run's arguments (stored beside the weights).
    """

    def __init__(self, path: Path, every: int, args: PPOArgs) -> None:
        super().__init__()
        self.path, self.every, self.args = path, every, args
        self._last = 0

    def _on_step(self) -> bool:
        if self.num_timesteps - self._last >= self.every:
            self.save()
        return True

    def save(self) -> None:
        """Write the checkpoint now."""
        self._last = self.num_timesteps
        policy = self.model.policy
        tensors = {f"policy.{k}": v for k, v in policy.state_dict().items()}
        tensors.update(optimizer_tensors(policy.optimizer))
        meta: dict[str, Any] = {
            "kind": "fpr_agents.ppo",
            "num_timesteps": int(self.num_timesteps),
            "args": asdict(self.args),
            "command": " ".join(["python -m train.ppo", *sys.argv[1:]]),
        }
        planner = getattr(policy, "planner", None)
        if planner is not None:  # enough to rebuild the planner alone (train.evaluate)
            meta.update(
                reasoner=planner.config_dict(),
                task_description=planner.task,
                head_hidden=planner.value_head.net[0].out_features,
                value_at_agent=planner.value_at_agent,
                stack_sizes=planner.stack_sizes,
            )
        save_checkpoint(self.path, tensors, meta)
        save_model_zip(self.model, self.path.with_suffix(".zip"))


def restore(model: BaseAlgorithm, path: str) -> None:
    """Load a checkpoint written by :class:`SafetensorsCheckpointCallback` into ``model``.

    :param model: a model built with the same arguments.
    :param path: the checkpoint file.
    """
    tensors, meta = load_checkpoint(path)
    if meta.get("kind") != "fpr_agents.ppo":
        raise ValueError(f"{path} is not a PPO checkpoint (kind={meta.get('kind')!r})")
    policy = model.policy
    state = strip_prefix(tensors, "policy.")
    expected = policy.state_dict()
    for key in sorted(set(expected) | set(state)):
        if key not in state or key not in expected or state[key].shape != expected[key].shape:
            raise ValueError(
                f"{path}: parameter '{key}' does not match this run's architecture "
                f"(checkpoint {tuple(state[key].shape) if key in state else 'missing'}, "
                f"run {tuple(expected[key].shape) if key in expected else 'missing'})"
            )
    policy.load_state_dict(state)
    load_optimizer_tensors(policy.optimizer, tensors)
    model.num_timesteps = int(meta["num_timesteps"])


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Train with PPO.

    :param argv: command-line arguments (None: ``sys.argv[1:]``).
    :return: the run folder, the final checkpoint, its SB3 ``.zip`` and the last evaluation's
        success rate.
    """
    args = parse_args(PPOArgs, argv, __doc__.splitlines()[0])
    check_env_id(args.env)
    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    if args.resume:
        run_dir = Path(args.resume).parent
    else:
        run_dir = Path(args.runs_dir) / run_name(args.env, args.exp_name, args.seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    env = make_envs(args, args.n_envs, args.seed, str(run_dir / "monitor"))
    eval_env = make_envs(args, 1, args.seed + 10_000)
    model = build_model(args, env, str(run_dir))
    if args.resume:
        restore(model, args.resume)
    eval_cls = MaskableEvalCallback if args.algo == "maskable_ppo" else EvalCallback
    evaluation = eval_cls(
        eval_env,
        n_eval_episodes=args.eval_episodes,
        eval_freq=max(1, args.eval_freq // args.n_envs),
        log_path=str(run_dir / "eval"),
        deterministic=True,
        verbose=0,
    )
    checkpoint = SafetensorsCheckpointCallback(
        run_dir / "checkpoint.safetensors", args.checkpoint_freq, args
    )
    callbacks = [checkpoint, evaluation]
    if args.policy == "planner":
        callbacks[:0] = [PlanningStateCallback(), PlanningDepthCallback()]
        if args.warmup_steps() > 0:
            callbacks.insert(0, CriticWarmupCallback(args.warmup_steps()))
    remaining = max(0, args.total_timesteps - model.num_timesteps)
    model.learn(
        remaining,
        callback=CallbackList(callbacks),
        tb_log_name="ppo",
        reset_num_timesteps=not args.resume,
        progress_bar=args.progress,
    )
    checkpoint.save()
    if args.out:
        copy_weights(run_dir / "checkpoint.safetensors", args.out, "policy.")
        shutil.copyfile(run_dir / "checkpoint.zip", Path(args.out).with_suffix(".zip"))
    env.close()
    eval_env.close()
    success = None
    if evaluation.evaluations_successes:
        success = float(np.mean(evaluation.evaluations_successes[-1]))
    return {
        "run_dir": str(run_dir),
        "checkpoint": str(run_dir / "checkpoint.safetensors"),
        "model_zip": str(run_dir / "checkpoint.zip"),
        "success_rate": success,
        "num_timesteps": int(model.num_timesteps),
    }


if __name__ == "__main__":
    print(cli(main))
