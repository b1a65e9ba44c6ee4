"""PPO (or MaskablePPO) with the fixed-point planner policy, optionally from a pretrained planner.

Read top to bottom: arguments, seeding, vectorised envs, the model (planner policy or SB3's
default ``MultiInputPolicy`` for comparison), callbacks (planning depth to TensorBoard, periodic
evaluation with success rate, atomic safetensors checkpoints), then ``learn``. ``--resume`` picks
up an interrupted run from its last checkpoint.

    python -m train.ppo --config maze.yaml --pretrained fpr_agents/checkpoints/maze.safetensors
"""

from __future__ import annotations

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
from stable_baselines3.common.logger import (
    HumanOutputFormat,
    KVWriter,
    Logger,
    TensorBoardOutputFormat,
)
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv
from torch.utils.tensorboard import SummaryWriter

from fpr_agents.arguments import flat_values
from fpr_agents.policy import (
    CriticWarmupCallback,
    FixedPointPlannerPolicy,
    FrozenReasonerCallback,
    MaskableFixedPointPlannerPolicy,
    PlannerNetwork,
    PlanningDepthCallback,
    PlanningStateCallback,
)
from fpr_agents.policy.models import planner_model
from fpr_agents.reasoner import ReasonerConfig
from train.common import (
    CONFIG_DIR,
    ModelArgs,
    check_env_id,
    cli,
    load_checkpoint,
    load_optimizer_tensors,
    optimizer_tensors,
    parse_args,
    resolve_device,
    run_folder,
    save_checkpoint,
    save_model_zip,
    seed_everything,
    strip_prefix,
)


@dataclass
class PPOSolverArgs:
    """How each decision solves, and what the update back-propagates through."""

    max_iters: int = field(default=64, metadata={"help": "iteration cap per decision"})
    tol: float = field(default=1e-3, metadata={"help": "fixed-point tolerance"})
    grad_iters: int = field(default=2, metadata={"help": "iterations with gradient in updates"})
    warm_start: bool = field(default=True, metadata={"help": "warm-start rollouts from last z"})
    hold_plans: bool = field(
        default=True,
        metadata={
            "help": "a rollout decision whose observation is the one the last action was "
            "expected to give is read from the kept plan without iterating"
        },
    )
    update_resolves: bool = field(
        default=False,
        metadata={
            "help": "the update solves each stored observation again before its iterations "
            "with gradient (off: it starts them from the rollout's fixed point)"
        },
    )
    latent_cache: int = field(
        default=16384,
        metadata={"help": "rollout fixed points kept for the update to start from (0: none)"},
    )
    compile: bool = field(
        default=False,
        metadata={
            "help": "run the reasoner's step through torch.compile (a graph per grid size, "
            "compiled during the first rollouts; eager if compiling fails)"
        },
    )

    def __post_init__(self) -> None:
        if self.latent_cache < 0:
            raise ValueError(f"--latent-cache must be >= 0, got {self.latent_cache}")


@dataclass
class VecEnvArgs:
    """The vectorised training envs."""

    n_envs: int = field(default=4, metadata={"help": "vectorised envs"})
    vec_env: str = field(
        default="dummy", metadata={"help": "how they run", "choices": ("dummy", "subproc")}
    )

    def __post_init__(self) -> None:
        if self.n_envs < 1:
            raise ValueError(f"--n-envs must be >= 1, got {self.n_envs}")


REASONER_UPDATES: tuple[str, ...] = ("auto", "train", "freeze")


@dataclass
class AlgorithmArgs:
    """PPO's own settings (SB3's names)."""

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
    critic_warmup: int = field(
        default=-1,
        metadata={
            "help": "env steps during which only the value head learns (-1: two rollouts "
            "with --pretrained, none without)"
        },
    )
    reasoner_updates: str = field(
        default="auto",
        metadata={
            "help": "whether the updates train the reasoner and its input embedding (freeze: "
            "only the heads learn; auto: freeze with --pretrained, train without)",
            "choices": REASONER_UPDATES,
        },
    )

    def __post_init__(self) -> None:
        if self.ent_coef < 0 and self.ent_coef != -1:
            raise ValueError(f"--ent-coef must be >= 0 or -1 (auto), got {self.ent_coef}")
        if self.critic_warmup < -1:
            raise ValueError(f"--critic-warmup must be >= -1, got {self.critic_warmup}")
        if self.reasoner_updates not in REASONER_UPDATES:
            raise ValueError(
                f"--reasoner-updates must be one of {REASONER_UPDATES}, "
                f"got {self.reasoner_updates!r}"
            )
        if not self.learning_rate > 0:
            raise ValueError(f"--learning-rate must be > 0, got {self.learning_rate}")
        for name in ("total_timesteps", "n_steps", "batch_size", "n_epochs"):
            if getattr(self, name) < 1:
                flag = "--" + name.replace("_", "-")
                raise ValueError(f"{flag} must be >= 1, got {getattr(self, name)}")


@dataclass
class PPOLoggingArgs:
    """Evaluations, checkpoints and the run folder."""

    eval_every: int = field(default=5_000, metadata={"help": "env steps between evaluations"})
    eval_episodes: int = field(default=20, metadata={"help": "episodes per evaluation"})
    checkpoint_every: int = field(default=5_000, metadata={"help": "env steps between checkpoints"})
    runs_dir: str = field(default="runs", metadata={"help": "folder of run folders"})
    out: str | None = field(
        default=None,
        metadata={
            "help": "the run folder (checkpoint + SB3 .zip, TensorBoard, monitors); must not "
            "exist unless it is --resume's own folder (none: a new folder under --runs-dir)"
        },
    )
    resume: str | None = field(
        default=None,
        metadata={"help": "checkpoint to resume from; writes into --out or a new folder"},
    )
    progress: bool = field(default=True, metadata={"help": "show SB3's progress bar"})
    verbose: int = field(default=0, metadata={"help": "SB3 verbosity"})

    def __post_init__(self) -> None:
        for name in ("eval_every", "eval_episodes", "checkpoint_every"):
            if getattr(self, name) < 1:
                flag = "--" + name.replace("_", "-")
                raise ValueError(f"{flag} must be >= 1, got {getattr(self, name)}")


@dataclass
class PPOArgs:
    """Arguments of ``python -m train.ppo``: every leaf field is a ``--flag``."""

    config_section = "ppo"
    config_dir = CONFIG_DIR

    env: str = field(default="FPR/Maze-9x9-v0", metadata={"help": "env id"})
    exp_name: str = field(default="ppo", metadata={"help": "experiment name in the run folder"})
    seed: int = field(default=0, metadata={"help": "seed of everything"})
    device: str = field(default="auto", metadata={"help": "auto (CUDA if present), cpu or cuda"})
    threads: int = field(default=1, metadata={"help": "torch CPU threads"})
    algo: str = field(
        default="ppo", metadata={"help": "the algorithm", "choices": ("ppo", "maskable_ppo")}
    )
    policy: str = field(
        default="planner",
        metadata={"help": "planner, or default (SB3's MLP)", "choices": ("planner", "default")},
    )
    pretrained: str | None = field(
        default=None,
        metadata={"help": "planner checkpoint (or shipped name) to start from; --model ignored"},
    )
    model: ModelArgs = field(default_factory=ModelArgs)
    solver: PPOSolverArgs = field(default_factory=PPOSolverArgs)
    envs: VecEnvArgs = field(default_factory=VecEnvArgs)
    algorithm: AlgorithmArgs = field(default_factory=AlgorithmArgs)
    logging: PPOLoggingArgs = field(default_factory=PPOLoggingArgs)

    def entropy_coefficient(self) -> float:
        """The entropy bonus (``--ent-coef``, with -1 resolved).

        A pretrained planner already plays well, so its advantages are near zero and an entropy
        bonus would be the only steady gradient: it flattens the policy through the shared
        reasoner (measured on 9x9 mazes, from 100% greedy success: after 4,096 steps, 90% of 20
        episodes with 0.01, 100% of 100 with 0).

        :return: the coefficient.
        """
        if self.algorithm.ent_coef >= 0:
            return self.algorithm.ent_coef
        return 0.0 if self.pretrained and self.policy == "planner" else 0.01

    def warmup_steps(self) -> int:
        """Env steps of value-only updates (``--critic-warmup``, with -1 resolved).

        :return: steps; 0 for the default policy.
        """
        if self.policy != "planner":
            return 0
        if self.algorithm.critic_warmup >= 0:
            return self.algorithm.critic_warmup
        return 2 * self.envs.n_envs * self.algorithm.n_steps if self.pretrained else 0

    def freezes_reasoner(self) -> bool:
        """Whether the updates leave the reasoner and its input embedding as they are
        (``--reasoner-updates``, with auto resolved).

        PPO's update back-propagates through a few iterations from each decision's fixed point
        and never sees the long solves after the world changes, which pretraining taught
        (:class:`FrozenReasonerCallback`); a pretrained planner keeps its plan and tunes its
        heads.

        :return: True to freeze; always False for the default policy.
        """
        if self.policy != "planner":
            return False
        if self.algorithm.reasoner_updates == "auto":
            return self.pretrained is not None
        return self.algorithm.reasoner_updates == "freeze"

    def __post_init__(self) -> None:
        if self.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {self.threads}")
        for name in ("algo", "policy"):
            allowed = PPO_CHOICES[name]
            if getattr(self, name) not in allowed:
                raise ValueError(f"--{name} must be one of {allowed}, got {getattr(self, name)!r}")


PPO_CHOICES: dict[str, tuple[str, ...]] = {
    "algo": ("ppo", "maskable_ppo"),
    "policy": ("planner", "default"),
}


def make_envs(args: PPOArgs, n_envs: int, seed: int, monitor_dir: str | None = None) -> VecEnv:
    """Vectorised envs, seeded, each in SB3's ``Monitor``.

    :param args: the arguments.
    :param n_envs: how many.
    :param seed: seed of the first env (the others get seed + i).
    :param monitor_dir: folder of the monitors' ``<i>.monitor.csv`` (episode return, length,
        time and success; appended to on ``--resume``), or None for no files.
    :return: the vector env.
    """
    vec_cls = SubprocVecEnv if args.envs.vec_env == "subproc" else DummyVecEnv
    monitor_kwargs = {
        "info_keywords": ("is_success",),
        "override_existing": not args.logging.resume,
    }
    # "envs:" makes worker processes import the envs package, which registers the FPR ids.
    return make_vec_env(
        f"envs:{args.env}",
        n_envs=n_envs,
        seed=seed,
        vec_env_cls=vec_cls,
        monitor_dir=monitor_dir,
        monitor_kwargs=monitor_kwargs if monitor_dir is not None else None,
    )


def purged_logger(run_dir: Path, step: int, verbose: int) -> Logger:
    """SB3's logger for a run resumed in its own folder: TensorBoard events in the folder's last
    ``ppo_N`` log, with the events logged after ``step`` (before the interruption) purged.

    :param run_dir: the run folder.
    :param step: the resumed checkpoint's env steps.
    :param verbose: SB3 verbosity (stdout output when > 0).
    :return: the logger.
    """
    logs = sorted(run_dir.glob("ppo_*"), key=lambda p: int(p.name.split("_")[-1]))
    folder = logs[-1] if logs else run_dir / "ppo_1"
    board = TensorBoardOutputFormat(str(folder))
    board.writer.close()
    board.writer = SummaryWriter(str(folder), purge_step=step + 1)
    outputs: list[KVWriter] = [board]
    if verbose > 0:
        outputs.append(HumanOutputFormat(sys.stdout))
    return Logger(str(folder), outputs)


def build_model(
    args: PPOArgs, env: VecEnv, tensorboard_log: str | None, device: torch.device | None = None
) -> BaseAlgorithm:
    """The PPO / MaskablePPO model with the chosen policy (weights from --pretrained if given).

    :param args: the arguments.
    :param env: the training envs.
    :param tensorboard_log: TensorBoard folder or None.
    :param device: where to train (None: ``--device`` resolved).
    :return: the model.
    """
    algo_cls = MaskablePPO if args.algo == "maskable_ppo" else PPO
    common: dict[str, Any] = {
        "n_steps": args.algorithm.n_steps,
        "batch_size": args.algorithm.batch_size,
        "n_epochs": args.algorithm.n_epochs,
        "learning_rate": args.algorithm.learning_rate,
        "gamma": args.algorithm.gamma,
        "gae_lambda": args.algorithm.gae_lambda,
        "ent_coef": args.entropy_coefficient(),
        "clip_range": args.algorithm.clip_range,
        "seed": args.seed,
        "device": device if device is not None else resolve_device(args.device),
        "tensorboard_log": tensorboard_log,
        "verbose": args.logging.verbose,
    }
    if args.policy == "default":
        return algo_cls("MultiInputPolicy", env, **common)
    planner_kwargs = {
        "grad_iters": args.solver.grad_iters,
        "warm_start": args.solver.warm_start,
        "latent_cache": args.solver.latent_cache,
        "hold_plans": args.solver.hold_plans,
        "update_resolves": args.solver.update_resolves,
    }
    model = _planner_ppo(args, env, planner_kwargs, common)
    return _compiled(model, args.solver.compile)


def _planner_ppo(
    args: PPOArgs, env: VecEnv, planner_kwargs: dict[str, Any], common: dict[str, Any]
) -> BaseAlgorithm:
    """The model with the planner policy: from ``--pretrained`` if given, else built from the
    model flags.

    :param args: the arguments.
    :param env: the training envs.
    :param planner_kwargs: the planner policy's solver options.
    :param common: the algorithm's keyword arguments.
    :return: the model.
    """
    if args.pretrained is not None:
        solver = {"max_iters": args.solver.max_iters, "tol": args.solver.tol}
        return planner_model(args.pretrained, env, args.algo, solver, planner_kwargs, **common)
    config = ReasonerConfig(
        **args.model.reasoner_fields(), max_iters=args.solver.max_iters, tol=args.solver.tol
    )
    policy_kwargs = {
        "task_description": env.get_attr("task_description")[0],
        "reasoner": asdict(config),
        **planner_kwargs,
    }
    # One call per algorithm: each takes only its own policy class.
    if args.algo == "maskable_ppo":
        return MaskablePPO(
            MaskableFixedPointPlannerPolicy, env, policy_kwargs=policy_kwargs, **common
        )
    return PPO(FixedPointPlannerPolicy, env, policy_kwargs=policy_kwargs, **common)


def _compiled(model: BaseAlgorithm, compile_step: bool) -> BaseAlgorithm:
    """The model, its planner's reasoner step run through ``torch.compile`` if asked
    (``--compile``; :meth:`~fpr_agents.reasoner.core.FixedPointReasoner.compile_step`).

    :param model: a model with the planner policy.
    :param compile_step: compile the step.
    :return: the same model.
    """
    if compile_step:
        planner = model.policy.planner
        assert isinstance(planner, PlannerNetwork)
        planner.reasoner.compile_step()
    return model


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
            "args": flat_values(self.args),
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


def planner_callbacks(args: PPOArgs, log_depth: bool = True) -> list[BaseCallback]:
    """The callbacks a planner policy trains with, in the order they must run: the value head's
    warm-up, the frozen reasoner (after the warm-up's release, before each update), the
    episode-aware planning state and, with ``log_depth``, the planning-depth scalars.

    :param args: the run's arguments.
    :param log_depth: add :class:`PlanningDepthCallback`.
    :return: the callbacks; none for SB3's default policy.
    """
    if args.policy != "planner":
        return []
    callbacks: list[BaseCallback] = [PlanningStateCallback()]
    if log_depth:
        callbacks.append(PlanningDepthCallback())
    if args.freezes_reasoner():
        callbacks.insert(0, FrozenReasonerCallback())
    if args.warmup_steps() > 0:
        callbacks.insert(0, CriticWarmupCallback(args.warmup_steps()))
    return callbacks


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
    log = args.logging
    check_env_id(args.env)
    run_dir, in_place = run_folder(
        log.out, log.resume, log.runs_dir, args.env, args.exp_name, args.seed
    )
    device = resolve_device(args.device)  # a device this machine lacks: refused before writing
    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    env = make_envs(args, args.envs.n_envs, args.seed, str(run_dir / "monitor"))
    eval_env = make_envs(args, 1, args.seed + 10_000)
    model = build_model(args, env, str(run_dir), device)
    if log.resume:
        restore(model, log.resume)
        if in_place:  # the events after the checkpoint's step are dropped, not repeated
            model.set_logger(purged_logger(run_dir, model.num_timesteps, log.verbose))
    eval_cls = MaskableEvalCallback if args.algo == "maskable_ppo" else EvalCallback
    evaluation = eval_cls(
        eval_env,
        n_eval_episodes=args.logging.eval_episodes,
        eval_freq=max(1, args.logging.eval_every // args.envs.n_envs),
        log_path=str(run_dir / "eval"),
        deterministic=True,
        verbose=0,
    )
    checkpoint = SafetensorsCheckpointCallback(
        run_dir / "checkpoint.safetensors", args.logging.checkpoint_every, args
    )
    callbacks = [*planner_callbacks(args), checkpoint, evaluation]
    remaining = max(0, args.algorithm.total_timesteps - model.num_timesteps)
    model.learn(
        remaining,
        callback=CallbackList(callbacks),
        tb_log_name="ppo",
        reset_num_timesteps=not args.logging.resume,
        progress_bar=args.logging.progress,
    )
    checkpoint.save()
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
