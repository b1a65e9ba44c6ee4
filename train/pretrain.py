"""Supervised pretraining of the planner from the environments' oracles.

Read top to bottom: arguments, seeding, data source, planner, optimiser, (resume), then the loop:
for each batch, ``segments`` rounds of deep supervision with truncated back-propagation (a random
number of iterations without gradient, then ``k_grad`` with it, loss on the readout, the latent
carried to the next round). Evaluations solve to the fixed point and report accuracy per
difficulty and iterations. Checkpoints (safetensors + JSON) are written atomically; ``--resume``
continues from one. Under ``torchrun --nproc_per_node=N`` the processes average their gradients
(gloo on CPU, NCCL on GPU).

    python -m train.pretrain --config maze.yaml --total-steps 2000
    torchrun --nproc_per_node=2 -m train.pretrain --config maze.yaml
"""

from __future__ import annotations

import itertools
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from envs.maze_events import EVENT_KINDS
from envs.maze_generators import PERFECT_MAZE_GENERATORS
from fpr_agents.checkpoints import CHECKPOINT_DIR
from fpr_agents.evaluation.metrics import spearman, summarize
from fpr_agents.evaluation.report import bucket_edges, bucket_index
from fpr_agents.policy.planner import ARCHITECTURE_FIELDS as PLANNER_ARCHITECTURE_FIELDS
from fpr_agents.policy.planner import PlannerNetwork
from fpr_agents.reasoner import ReasonerConfig
from fpr_agents.reasoner.config import ARCHITECTURE_FIELDS as REASONER_ARCHITECTURE_FIELDS
from fpr_agents.reasoner.training import truncated_unroll
from train.common import (
    ReasonerShapeArgs,
    check_env_id,
    cli,
    compare_architecture,
    copy_weights,
    load_checkpoint,
    load_optimizer_tensors,
    optimizer_tensors,
    parse_args,
    resolve_device,
    run_name,
    save_checkpoint,
    seed_everything,
    strip_prefix,
)
from train.oracle_data import (
    ORACLES,
    ArcConceptOracle,
    MazeOracle,
    OracleBatch,
    OracleSource,
    SudokuOracle,
    cell_correct,
    set_loss,
    wavefront_cells,
    wavefront_loss,
)


@dataclass
class PretrainArgs(ReasonerShapeArgs):
    """Arguments of ``python -m train.pretrain`` (every field is a ``--flag``)."""

    config_section = "pretrain"

    env: str = field(default="FPR/Maze-v0", metadata={"help": "env id whose oracle teaches"})
    exp_name: str = field(
        default="pretrain", metadata={"help": "experiment name in the run folder"}
    )
    seed: int = field(default=0, metadata={"help": "seed of everything"})
    device: str = field(default="auto", metadata={"help": "auto (CUDA if present), cpu or cuda"})
    threads: int = field(default=1, metadata={"help": "torch CPU threads per process"})
    total_steps: int = field(
        default=2000, metadata={"help": "optimiser steps (batches x segments)"}
    )
    batch_size: int = field(default=32, metadata={"help": "puzzles per batch (per process)"})
    lr: float = field(default=2e-3, metadata={"help": "AdamW learning rate"})
    weight_decay: float = field(
        default=0.01, metadata={"help": "AdamW weight decay (not on gates)"}
    )
    warmup_steps: int = field(default=100, metadata={"help": "linear learning-rate warm-up"})
    grad_clip: float = field(default=1.0, metadata={"help": "gradient norm clip"})
    residual_weight: float = field(
        default=0.0,
        metadata={
            "help": "weight of the fixed-point residual |f(z) - z| penalty at each round's end"
        },
    )
    latent_noise: float = field(
        default=0.0,
        metadata={
            "help": "Gaussian noise added to the latent after every training iteration, "
            "relative to its RMS (0: none)"
        },
    )
    goal_switch: float = field(
        default=0.0,
        metadata={
            "help": "maze: share of batches whose solve starts from the latent of the same mazes "
            "with another goal (the planner learns to overwrite an old plan)"
        },
    )
    switch_iters: int = field(
        default=48, metadata={"help": "maze: most iterations on the other goal (drawn 1..max)"}
    )
    switch_removes: float = field(
        default=0.0,
        metadata={"help": "maze: share of goal switches that start from the maze with no goal"},
    )
    event_switch: float = field(
        default=0.0,
        metadata={
            "help": "maze: share of batches that start from the plan of the maze before a random "
            "event (door closes, shortcut opens, goal moves) and learn the plan after it"
        },
    )
    event_iters: int = field(
        default=128,
        metadata={"help": "with --event-switch: iterations of the plan before the event"},
    )
    event_kinds: str = field(
        default="door,shortcut,goal",
        metadata={"help": "with --event-switch: event kinds drawn from (comma-separated)"},
    )
    wave_speeds: str = field(
        default="",
        metadata={
            "help": "maze: LO,HI cells per iteration: after t iterations supervise the moves "
            "only within LO*t of the goal and ask for no decision beyond HI*t (empty: off)"
        },
    )
    segments: int = field(default=2, metadata={"help": "deep-supervision rounds per batch"})
    n_no_grad_max: int = field(
        default=24, metadata={"help": "most iterations without gradient per round (drawn 0..max)"}
    )
    k_grad: int = field(default=8, metadata={"help": "iterations with gradient per round"})
    min_size: int = field(default=9, metadata={"help": "maze: smallest side"})
    max_size: int = field(default=15, metadata={"help": "maze: largest side"})
    extra_openings: float = field(default=0.1, metadata={"help": "maze: most walls knocked out"})
    far_goals: float = field(
        default=0.0, metadata={"help": "maze: share of goals at an end of a longest path"}
    )
    generators: str = field(
        default="",
        metadata={"help": "maze: generators, comma-separated (empty: the three perfect-maze ones)"},
    )
    min_blanks: int = field(default=10, metadata={"help": "sudoku: fewest blanks"})
    max_blanks: int = field(default=45, metadata={"help": "sudoku: most blanks"})
    families: str = field(
        default="", metadata={"help": "arc: concept families, comma-separated (empty: all)"}
    )
    max_depth: int = field(default=1, metadata={"help": "arc: most transformations composed"})
    curriculum: float = field(
        default=0.3, metadata={"help": "share of steps to reach full difficulty"}
    )
    d_model: int = field(default=48, metadata={"help": "reasoner width"})
    mlp_ratio: float = field(default=2.0, metadata={"help": "SwiGLU width / d_model"})
    gate_init_layer: float = field(default=0.75, metadata={"help": "initial layer-wise gate a1"})
    gate_init_iter: float = field(default=0.25, metadata={"help": "initial iteration-wise gate a2"})
    tol: float = field(default=1e-3, metadata={"help": "fixed-point tolerance at evaluation"})
    patience: int = field(
        default=16, metadata={"help": "FPOPT iterations without progress before damping"}
    )
    max_iters: int = field(default=256, metadata={"help": "iteration cap at evaluation"})
    eval_every: int = field(default=250, metadata={"help": "steps between evaluations"})
    eval_batches: int = field(default=2, metadata={"help": "batches per evaluation"})
    eval_sizes: str = field(default="15,33", metadata={"help": "maze: sides to evaluate on"})
    checkpoint_every: int = field(default=500, metadata={"help": "steps between checkpoints"})
    runs_dir: str = field(default="runs", metadata={"help": "folder of run folders"})
    resume: str | None = field(
        default=None, metadata={"help": "checkpoint (.safetensors) to resume"}
    )
    out: str | None = field(default=None, metadata={"help": "also copy the final checkpoint here"})
    eval_only: bool = field(
        default=False,
        metadata={"help": "with --resume: evaluate the checkpoint on fresh seeds, write nothing"},
    )
    progress: bool = field(default=True, metadata={"help": "show a progress bar"})

    def __post_init__(self) -> None:
        for name in ("total_steps", "batch_size", "segments", "k_grad", "eval_batches", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(
                    f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}"
                )
        if self.lr <= 0:
            raise ValueError(f"--lr must be > 0, got {self.lr}")
        for name in ("goal_switch", "switch_removes"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(
                    f"--{name.replace('_', '-')} must be a share in [0, 1], "
                    f"got {getattr(self, name)}"
                )
        if self.switch_iters < 1:
            raise ValueError(f"--switch-iters must be >= 1, got {self.switch_iters}")
        if not 0.0 <= self.event_switch <= 1.0:
            raise ValueError(f"--event-switch must be a share in [0, 1], got {self.event_switch}")
        if self.event_iters < 1:
            raise ValueError(f"--event-iters must be >= 1, got {self.event_iters}")
        unknown = sorted(set(self.kinds()) - set(EVENT_KINDS)) or ([] if self.kinds() else ["''"])
        if unknown:
            raise ValueError(f"--event-kinds: unknown kinds {unknown}; choose from {EVENT_KINDS}")
        for name in ("residual_weight", "latent_noise", "far_goals"):
            if not getattr(self, name) >= 0:
                raise ValueError(
                    f"--{name.replace('_', '-')} must be >= 0, got {getattr(self, name)}"
                )
        if self.wave() and self.goal_switch > 0:  # wave() also validates --wave-speeds
            raise ValueError(
                "--wave-speeds counts iterations from a zero latent; --goal-switch starts from "
                "another plan's latent: use one or the other"
            )

    def kinds(self) -> tuple[str, ...]:
        """The event kinds of ``--event-kinds``.

        :return: the kinds, in the order given.
        """
        return tuple(kind.strip() for kind in self.event_kinds.split(",") if kind.strip())

    def wave(self) -> tuple[float, float] | None:
        """The wavefront speeds of ``--wave-speeds``.

        :return: (LO, HI) with 0 < LO <= HI, or None when off.
        """
        if not self.wave_speeds.strip():
            return None
        try:
            low, high = (float(v) for v in self.wave_speeds.split(","))
        except ValueError:
            raise ValueError(
                f"--wave-speeds must be two numbers LO,HI, got {self.wave_speeds!r}"
            ) from None
        if not 0 < low <= high or not math.isfinite(high):
            raise ValueError(f"--wave-speeds needs 0 < LO <= HI (finite), got {self.wave_speeds!r}")
        return low, high

    def reasoner_config(self) -> ReasonerConfig:
        """The reasoner's configuration from these arguments.

        :return: a validated ReasonerConfig.
        """
        return ReasonerConfig(
            d_model=self.d_model,
            mlp_ratio=self.mlp_ratio,
            **self.reasoner_shape(),
            gate_init_layer=self.gate_init_layer,
            gate_init_iter=self.gate_init_iter,
            tol=self.tol,
            max_iters=self.max_iters,
            patience=self.patience,
        )


def make_source(args: PretrainArgs) -> OracleSource:
    """The oracle data source for ``args.env``'s family.

    :param args: the arguments.
    :return: the source.
    """
    check_env_id(args.env)
    import gymnasium as gym

    family = gym.make(args.env).unwrapped.task_description["family"]
    if family == "maze":
        return MazeOracle(
            args.env,
            args.min_size,
            args.max_size,
            args.curriculum,
            args.extra_openings,
            args.far_goals,
            tuple(g.strip() for g in args.generators.split(",") if g.strip())
            or PERFECT_MAZE_GENERATORS,
        )
    if family == "sudoku":
        return SudokuOracle(args.env, args.min_blanks, args.max_blanks, args.curriculum)
    if family == "arc":
        families = tuple(f for f in args.families.split(",") if f.strip()) or None
        return ArcConceptOracle(args.env, families, args.max_depth)
    raise ValueError(
        f"pretraining has no oracle data for the {family!r} family yet "
        f"(supported: {sorted(ORACLES)})"
    )


@torch.no_grad()
def switched_start(
    planner: PlannerNetwork,
    source: OracleSource,
    batch: OracleBatch,
    rng: np.random.Generator,
    args: PretrainArgs,
) -> torch.Tensor:
    """A starting latent planned for another goal: the batch's mazes with their goals moved (or,
    for a share ``args.switch_removes`` of them, removed), iterated from zero for 1 to
    ``args.switch_iters`` iterations (drawn once per batch).

    :param planner: the planner being trained.
    :param source: the maze data source.
    :param batch: the batch (on the planner's device).
    :param rng: the source of randomness.
    :param args: the arguments.
    :return: the latent, (B, H, W, d), without gradient.
    """
    assert isinstance(source, MazeOracle)  # checked by main
    device = batch.obs["grid"].device
    moved = source.moved_goals(batch.to(torch.device("cpu")), rng, args.switch_removes)
    other = {k: v.to(device) for k, v in moved.items()}
    x, mask = planner.embed(other)  # (B, H, W, d)
    z = torch.zeros_like(x)
    for _ in range(int(rng.integers(1, args.switch_iters + 1))):
        z = planner.reasoner.step(z, x, mask)
    return z


@torch.no_grad()
def evented_start(
    planner: PlannerNetwork,
    source: OracleSource,
    batch: OracleBatch,
    rng: np.random.Generator,
    args: PretrainArgs,
) -> tuple[OracleBatch, torch.Tensor]:
    """A batch that starts where a planner stands when its world changes: the plan of the mazes
    before a random event each (``args.event_iters`` iterations from zero), and the mazes after
    it with their new plan as the targets (``MazeOracle.after_events``).

    :param planner: the planner being trained.
    :param source: the maze data source.
    :param batch: the batch before the events (on the planner's device).
    :param rng: the source of randomness.
    :param args: the arguments.
    :return: the batch after the events (on the same device) and the starting latent
        (B, H, W, d), without gradient.
    """
    assert isinstance(source, MazeOracle)  # checked by main
    device = batch.obs["grid"].device
    after, _ = source.after_events(batch.to(torch.device("cpu")), rng, args.kinds())
    x, mask = planner.embed(batch.obs)  # (B, H, W, d): the maze before the events
    z = torch.zeros_like(x)
    for _ in range(args.event_iters):
        z = planner.reasoner.step(z, x, mask)
    return after.to(device), z


def residual_penalty(moved: torch.Tensor, still: torch.Tensor | None) -> torch.Tensor:
    """Mean square of one iteration's change over the cells that should hold still.

    :param moved: f(z) - z, (B, H, W, d).
    :param still: (B, H, W) bool, the cells that count, or None for every cell (padding too,
        where the change is zero).
    :return: scalar.
    """
    if still is None:
        return moved.pow(2).mean()
    weight = still.unsqueeze(-1).to(moved.dtype)  # (B, H, W, 1)
    cells = weight.sum().clamp_min(1.0) * moved.shape[-1]
    return (moved.pow(2) * weight).sum() / cells


def learning_rate(args: PretrainArgs, step: int) -> float:
    """Linear warm-up, then cosine decay to a tenth of ``args.lr`` at ``args.total_steps``.

    :param args: the arguments.
    :param step: optimiser steps done.
    :return: the learning rate.
    """
    if step < args.warmup_steps:
        return args.lr * (step + 1) / args.warmup_steps
    span = max(1, args.total_steps - args.warmup_steps)
    progress = min(1.0, (step - args.warmup_steps) / span)
    return args.lr * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress)))


def checkpoint_meta(
    args: PretrainArgs, planner: PlannerNetwork, step: int, metrics: dict[str, Any]
) -> dict[str, Any]:
    """The JSON beside a checkpoint: what it is, how it was made, how well it did.

    :param args: the run's arguments.
    :param planner: the planner.
    :param step: optimiser steps done.
    :param metrics: the last evaluation.
    :return: metadata.
    """
    return {
        "kind": "fpr_agents.planner",
        "step": step,
        "args": asdict(args),
        "reasoner": planner.config_dict(),
        "task_description": planner.task,
        "head_hidden": planner.value_head.net[0].out_features,
        "value_at_agent": planner.value_at_agent,
        "stack_sizes": planner.stack_sizes,
        "metrics": metrics,
        "command": " ".join(["python -m train.pretrain", *sys.argv[1:]]),
    }


@torch.no_grad()
def evaluate(
    planner: PlannerNetwork,
    source: OracleSource,
    batches: list[OracleBatch],
    device: torch.device,
) -> dict[str, Any]:
    """Solve to the fixed point and score the readout.

    :param planner: the planner.
    :param source: the data source (its readout).
    :param batches: evaluation batches.
    :param device: where to compute.
    :return: metrics: cell accuracy, exact (all cells right), maze greedy success, iterations,
        their Spearman correlation with difficulty, converged share.
    """
    planner.eval()
    correct_cells, counted, exact, success = 0, 0, [], []
    sample_accuracy: list[float] = []
    iterations, difficulty, converged = [], [], []
    for batch in batches:
        batch = batch.to(device)
        x, mask = planner.embed(batch.obs)
        result = planner.reasoner.solve(x, mask)
        logits = source.cell_logits(planner, result.z)
        right = cell_correct(logits, batch.optimal) | ~batch.cells
        correct_cells += int((right & batch.cells).sum())
        counted += int(batch.cells.sum())
        exact.extend(right.flatten(1).all(-1).cpu().tolist())
        hits = (right & batch.cells).flatten(1).sum(-1).float()
        sample_accuracy.extend((hits / batch.cells.flatten(1).sum(-1).clamp_min(1)).cpu().tolist())
        if isinstance(source, MazeOracle):
            success.extend(source.greedy_success(logits, batch).tolist())
        iterations.extend(result.iterations.cpu().tolist())
        converged.extend(result.converged.cpu().tolist())
        difficulty.extend(batch.difficulty.cpu().tolist())
    planner.train()
    metrics: dict[str, Any] = {
        "cell_accuracy": correct_cells / max(counted, 1),
        "exact": float(np.mean(exact)),
        "iterations": summarize(iterations),
        "converged": float(np.mean(converged)),
        "spearman_iterations_difficulty": spearman(iterations, difficulty),
    }
    if success:
        metrics["greedy_success"] = float(np.mean(success))
    edges = bucket_edges(difficulty, 4)
    metrics["by_difficulty"] = [
        {
            "low": low,
            "high": high,
            "samples": len(members),
            "cell_accuracy": float(np.mean([sample_accuracy[i] for i in members])),
            "exact": float(np.mean([exact[i] for i in members])),
            "iterations_mean": float(np.mean([iterations[i] for i in members])),
        }
        for b, (low, high) in enumerate(itertools.pairwise(edges))
        if (members := [i for i, d in enumerate(difficulty) if bucket_index(d, edges) == b])
    ]
    return metrics


def eval_batches(args: PretrainArgs, source: OracleSource) -> dict[str, list[OracleBatch]]:
    """Fixed evaluation sets (same seed every time), by name.

    :param args: the arguments.
    :param source: the data source.
    :return: name -> batches.
    """
    rng = np.random.default_rng(10_000 + args.seed)
    if isinstance(source, MazeOracle):
        sizes = [int(s) for s in args.eval_sizes.split(",") if s.strip()]
        return {
            f"size{size}": [
                source.batch_from_sizes([size] * args.batch_size, rng)
                for _ in range(args.eval_batches)
            ]
            for size in sizes
        }
    if isinstance(source, ArcConceptOracle):  # unseen tasks from a fresh canvas: one-shot answers
        return {
            "fresh": [source.batch(args.batch_size, rng, 0.0) for _ in range(args.eval_batches)]
        }
    return {"full": [source.sample(args.batch_size, rng, 1.0) for _ in range(args.eval_batches)]}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run a pretraining.

    :param argv: command-line arguments (None: ``sys.argv[1:]``).
    :return: the final evaluation metrics and the checkpoint path.
    """
    args = parse_args(PretrainArgs, argv, __doc__.splitlines()[0])
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    device = resolve_device(args.device)
    if distributed:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    rank = dist.get_rank() if distributed else 0
    world = dist.get_world_size() if distributed else 1
    torch.set_num_threads(args.threads)
    seed_everything(args.seed)  # same weights on every process

    source = make_source(args)
    wave = args.wave()
    flags = (
        ("--goal-switch", args.goal_switch > 0),
        ("--event-switch", args.event_switch > 0),
        ("--wave-speeds", wave),
    )
    for name, used in flags:
        if used and not isinstance(source, MazeOracle):
            # checked before training, not at the first batch
            raise ValueError(f"{name} is for maze envs, not {source.family!r} ({args.env})")
    tensors, meta = load_checkpoint(args.resume) if args.resume else ({}, {})
    planner = PlannerNetwork(
        source.task_description,
        args.reasoner_config(),
        stack_sizes=source.stack_sizes,
        # a checkpoint from before the option has the pooled value head
        value_at_agent=meta.get("value_at_agent", False) if args.resume else None,
    ).to(device)
    optimizer = torch.optim.AdamW(
        planner.parameter_groups(), lr=args.lr, weight_decay=args.weight_decay
    )
    step = 0
    run_dir = Path(args.runs_dir) / run_name(args.env, args.exp_name, args.seed)
    if args.resume:
        # Only the fields that shape the weights must match; solver settings come from this run.
        stored = asdict(ReasonerConfig(**meta["reasoner"]))  # fields added since: defaults
        built = planner.config_dict()
        compare_architecture(
            {k: built[k] for k in REASONER_ARCHITECTURE_FIELDS},
            {k: stored[k] for k in REASONER_ARCHITECTURE_FIELDS},
            "reasoner config",
        )
        compare_architecture(
            {k: source.task_description.get(k) for k in PLANNER_ARCHITECTURE_FIELDS},
            {k: meta["task_description"].get(k) for k in PLANNER_ARCHITECTURE_FIELDS},
            "task",
        )
        planner.load_state_dict(strip_prefix(tensors, "model."))
        load_optimizer_tensors(optimizer, tensors)
        step = int(meta["step"])
        if Path(args.resume).resolve().parent != CHECKPOINT_DIR.resolve():
            run_dir = Path(args.resume).parent  # a run goes on in its own folder
        # a shipped planner is never written over: its resumed run gets a run folder
    if args.eval_only:
        if not args.resume:
            raise ValueError("--eval-only needs --resume (the checkpoint to evaluate)")
        metrics = {
            name: evaluate(planner, source, b, device)
            for name, b in eval_batches(args, source).items()
        }
        print(f"step {step}: {_brief(metrics)}")
        return {"metrics": metrics, "checkpoint": args.resume, "step": step}
    # Different data on every process, and fresh data after a resume.
    rng = np.random.default_rng([args.seed, rank, step])
    writer = SummaryWriter(str(run_dir)) if rank == 0 else None
    checkpoint_path = run_dir / "checkpoint.safetensors"
    evaluation_sets = eval_batches(args, source)
    metrics: dict[str, Any] = {}

    def save() -> None:
        if rank == 0:
            tensors = {f"model.{k}": v for k, v in planner.state_dict().items()}
            tensors.update(optimizer_tensors(optimizer))
            save_checkpoint(checkpoint_path, tensors, checkpoint_meta(args, planner, step, metrics))

    shown = rank == 0 and args.progress
    progress = tqdm(total=args.total_steps, initial=step, disable=not shown, desc="pretrain")
    while step < args.total_steps:
        batch = source.sample(args.batch_size, rng, step / args.total_steps).to(device)
        z: torch.Tensor | None = None
        iterations = 0  # applied since z was zero
        if args.goal_switch > 0 and rng.random() < args.goal_switch:
            z = switched_start(planner, source, batch, rng, args)
        elif args.event_switch > 0 and rng.random() < args.event_switch:
            batch, z = evented_start(planner, source, batch, rng, args)  # the wave: from it
        for _ in range(args.segments):
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(args, step)
            x, mask = planner.embed(batch.obs)  # (B, H, W, d)
            z = torch.zeros_like(x) if z is None else z
            n_no_grad = int(rng.integers(0, args.n_no_grad_max + 1))
            z = truncated_unroll(
                planner.reasoner, x, mask, z, n_no_grad, args.k_grad, noise=args.latent_noise
            )
            iterations += n_no_grad + args.k_grad
            logits = source.cell_logits(planner, z)  # (B, H, W, C)
            still: torch.Tensor | None = None  # (B, H, W) cells that should hold still; None: all
            if wave:
                distance = batch.extra["distance"].to(device)  # (B, H, W)
                free = batch.obs["grid"] > 0  # (B, H, W): unreachable cells get no decision
                known, unknown = wavefront_cells(distance, iterations, *wave, free=free)
                loss = wavefront_loss(logits, batch.optimal, known, unknown)
                # only the band the wave is crossing may move
                band = (distance > 0) & ~known & ~unknown
                still = ~band if mask is None else mask & ~band
            else:
                loss = set_loss(logits, batch.optimal, batch.cells)
            if args.residual_weight > 0:
                # Teach the planner to hold its answer: the readout state should be a fixed point.
                moved = planner.reasoner.step(z, x, mask) - z  # (B, H, W, d)
                scale = z.detach().pow(2).mean().clamp_min(1e-6)
                loss = loss + args.residual_weight * residual_penalty(moved, still) / scale
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if distributed:
                for param in planner.parameters():
                    if param.grad is not None:
                        dist.all_reduce(param.grad)
                        param.grad /= world
            torch.nn.utils.clip_grad_norm_(planner.parameters(), args.grad_clip)
            optimizer.step()
            z = z.detach()
            step += 1
            progress.update(1)
            if writer is not None:
                writer.add_scalar("pretrain/loss", float(loss.detach()), step)
                accuracy = cell_correct(logits.detach(), batch.optimal)[batch.cells].float().mean()
                writer.add_scalar("pretrain/train_cell_accuracy", float(accuracy), step)
            if step % args.eval_every == 0 or step >= args.total_steps:
                metrics = {
                    name: evaluate(planner, source, b, device)
                    for name, b in evaluation_sets.items()
                }
                if writer is not None:
                    _log_metrics(writer, metrics, step)
                    progress.write(f"step {step}: {_brief(metrics)}")
            if step % args.checkpoint_every == 0 or step >= args.total_steps:
                save()
            if step >= args.total_steps:
                break
    progress.close()
    save()
    if rank == 0 and args.out:
        copy_weights(checkpoint_path, args.out, "model.")
    if writer is not None:
        writer.close()
    if distributed:
        dist.destroy_process_group()
    return {"metrics": metrics, "checkpoint": str(checkpoint_path), "step": step}


def _brief(metrics: dict[str, Any]) -> str:
    parts = []
    for name, values in metrics.items():
        text = f"{name}: acc {values['cell_accuracy']:.3f} exact {values['exact']:.2f}"
        if "greedy_success" in values:
            text += f" success {values['greedy_success']:.2f}"
        text += f" iters {values['iterations']['mean']:.1f} conv {values['converged']:.2f}"
        parts.append(text)
    return " | ".join(parts)


def _log_metrics(writer: SummaryWriter, metrics: dict[str, Any], step: int) -> None:
    for name, values in metrics.items():
        for key, value in values.items():
            if key == "by_difficulty":
                for bucket, row in enumerate(value):
                    writer.add_scalar(
                        f"eval_{name}/accuracy_bucket{bucket}", row["cell_accuracy"], step
                    )
                    writer.add_scalar(
                        f"eval_{name}/iterations_bucket{bucket}", row["iterations_mean"], step
                    )
            elif isinstance(value, dict):
                writer.add_scalar(f"eval_{name}/{key}_mean", value["mean"], step)
            elif isinstance(value, float) and np.isfinite(value):
                writer.add_scalar(f"eval_{name}/{key}", value, step)


if __name__ == "__main__":
    cli(main)
