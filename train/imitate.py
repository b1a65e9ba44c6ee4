"""Imitation learning of the planner policy from the envs' oracles: behaviour cloning and DAgger.

Read top to bottom: arguments, seeding, the planner (from scratch, or ``--pretrained``), then the
rounds. Each round plays ``--episodes`` episodes in which every decision follows the oracle
(``env.unwrapped.oracle_action()``) with probability beta and the learner's own greedy, masked
action otherwise; every state visited is labelled with the oracle's action and added to the
aggregated data set (DAgger, Ross et al. 2011; beta 1 in every round is behaviour cloning). Then
``--epochs`` passes over all the data so far: cross-entropy on the planner's masked action logits,
which it computes as PPO's update does (solve to the fixed point without gradient, then
``--grad-iters`` iterations with gradient). After each round the learner plays greedy episodes on
unseen seeds (success to TensorBoard) and the checkpoint is written. Works for any FPR env: they
all have ``oracle_action()`` and ``action_masks()``.

Outputs, in the run folder: ``checkpoint.safetensors`` with its JSON (the planner format of
``train.pretrain``, read by ``train.evaluate`` and by ``train.ppo --pretrained``), and
``checkpoint.zip``, the SB3 model with the planner policy (``MaskablePPO.load`` or ``PPO.load``).

Why not the ``imitation`` package (BC, DAgger on SB3 policies): its release 1.0.1 requires
``stable-baselines3~=2.2.1`` and ``gymnasium~=0.29``; this project runs stable-baselines3 2.9 and
gymnasium 1.x, so using it would mean downgrading both. Its BC also scores an SB3 policy's
``evaluate_actions``, which does not see the action masks.

    python -m train.imitate --config imitate/sudoku4.yaml
    python -m train.imitate --env FPR/Maze-9x9-v0 --rounds 4 --episodes 64 --out runs/maze9-bc
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.vec_env import DummyVecEnv
from torch.nn import functional as F
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from fpr_agents.arguments import UserError, flat_values
from fpr_agents.checkpoints.files import CheckpointError
from fpr_agents.evaluation.rollout import run_episodes
from fpr_agents.policy.models import ALGOS, planner_model
from fpr_agents.policy.planner import PlannerNetwork
from fpr_agents.policy.policies import stack_sizes_from_space
from fpr_agents.reasoner import ReasonerConfig
from fpr_agents.reasoner.config import HALTING_MODES
from train.common import (
    CONFIG_DIR,
    ModelArgs,
    check_env_id,
    cli,
    env_task_description,
    load_planner,
    optimizer_tensors,
    parse_args,
    resolve_device,
    run_folder,
    save_checkpoint,
    save_model_zip,
    seed_everything,
)

BETA_SCHEDULES = ("constant", "linear", "exponential")
# Training episodes draw their seeds from here up: far from train.evaluate's 12345.
_FIRST_TRAIN_SEED = 1_000_000


@dataclass
class ImitateSolverArgs:
    """How the learner solves, and what training back-propagates through."""

    max_iters: int = field(default=64, metadata={"help": "iteration cap per decision"})
    tol: float = field(default=1e-3, metadata={"help": "fixed-point tolerance"})
    halting: str = field(
        default="",
        metadata={
            "help": "halting rule ('': fixed_point from scratch, the checkpoint's with "
            "--pretrained)",
            "choices": ("", *HALTING_MODES),
        },
    )
    grad_iters: int = field(
        default=2, metadata={"help": "iterations with gradient after the fixed point"}
    )

    def __post_init__(self) -> None:
        for name in ("max_iters", "grad_iters"):
            if getattr(self, name) < 1:
                flag = "--" + name.replace("_", "-")
                raise ValueError(f"{flag} must be >= 1, got {getattr(self, name)}")
        if not self.tol >= 0:
            raise ValueError(f"--tol must be >= 0, got {self.tol}")


@dataclass
class DaggerArgs:
    """The rounds: who acts in the episodes, and how many are played."""

    rounds: int = field(default=4, metadata={"help": "rounds of play, label, aggregate, train"})
    episodes: int = field(default=64, metadata={"help": "episodes played per round"})
    beta: float = field(
        default=1.0, metadata={"help": "probability of following the oracle in the first round"}
    )
    beta_schedule: str = field(
        default="exponential",
        metadata={
            "help": "beta over rounds: constant, linear (to 0 in the last round) or "
            "exponential (times --beta-decay per round)",
            "choices": BETA_SCHEDULES,
        },
    )
    beta_decay: float = field(
        default=0.5, metadata={"help": "exponential: beta's factor from one round to the next"}
    )
    parallel: int = field(default=16, metadata={"help": "envs stepped together (one batch)"})

    def __post_init__(self) -> None:
        for name in ("rounds", "episodes", "parallel"):
            if getattr(self, name) < 1:
                flag = "--" + name.replace("_", "-")
                raise ValueError(f"{flag} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.beta <= 1.0:
            raise ValueError(f"--beta must be a probability in [0, 1], got {self.beta}")
        if not 0.0 <= self.beta_decay <= 1.0:
            raise ValueError(f"--beta-decay must be in [0, 1], got {self.beta_decay}")
        if self.beta_schedule not in BETA_SCHEDULES:
            raise ValueError(
                f"--beta-schedule must be one of {BETA_SCHEDULES}, got {self.beta_schedule!r}"
            )

    def beta_at(self, round_index: int) -> float:
        """The probability of following the oracle in a round.

        :param round_index: the round, from 0.
        :return: beta in [0, 1].
        """
        if self.beta_schedule == "constant":
            return self.beta
        if self.beta_schedule == "linear":
            return self.beta * (1.0 - round_index / max(1, self.rounds - 1))
        return self.beta * self.beta_decay**round_index


@dataclass
class ImitateOptimArgs:
    """The optimiser and the passes over the data."""

    epochs: int = field(default=4, metadata={"help": "passes over the aggregated data per round"})
    batch_size: int = field(default=64, metadata={"help": "states per minibatch"})
    learning_rate: float = field(default=1e-3, metadata={"help": "AdamW learning rate"})
    weight_decay: float = field(
        default=0.01, metadata={"help": "AdamW weight decay (not on gates)"}
    )
    grad_clip: float = field(default=1.0, metadata={"help": "gradient norm clip"})

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                flag = "--" + name.replace("_", "-")
                raise ValueError(f"{flag} must be >= 1, got {getattr(self, name)}")
        if not self.learning_rate > 0:
            raise ValueError(f"--learning-rate must be > 0, got {self.learning_rate}")


@dataclass
class ImitateLoggingArgs:
    """Evaluations and the run folder."""

    eval_episodes: int = field(
        default=32, metadata={"help": "greedy episodes of the learner after each round"}
    )
    eval_seed: int = field(default=12345, metadata={"help": "first evaluation episode seed"})
    runs_dir: str = field(default="runs", metadata={"help": "folder of run folders"})
    out: str | None = field(
        default=None,
        metadata={
            "help": "the run folder (checkpoint + SB3 .zip, TensorBoard); must not exist "
            "(none: a new folder under --runs-dir)"
        },
    )
    progress: bool = field(default=True, metadata={"help": "show a progress bar"})

    def __post_init__(self) -> None:
        if self.eval_episodes < 1:
            raise ValueError(f"--eval-episodes must be >= 1, got {self.eval_episodes}")


@dataclass
class ImitateArgs:
    """Arguments of ``python -m train.imitate``: every leaf field is a ``--flag``."""

    config_section = "imitate"
    config_dir = CONFIG_DIR

    env: str = field(default="FPR/Sudoku-4x4-v0", metadata={"help": "env id whose oracle teaches"})
    exp_name: str = field(default="imitate", metadata={"help": "experiment name in the run folder"})
    seed: int = field(default=0, metadata={"help": "seed of everything"})
    device: str = field(default="auto", metadata={"help": "auto (CUDA if present), cpu or cuda"})
    threads: int = field(default=1, metadata={"help": "torch CPU threads"})
    algo: str = field(
        default="maskable_ppo",
        metadata={"help": "the SB3 model of the .zip", "choices": tuple(ALGOS)},
    )
    pretrained: str | None = field(
        default=None,
        metadata={"help": "planner checkpoint (or shipped name) to start from; --model ignored"},
    )
    model: ModelArgs = field(default_factory=ModelArgs)
    solver: ImitateSolverArgs = field(default_factory=ImitateSolverArgs)
    dagger: DaggerArgs = field(default_factory=DaggerArgs)
    optim: ImitateOptimArgs = field(default_factory=ImitateOptimArgs)
    logging: ImitateLoggingArgs = field(default_factory=ImitateLoggingArgs)

    def __post_init__(self) -> None:
        if self.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {self.threads}")
        if self.algo not in ALGOS:
            raise ValueError(f"--algo must be one of {tuple(ALGOS)}, got {self.algo!r}")


class Demonstrations:
    """The aggregated data set: states, their action masks and the oracle's action in each.

    :param keys: the observation keys.
    """

    def __init__(self, keys: Sequence[str]) -> None:
        self.obs: dict[str, list[np.ndarray]] = {key: [] for key in keys}
        self.masks: list[np.ndarray] = []
        self.actions: list[int] = []
        self.seeds: list[int] = []  # the reset seed of each state's episode
        self.rounds: list[int] = []  # the round that visited it

    def __len__(self) -> int:
        return len(self.actions)

    def add(
        self, obs: dict[str, np.ndarray], mask: np.ndarray, action: int, seed: int, round_index: int
    ) -> None:
        """Add one labelled state.

        :param obs: the observation.
        :param mask: (n_actions,) bool, the allowed actions.
        :param action: the oracle's action there.
        :param seed: the reset seed of its episode.
        :param round_index: the round that visited it.
        """
        for key in self.obs:
            self.obs[key].append(np.asarray(obs[key]).copy())
        self.masks.append(np.asarray(mask, dtype=bool).copy())
        self.actions.append(int(action))
        self.seeds.append(int(seed))
        self.rounds.append(int(round_index))

    def state_keys(self, rows: Sequence[int] | None = None) -> list[bytes]:
        """Each state's bytes (its observation arrays joined), to compare states.

        :param rows: the states (None: all).
        :return: one key per state.
        """
        rows = range(len(self)) if rows is None else rows
        return [b"".join(self.obs[key][i].tobytes() for key in sorted(self.obs)) for i in rows]

    def batch(
        self, rows: np.ndarray, device: torch.device
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        """A minibatch as tensors.

        :param rows: (B,) state indices.
        :param device: where to put it.
        :return: observations by key (B, ...), masks (B, n_actions) bool, actions (B,) long.
        """
        obs = {
            key: torch.as_tensor(np.stack([values[i] for i in rows]), device=device)
            for key, values in self.obs.items()
        }
        masks = torch.as_tensor(np.stack([self.masks[i] for i in rows]), device=device)
        actions = torch.as_tensor([self.actions[i] for i in rows], device=device)
        return obs, masks, actions


@torch.no_grad()
def learner_actions(
    planner: PlannerNetwork,
    observations: Sequence[dict[str, np.ndarray]],
    masks: Sequence[np.ndarray],
    device: torch.device,
) -> np.ndarray:
    """The learner's greedy actions among the allowed ones (each state solved cold).

    :param planner: the learner.
    :param observations: one observation per env.
    :param masks: their (n_actions,) bool masks.
    :param device: where the planner runs.
    :return: (B,) actions.
    """
    obs = {
        key: torch.as_tensor(np.stack([o[key] for o in observations]), device=device)
        for key in observations[0]
    }
    mask = torch.as_tensor(np.stack(masks), device=device)
    out = planner(obs, action_mask=mask)
    return out.logits.masked_fill(~mask, float("-inf")).argmax(-1).cpu().numpy()


def _state_key(obs: dict[str, np.ndarray]) -> bytes:
    return b"".join(np.asarray(obs[key]).tobytes() for key in sorted(obs))


def collect(
    envs: Sequence[gym.Env],
    planner: PlannerNetwork,
    seeds: Sequence[int],
    beta: float,
    rng: np.random.Generator,
    data: Demonstrations,
    round_index: int,
    device: torch.device,
) -> dict[str, float]:
    """Play one episode per seed, the envs in lockstep; label every state with the oracle.

    Each decision follows the oracle with probability ``beta``, the learner's greedy action
    otherwise. An episode ends when the env ends it or when a state comes back (the learner went
    round a loop, or made a move the env refused: that state's label is already in the data).

    :param envs: the envs (as many as play at once).
    :param planner: the learner.
    :param seeds: one reset seed per episode.
    :param beta: the probability of following the oracle.
    :param rng: draws who acts at each decision.
    :param data: the data set the labelled states are added to.
    :param round_index: the round, stored with each state.
    :param device: where the planner runs.
    :return: the round's play: states added, the learner's share of the actions, the success rate
        of the episodes, and the share of states reached after an action other than the
        oracle's (states that playing the oracle alone would not visit).
    """
    planner.eval()
    pending = list(seeds)
    slots: list[dict[str, Any] | None] = [None] * len(envs)
    added, learner_moves, off_oracle, successes = 0, 0, 0, []

    def start(slot: int) -> None:
        if not pending:
            slots[slot] = None
            return
        seed = pending.pop(0)
        obs, _ = envs[slot].reset(seed=int(seed))
        slots[slot] = {
            "seed": int(seed), "obs": obs, "visited": {_state_key(obs)}, "deviated": False
        }  # fmt: skip

    for slot in range(len(envs)):
        start(slot)
    while any(s is not None for s in slots):
        active = [i for i, s in enumerate(slots) if s is not None]
        states = [slots[i] for i in active]
        masks, labels = [], []
        for slot, state in zip(active, states, strict=True):
            assert state is not None
            unwrapped: Any = envs[slot].unwrapped  # an FPR env: its oracle and masks
            mask, label = np.asarray(unwrapped.action_masks(), bool), int(unwrapped.oracle_action())
            data.add(state["obs"], mask, label, state["seed"], round_index)
            off_oracle += state["deviated"]
            masks.append(mask)
            labels.append(label)
        added += len(active)
        follow = rng.random(len(active)) < beta
        actions = np.asarray(labels)
        if not follow.all():
            chosen = learner_actions(planner, [s["obs"] for s in states if s], masks, device)
            actions = np.where(follow, actions, chosen)
            learner_moves += int((~follow).sum())
        for k, slot in enumerate(active):
            state = slots[slot]
            assert state is not None
            obs, _, terminated, truncated, info = envs[slot].step(int(actions[k]))
            key = _state_key(obs)
            repeated = key in state["visited"]
            state["visited"].add(key)
            state["obs"] = obs
            state["deviated"] |= int(actions[k]) != labels[k]
            if terminated or truncated or repeated:
                successes.append(bool(info.get("is_success", False)))
                start(slot)
    return {
        "states": float(added),
        "learner_share": learner_moves / max(added, 1),
        "episode_success": float(np.mean(successes)) if successes else float("nan"),
        "off_oracle_share": off_oracle / max(added, 1),
    }


def train_epochs(
    planner: PlannerNetwork,
    optimizer: torch.optim.Optimizer,
    data: Demonstrations,
    args: ImitateArgs,
    rng: np.random.Generator,
    device: torch.device,
    writer: SummaryWriter | None,
    step: int,
) -> tuple[int, dict[str, float]]:
    """``--epochs`` passes over the data: cross-entropy of the oracle's actions under the
    planner's masked action logits (solved to the fixed point, then ``--grad-iters`` with
    gradient, as PPO's update computes them).

    :param planner: the learner.
    :param optimizer: its optimiser.
    :param data: the aggregated data set.
    :param args: the arguments.
    :param rng: draws the minibatches.
    :param device: where to train.
    :param writer: TensorBoard writer (per-step loss and accuracy), or None.
    :param step: optimiser steps done before.
    :return: the optimiser steps done after, and the last epoch's mean loss and accuracy.
    """
    planner.train()
    optim = args.optim
    losses: list[float] = []
    hits: list[float] = []
    for _ in range(optim.epochs):
        order = rng.permutation(len(data))
        losses, hits = [], []
        for first in range(0, len(order), optim.batch_size):
            obs, masks, actions = data.batch(order[first : first + optim.batch_size], device)
            out = planner(obs, grad_iters=args.solver.grad_iters, action_mask=masks)
            logits = out.logits.float().masked_fill(~masks, -1e9)  # (B, n_actions)
            loss = F.cross_entropy(logits, actions)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(planner.parameters(), optim.grad_clip)
            optimizer.step()
            step += 1
            accuracy = float((logits.detach().argmax(-1) == actions).float().mean())
            losses.append(float(loss.detach()))
            hits.append(accuracy)
            if writer is not None:
                writer.add_scalar("imitate/loss", losses[-1], step)
                writer.add_scalar("imitate/accuracy", accuracy, step)
    return step, {"loss": float(np.mean(losses)), "accuracy": float(np.mean(hits))}


def build_planner(args: ImitateArgs, env: gym.Env, device: torch.device) -> PlannerNetwork:
    """The learner: a new planner for ``env`` from ``--model``, or ``--pretrained``'s.

    :param args: the arguments.
    :param env: an env of the task.
    :param device: where to put it.
    :return: the planner, with the solver settings of ``--max-iters``, ``--tol``, ``--halting``.
    :raises UserError: a pretrained planner of another task, or one that acts by a rule.
    """
    task = env_task_description(env)
    solver: dict[str, Any] = {"max_iters": args.solver.max_iters, "tol": args.solver.tol}
    if args.pretrained is None:
        config = ReasonerConfig(
            **args.model.reasoner_fields(), halting=args.solver.halting or "fixed_point", **solver
        )
        stack_sizes = stack_sizes_from_space(env.observation_space, task)
        return PlannerNetwork(task, config, stack_sizes=stack_sizes).to(device)
    planner = load_planner(args.pretrained, device)
    try:
        planner.adapt_to(task)
    except ValueError as error:
        raise UserError(f"--pretrained {args.pretrained}: {error} ({args.env})") from None
    if planner.acts_by_rule:
        raise UserError(
            f"--pretrained {args.pretrained}: this planner's actions come from the ARC action "
            "rule, which has no gradient: imitation has nothing to train (start from scratch, "
            "or from a planner whose shape head is not trained)"
        )
    if args.solver.halting:
        solver["halting"] = args.solver.halting
    planner.set_solver(**solver)
    return planner


def evaluate(planner: PlannerNetwork, args: ImitateArgs, device: torch.device) -> dict[str, float]:
    """Greedy episodes of the learner on unseen seeds (warm start within episodes, as
    ``train.evaluate`` plays them).

    :param planner: the learner.
    :param args: the arguments.
    :param device: where it runs.
    :return: success rate and mean iterations per decision.
    """
    count = args.logging.eval_episodes
    envs = [gym.make(args.env) for _ in range(min(args.dagger.parallel, count))]
    seeds = [args.logging.eval_seed + i for i in range(count)]
    result = run_episodes(planner, envs, seeds, device=device)
    for env in envs:
        env.close()
    return {"success_rate": result.success_rate, "mean_iterations": result.mean_iterations}


def checkpoint_meta(
    args: ImitateArgs, planner: PlannerNetwork, step: int, history: list[dict[str, float]]
) -> dict[str, Any]:
    """The JSON beside a checkpoint, in ``train.pretrain``'s planner format.

    :param args: the run's arguments.
    :param planner: the learner.
    :param step: optimiser steps done.
    :param history: one row of metrics per round played.
    :return: metadata.
    """
    return {
        "kind": "fpr_agents.planner",
        "trainer": "imitate",
        "step": step,
        "args": flat_values(args),
        "reasoner": planner.config_dict(),
        "task_description": planner.task,
        "head_hidden": planner.value_head.net[0].out_features,
        "value_at_agent": planner.value_at_agent,
        "stack_sizes": planner.stack_sizes,
        "metrics": history[-1] if history else {},
        "rounds": history,
        "command": " ".join(["python -m train.imitate", *sys.argv[1:]]),
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Train the planner by imitation of the env's oracle.

    :param argv: command-line arguments (None: ``sys.argv[1:]``).
    :return: the run folder, the checkpoint, its SB3 ``.zip``, the last evaluation's success rate,
        the data set size and every round's metrics.
    """
    args = parse_args(ImitateArgs, argv, __doc__.splitlines()[0])
    check_env_id(args.env)
    log, dagger = args.logging, args.dagger
    run_dir, _ = run_folder(log.out, None, log.runs_dir, args.env, args.exp_name, args.seed)
    device = resolve_device(args.device)
    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    rng = np.random.default_rng(args.seed)  # episodes, who acts, minibatches: all from here
    envs = [gym.make(args.env) for _ in range(min(dagger.parallel, dagger.episodes))]
    try:
        planner = build_planner(args, envs[0], device)
    except (CheckpointError, UserError):
        for env in envs:
            env.close()
        raise
    optimizer = torch.optim.AdamW(
        planner.parameter_groups(), lr=args.optim.learning_rate,
        weight_decay=args.optim.weight_decay,
    )  # fmt: skip
    assert isinstance(envs[0].observation_space, gym.spaces.Dict)
    data = Demonstrations(list(envs[0].observation_space.spaces))
    run_dir.mkdir(parents=True, exist_ok=True)
    writer = SummaryWriter(str(run_dir))
    checkpoint = run_dir / "checkpoint.safetensors"
    history: list[dict[str, float]] = []
    step = 0
    bar = tqdm(total=dagger.rounds, desc="imitate", disable=not log.progress)
    for round_index in range(dagger.rounds):
        beta = dagger.beta_at(round_index)
        seeds = rng.integers(_FIRST_TRAIN_SEED, 2**31 - 1, size=dagger.episodes).tolist()
        play = collect(envs, planner, seeds, beta, rng, data, round_index, device)
        step, fit = train_epochs(planner, optimizer, data, args, rng, device, writer, step)
        evaluation = evaluate(planner, args, device)
        row = {"round": round_index, "beta": beta, "samples": len(data), "step": step,
               **play, **fit, **evaluation}  # fmt: skip
        history.append(row)
        for name, value in row.items():
            if name != "round" and np.isfinite(value):
                writer.add_scalar(f"round/{name}", value, round_index)
        tensors = {f"model.{k}": v for k, v in planner.state_dict().items()}
        tensors.update(optimizer_tensors(optimizer))
        save_checkpoint(checkpoint, tensors, checkpoint_meta(args, planner, step, history))
        bar.update(1)
        bar.write(
            f"round {round_index}: beta {beta:.2f}, {len(data)} states "
            f"({play['off_oracle_share']:.0%} off the oracle's path), loss {fit['loss']:.3f}, "
            f"accuracy {fit['accuracy']:.3f}, success {evaluation['success_rate']:.2f}"
        )
    bar.close()
    writer.close()
    model_zip = run_dir / "checkpoint.zip"
    vec_env = DummyVecEnv([lambda: gym.make(args.env)])
    model = planner_model(
        planner.cpu(), vec_env, args.algo, policy_kwargs={"grad_iters": args.solver.grad_iters},
        seed=args.seed, device="cpu",
    )  # fmt: skip
    save_model_zip(model, model_zip)
    vec_env.close()
    for env in envs:
        env.close()
    return {
        "run_dir": str(run_dir),
        "checkpoint": str(checkpoint),
        "model_zip": str(model_zip),
        "success_rate": history[-1]["success_rate"],
        "samples": len(data),
        "rounds": history,
    }


if __name__ == "__main__":
    result = cli(main)
    print({k: v for k, v in result.items() if k != "rounds"})
