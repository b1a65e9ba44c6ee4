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
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from envs.maze_events import EVENT_KINDS
from envs.maze_generators import PERFECT_MAZE_GENERATORS
from fpr_agents.arguments import UserError, flat_values, recipe_stages
from fpr_agents.evaluation.metrics import spearman, summarize
from fpr_agents.evaluation.report import bucket_edges, bucket_index
from fpr_agents.policy.planner import ARCHITECTURE_FIELDS as PLANNER_ARCHITECTURE_FIELDS
from fpr_agents.policy.planner import PlannerNetwork
from fpr_agents.reasoner import ReasonerConfig
from fpr_agents.reasoner.config import ARCHITECTURE_FIELDS as REASONER_ARCHITECTURE_FIELDS
from fpr_agents.reasoner.training import truncated_unroll
from train.arc_data import ArcTaskOracle
from train.common import (
    CONFIG_DIR,
    ModelArgs,
    check_env_id,
    cli,
    compare_architecture,
    env_task_description,
    load_checkpoint,
    load_optimizer_tensors,
    optimizer_tensors,
    parse_args,
    resolve_device,
    run_folder,
    save_checkpoint,
    seed_everything,
    strip_prefix,
)
from train.objectives import OBJECTIVES, REGULARISERS, STARTS, Components, build_components
from train.oracle_data import (
    ORACLES,
    ArcConceptOracle,
    MazeOracle,
    OracleBatch,
    OracleSource,
    SudokuOracle,
    cell_correct,
)

# A component's parameters, and the (flag, name) that selects the component.
COMPONENT_OF: dict[str, tuple[str, str]] = {
    "wave_speeds": ("objective", "wavefront"),
    "residual_weight": ("regularisers", "residual"),
    "latent_noise": ("regularisers", "latent_noise"),
    "goal_switch": ("starts", "goal_switch"),
    "switch_iters": ("starts", "goal_switch"),
    "switch_removes": ("starts", "goal_switch"),
    "event_switch": ("starts", "event_switch"),
    "event_iters": ("starts", "event_switch"),
    "event_kinds": ("starts", "event_switch"),
}


@dataclass
class SolverArgs:
    """How the evaluations solve (halting at the fixed point)."""

    tol: float = field(default=1e-3, metadata={"help": "fixed-point tolerance at evaluation"})
    patience: int = field(
        default=16, metadata={"help": "FPOPT iterations without progress before damping"}
    )
    max_iters: int = field(default=256, metadata={"help": "iteration cap at evaluation"})


@dataclass
class DataArgs:
    """What the oracle draws (each field is used by the family it names)."""

    min_size: int = field(default=9, metadata={"help": "maze: smallest side"})
    max_size: int = field(default=15, metadata={"help": "maze: largest side"})
    extra_openings: float = field(default=0.1, metadata={"help": "maze: most walls knocked out"})
    far_goals: float = field(
        default=0.0, metadata={"help": "maze: share of goals at an end of a longest path"}
    )
    generators: tuple[str, ...] = field(
        default=(), metadata={"help": "maze: generators (empty: the three perfect-maze ones)"}
    )
    one_size_per_batch: bool = field(
        default=False,
        metadata={"help": "maze: one side per batch, so no maze is padded (fewer FLOPs)"},
    )
    min_blanks: int = field(default=10, metadata={"help": "sudoku: fewest blanks"})
    max_blanks: int = field(default=45, metadata={"help": "sudoku: most blanks"})
    families: tuple[str, ...] = field(
        default=(), metadata={"help": "arc: concept families (empty: all)"}
    )
    max_depth: int = field(default=1, metadata={"help": "arc: most transformations composed"})
    arc_tasks: tuple[str, ...] = field(
        default=(),
        metadata={
            "help": "arc: real task splits or folders whose demonstrations to train on, each "
            "held out in turn, augmented (empty: concept tasks only)"
        },
    )
    concept_share: float = field(
        default=0.25, metadata={"help": "arc, with --arc-tasks: share of concept tasks per batch"}
    )
    curriculum: float = field(
        default=0.3, metadata={"help": "share of steps to reach full difficulty"}
    )

    def __post_init__(self) -> None:
        if not self.far_goals >= 0:
            raise ValueError(f"--far-goals must be >= 0, got {self.far_goals}")


@dataclass
class LossArgs:
    """Deep supervision, the objective, its regularisers and the starting latents, by name."""

    segments: int = field(default=2, metadata={"help": "deep-supervision rounds per batch"})
    n_no_grad_max: int = field(
        default=24, metadata={"help": "most iterations without gradient per round (drawn 0..max)"}
    )
    k_grad: int = field(default=8, metadata={"help": "iterations with gradient per round"})
    objective: str = field(
        default="set",
        metadata={
            "help": "set: every cell against its right answers; wavefront (maze): supervise a "
            "cell once a wave from the goal has reached it (--wave-speeds)",
            "choices": OBJECTIVES,
        },
    )
    wave_speeds: tuple[float, ...] = field(
        default=(1.5, 3.0),
        metadata={
            "help": "wavefront: LO,HI cells per iteration: after t iterations supervise the "
            "moves within LO*t of the goal and ask for no decision beyond HI*t"
        },
    )
    regularisers: tuple[str, ...] = field(
        default=(),
        metadata={
            "help": "terms added to the objective: residual (the readout state should be a fixed "
            "point; --residual-weight), latent_noise (noise in the unroll; --latent-noise)",
            "choices": REGULARISERS,
        },
    )
    residual_weight: float = field(
        default=0.5, metadata={"help": "residual: weight of the |f(z) - z| penalty"}
    )
    latent_noise: float = field(
        default=0.3,
        metadata={"help": "latent_noise: Gaussian noise per iteration, relative to the latent RMS"},
    )
    starts: tuple[str, ...] = field(
        default=(),
        metadata={
            "help": "maze: starting latents other than zero: goal_switch (the plan of another "
            "goal), event_switch (the plan before a door closes, a shortcut opens, the goal moves)",
            "choices": STARTS,
        },
    )
    goal_switch: float = field(
        default=0.5, metadata={"help": "goal_switch: share of batches that start so"}
    )
    switch_iters: int = field(
        default=48, metadata={"help": "goal_switch: most iterations on the other goal"}
    )
    switch_removes: float = field(
        default=0.0, metadata={"help": "goal_switch: share of switches to a maze with no goal"}
    )
    event_switch: float = field(
        default=0.5, metadata={"help": "event_switch: share of batches that start so"}
    )
    event_iters: int = field(
        default=128, metadata={"help": "event_switch: iterations of the plan before the event"}
    )
    event_kinds: tuple[str, ...] = field(
        default=("door", "shortcut", "goal"),
        metadata={"help": "event_switch: event kinds drawn from", "choices": EVENT_KINDS},
    )

    def __post_init__(self) -> None:
        for name in ("segments", "k_grad"):
            if getattr(self, name) < 1:
                flag = "--" + name.replace("_", "-")
                raise ValueError(f"{flag} must be >= 1, got {getattr(self, name)}")
        self.components()  # validates names and parameters

    def components(self, family: str | None = None) -> Components:
        """The named components these arguments select.

        :param family: the data's family, to refuse maze-only components elsewhere (None: skip).
        :return: the components.
        """
        return build_components(
            self.objective,
            self.regularisers,
            self.starts,
            wave_speeds=self.wave_speeds,
            residual_weight=self.residual_weight,
            latent_noise=self.latent_noise,
            goal_switch=self.goal_switch,
            switch_iters=self.switch_iters,
            switch_removes=self.switch_removes,
            event_switch=self.event_switch,
            event_iters=self.event_iters,
            event_kinds=self.event_kinds,
            family=family,
        )


@dataclass
class OptimArgs:
    """The optimiser and the length of the run."""

    total_steps: int = field(
        default=2000, metadata={"help": "optimiser steps (batches x segments)"}
    )
    batch_size: int = field(default=32, metadata={"help": "puzzles per batch (per process)"})
    learning_rate: float = field(default=2e-3, metadata={"help": "AdamW learning rate"})
    weight_decay: float = field(
        default=0.01, metadata={"help": "AdamW weight decay (not on gates)"}
    )
    warmup_steps: int = field(default=100, metadata={"help": "linear learning-rate warm-up"})
    grad_clip: float = field(default=1.0, metadata={"help": "gradient norm clip"})

    def __post_init__(self) -> None:
        for name in ("total_steps", "batch_size"):
            if getattr(self, name) < 1:
                flag = "--" + name.replace("_", "-")
                raise ValueError(f"{flag} must be >= 1, got {getattr(self, name)}")
        if not self.learning_rate > 0:
            raise ValueError(f"--learning-rate must be > 0, got {self.learning_rate}")


@dataclass
class LoggingArgs:
    """Evaluations, checkpoints and the run folder."""

    eval_every: int = field(default=250, metadata={"help": "steps between evaluations"})
    eval_batches: int = field(default=2, metadata={"help": "batches per evaluation"})
    eval_sizes: tuple[int, ...] = field(
        default=(15, 33), metadata={"help": "maze: sides to evaluate on"}
    )
    checkpoint_every: int = field(default=500, metadata={"help": "steps between checkpoints"})
    runs_dir: str = field(default="runs", metadata={"help": "folder of run folders"})
    out: str | None = field(
        default=None,
        metadata={
            "help": "the run folder (checkpoint, TensorBoard events); must not exist unless it is "
            "--resume's own folder (none: a new folder under --runs-dir)"
        },
    )
    resume: str | None = field(
        default=None,
        metadata={"help": "checkpoint (.safetensors) to resume; writes into --out or a new folder"},
    )
    eval_only: bool = field(
        default=False,
        metadata={"help": "with --resume: evaluate the checkpoint on fresh seeds, write nothing"},
    )
    progress: bool = field(default=True, metadata={"help": "show a progress bar"})

    def __post_init__(self) -> None:
        if self.eval_batches < 1:
            raise ValueError(f"--eval-batches must be >= 1, got {self.eval_batches}")


@dataclass
class PretrainArgs:
    """Arguments of ``python -m train.pretrain``: every leaf field is a ``--flag``."""

    config_section = "pretrain"
    config_dir = CONFIG_DIR

    env: str = field(default="FPR/Maze-v0", metadata={"help": "env id whose oracle teaches"})
    exp_name: str = field(
        default="pretrain", metadata={"help": "experiment name in the run folder"}
    )
    seed: int = field(default=0, metadata={"help": "seed of everything"})
    device: str = field(default="auto", metadata={"help": "auto (CUDA if present), cpu or cuda"})
    threads: int = field(default=1, metadata={"help": "torch CPU threads per process"})
    compile: bool = field(
        default=False,
        metadata={
            "help": "run the reasoner's step through torch.compile (a graph per grid size, "
            "compiled at its first batch; eager, with a warning, where compiling fails)"
        },
    )
    model: ModelArgs = field(default_factory=ModelArgs)
    solver: SolverArgs = field(default_factory=SolverArgs)
    data: DataArgs = field(default_factory=DataArgs)
    loss: LossArgs = field(default_factory=LossArgs)
    optim: OptimArgs = field(default_factory=OptimArgs)
    logging: LoggingArgs = field(default_factory=LoggingArgs)

    def __post_init__(self) -> None:
        if self.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {self.threads}")

    def check_given(self, given: frozenset[str]) -> None:
        """Refuse a component's parameter set while the component is not selected (it would be
        silently unused).

        :param given: the fields the recipe or the command line set.
        :raises ValueError: naming the flag and the selection it needs.
        """
        loss = self.loss
        selected = {loss.objective, *loss.regularisers, *loss.starts}
        for name in sorted(given):
            needs = COMPONENT_OF.get(name)
            if needs is not None and needs[1] not in selected:
                raise ValueError(
                    f"--{name.replace('_', '-')} is a parameter of {needs[0]} {needs[1]}, which "
                    f"this run does not use (add --{needs[0]} {needs[1]})"
                )

    def reasoner_config(self) -> ReasonerConfig:
        """The reasoner's configuration from these arguments.

        :return: a validated ReasonerConfig.
        """
        return ReasonerConfig(
            **self.model.reasoner_fields(),
            tol=self.solver.tol,
            max_iters=self.solver.max_iters,
            patience=self.solver.patience,
        )


def make_source(args: PretrainArgs) -> OracleSource:
    """The oracle data source for ``args.env``'s family.

    :param args: the arguments.
    :return: the source.
    """
    check_env_id(args.env)
    import gymnasium as gym

    family = env_task_description(gym.make(args.env))["family"]
    data = args.data
    if family == "maze":
        return MazeOracle(
            args.env,
            data.min_size,
            data.max_size,
            data.curriculum,
            data.extra_openings,
            data.far_goals,
            data.generators or PERFECT_MAZE_GENERATORS,
            data.one_size_per_batch,
        )
    if family == "sudoku":
        return SudokuOracle(args.env, data.min_blanks, data.max_blanks, data.curriculum)
    if family == "arc" and data.arc_tasks:
        try:
            return ArcTaskOracle(
                args.env, data.arc_tasks, data.concept_share, data.families or None, data.max_depth
            )
        except ValueError as error:
            raise UserError(f"--arc-tasks {','.join(data.arc_tasks)}: {error}") from None
    if family == "arc":
        return ArcConceptOracle(args.env, data.families or None, data.max_depth)
    raise ValueError(
        f"pretraining has no oracle data for the {family!r} family yet "
        f"(supported: {sorted(ORACLES)})"
    )


def learning_rate(args: PretrainArgs, step: int) -> float:
    """Linear warm-up, then cosine decay to a tenth of ``args.lr`` at ``args.total_steps``.

    :param args: the arguments.
    :param step: optimiser steps done.
    :return: the learning rate.
    """
    optim = args.optim
    if step < optim.warmup_steps:
        return optim.learning_rate * (step + 1) / optim.warmup_steps
    span = max(1, optim.total_steps - optim.warmup_steps)
    progress = min(1.0, (step - optim.warmup_steps) / span)
    return optim.learning_rate * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress)))


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
        "args": flat_values(args),
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
    size, count = args.optim.batch_size, args.logging.eval_batches
    if isinstance(source, MazeOracle):
        return {
            f"size{side}": [source.batch_from_sizes([side] * size, rng) for _ in range(count)]
            for side in args.logging.eval_sizes
        }
    if isinstance(source, ArcConceptOracle):  # unseen tasks from a fresh canvas: one-shot answers
        return {"fresh": [source.batch(size, rng, 0.0) for _ in range(count)]}
    return {"full": [source.sample(size, rng, 1.0) for _ in range(count)]}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run a pretraining; a recipe with ``stages`` runs them in order, each stage resuming the
    one before in the same run folder.

    :param argv: command-line arguments (None: ``sys.argv[1:]``).
    :return: the final evaluation metrics and the checkpoint path.
    """
    description = __doc__.splitlines()[0]
    stages = recipe_stages(PretrainArgs, argv)
    if stages <= 1:
        return train(parse_args(PretrainArgs, argv, description))
    first = parse_args(PretrainArgs, argv, description, stage=0)
    if first.logging.resume:
        raise UserError("--resume: a recipe with stages resumes its own stages; run one stage")
    result = train(first)
    for stage in range(1, stages):
        run_dir = Path(result["checkpoint"]).parent
        in_place = {"resume": result["checkpoint"], "out": str(run_dir)}
        result = train(parse_args(PretrainArgs, argv, description, stage=stage, overrides=in_place))
    return result


def resumed_model(model: ModelArgs, meta: dict[str, Any], checkpoint: str) -> ModelArgs:
    """The architecture of a resumed run: the checkpoint's own. A model flag left at its default
    takes the checkpoint's value; one set to a value other than the checkpoint's is refused (the
    weights could not be loaded into it).

    :param model: the model arguments of this run.
    :param meta: the checkpoint's JSON record.
    :param checkpoint: the checkpoint's path, for the message.
    :return: the model arguments the checkpoint was trained with.
    :raises UserError: naming the flag, this run's value and the checkpoint's.
    """
    stored = asdict(ReasonerConfig(**meta["reasoner"]))  # fields added since: defaults
    defaults = ModelArgs()
    values: dict[str, Any] = {}
    for item in fields(ModelArgs):
        ours, theirs = getattr(model, item.name), stored[item.name]
        if ours != getattr(defaults, item.name) and ours != theirs:
            flag = "--" + item.name.replace("_", "-")
            raise UserError(
                f"--resume {checkpoint}: {flag} {ours} differs from the checkpoint's {theirs} "
                "(a resumed run keeps the checkpoint's architecture)"
            )
        values[item.name] = theirs
    return ModelArgs(**values)


def train(args: PretrainArgs) -> dict[str, Any]:
    """Run one pretraining (one stage of a recipe).

    :param args: the parsed arguments.
    :return: the final evaluation metrics, the checkpoint path and the step.
    """
    log, optim, loss_args = args.logging, args.optim, args.loss
    if log.eval_only and not log.resume:
        raise UserError("--eval-only needs --resume (the checkpoint to evaluate)")
    run_dir, in_place = run_folder(
        log.out, log.resume, log.runs_dir, args.env, args.exp_name, args.seed
    )
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    device = resolve_device(args.device)
    if distributed and device.type == "cuda":  # one GPU per process, as torchrun numbers them
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if distributed:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    rank = dist.get_rank() if distributed else 0
    world = dist.get_world_size() if distributed else 1
    torch.set_num_threads(args.threads)
    seed_everything(args.seed)  # same weights on every process

    source = make_source(args)
    try:  # checked before training, not at the first batch
        components = loss_args.components(source.family)
    except ValueError as error:
        raise UserError(f"{error} ({args.env})") from None
    tensors, meta = load_checkpoint(log.resume) if log.resume else ({}, {})
    if log.resume:
        args = replace(args, model=resumed_model(args.model, meta, log.resume))
    planner = PlannerNetwork(
        source.task_description,
        args.reasoner_config(),
        stack_sizes=source.stack_sizes,
        # a checkpoint from before the option has the pooled value head
        value_at_agent=meta.get("value_at_agent", False) if log.resume else None,
    ).to(device)
    compiled = planner.reasoner.compile_step() if args.compile else None
    optimizer = torch.optim.AdamW(
        planner.parameter_groups(), lr=optim.learning_rate, weight_decay=optim.weight_decay
    )
    step = 0
    if log.resume:
        # Only the fields that shape the weights must match; solver settings come from this run.
        stored = asdict(ReasonerConfig(**meta["reasoner"]))  # fields added since: defaults
        built = planner.config_dict()
        try:
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
        except ValueError as error:
            raise UserError(
                f"--resume {log.resume}: {error} (pass the checkpoint's model flags, e.g. its "
                "recipe with --config)"
            ) from None
        planner.load_state_dict(strip_prefix(tensors, "model."))
        load_optimizer_tensors(optimizer, tensors)
        step = int(meta["step"])
    if log.eval_only:
        metrics = {
            name: evaluate(planner, source, b, device)
            for name, b in eval_batches(args, source).items()
        }
        print(f"step {step}: {_brief(metrics)}")
        return {"metrics": metrics, "checkpoint": log.resume, "step": step}
    # Different data on every process, and fresh data after a resume.
    rng = np.random.default_rng([args.seed, rank, step])
    # Resumed in place, the events logged after the checkpoint's step are dropped, not repeated.
    writer = (
        SummaryWriter(str(run_dir), purge_step=step + 1 if in_place else None)
        if rank == 0
        else None
    )
    checkpoint_path = run_dir / "checkpoint.safetensors"
    evaluation_sets = eval_batches(args, source)
    metrics = {}

    def save() -> None:
        if rank == 0:
            tensors = {f"model.{k}": v for k, v in planner.state_dict().items()}
            tensors.update(optimizer_tensors(optimizer))
            save_checkpoint(checkpoint_path, tensors, checkpoint_meta(args, planner, step, metrics))

    shown = rank == 0 and log.progress
    progress = tqdm(total=optim.total_steps, initial=step, disable=not shown, desc="pretrain")
    while step < optim.total_steps:
        batch = source.sample(optim.batch_size, rng, step / optim.total_steps).to(device)
        iterations = 0  # applied since z was zero
        batch, z = components.draw_start(planner, source, batch, rng)
        for _ in range(loss_args.segments):
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(args, step)
            x, mask = planner.embed(batch.obs)  # (B, H, W, d)
            z = torch.zeros_like(x) if z is None else z
            n_no_grad = int(rng.integers(0, loss_args.n_no_grad_max + 1))
            z = truncated_unroll(
                planner.reasoner, x, mask, z, n_no_grad, loss_args.k_grad,
                noise=components.unroll_noise,
            )  # fmt: skip
            iterations += n_no_grad + loss_args.k_grad
            logits = source.cell_logits(planner, z)  # (B, H, W, C)
            loss, still = components.objective.loss(logits, batch, iterations, mask)
            penalty = components.penalty(planner, z, x, mask, still)
            if penalty is not None:
                loss = loss + penalty
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if distributed:
                for param in planner.parameters():
                    if param.grad is not None:
                        dist.all_reduce(param.grad)
                        param.grad /= world
            torch.nn.utils.clip_grad_norm_(planner.parameters(), optim.grad_clip)
            optimizer.step()
            z = z.detach()
            step += 1
            progress.update(1)
            if writer is not None:
                writer.add_scalar("pretrain/loss", float(loss.detach()), step)
                accuracy = cell_correct(logits.detach(), batch.optimal)[batch.cells].float().mean()
                writer.add_scalar("pretrain/train_cell_accuracy", float(accuracy), step)
                if compiled is not None:
                    writer.add_scalar("pretrain/compile_seconds", compiled.compile_seconds, step)
            if step % log.eval_every == 0 or step >= optim.total_steps:
                metrics = {
                    name: evaluate(planner, source, b, device)
                    for name, b in evaluation_sets.items()
                }
                if writer is not None:
                    _log_metrics(writer, metrics, step)
                    progress.write(f"step {step}: {_brief(metrics)}")
            if step % log.checkpoint_every == 0 or step >= optim.total_steps:
                save()
            if step >= optim.total_steps:
                break
    progress.close()
    if compiled is not None and rank == 0:
        fallback = f"; ran eagerly: {compiled.failure}" if compiled.failure else ""
        seconds = compiled.compile_seconds
        print(f"compiled step: {compiled.graphs} graphs, {seconds:.1f} s compiling{fallback}")
    save()
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
