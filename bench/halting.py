"""Halting benchmark: what adaptive fixed-point halting saves, against its baselines.

On a mixed-difficulty set of puzzles of the planner's family (mazes of several sizes, Sudokus
with several numbers of blanks), labelled by the family's oracle (``train/oracle_data.py``):

1. **Adaptive against fixed depth and the learned head.** The fixed-point solve (per-sample
   halting at ``residual < tol``, FPOPT damping) against fixed depth at the smallest depth whose
   cell accuracy comes within 1 point of the adaptive one (found by iterating and reading out at
   every depth), against fixed depth at the iteration cap, and against the learned halting head
   (Q-halt). The head is not trained by ``train.pretrain``, so this bench trains it briefly on
   fresh puzzles with ``halting_loss`` (``--head-batches 0`` keeps it as it is). Accuracy, total
   iterations and wall time. Aim: 0.5x the iterations of fixed depth or fewer at equal accuracy.
2. **Per-sample compaction against batch-level halting** on mixed batches of 64 and 256: the
   library's solve (halted samples leave the batch) against :func:`solve_batch_level` (the same
   per-sample arithmetic, but the whole batch is iterated until its slowest sample halts, as
   the paper's reference code does), wall time. Aim: 1.5x faster or more.
3. **Warm against cold start over whole episodes.** Greedy episodes (invalid actions masked) are
   played with the warm-started planner (each decision starts from the previous step's fixed
   point); at every decision the same observation is also solved from a cold start. Iterations
   per env step, and the share of decisions where both pick the same action. Aim: 3x fewer
   iterations, 99% or more identical actions.

Without a checkpoint the planner has random weights and the report says so: accuracies and
successes then mean nothing; costs and ratios still show what the machinery does.
``python -m bench.halting --help`` lists the options.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import envs  # noqa: F401  (registers the FPR ids)
from bench.common import (
    DEFAULT_CHECKPOINT,
    DEVICE_CHOICES,
    BenchReport,
    RatioRow,
    Table,
    aim_at_least,
    aim_at_most,
    autocast,
    format_report,
    format_seconds,
    given_options,
    load_planner_or_random,
    machine_description,
    maze_reasoner_fields,
    paired_ratio,
    resolve_bench_device,
    synchronize,
    time_in_turns,
    torch_threads,
)
from fpr_agents.evaluation.metrics import spearman
from fpr_agents.policy.planner import PlannerNetwork
from fpr_agents.reasoner import FixedPointReasoner, halting_loss
from fpr_agents.reasoner.solve import (
    check_grid_inputs,
    fpopt_update,
    initial_latent,
    measure_step,
)
from train.oracle_data import MazeOracle, OracleBatch, OracleSource, SudokuOracle, cell_correct

__all__ = [
    "BatchLevelResult",
    "HaltingBenchConfig",
    "MixedSet",
    "main",
    "run_benchmark",
    "solve_batch_level",
]

FIXED_DEPTH_AIM = 0.5  # adaptive iterations / fixed-depth iterations at equal accuracy
ACCURACY_TOLERANCE = 1.0  # points of cell accuracy counted as "equal"
COMPACTION_AIM = 1.5  # batch-level time / compaction time
WARM_ITERATIONS_AIM = 3.0  # cold iterations per step / warm iterations per step
IDENTICAL_ACTIONS_AIM = 99.0  # percent


# ------------------------------------------------------------------------------------------------
# The batch-level baseline.
# ------------------------------------------------------------------------------------------------


@dataclass
class BatchLevelResult:
    """What :func:`solve_batch_level` returns.

    :param z: final latent of each sample, (B, H, W, d).
    :param iterations: the iteration at which each sample halted, (B,) long.
    :param converged: whether each sample's residual fell below the tolerance, (B,) bool.
    :param batch_iterations: applications of f to the whole batch (those of its slowest sample).
    """

    z: torch.Tensor
    iterations: torch.Tensor
    converged: torch.Tensor
    batch_iterations: int


def solve_batch_level(
    reasoner: FixedPointReasoner,
    x: torch.Tensor,
    mask: torch.Tensor | None = None,
    z0: torch.Tensor | None = None,
    *,
    max_iters: int | None = None,
    tol: float | None = None,
) -> BatchLevelResult:
    """Fixed-point solve with batch-level halting: f is applied to the whole batch until every
    sample has halted, so each sample waits for the slowest (the paper's reference code).

    Each sample follows the same arithmetic as ``reasoner.solve(..., halting="fixed_point")``
    (FPOPT damping, halting at ``residual < tol``, at ``eta < eta_min``, on divergence, or at
    ``max_iters``); a halted sample's latent is frozen while the others go on. Only the cost
    differs: no compaction, no cropping of padding.

    :param reasoner: the reasoner whose ``step`` is f.
    :param x: input embedding, (B, H, W, d).
    :param mask: (B, H, W), True on real cells, or None.
    :param z0: initial latent, or None for the configured one.
    :param max_iters: iteration cap (default ``config.max_iters``).
    :param tol: residual tolerance (default ``config.tol``).
    :return: the per-sample result and the number of batch iterations.
    """
    config = reasoner.config
    mask = check_grid_inputs(x, mask, config.d_model, "solve_batch_level")
    max_iters = config.max_iters if max_iters is None else max_iters
    if isinstance(max_iters, bool) or not isinstance(max_iters, int) or max_iters < 1:
        raise ValueError(f"solve_batch_level: max_iters must be an integer >= 1, got {max_iters}")
    tol = config.tol if tol is None else float(tol)
    batch, device = x.shape[0], x.device
    with torch.no_grad():
        z = initial_latent(config, x, mask, z0, None)
        if mask is not None:
            x = x * mask.unsqueeze(-1).to(x.dtype)
        eta = torch.full((batch,), config.eta0, dtype=torch.float32, device=device)
        best = torch.full((batch,), float("inf"), dtype=torch.float32, device=device)
        stalled = torch.zeros(batch, dtype=torch.long, device=device)
        halted = torch.zeros(batch, dtype=torch.bool, device=device)
        iterations = torch.zeros(batch, dtype=torch.long, device=device)
        converged_out = torch.zeros(batch, dtype=torch.bool, device=device)
        batch_iterations = 0
        for iteration in range(1, max_iters + 1):
            batch_iterations = iteration
            f_z = reasoner.step(z, x, mask).to(z.dtype)  # (B, H, W, d)
            residual, diverged, converged = measure_step(f_z, z, config, tol)  # (B,) each
            z_next = z + eta.view(-1, 1, 1, 1).to(z.dtype) * (f_z - z)
            best, stalled, eta = fpopt_update(residual, best, stalled, eta, config)
            halt = (converged | (eta < config.eta_min) | diverged) & ~halted
            if iteration == max_iters:
                halt = ~halted
            z_next = torch.where(diverged.view(-1, 1, 1, 1), z, z_next)
            # Halted samples keep their latent; the others move on.
            z = torch.where(halted.view(-1, 1, 1, 1), z, z_next)
            iterations = torch.where(halt, torch.full_like(iterations, iteration), iterations)
            converged_out = converged_out | (halt & converged)
            halted = halted | halt
            if bool(halted.all()):
                break
    return BatchLevelResult(z, iterations, converged_out, batch_iterations)


# ------------------------------------------------------------------------------------------------
# Mixed-difficulty puzzles.
# ------------------------------------------------------------------------------------------------


@dataclass
class MixedSet:
    """Draws mixed-difficulty batches of one family with their oracle labels.

    :param source: the family's oracle data source.
    :param description: how the mix is drawn, for the report.
    :param draw: (n, rng) -> a batch of n puzzles.
    """

    source: OracleSource
    description: str
    draw: Callable[[int, np.random.Generator], OracleBatch]

    @classmethod
    def for_planner(
        cls, planner: PlannerNetwork, maze_sizes: tuple[int, int], sudoku_blanks: float
    ) -> MixedSet:
        """The mixed set of the planner's family.

        :param planner: the planner (its task description names the family and grid).
        :param maze_sizes: smallest and largest odd maze side; each maze's side is uniform among
            the odd sides in between.
        :param sudoku_blanks: largest share of blank cells; each puzzle's number of blanks is
            uniform between an eighth of the board and this share.
        :return: the set.
        """
        family = planner.task.get("family")
        if family == "maze":
            low, high = maze_sizes
            if low < 5 or low % 2 == 0 or high % 2 == 0 or high < low:
                raise ValueError(f"maze sizes must be odd with 5 <= low <= high, got {maze_sizes}")
            source = MazeOracle("FPR/Maze-v0")
            sides = np.arange(low, high + 1, 2)

            def draw_mazes(n: int, rng: np.random.Generator) -> OracleBatch:
                return source.batch_from_sizes([int(s) for s in rng.choice(sides, size=n)], rng)

            return cls(source, f"mazes of side {low}..{high} (odd, uniform)", draw_mazes)
        if family == "sudoku":
            side = int(planner.task["grid_shape"][0])
            env_id = f"FPR/Sudoku-{side}x{side}-v0"
            if env_id not in gym.registry:
                raise ValueError(f"no registered Sudoku env {env_id} for a {side}x{side} planner")
            cells = side * side
            low, high = max(1, cells // 8), max(2, round(sudoku_blanks * cells))
            sudoku = SudokuOracle(env_id, low, high)

            def draw_sudokus(n: int, rng: np.random.Generator) -> OracleBatch:
                return sudoku.batch_from_blanks([(low, high)] * n, rng, placed_share=0.0)

            return cls(sudoku, f"{side}x{side} Sudokus with {low}..{high} blanks", draw_sudokus)
        raise ValueError(
            f"bench.halting has mixed-difficulty oracle data for maze and sudoku planners, "
            f"not for the {family!r} family"
        )


def _accuracy(
    source: OracleSource, planner: PlannerNetwork, z: torch.Tensor, batch: OracleBatch
) -> tuple[float, float, torch.Tensor]:
    """Cell accuracy (percent of target cells right), exact share (percent of puzzles with every
    target cell right) and the per-puzzle exactness, (B,) bool."""
    logits = source.cell_logits(planner, z.float())  # (B, H, W, C)
    right = cell_correct(logits, batch.optimal)  # (B, H, W)
    counted = int(batch.cells.sum())
    accuracy = 100.0 * int((right & batch.cells).sum()) / max(counted, 1)
    exact = (right | ~batch.cells).flatten(1).all(dim=1)  # (B,)
    return accuracy, 100.0 * float(exact.float().mean()), exact


# ------------------------------------------------------------------------------------------------
# The benchmark.
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HaltingBenchConfig:
    """What to measure and how long.

    :param eval_size: puzzles in the accuracy set (one batch).
    :param max_iters: the iteration cap of every solve, and the "max" fixed depth.
    :param maze_sizes: smallest and largest odd maze side of the mixes.
    :param sudoku_blanks: largest share of blank cells of the Sudoku mixes.
    :param compaction_batches: batch sizes of the compaction comparison.
    :param looser_tols: tolerances of extra adaptive rows (the table only; the ratios use the
        planner's own tolerance).
    :param head_batches: batches of fresh puzzles on which the learned head is trained (0: none).
    :param head_batch_size: puzzles per such batch.
    :param head_lr: Adam learning rate of the head.
    :param episodes: episodes of the warm/cold comparison.
    :param episode_envs: envs played in lockstep.
    :param episode_env: env id of the episodes (None: the family's default).
    :param episode_steps: cut episodes after this many steps (None: the env's limit).
    :param rounds: timed rounds of every wall-time comparison.
    :param seed: seed of puzzles and episodes.
    """

    eval_size: int = 64
    max_iters: int = 128
    maze_sizes: tuple[int, int] = (9, 17)
    sudoku_blanks: float = 0.55
    compaction_batches: tuple[int, ...] = (64, 256)
    looser_tols: tuple[float, ...] = (1e-2,)
    head_batches: int = 2
    head_batch_size: int = 32
    head_lr: float = 1e-2
    episodes: int = 16
    episode_envs: int = 8
    episode_env: str | None = None
    episode_steps: int | None = None
    rounds: int = 3
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("eval_size", "max_iters", "head_batch_size", "episodes", "episode_envs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.rounds < 1 or self.head_batches < 0:
            raise ValueError(
                f"rounds must be >= 1 and head_batches >= 0, got {self.rounds}, {self.head_batches}"
            )
        if not self.compaction_batches or min(self.compaction_batches) < 1:
            raise ValueError(f"compaction_batches must be positive, got {self.compaction_batches}")


QUICK_CONFIG = HaltingBenchConfig(
    eval_size=8,
    max_iters=12,
    maze_sizes=(5, 9),
    head_batches=1,
    head_batch_size=4,
    episodes=2,
    episode_envs=2,
    episode_env="FPR/Maze-9x9-v0",
    episode_steps=8,
    rounds=1,
)
QUICK_RANDOM_REASONER: dict[str, Any] = {"d_model": 16, "n_heads": 2, "attention": False}
FAMILY_EPISODE_ENVS = {"maze": "FPR/Maze-15x15-v0"}


@dataclass
class _Method:
    """One halting method's solve on the accuracy set."""

    name: str
    depth: str
    accuracy: float
    exact: float
    iterations: torch.Tensor
    converged: float
    solve: Callable[[], object]


def _embed(
    planner: PlannerNetwork, batch: OracleBatch, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor | None]:
    with torch.no_grad(), autocast(device):
        x, mask = planner.embed({k: v.to(device) for k, v in batch.obs.items()})
    return x.float(), mask


def _depth_sweep(
    planner: PlannerNetwork,
    mixed: MixedSet,
    batch: OracleBatch,
    x: torch.Tensor,
    mask: torch.Tensor | None,
    target: float,
    cap: int,
    device: torch.device,
) -> tuple[int | None, list[float]]:
    """Iterate plainly (as fixed depth does) and read out at every depth until the accuracy
    reaches ``target``; return that depth (None if no depth up to ``cap`` does) and the
    accuracies seen."""
    reasoner = planner.reasoner
    z = initial_latent(reasoner.config, x, mask, None, None)
    x_in = x if mask is None else x * mask.unsqueeze(-1).to(x.dtype)
    accuracies: list[float] = []
    with torch.no_grad(), autocast(device):
        for depth in range(1, cap + 1):
            z = reasoner.step(z, x_in, mask).to(x.dtype)
            accuracies.append(_accuracy(mixed.source, planner, z, batch)[0])
            if accuracies[-1] >= target:
                return depth, accuracies
    return None, accuracies


def _train_head(
    planner: PlannerNetwork,
    mixed: MixedSet,
    bench: HaltingBenchConfig,
    device: torch.device,
    rng: np.random.Generator,
) -> str:
    """Train the halting head on fresh puzzles, TRM's way: at every iteration of a plain solve,
    one Adam step of ``halting_loss`` against whether the readout is exactly right. Each batch
    is iterated as long as its slowest puzzle needs to reach the fixed point (at most the cap),
    so that the iterates after convergence, all alike, do not swamp the others. Only the head's
    weights change."""
    reasoner = planner.reasoner
    if bench.head_batches == 0:
        return "the checkpoint's head as it is (not trained here)"
    head = reasoner.halt_head
    optimizer = torch.optim.Adam(head.parameters(), lr=bench.head_lr)
    positives, total = 0, 0
    for _ in range(bench.head_batches):
        batch = mixed.draw(bench.head_batch_size, rng).to(device)
        x, mask = _embed(planner, batch, device)
        with autocast(device):
            horizon = int(reasoner.solve(x, mask, max_iters=bench.max_iters).iterations.max())
        z = initial_latent(reasoner.config, x, mask, None, None)
        for _ in range(horizon):
            with torch.no_grad(), autocast(device):
                z = reasoner.step(z, x, mask).to(x.dtype)
                exact = _accuracy(mixed.source, planner, z, batch)[2]
            loss = halting_loss(reasoner, z, mask, exact)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            positives += int(exact.sum())
            total += exact.numel()
    reasoner.zero_grad(set_to_none=True)
    steps = total // bench.head_batch_size
    return (
        f"trained here: {steps} Adam steps on {bench.head_batches} x {bench.head_batch_size} "
        f"fresh puzzles, each batch iterated until its slowest puzzle converged, target "
        f"'readout exactly right' ({100 * positives / max(total, 1):.0f}% of the iterates were)"
    )


def _halting_section(
    planner: PlannerNetwork,
    mixed: MixedSet,
    bench: HaltingBenchConfig,
    device: torch.device,
    report: BenchReport,
) -> None:
    """Adaptive against fixed depth (equal accuracy and the cap) and the learned head."""
    reasoner = planner.reasoner
    rng = np.random.default_rng(bench.seed)
    batch = mixed.draw(bench.eval_size, rng).to(device)
    x, mask = _embed(planner, batch, device)
    cap = bench.max_iters

    def solver(halting: str, max_iters: int, tol: float | None = None) -> Callable[[], Any]:
        def solve() -> Any:
            with autocast(device):
                return reasoner.solve(x, mask, max_iters=max_iters, tol=tol, halting=halting)

        return solve

    def measured(name: str, depth: str, solve: Callable[[], Any]) -> _Method:
        result = solve()
        accuracy, exact, _ = _accuracy(mixed.source, planner, result.z, batch)
        converged = 100.0 * float(result.converged.float().mean())
        return _Method(name, depth, accuracy, exact, result.iterations.cpu(), converged, solve)

    adaptive = measured("adaptive (fixed point)", f"<= {cap}", solver("fixed_point", cap))
    target = adaptive.accuracy - ACCURACY_TOLERANCE
    equal_depth, _ = _depth_sweep(planner, mixed, batch, x, mask, target, cap, device)
    star = cap if equal_depth is None else equal_depth
    fixed_star = measured(
        f"fixed depth, smallest at equal accuracy (D*={star})"
        if equal_depth is not None
        else f"fixed depth (no depth <= {cap} reaches adaptive - 1 pt)",
        str(star),
        solver("fixed_depth", star),
    )
    fixed_cap = measured("fixed depth at the cap", str(cap), solver("fixed_depth", cap))
    head_note = _train_head(planner, mixed, bench, device, np.random.default_rng(bench.seed + 1))
    learned = measured("learned halting head (Q-halt)", f"<= {cap}", solver("learned", cap))
    looser = [
        measured(f"adaptive, looser tol {tol:g}", f"<= {cap}", solver("fixed_point", cap, tol))
        for tol in bench.looser_tols
    ]
    methods = [adaptive, fixed_star, fixed_cap, learned, *looser]
    adaptive_methods = [adaptive, *looser]
    times = time_in_turns(
        {method.name: method.solve for method in methods},
        device,
        bench.rounds,
        warmup={method.name: lambda: None for method in methods},  # each ran once above
    )
    table = Table(
        f"Halting on {bench.eval_size} {mixed.description}, one batch, cap {cap}, "
        f"tol {reasoner.config.tol:g}",
        [
            "method",
            "depth",
            "cell accuracy",
            "exact",
            "total iterations",
            "mean / max per puzzle",
            "converged",
            "wall time",
        ],
    )
    for method in methods:
        its = method.iterations
        table.rows.append(
            [
                method.name,
                method.depth,
                f"{method.accuracy:.1f}%",
                f"{method.exact:.1f}%",
                f"{int(its.sum()):,}",
                f"{float(its.float().mean()):.1f} / {int(its.max())}",
                f"{method.converged:.0f}%" if method in adaptive_methods else "-",
                format_seconds(statistics.median(times[method.name])),
            ]
        )
    report.tables.append(table)
    difficulty = batch.difficulty.cpu().numpy()
    rho = spearman(adaptive.iterations.numpy(), difficulty)
    report.notes.append(f"learned halting head: {head_note}")
    report.notes.append(
        f"adaptive iterations against puzzle difficulty (maze: goal eccentricity; Sudoku: "
        f"blanks): Spearman {rho:.2f}"
    )
    total = {m.name: float(m.iterations.sum()) for m in methods}
    report.values.update(
        {
            "adaptive_accuracy": adaptive.accuracy,
            "adaptive_iterations": total[adaptive.name],
            "fixed_star_depth": float(star),
            "fixed_star_accuracy": fixed_star.accuracy,
            "fixed_star_iterations": total[fixed_star.name],
            "fixed_cap_accuracy": fixed_cap.accuracy,
            "fixed_cap_iterations": total[fixed_cap.name],
            "learned_accuracy": learned.accuracy,
            "learned_iterations": total[learned.name],
            "spearman_iterations_difficulty": rho,
        }
    )
    for method in methods:
        report.values[f"time_{method.name}"] = statistics.median(times[method.name])
    for tol, method in zip(bench.looser_tols, looser, strict=True):
        report.values[f"adaptive_tol{tol:g}_accuracy"] = method.accuracy
        report.values[f"adaptive_tol{tol:g}_iterations"] = float(method.iterations.sum())

    def iterations_text(method: _Method) -> str:
        return f"{total[method.name]:,.0f} its, {method.accuracy:.1f}%"

    star_ratio = total[adaptive.name] / total[fixed_star.name]
    cap_ratio = total[adaptive.name] / total[fixed_cap.name]
    learned_ratio = total[adaptive.name] / total[learned.name]
    time_ratio = paired_ratio(times[adaptive.name], times[fixed_star.name])
    star_label = f"D*={star}" if equal_depth is not None else f"cap {cap}, none equal"
    report.ratios += [
        RatioRow(
            "adaptive vs fixed depth at equal accuracy: iterations",
            f"fixed depth {star_label}",
            iterations_text(adaptive),
            iterations_text(fixed_star),
            star_ratio,
            f"{star_ratio:.2f}x",
            f"<= {FIXED_DEPTH_AIM:g}x",
            aim_at_most(star_ratio, FIXED_DEPTH_AIM),
        ),
        RatioRow(
            "adaptive vs fixed depth at equal accuracy: wall time",
            f"fixed depth {star_label}",
            format_seconds(statistics.median(times[adaptive.name])),
            format_seconds(statistics.median(times[fixed_star.name])),
            time_ratio,
            f"{time_ratio:.2f}x",
        ),
        RatioRow(
            "adaptive vs fixed depth at the cap: iterations",
            f"fixed depth {cap}",
            iterations_text(adaptive),
            iterations_text(fixed_cap),
            cap_ratio,
            f"{cap_ratio:.2f}x",
            f"<= {FIXED_DEPTH_AIM:g}x",
            aim_at_most(cap_ratio, FIXED_DEPTH_AIM),
        ),
        RatioRow(
            "adaptive vs learned halting head: iterations",
            "learned head (Q-halt)",
            iterations_text(adaptive),
            iterations_text(learned),
            learned_ratio,
            f"{learned_ratio:.2f}x",
        ),
    ]


def _compaction_section(
    planner: PlannerNetwork,
    mixed: MixedSet,
    bench: HaltingBenchConfig,
    device: torch.device,
    report: BenchReport,
) -> None:
    """Wall time of per-sample compaction against batch-level halting on mixed batches."""
    reasoner = planner.reasoner
    cap = bench.max_iters
    table = Table(
        f"Per-sample compaction vs batch-level halting, mixed batches of {mixed.description}, "
        f"cap {cap}",
        [
            "batch",
            "sample-iterations, compaction",
            "batch-level (B x slowest)",
            "compaction time",
            "batch-level time",
            "speed-up",
        ],
    )
    for size in bench.compaction_batches:
        rng = np.random.default_rng(bench.seed + 100 + size)
        batch = mixed.draw(size, rng).to(device)
        x, mask = _embed(planner, batch, device)

        def compaction(x: torch.Tensor = x, mask: torch.Tensor | None = mask) -> Any:
            with autocast(device):
                return reasoner.solve(x, mask, max_iters=cap, halting="fixed_point")

        def batch_level(x: torch.Tensor = x, mask: torch.Tensor | None = mask) -> Any:
            with autocast(device):
                return solve_batch_level(reasoner, x, mask, max_iters=cap)

        small_x = x[: min(4, size)]
        small_mask = None if mask is None else mask[: min(4, size)]
        warmup = {
            "compaction": lambda x=small_x, m=small_mask: reasoner.solve(x, m, max_iters=2),
            "batch-level": lambda x=small_x, m=small_mask: solve_batch_level(
                reasoner, x, m, max_iters=2
            ),
        }
        times = time_in_turns(
            {"compaction": compaction, "batch-level": batch_level},
            device,
            bench.rounds,
            warmup=warmup,
        )
        solved = compaction()
        waited = batch_level()
        sample_iterations = int(solved.iterations.sum())
        batch_iterations = size * waited.batch_iterations
        speedup = paired_ratio(times["batch-level"], times["compaction"])
        report.values[f"compaction_speedup_{size}"] = speedup
        report.values[f"compaction_work_ratio_{size}"] = batch_iterations / sample_iterations
        table.rows.append(
            [
                str(size),
                f"{sample_iterations:,}",
                f"{batch_iterations:,} ({batch_iterations / sample_iterations:.2f}x)",
                format_seconds(statistics.median(times["compaction"])),
                format_seconds(statistics.median(times["batch-level"])),
                f"{speedup:.2f}x",
            ]
        )
        report.ratios.append(
            RatioRow(
                f"compaction speed-up over batch-level halting, batch {size}",
                "batch-level halting",
                format_seconds(statistics.median(times["compaction"])),
                format_seconds(statistics.median(times["batch-level"])),
                speedup,
                f"{speedup:.2f}x",
                f">= {COMPACTION_AIM:g}x",
                aim_at_least(speedup, COMPACTION_AIM),
            )
        )
    report.tables.append(table)


@dataclass
class _EpisodeTotals:
    """Per-decision records of the paired warm/cold episodes."""

    warm_iterations: list[int]
    cold_iterations: list[int]
    identical: list[bool]
    warm_seconds: float
    cold_seconds: float
    successes: list[bool]


def _play_paired(
    planner: PlannerNetwork,
    env_id: str,
    bench: HaltingBenchConfig,
    device: torch.device,
) -> _EpisodeTotals:
    """Greedy episodes driven by the warm-started planner, with a cold solve of every state."""
    envs_ = [gym.make(env_id) for _ in range(min(bench.episode_envs, bench.episodes))]
    planner.adapt_to(envs_[0].unwrapped.task_description)
    totals = _EpisodeTotals([], [], [], 0.0, 0.0, [])
    pending = [bench.seed + 1000 + episode for episode in range(bench.episodes)]
    slots: list[dict[str, Any] | None] = [None] * len(envs_)

    def start(slot: int) -> None:
        if not pending:
            slots[slot] = None
            return
        obs, _ = envs_[slot].reset(seed=pending.pop(0))
        slots[slot] = {"obs": obs, "z": None, "steps": 0, "seen": {_obs_key(obs)}}

    for slot in range(len(envs_)):
        start(slot)
    while any(state is not None for state in slots):
        active = [i for i, state in enumerate(slots) if state is not None]
        states = [slots[i] for i in active]
        obs = {
            key: torch.as_tensor(np.stack([s["obs"][key] for s in states]), device=device)
            for key in states[0]["obs"]
        }
        z0 = None
        if any(s["z"] is not None for s in states):
            known = next(s["z"] for s in states if s["z"] is not None)
            z0 = torch.stack(
                [torch.zeros_like(known) if s["z"] is None else s["z"] for s in states]
            )
        warm, warm_seconds = _timed_plan(planner, obs, z0, bench.max_iters, device)
        cold, cold_seconds = _timed_plan(planner, obs, None, bench.max_iters, device)
        totals.warm_seconds += warm_seconds
        totals.cold_seconds += cold_seconds
        masks = [getattr(envs_[i].unwrapped, "action_masks", None) for i in active]
        warm_logits, cold_logits = warm.logits.float(), cold.logits.float()
        if all(m is not None for m in masks):
            allowed = torch.as_tensor(np.stack([m() for m in masks]), device=device)
            warm_logits = warm_logits.masked_fill(~allowed, float("-inf"))
            cold_logits = cold_logits.masked_fill(~allowed, float("-inf"))
        warm_actions = warm_logits.argmax(-1).cpu()
        cold_actions = cold_logits.argmax(-1).cpu()
        totals.warm_iterations += warm.iterations.cpu().tolist()
        totals.cold_iterations += cold.iterations.cpu().tolist()
        totals.identical += (warm_actions == cold_actions).tolist()
        for k, slot in enumerate(active):
            state = slots[slot]
            assert state is not None
            state["z"] = warm.z[k]
            obs_k, _, terminated, truncated, info = envs_[slot].step(int(warm_actions[k]))
            state["obs"], state["steps"] = obs_k, state["steps"] + 1
            key = _obs_key(obs_k)
            looped = key in state["seen"]  # a greedy policy on a repeated state loops for ever
            state["seen"].add(key)
            cut = bench.episode_steps is not None and state["steps"] >= bench.episode_steps
            if terminated or truncated or looped or cut:
                totals.successes.append(bool(info.get("is_success", False)))
                start(slot)
    for env in envs_:
        env.close()
    return totals


def _obs_key(obs: dict[str, np.ndarray]) -> bytes:
    return b"".join(np.ascontiguousarray(obs[key]).tobytes() for key in sorted(obs))


def _timed_plan(
    planner: PlannerNetwork,
    obs: dict[str, torch.Tensor],
    z0: torch.Tensor | None,
    max_iters: int,
    device: torch.device,
) -> tuple[Any, float]:
    synchronize(device)
    start = time.perf_counter()
    with torch.no_grad(), autocast(device):
        out = planner(obs, z0=z0, max_iters=max_iters)
    synchronize(device)
    return out, time.perf_counter() - start


def _warm_start_section(
    planner: PlannerNetwork,
    bench: HaltingBenchConfig,
    device: torch.device,
    report: BenchReport,
    trained: bool,
) -> None:
    """Iterations per env step and identical actions, warm against cold, over whole episodes."""
    family = str(planner.task.get("family"))
    env_id = bench.episode_env or FAMILY_EPISODE_ENVS.get(family)
    if env_id is None:
        side = int(planner.task["grid_shape"][0])
        env_id = f"FPR/Sudoku-{side}x{side}-v0" if family == "sudoku" else None
    if env_id is None:
        raise ValueError(f"no default episode env for the {family!r} family: give --episode-env")
    totals = _play_paired(planner, env_id, bench, device)
    decisions = len(totals.identical)
    warm_mean = float(np.mean(totals.warm_iterations))
    cold_mean = float(np.mean(totals.cold_iterations))
    identical = 100.0 * float(np.mean(totals.identical))
    success = 100.0 * float(np.mean(totals.successes))
    reduction = cold_mean / warm_mean
    cut = f", cut at {bench.episode_steps} steps" if bench.episode_steps else ""
    table = Table(
        f"Warm vs cold start over {bench.episodes} greedy episodes of {env_id}{cut} "
        f"({decisions} decisions, actions of the warm-started planner, invalid ones masked)",
        ["start", "iterations per step (mean)", "median", "max", "solve time per step"],
    )
    for name, iterations, seconds in (
        ("warm (previous fixed point)", totals.warm_iterations, totals.warm_seconds),
        ("cold (configured z0)", totals.cold_iterations, totals.cold_seconds),
    ):
        table.rows.append(
            [
                name,
                f"{np.mean(iterations):.2f}",
                f"{np.median(iterations):.0f}",
                str(max(iterations)),
                format_seconds(seconds / decisions),
            ]
        )
    report.tables.append(table)
    success_note = f"{success:.0f}%" if trained else f"{success:.0f}% (random weights: meaningless)"
    report.notes.append(
        f"warm-started greedy episodes that succeed (info['is_success']): {success_note}"
    )
    report.values.update(
        {
            "warm_iterations_per_step": warm_mean,
            "cold_iterations_per_step": cold_mean,
            "identical_actions_percent": identical,
            "episode_success_percent": success,
            "warm_decisions": float(decisions),
        }
    )
    report.ratios += [
        RatioRow(
            "warm vs cold start: iterations per env step (cold / warm)",
            "cold start",
            f"{warm_mean:.2f}",
            f"{cold_mean:.2f}",
            reduction,
            f"{reduction:.2f}x",
            f">= {WARM_ITERATIONS_AIM:g}x",
            aim_at_least(reduction, WARM_ITERATIONS_AIM),
        ),
        RatioRow(
            "warm vs cold start: identical actions",
            "cold start's action",
            f"{sum(totals.identical)} of {decisions}",
            "-",
            identical,
            f"{identical:.1f}%",
            f">= {IDENTICAL_ACTIONS_AIM:g}%",
            aim_at_least(identical, IDENTICAL_ACTIONS_AIM),
        ),
    ]


def run_benchmark(
    planner: PlannerNetwork,
    bench: HaltingBenchConfig,
    device: torch.device,
    trained: bool,
    origin: str,
) -> BenchReport:
    """Run the three comparisons.

    :param planner: the planner (on ``device``).
    :param bench: sizes and repetitions.
    :param device: where to run.
    :param trained: whether the weights are trained (else accuracies are flagged meaningless).
    :param origin: where the weights came from, for the report.
    :return: the report.
    """
    planner.eval()
    report = BenchReport(
        name="halting",
        machine=machine_description(device),
        method=(
            f"each wall time is the median of {bench.rounds} timed rounds after a run of each "
            f"method; methods compared take turns; seed {bench.seed}"
        ),
        notes=[f"planner: {origin}"],
    )
    if not trained:
        report.notes.append(
            "RANDOM WEIGHTS: the accuracy and success columns are meaningless here; "
            "iterations, wall times and their ratios still measure the halting machinery"
        )
    mixed = MixedSet.for_planner(planner, bench.maze_sizes, bench.sudoku_blanks)
    _halting_section(planner, mixed, bench, device, report)
    _compaction_section(planner, mixed, bench, device, report)
    _warm_start_section(planner, bench, device, report, trained)
    return report


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.halting",
        description="Adaptive halting vs fixed depth and a learned head; compaction vs "
        "batch-level halting; warm vs cold start.",
    )
    parser.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT, help="planner checkpoint")
    parser.add_argument(
        "--random-weights", action="store_true", help="ignore the checkpoint (random planner)"
    )
    parser.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (for tests)")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds")
    parser.add_argument("--max-iters", type=int, default=None, help="iteration cap")
    parser.add_argument("--eval-size", type=int, default=None, help="puzzles in the accuracy set")
    parser.add_argument(
        "--maze-sizes", default=None, help="smallest,largest odd maze side of the mixes"
    )
    parser.add_argument(
        "--sudoku-blanks", type=float, default=None, help="largest share of blanks (Sudoku)"
    )
    parser.add_argument("--head-batches", type=int, default=None, help="head training batches")
    parser.add_argument("--episodes", type=int, default=None, help="warm/cold episodes")
    parser.add_argument("--episode-env", default=None, help="env id of the episodes")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> BenchReport:
    """Run the benchmark from command-line arguments and print its tables.

    :param argv: arguments without the program name (None: ``sys.argv[1:]``).
    :return: the report that was printed.
    """
    args = _parse_args(argv)
    device = resolve_bench_device(args.device)
    bench = QUICK_CONFIG if args.quick else HaltingBenchConfig()
    names = ("rounds", "max_iters", "eval_size", "sudoku_blanks", "head_batches", "episodes")
    overrides: dict[str, Any] = {"seed": args.seed, **given_options(args, (*names, "episode_env"))}
    if args.maze_sizes is not None:
        low, high = (int(part) for part in args.maze_sizes.split(","))
        overrides["maze_sizes"] = (low, high)
    bench = replace(bench, **overrides)
    with torch_threads(args.threads):
        fields = QUICK_RANDOM_REASONER if args.quick else maze_reasoner_fields()
        loaded = load_planner_or_random(
            None if args.random_weights else args.checkpoint,
            device,
            "FPR/Maze-v0",
            fields,
            args.seed,
        )
        report = run_benchmark(loaded.planner, bench, device, loaded.trained, loaded.origin)
    print(format_report(report))
    return report


if __name__ == "__main__":
    main()
