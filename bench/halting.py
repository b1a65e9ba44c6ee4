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
4. **Accuracy against iterations, per decision** (:class:`DecisionSet`: each puzzle is one
   decision; a maze's is the move at its start cell, the farthest from the goal, with the
   observation's ``agent`` there so the planner builds the "readout" rule's readout as the
   policy does; a Sudoku's reads the whole board). Every halting criterion as a curve: the
   fixed-point rule over ``--tols``, the readout rule over ``--readout-tols`` x
   ``--readout-patiences`` (and ``--readout-decided``), the learned head, and fixed depth at
   every depth; a PNG in ``--out``. At equal accuracy (within 1 point of the best fixed-point or
   readout setting), the cheapest setting of each. Aims: the readout rule at 0.7x the
   iterations of the smallest sufficient fixed depth or fewer, 0.5x those of fixed-point
   halting or fewer.
5. **In distribution against shifted** (larger mazes, Sudokus with more blanks): the settings
   and the fixed depth chosen in distribution, applied to the shifted set. Aims: the fixed depth
   loses 10 points or more, the adaptive rules 2 points or fewer.
6. **Agent level**: whole greedy episodes (:func:`~fpr_agents.evaluation.rollout.run_episodes`,
   warm start within each episode for every agent, fixed depth included) with the readout and
   fixed-point rules, against fixed depth per decision over ``--agent-depths`` and a bisection
   to the smallest depth whose success comes within 1 point of the adaptive agent's. Aims:
   iterations per episode at 0.3x those of that depth or fewer on 15x15 mazes, 0.7x on 6x6
   Sudoku.
7. **Iterations against difficulty, per decision**, warm and cold start, each rule: Spearman
   correlation with ``info["difficulty"]``; a PNG in ``--out``.

Without a checkpoint the planner has random weights and the report says so: accuracies and
successes then mean nothing; costs and ratios still show what the machinery does.
``python -m bench.halting --help`` lists the options.
"""

from __future__ import annotations

import contextlib
import functools
import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
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
from fpr_agents.arguments import parse_args
from fpr_agents.evaluation.metrics import spearman
from fpr_agents.evaluation.rollout import RolloutResult, run_episodes
from fpr_agents.policy.planner import PlannerNetwork
from fpr_agents.reasoner import FixedPointReasoner, ReasonerConfig, halting_loss
from fpr_agents.reasoner.solve import (
    check_grid_inputs,
    fpopt_update,
    initial_latent,
    measure_step,
)
from train.oracle_data import MazeOracle, OracleBatch, OracleSource, SudokuOracle, cell_correct

__all__ = [
    "SECTIONS",
    "BatchLevelResult",
    "Criterion",
    "CurvePoint",
    "DecisionSet",
    "HaltingBenchArgs",
    "HaltingBenchConfig",
    "MixedSet",
    "SetCurves",
    "depth_curve",
    "halting_criteria",
    "main",
    "measure_curves",
    "run_benchmark",
    "smallest_sufficient_depth",
    "solve_batch_level",
    "solve_decisions",
    "solver_settings",
]

FIXED_DEPTH_AIM = 0.5  # adaptive iterations / fixed-depth iterations at equal accuracy
ACCURACY_TOLERANCE = 1.0  # points of cell accuracy counted as "equal"
COMPACTION_AIM = 1.5  # batch-level time / compaction time
WARM_ITERATIONS_AIM = 3.0  # cold iterations per step / warm iterations per step
IDENTICAL_ACTIONS_AIM = 99.0  # percent
READOUT_VS_DEPTH_AIM = 0.7  # readout iterations / smallest sufficient fixed depth's, per decision
READOUT_VS_FIXED_POINT_AIM = 0.5  # readout iterations / fixed-point halting's, per decision
SHIFT_DEPTH_LOSS_AIM = 10.0  # points of accuracy the in-distribution fixed depth loses, at least
SHIFT_ADAPTIVE_LOSS_AIM = 2.0  # points an adaptive rule loses on the shifted set, at most
# Agent level: adaptive iterations per episode / those of the smallest sufficient fixed depth.
AGENT_ITERATIONS_AIMS = {"FPR/Maze-15x15-v0": 0.3, "FPR/Sudoku-6x6-v0": 0.7}
DEFAULT_OUT = "runs/bench_halting"
SECTIONS = ("halting", "compaction", "warm", "curves", "agent", "difficulty")
DECISION_CELLS = ("random", "start")  # where the agent stands in a maze decision


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
        cls,
        planner: PlannerNetwork,
        maze_sizes: tuple[int, int],
        sudoku_blanks: float,
        sudoku_fewest: float | None = None,
    ) -> MixedSet:
        """The mixed set of the planner's family.

        :param planner: the planner (its task description names the family and grid).
        :param maze_sizes: smallest and largest odd maze side; each maze's side is uniform among
            the odd sides in between.
        :param sudoku_blanks: largest share of blank cells; each puzzle's number of blanks is
            uniform between ``sudoku_fewest`` and this share.
        :param sudoku_fewest: smallest share of blank cells (None: an eighth of the board).
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
            low = max(1, cells // 8 if sudoku_fewest is None else round(sudoku_fewest * cells))
            high = max(low, 2, round(sudoku_blanks * cells))
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
    :param tols: residual tolerances of the "fixed_point" curve.
    :param readout_tols: readout tolerances of the "readout" curves (one curve per patience).
    :param readout_patiences: readout patiences k, one "readout" curve each.
    :param readout_decided: thresholds of a decided readout, swept at the planner's own readout
        tolerance and patience (extra points of the "readout" curve).
    :param curve_depth: deepest fixed depth of the curves (None: twice the most iterations any
        adaptive solve of the set took, at most the cap); the search for the smallest sufficient
        depth goes on to the cap.
    :param shift_maze_sizes: smallest and largest odd maze side of the shifted set.
    :param shift_sudoku_blanks: smallest and largest share of blank cells of the shifted set.
    :param shift_size: puzzles in the shifted set.
    :param agent_episodes: greedy episodes per agent of the agent-level comparison.
    :param agent_depths: fixed depths per decision tried by the agent-level comparison before
        the bisection that finds the smallest sufficient one.
    :param agent_learned: also play the learned halting head's agent (per-decision Spearman).
    :param agent_fixed_starts: the starts of the fixed-depth agents: "warm" (from the previous
        decision's latent, as the adaptive agents) and/or "cold" (from the configured z0).
    :param decision_cells: the agent's cell of a maze decision: "random" (an unforced cell) or
        "start" (the farthest cell, a dead end: see :func:`decision_cells`).
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
    tols: tuple[float, ...] = (1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4)
    readout_tols: tuple[float, ...] = (0.3, 0.1, 0.03, 0.01, 0.003, 0.001)
    readout_patiences: tuple[int, ...] = (1, 2)
    readout_decided: tuple[float, ...] = (0.3, 0.5, 0.7, 0.9)
    curve_depth: int | None = None
    shift_maze_sizes: tuple[int, int] = (33, 33)
    shift_sudoku_blanks: tuple[float, float] = (0.65, 0.75)
    shift_size: int = 32
    agent_episodes: int = 32
    agent_depths: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128)
    agent_learned: bool = True
    agent_fixed_starts: tuple[str, ...] = ("warm",)
    decision_cells: str = "random"

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
        for name in ("tols", "readout_tols", "readout_patiences", "readout_decided"):
            values = getattr(self, name)
            if not values or min(values) < 0:
                raise ValueError(f"{name} must be a non-empty list of values >= 0, got {values}")
        if min(self.readout_patiences) < 1 or max(self.readout_decided) > 1:
            raise ValueError(
                f"readout_patiences must be >= 1 and readout_decided <= 1, got "
                f"{self.readout_patiences}, {self.readout_decided}"
            )
        if not self.agent_depths or min(self.agent_depths) < 1:
            raise ValueError(f"agent_depths must be depths >= 1, got {self.agent_depths}")
        if self.shift_size < 1 or self.agent_episodes < 1:
            raise ValueError(
                f"shift_size and agent_episodes must be >= 1, got {self.shift_size}, "
                f"{self.agent_episodes}"
            )
        if self.curve_depth is not None and self.curve_depth < 1:
            raise ValueError(f"curve_depth must be >= 1, got {self.curve_depth}")
        if not self.agent_fixed_starts or set(self.agent_fixed_starts) - {"warm", "cold"}:
            raise ValueError(
                f"agent_fixed_starts must be 'warm' and/or 'cold', got {self.agent_fixed_starts}"
            )
        if self.decision_cells not in DECISION_CELLS:
            raise ValueError(
                f"decision_cells must be one of {DECISION_CELLS}, got {self.decision_cells!r}"
            )
        low, high = self.shift_sudoku_blanks
        if not 0 < low <= high <= 1:
            raise ValueError(
                f"shift_sudoku_blanks must be shares 0 < low <= high <= 1, got {low}, {high}"
            )


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
    tols=(1e-1, 1e-3),
    readout_tols=(0.1, 0.01),
    readout_patiences=(1, 2),
    readout_decided=(0.5, 0.9),
    shift_maze_sizes=(11, 11),
    shift_size=4,
    agent_episodes=2,
    agent_depths=(1, 2, 4),
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
            solved = reasoner.solve(x, mask, max_iters=bench.max_iters, halting="fixed_point")
            horizon = int(solved.iterations.max())
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
            "compaction": lambda x=small_x, m=small_mask: reasoner.solve(
                x, m, max_iters=2, halting="fixed_point"
            ),
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
    unwrapped: Any = envs_[0].unwrapped
    planner.adapt_to(unwrapped.task_description)
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
        states = [state for state in slots if state is not None]  # in the order of ``active``
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
        mask_fns = [m for m in masks if m is not None]
        warm_logits, cold_logits = warm.logits.float(), cold.logits.float()
        if len(mask_fns) == len(masks):  # every env masks its actions
            allowed = torch.as_tensor(np.stack([m() for m in mask_fns]), device=device)
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
    env_id = episode_env_id(planner, bench)
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
        f"({decisions} decisions, actions of the warm-started planner, invalid ones masked; "
        f"the planner's own halting rule, {planner.config.halting!r})",
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


# ------------------------------------------------------------------------------------------------
# Accuracy against iterations, per decision: every halting criterion on one set of decisions.
# ------------------------------------------------------------------------------------------------


def decision_cells(
    batch: OracleBatch, rng: np.random.Generator, where: str
) -> list[tuple[int, int]]:
    """The agent's cell of each maze of a batch.

    "start" is the maze's start, the cell farthest from the goal; in a perfect maze that is a
    dead end, whose one open move a planner gets right at depth 1 with no plan at all (so does
    the cell next to it, by avoiding the dead end), which makes fixed depth 1 look sufficient.
    "random" draws, uniformly per maze, a cell that can reach the goal and has at least two open
    neighbours (a decision the maze does not force): what an agent meets along its way.

    :param batch: a maze batch (``extra["distance"]``, ``extra["start"]``).
    :param rng: the source of randomness.
    :param where: "random" or "start".
    :return: (row, col) per maze.
    """
    if where not in DECISION_CELLS:
        raise ValueError(f"decision cells must be one of {DECISION_CELLS}, got {where!r}")
    if where == "start":
        return [(int(row), int(col)) for row, col in batch.extra["start"]]
    free = batch.obs["grid"].cpu().numpy() != 0  # (B, H, W)
    padded = np.pad(free, ((0, 0), (1, 1), (1, 1)))
    neighbours = (
        padded[:, :-2, 1:-1].astype(int) + padded[:, 2:, 1:-1] + padded[:, 1:-1, :-2]
        + padded[:, 1:-1, 2:]
    )  # (B, H, W)  # fmt: skip
    distance = batch.extra["distance"].cpu().numpy()  # (B, H, W)
    cells = []
    for i in range(free.shape[0]):
        options = np.argwhere((distance[i] > 0) & (neighbours[i] >= 2))
        if len(options) == 0:
            row, col = batch.extra["start"][i]
        else:
            row, col = options[rng.integers(len(options))]
        cells.append((int(row), int(col)))
    return cells


@dataclass
class DecisionSet:
    """Oracle-labelled puzzles, each taken as one decision of the planner.

    A maze's decision is the move at the agent's cell (see :func:`decision_cells`); its accuracy
    is whether that move is a shortest-path one, its difficulty the cell's distance to the goal.
    A Sudoku's decision reads the whole board (the planner's cell readout); its accuracy is the
    share of blank cells right, its difficulty the number of blanks.

    :param description: what the set holds, for the report.
    :param source: the family's oracle data source.
    :param batch: the puzzles and their labels, on the bench's device.
    :param obs: each decision's observation, on the bench's device (mazes: with ``agent``).
    :param start: the agent's cell of each maze, (B, 2) long; None for whole-board readouts.
    :param difficulty: each decision's difficulty, (B,) float, on the CPU.
    """

    description: str
    source: OracleSource
    batch: OracleBatch
    obs: dict[str, torch.Tensor]
    start: torch.Tensor | None
    difficulty: torch.Tensor

    @classmethod
    def draw(
        cls,
        planner: PlannerNetwork,
        mixed: MixedSet,
        size: int,
        rng: np.random.Generator,
        device: torch.device,
        where: str = "random",
    ) -> DecisionSet:
        """Draw ``size`` decisions from a mixed set.

        :param planner: the planner (its layout says what a decision reads).
        :param mixed: the mixed set to draw from.
        :param size: decisions (puzzles).
        :param rng: the source of randomness.
        :param device: where the batch goes.
        :param where: the agent's cell in a maze: "random" or "start" (:func:`decision_cells`).
        :return: the set.
        """
        batch = mixed.draw(size, rng)
        obs = {key: value.to(device) for key, value in batch.obs.items()}
        start, difficulty = None, batch.difficulty.float()
        reads = "the whole board"
        if planner.move_head is not None:
            cells = decision_cells(batch, rng, where)
            start = torch.as_tensor(cells, dtype=torch.long)  # (B, 2)
            rows = torch.arange(start.shape[0])
            difficulty = batch.extra["distance"][rows, start[:, 0], start[:, 1]].float()
            start = start.to(device)
            obs[str(planner.task["agent_key"])] = start.float()
            reads = {
                "random": "the move at a random unforced cell",
                "start": "the move at the start cell",
            }[where]
        return cls(
            f"{size} {mixed.description} (decision: {reads})",
            mixed.source,
            batch.to(device),
            obs,
            start,
            difficulty,
        )

    @property
    def size(self) -> int:
        """Decisions in the set."""
        return int(self.batch.cells.shape[0])

    def accuracy(self, planner: PlannerNetwork, z: torch.Tensor) -> tuple[float, float]:
        """Decision accuracy and cell accuracy over the whole field, in percent.

        :param planner: the planner (its heads read z).
        :param z: the latents the decisions are read from, (B, H, W, d).
        :return: (decision accuracy, field cell accuracy); equal for whole-board readouts.
        """
        with torch.no_grad():
            logits = self.source.cell_logits(planner, z.float())  # (B, H, W, C)
        right = cell_correct(logits, self.batch.optimal)  # (B, H, W)
        cells = self.batch.cells
        field_accuracy = 100.0 * int((right & cells).sum()) / max(int(cells.sum()), 1)
        if self.start is None:
            return field_accuracy, field_accuracy
        rows = torch.arange(right.shape[0], device=right.device)
        at_start = right[rows, self.start[:, 0], self.start[:, 1]]  # (B,)
        return 100.0 * float(at_start.float().mean()), field_accuracy


@dataclass(frozen=True)
class Criterion:
    """One setting of an adaptive halting rule, a point of its curve.

    :param rule: "fixed_point", "readout" or "learned".
    :param setting: the setting as printed.
    :param solver: the solver fields the solve runs with (``PlannerNetwork.set_solver``).
    :param default: whether these are the planner's own settings of the rule.
    :param curve: the curve of the figure the point belongs to (default: the rule).
    """

    rule: str
    setting: str
    solver: tuple[tuple[str, float], ...] = ()
    default: bool = False
    curve: str = ""

    @property
    def label(self) -> str:
        """Rule and setting, for tables and legends."""
        mark = " (default)" if self.default else ""
        return f"{self.rule}, {self.setting}{mark}"


@dataclass
class CurvePoint:
    """A halting setting's solve of a decision set.

    :param criterion: the setting (None for a fixed depth).
    :param depth: the fixed depth (None for an adaptive rule).
    :param accuracy: decision accuracy, percent.
    :param field_accuracy: cell accuracy over the whole field, percent.
    :param iterations: each decision's iterations, (B,) long, on the CPU.
    :param halted: share of decisions (percent) by reason: converged, readout, stalled,
        diverged, capped (a decision may have several).
    """

    criterion: Criterion | None
    depth: int | None
    accuracy: float
    field_accuracy: float
    iterations: torch.Tensor
    halted: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Total iterations over the set."""
        return int(self.iterations.sum())

    @property
    def label(self) -> str:
        """What was run, for tables and legends."""
        if self.criterion is None:
            return f"fixed depth {self.depth}"
        return self.criterion.label


def halting_criteria(bench: HaltingBenchConfig, config: ReasonerConfig) -> list[Criterion]:
    """Every adaptive setting of the curves: the fixed-point sweep over ``tols``, the readout
    sweep over ``readout_tols`` x ``readout_patiences`` (and ``readout_decided`` at the planner's
    readout tolerance and patience), and the learned head.

    :param bench: the sweeps.
    :param config: the planner's solver settings (its defaults are marked).
    :return: the criteria, fixed point first.
    """
    criteria = [
        Criterion("fixed_point", f"tol {tol:g}", (("tol", tol),), tol == config.tol, "fixed_point")
        for tol in bench.tols
    ]
    own = (config.readout_tol, config.readout_patience, config.readout_decided)
    readouts: dict[tuple[float, int, float], str] = {}
    for patience in bench.readout_patiences:
        for tol in bench.readout_tols:
            readouts[(tol, patience, config.readout_decided)] = f"readout, k {patience}"
    for decided in bench.readout_decided:
        key = (config.readout_tol, config.readout_patience, decided)
        readouts.setdefault(key, f"readout, readout_decided swept (tol {own[0]:g}, k {own[1]})")
    for (tol, patience, decided), curve in readouts.items():
        criteria.append(
            Criterion(
                "readout",
                f"readout_tol {tol:g}, k {patience}, decided {decided:g}",
                (
                    ("readout_tol", tol),
                    ("readout_patience", patience),
                    ("readout_decided", decided),
                ),
                (tol, patience, decided) == own,
                curve,
            )
        )
    criteria.append(Criterion("learned", "Q-halt head > 0.5", (), True, "learned"))
    return criteria


@contextlib.contextmanager
def solver_settings(planner: PlannerNetwork, fields: Sequence[tuple[str, float]]) -> Iterator[None]:
    """Run with some solver fields changed, then put the planner's own back.

    :param planner: the planner.
    :param fields: (name, value) pairs of ReasonerConfig solver fields.
    :return: a context manager.
    """
    changes = dict(fields)
    previous = {name: getattr(planner.config, name) for name in changes}
    if changes:
        planner.set_solver(**changes)
    try:
        yield
    finally:
        if previous:
            planner.set_solver(**previous)


def solve_decisions(
    planner: PlannerNetwork,
    decisions: DecisionSet,
    criterion: Criterion,
    cap: int,
    device: torch.device,
) -> CurvePoint:
    """Solve every decision of a set with one adaptive setting, as the policy does (the planner
    builds the readout of the "readout" rule from the observation itself).

    :param planner: the planner.
    :param decisions: the set.
    :param criterion: the halting setting.
    :param cap: iteration cap.
    :param device: where it runs.
    :return: the point.
    """
    with solver_settings(planner, criterion.solver), torch.no_grad(), autocast(device):
        out = planner(decisions.obs, max_iters=cap, halting=criterion.rule)
    accuracy, field_accuracy = decisions.accuracy(planner, out.z)
    flags = {
        "converged": out.converged,
        "readout": out.readout_stable,
        "stalled": out.stalled,
        "diverged": out.diverged,
        "capped": out.capped,
    }
    halted = {
        name: 100.0 * float(flag.float().mean()) for name, flag in flags.items() if flag is not None
    }
    return CurvePoint(criterion, None, accuracy, field_accuracy, out.iterations.cpu(), halted)


def depth_curve(
    planner: PlannerNetwork,
    decisions: DecisionSet,
    depth: int,
    device: torch.device,
    until: Callable[[float], bool] | None = None,
    cap: int | None = None,
) -> list[CurvePoint]:
    """Fixed depth at every depth 1..``depth``: plain iterations (as the "fixed_depth" mode runs
    them, from the configured z0), read out after each. Past ``depth`` it goes on, up to ``cap``,
    while ``until`` of the last accuracy is False.

    :param planner: the planner.
    :param decisions: the set.
    :param depth: deepest depth always run.
    :param device: where it runs.
    :param until: accuracy -> whether the sweep may stop after ``depth``.
    :param cap: deepest depth at all.
    :return: one point per depth, in order.
    """
    reasoner = planner.reasoner
    with torch.no_grad(), autocast(device):
        x, mask = planner.embed(decisions.obs)
    x = x.float()
    z = initial_latent(reasoner.config, x, mask, None, None)
    x_in = x if mask is None else x * mask.unsqueeze(-1).to(x.dtype)
    points: list[CurvePoint] = []
    last = max(depth, cap or depth)
    for step in range(1, last + 1):
        with torch.no_grad(), autocast(device):
            z = reasoner.step(z, x_in, mask).to(x.dtype)
        accuracy, field_accuracy = decisions.accuracy(planner, z)
        iterations = torch.full((decisions.size,), step, dtype=torch.long)
        points.append(CurvePoint(None, step, accuracy, field_accuracy, iterations))
        if step >= depth and (until is None or until(accuracy)):
            break
    return points


@dataclass
class SetCurves:
    """Every criterion's points on one decision set, and the fixed-depth curve.

    :param decisions: the set.
    :param adaptive: one point per adaptive criterion, in the order of the criteria.
    :param fixed: the fixed-depth curve, depth 1 first.
    """

    decisions: DecisionSet
    adaptive: list[CurvePoint]
    fixed: list[CurvePoint]

    def point(self, criterion: Criterion) -> CurvePoint:
        """The point of a criterion.

        :param criterion: one of the set's criteria.
        :return: its point.
        """
        return next(p for p in self.adaptive if p.criterion == criterion)

    def at_depth(self, depth: int) -> CurvePoint:
        """The fixed-depth point at a depth the curve holds.

        :param depth: the depth.
        :return: its point.
        """
        return self.fixed[depth - 1]


def measure_curves(
    planner: PlannerNetwork,
    decisions: DecisionSet,
    criteria: Sequence[Criterion],
    bench: HaltingBenchConfig,
    device: torch.device,
    target: Callable[[list[CurvePoint]], float] | None = None,
    least_depth: int = 1,
) -> SetCurves:
    """Solve a set with every criterion, then sweep fixed depth.

    :param planner: the planner.
    :param decisions: the set.
    :param criteria: the adaptive settings.
    :param bench: the cap and the deepest curve depth.
    :param device: where it runs.
    :param target: adaptive points -> the accuracy the fixed-depth sweep must reach before it
        stops (it goes on to the cap while it has not); None: no such accuracy.
    :param least_depth: the sweep reaches at least this depth.
    :return: the curves.
    """
    cap = bench.max_iters
    adaptive = [solve_decisions(planner, decisions, c, cap, device) for c in criteria]
    most = max(int(p.iterations.max()) for p in adaptive)
    depth = bench.curve_depth or min(cap, max(8, 2 * most))
    depth = max(depth, min(least_depth, cap))
    goal = None if target is None else target(adaptive)
    until = None if goal is None else (lambda accuracy: accuracy >= goal)
    fixed = depth_curve(planner, decisions, depth, device, until, cap)
    return SetCurves(decisions, adaptive, fixed)


def cheapest_sufficient(points: Sequence[CurvePoint], target: float) -> CurvePoint | None:
    """The point with the fewest total iterations whose accuracy reaches ``target``.

    :param points: candidate points.
    :param target: the accuracy to reach, percent.
    :return: the point, or None when none reaches it.
    """
    sufficient = [p for p in points if p.accuracy >= target]
    return min(sufficient, key=lambda p: (p.total, -p.accuracy)) if sufficient else None


def _pick(points: Sequence[CurvePoint], target: float) -> tuple[CurvePoint, bool]:
    """The cheapest sufficient point, else the most accurate one (flagged False)."""
    chosen = cheapest_sufficient(points, target)
    if chosen is not None:
        return chosen, True
    return max(points, key=lambda p: (p.accuracy, -p.total)), False


def _rule_points(curves: SetCurves, rule: str) -> list[CurvePoint]:
    return [p for p in curves.adaptive if p.criterion is not None and p.criterion.rule == rule]


def _curve_rows(curves: SetCurves, marked: Sequence[CurvePoint]) -> list[list[str]]:
    """Table rows: every adaptive point, then fixed depths on a doubling grid and the marked."""
    n = curves.decisions.size
    depths = {p.depth for p in marked if p.depth is not None}
    step = 1
    while step <= len(curves.fixed):
        depths.add(step)
        step *= 2
    depths.add(len(curves.fixed))
    rows = []
    for point in [*curves.adaptive, *(curves.at_depth(d) for d in sorted(depths))]:
        its = point.iterations
        halted = ", ".join(f"{k} {v:.0f}%" for k, v in point.halted.items() if v > 0) or "-"
        star = " *" if any(point is m for m in marked) else ""
        rows.append(
            [
                point.label + star,
                f"{point.accuracy:.1f}%",
                f"{point.field_accuracy:.1f}%",
                f"{point.total:,}",
                f"{point.total / n:.1f} / {int(its.max())}",
                halted,
            ]
        )
    return rows


CURVE_HEADER = [
    "criterion",
    "decision accuracy",
    "field cell accuracy",
    "total iterations",
    "mean / max per decision",
    "halted by",
]


def plot_curves(curves: Sequence[tuple[str, SetCurves]], path: Path) -> None:
    """Accuracy against total iterations, one panel per set, one curve per rule (and per
    readout patience), the fixed-depth sweep as a line; saved as a PNG.

    :param curves: (title, curves) per panel.
    :param path: the PNG to write.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(1, len(curves), figsize=(6.5 * len(curves), 4.8), squeeze=False)
    for axis, (title, set_curves) in zip(axes[0], curves, strict=True):
        fixed = set_curves.fixed
        axis.plot(
            [p.total for p in fixed], [p.accuracy for p in fixed], "-", color="grey",
            label="fixed depth (1, 2, ...)",
        )  # fmt: skip
        groups: dict[str, list[CurvePoint]] = {}
        for point in set_curves.adaptive:
            assert point.criterion is not None
            groups.setdefault(point.criterion.curve or point.criterion.rule, []).append(point)
        for (key, points), marker in zip(groups.items(), "osD^v<>", strict=False):
            points = sorted(points, key=lambda p: p.total)
            axis.plot(
                [p.total for p in points], [p.accuracy for p in points], marker=marker,
                linestyle="-" if len(points) > 1 else "none", label=key,
            )  # fmt: skip
        axis.set_xscale("log")
        axis.set_xlabel("total iterations over the set")
        axis.set_ylabel("decision accuracy (%)")
        axis.set_title(title, fontsize=9)
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=7)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _points_text(point: CurvePoint) -> str:
    return f"{point.total:,} its, {point.accuracy:.1f}%"


def _curves_section(
    planner: PlannerNetwork,
    bench: HaltingBenchConfig,
    device: torch.device,
    report: BenchReport,
    out_dir: Path | None,
) -> None:
    """Accuracy against iterations per decision, every criterion, in distribution and shifted:
    the cheapest setting of each rule within a point of the best adaptive accuracy in
    distribution, and what the same settings (and the same fixed depth) give on the shift."""
    cap = bench.max_iters
    criteria = halting_criteria(bench, planner.config)
    in_mixed = MixedSet.for_planner(planner, bench.maze_sizes, bench.sudoku_blanks)
    low, high = bench.shift_sudoku_blanks
    shift_mixed = MixedSet.for_planner(planner, bench.shift_maze_sizes, high, low)
    in_set = DecisionSet.draw(
        planner,
        in_mixed,
        bench.eval_size,
        np.random.default_rng(bench.seed + 7),
        device,
        bench.decision_cells,
    )
    shift_set = DecisionSet.draw(
        planner,
        shift_mixed,
        bench.shift_size,
        np.random.default_rng(bench.seed + 8),
        device,
        bench.decision_cells,
    )
    in_curves = measure_curves(
        planner, in_set, criteria, bench, device, lambda p: best_adaptive(p) - ACCURACY_TOLERANCE
    )
    best = best_adaptive(in_curves.adaptive)
    target = best - ACCURACY_TOLERANCE
    chosen = {
        rule: _pick(_rule_points(in_curves, rule), target)
        for rule in ("readout", "fixed_point", "learned")
    }
    chosen["fixed depth"] = _pick(in_curves.fixed, target)
    depth = chosen["fixed depth"][0].depth
    assert depth is not None
    shift_curves = measure_curves(planner, shift_set, criteria, bench, device, least_depth=depth)
    shifted = {
        rule: shift_curves.at_depth(depth) if point.criterion is None
        else shift_curves.point(point.criterion)
        for rule, (point, _) in chosen.items()
    }  # fmt: skip
    marked = [point for point, _ in chosen.values()]
    for title, curves, extra in (
        ("in distribution", in_curves, marked),
        ("shifted", shift_curves, [shifted["fixed depth"]]),
    ):
        report.tables.append(
            Table(
                f"Accuracy against iterations per decision, {title}: "
                f"{curves.decisions.description}, cap {cap} (* = chosen in distribution)",
                CURVE_HEADER,
                _curve_rows(curves, extra),
            )
        )
    _equal_accuracy_report(in_curves, chosen, best, report)
    defaults = {
        f"{point.criterion.rule} (its default)": (point, shift_curves.point(point.criterion))
        for point in in_curves.adaptive
        if point.criterion is not None
        and point.criterion.default
        and point.criterion.rule != "learned"
    }
    _shift_report(chosen, shifted, defaults, in_mixed, shift_mixed, shift_set.size, report)
    if out_dir is not None:
        path = out_dir / "accuracy_vs_iterations.png"
        plot_curves(
            [
                (f"in distribution: {in_set.description}", in_curves),
                (f"shifted: {shift_set.description}", shift_curves),
            ],
            path,
        )
        report.notes.append(f"figure of accuracy against iterations: {path}")
    for name, curves in (("curves", in_curves), ("shift", shift_curves)):
        for point in _rule_points(curves, "readout"):
            if point.criterion is not None and point.criterion.default:
                report.values[f"{name}_default_readout_accuracy"] = point.accuracy
                report.values[f"{name}_default_readout_iterations"] = float(point.total)


def best_adaptive(points: Sequence[CurvePoint]) -> float:
    """The best decision accuracy of the fixed-point and readout settings (the rules the
    comparison at equal accuracy is about; the learned head is shown beside them).

    :param points: a set's adaptive points.
    :return: the accuracy, percent.
    """
    return max(
        p.accuracy for p in points if p.criterion is not None and p.criterion.rule != "learned"
    )


def _equal_accuracy_report(
    curves: SetCurves,
    chosen: Mapping[str, tuple[CurvePoint, bool]],
    best: float,
    report: BenchReport,
) -> None:
    """The table and ratios at equal accuracy in distribution."""
    n = curves.decisions.size
    table = Table(
        f"At equal accuracy in distribution: the cheapest setting of each rule within "
        f"{ACCURACY_TOLERANCE:g} point of the best adaptive accuracy ({best:.1f}%, of the "
        f"fixed_point and readout settings); difficulty: "
        + ("the cell's distance to the goal" if curves.decisions.start is not None else "blanks"),
        [
            "rule",
            "setting",
            "decision accuracy",
            "total iterations",
            "per decision",
            "Spearman(difficulty, iterations)",
            "reaches",
        ],
    )
    difficulty = curves.decisions.difficulty.numpy()
    for rule, (point, reaches) in chosen.items():
        rho = spearman(difficulty, point.iterations.numpy())
        table.rows.append(
            [
                rule,
                point.label,
                f"{point.accuracy:.1f}%",
                f"{point.total:,}",
                f"{point.total / n:.1f}",
                f"{rho:.2f}",
                "yes" if reaches else "NO (its most accurate shown)",
            ]
        )
        key = rule.replace(" ", "_")
        report.values[f"curves_{key}_accuracy"] = point.accuracy
        report.values[f"curves_{key}_iterations"] = float(point.total)
        report.values[f"spearman_curves_{key}"] = rho
    report.tables.append(table)
    readout, readout_ok = chosen["readout"]
    depth_point = chosen["fixed depth"][0]
    report.values.update(
        {
            "curves_decisions": float(n),
            "curves_best_adaptive_accuracy": best,
            "curves_fixed_depth": float(depth_point.depth or 0),
        }
    )
    for baseline, aim, label in (
        ("fixed depth", READOUT_VS_DEPTH_AIM, "smallest sufficient fixed depth"),
        ("fixed_point", READOUT_VS_FIXED_POINT_AIM, "fixed-point halting"),
    ):
        theirs, theirs_ok = chosen[baseline]
        value = readout.total / max(theirs.total, 1)
        name = theirs.label + ("" if theirs_ok else " (none sufficient)")
        report.ratios.append(
            RatioRow(
                f"readout vs {label}, per decision at equal accuracy: iterations",
                name,
                _points_text(readout),
                _points_text(theirs),
                value,
                f"{value:.2f}x",
                f"<= {aim:g}x",
                aim_at_most(value, aim) and readout_ok and theirs_ok,
            )
        )


def _shift_report(
    chosen: Mapping[str, tuple[CurvePoint, bool]],
    shifted: Mapping[str, CurvePoint],
    defaults: Mapping[str, tuple[CurvePoint, CurvePoint]],
    in_mixed: MixedSet,
    shift_mixed: MixedSet,
    shift_size: int,
    report: BenchReport,
) -> None:
    """The table and ratios of the in-distribution settings on the shifted set (and, in the
    table only, the rules' default settings: (in distribution, shifted) by name)."""
    table = Table(
        f"In distribution ({in_mixed.description}) vs shifted ({shift_mixed.description}): the "
        f"settings chosen in distribution, applied to both (and each rule's default settings)",
        ["rule", "setting", "in distribution", "shifted", "change", "shifted its / decision"],
    )
    lost: dict[str, float] = {}
    pairs = {rule: (point, shifted[rule]) for rule, (point, _) in chosen.items()}
    for rule, (point, other) in {**pairs, **defaults}.items():
        lost[rule] = point.accuracy - other.accuracy
        table.rows.append(
            [
                rule,
                point.label,
                f"{point.accuracy:.1f}%",
                f"{other.accuracy:.1f}%",
                f"{-lost[rule]:+.1f} pts",
                f"{other.total / shift_size:.1f}",
            ]
        )
        key = rule.replace(" (its default)", "_default").replace(" ", "_")
        report.values[f"shift_{key}_accuracy"] = other.accuracy
        report.values[f"shift_{key}_iterations"] = float(other.total)
    report.values["shift_decisions"] = float(shift_size)
    report.tables.append(table)
    for rule in ("fixed depth", "readout", "fixed_point"):
        if rule == "fixed depth":
            aim, met = f">= {SHIFT_DEPTH_LOSS_AIM:g} pts", lost[rule] >= SHIFT_DEPTH_LOSS_AIM
        else:
            aim, met = f"<= {SHIFT_ADAPTIVE_LOSS_AIM:g} pts", lost[rule] <= SHIFT_ADAPTIVE_LOSS_AIM
        report.ratios.append(
            RatioRow(
                f"shifted set: accuracy lost by {rule}",
                f"in distribution ({chosen[rule][0].label})",
                f"{shifted[rule].accuracy:.1f}%",
                f"{chosen[rule][0].accuracy:.1f}%",
                lost[rule],
                f"{lost[rule]:.1f} pts",
                aim,
                bool(met),
            )
        )


# ------------------------------------------------------------------------------------------------
# Agent level: whole greedy episodes, adaptive halting against fixed depth per decision.
# ------------------------------------------------------------------------------------------------


def smallest_sufficient_depth(
    success: Callable[[int], float], target: float, depths: Sequence[int], cap: int
) -> int | None:
    """The smallest depth whose success reaches ``target``: the depths in order (then the cap)
    until one does, then a bisection between it and the last one that did not (success taken as
    growing with depth).

    :param success: depth -> success, percent (each call may play episodes: called once a depth).
    :param target: the success to reach.
    :param depths: depths tried first, any order (those past ``cap`` are left out).
    :param cap: the deepest depth.
    :return: the depth, or None when not even the cap reaches the target.
    """
    tried = sorted({d for d in depths if d <= cap} | {cap})
    below = 0  # a depth known to fall short (0: none tried)
    for depth in tried:
        if success(depth) >= target:
            above = depth
            break
        below = depth
    else:
        return None
    while above - below > 1:
        middle = (above + below) // 2
        if success(middle) >= target:
            above = middle
        else:
            below = middle
    return above


def episode_env_id(planner: PlannerNetwork, bench: HaltingBenchConfig) -> str:
    """The env of the episode comparisons: ``bench.episode_env``, else the family's default.

    :param planner: the planner (its family and grid).
    :param bench: the settings.
    :return: the env id.
    """
    family = str(planner.task.get("family"))
    env_id = bench.episode_env or FAMILY_EPISODE_ENVS.get(family)
    if env_id is None and family == "sudoku":
        side = int(planner.task["grid_shape"][0])
        env_id = f"FPR/Sudoku-{side}x{side}-v0"
    if env_id is None:
        raise ValueError(f"no default episode env for the {family!r} family: give --episode-env")
    return env_id


@dataclass
class _Agents:
    """Greedy episodes of one planner under several halting rules, played once each."""

    planner: PlannerNetwork
    env_id: str
    bench: HaltingBenchConfig
    device: torch.device
    played: dict[tuple[str, int | None, bool, bool], RolloutResult] = field(default_factory=dict)

    def play(
        self, halting: str, depth: int | None = None, warm: bool = True, hold: bool = True
    ) -> RolloutResult:
        """The episodes of one agent (played on the first call).

        :param halting: the halting mode.
        :param depth: the fixed depth ("fixed_depth" only).
        :param warm: warm start within each episode.
        :param hold: decisions the kept plan already answers take no iteration (adaptive rules
            only; a fixed depth runs its depth every decision).
        :return: every decision and episode.
        """
        key = (halting, depth, warm, hold)
        if key not in self.played:
            bench = self.bench
            envs_ = [
                gym.make(self.env_id) for _ in range(min(bench.episode_envs, bench.agent_episodes))
            ]
            seeds = [bench.seed + 5000 + episode for episode in range(bench.agent_episodes)]
            with autocast(self.device):
                self.played[key] = run_episodes(
                    self.planner, envs_, seeds,
                    max_iters=depth if halting == "fixed_depth" else bench.max_iters,
                    halting=halting, warm_start=warm, hold_plans=hold,
                    max_steps=bench.episode_steps, device=self.device,
                )  # fmt: skip
            for env in envs_:
                env.close()
        return self.played[key]

    def success(self, depth: int, warm: bool = True) -> float:
        """Success of the fixed-depth agent, percent.

        :param depth: iterations per decision.
        :param warm: warm start within each episode.
        :return: the share of episodes that succeed.
        """
        return 100.0 * self.play("fixed_depth", depth, warm).success_rate


# The adaptive agents: the halting rule, and whether a decision the kept plan already answers
# (the world changed only as the last action said) is taken without iterating.
ADAPTIVE_AGENTS: dict[str, tuple[str, bool]] = {
    "readout": ("readout", True),
    "fixed_point": ("fixed_point", True),
    "readout_every_decision": ("readout", False),
}
ADAPTIVE_LABELS = {
    "readout": "readout, plans held",
    "fixed_point": "fixed_point, plans held",
    "readout_every_decision": "readout, solving every decision",
}


def _per_episode(result: RolloutResult) -> float:
    return sum(d.iterations for d in result.decisions) / max(len(result.episodes), 1)


def _agent_row(label: str, warm: bool, result: RolloutResult) -> list[str]:
    shares = {
        name: 100.0 * result.share(flag)
        for name, flag in (
            ("held", "held"), ("converged", "converged"), ("readout", "readout_stable"),
            ("stalled", "stalled"), ("capped", "capped"),
        )
    }  # fmt: skip
    halted = ", ".join(f"{k} {v:.0f}%" for k, v in shares.items() if v > 0) or "-"
    return [
        label,
        "warm" if warm else "cold",
        f"{100.0 * result.success_rate:.1f}%",
        str(len(result.episodes)),
        str(len(result.decisions)),
        f"{_per_episode(result):.1f}",
        f"{result.mean_iterations:.2f}",
        halted,
    ]


AGENT_HEADER = [
    "agent",
    "start",
    "success",
    "episodes",
    "decisions",
    "iterations per episode",
    "per decision",
    "halted by",
]


def _agent_section(agents: _Agents, report: BenchReport) -> None:
    """Success and iterations per episode: the readout and fixed-point agents (warm-started
    within their episodes) against the same planner at fixed depth per decision, warm-started
    too (and cold, per ``agent_fixed_starts``)."""
    planner, bench, env_id = agents.planner, agents.bench, agents.env_id
    cap = bench.max_iters
    adaptive = {
        rule: agents.play(halting, hold=hold) for rule, (halting, hold) in ADAPTIVE_AGENTS.items()
    }
    best: dict[tuple[str, str], int | None] = {}
    for start in bench.agent_fixed_starts:
        warm = start == "warm"
        for rule, result in adaptive.items():
            target = 100.0 * result.success_rate - ACCURACY_TOLERANCE
            best[(rule, start)] = smallest_sufficient_depth(
                functools.partial(agents.success, warm=warm),
                target,
                bench.agent_depths,
                cap,
            )
    config = planner.config
    cut = f", cut at {bench.episode_steps} steps" if bench.episode_steps else ""
    table = Table(
        f"Agent level: {bench.agent_episodes} greedy episodes of {env_id}{cut}, invalid actions "
        f"masked, the adaptive agents warm-started within an episode, fixed depth "
        f"{' and '.join(bench.agent_fixed_starts)}, cap {cap}; readout_tol "
        f"{config.readout_tol:g}, k {config.readout_patience}, decided "
        f"{config.readout_decided:g}, tol {config.tol:g}",
        AGENT_HEADER,
    )
    for rule, result in adaptive.items():
        table.rows.append(_agent_row(ADAPTIVE_LABELS[rule], True, result))
    played = sorted(
        (not warm, depth)
        for (mode, depth, warm, _) in agents.played
        if mode == "fixed_depth" and depth is not None
    )
    for cold, depth in played:
        result = agents.play("fixed_depth", depth, not cold)
        table.rows.append(_agent_row(f"fixed depth {depth}", not cold, result))
        key = f"agent_fixed{depth}" + ("_cold" if cold else "")
        report.values[f"{key}_iterations"] = float(sum(d.iterations for d in result.decisions))
        report.values[f"{key}_decisions"] = float(len(result.decisions))
    for (rule, start), best_depth in best.items():
        name = f"best fixed depth (vs {rule}): " + (
            f"{best_depth}"
            if best_depth is not None
            else f"none within {ACCURACY_TOLERANCE:g} pt to {cap}"
        )
        result = agents.play("fixed_depth", best_depth or cap, start == "warm")
        table.rows.append(_agent_row(name, start == "warm", result))
    report.tables.append(table)
    aim = AGENT_ITERATIONS_AIMS.get(env_id)
    for rule, result in adaptive.items():
        report.values[f"agent_{rule}_success"] = 100.0 * result.success_rate
        report.values[f"agent_{rule}_iterations_per_episode"] = _per_episode(result)
    for (rule, start), best_depth in best.items():
        result = adaptive[rule]
        fixed = agents.play("fixed_depth", best_depth or cap, start == "warm")
        value = _per_episode(result) / max(_per_episode(fixed), 1e-9)
        suffix = "" if start == "warm" else "_cold"
        report.values[f"agent_{rule}_best_depth{suffix}"] = float(best_depth or cap)
        report.values[f"agent_{rule}_vs_best_depth{suffix}"] = value
        label = f"agent: {rule} vs best fixed depth, iterations per episode"
        baseline = (
            f"fixed depth {best_depth}" if best_depth is not None else f"fixed depth {cap} (none)"
        )
        report.ratios.append(
            RatioRow(
                label if start == "warm" else f"{label} (fixed depth cold)",
                f"{baseline}, {start}",
                f"{_per_episode(result):.1f} its, {100 * result.success_rate:.0f}%",
                f"{_per_episode(fixed):.1f} its, {100 * fixed.success_rate:.0f}%",
                value,
                f"{value:.2f}x",
                "-" if aim is None else f"<= {aim:g}x",
                None if aim is None else aim_at_most(value, aim) and best_depth is not None,
            )
        )


def _difficulty_section(
    agents: _Agents,
    report: BenchReport,
    out_dir: Path | None,
) -> None:
    """Per decision, warm and cold: iterations against the state's difficulty, Spearman."""
    rules = ["readout", "fixed_point"] + (["learned"] if agents.bench.agent_learned else [])
    table = Table(
        f"Per decision, warm and cold start: iterations against the state's difficulty "
        f"(info['difficulty']), {agents.bench.agent_episodes} greedy episodes of {agents.env_id}",
        ["rule", "start", "success", "decisions", "iterations mean", "median", "max",
         "difficulty mean", "Spearman(difficulty, iterations)"],
    )  # fmt: skip
    panels: list[tuple[str, dict[str, RolloutResult]]] = []
    for rule in rules:
        runs = {"warm": agents.play(rule, warm=True), "cold": agents.play(rule, warm=False)}
        panels.append((rule, runs))
        for start, result in runs.items():
            iterations = [d.iterations for d in result.decisions]
            difficulty = [d.difficulty for d in result.decisions]
            rho = spearman(difficulty, iterations)
            report.values[f"spearman_{rule}_{start}"] = rho
            report.values[f"decision_iterations_{rule}_{start}"] = float(np.mean(iterations))
            table.rows.append(
                [
                    rule, start, f"{100 * result.success_rate:.1f}%", str(len(iterations)),
                    f"{np.mean(iterations):.2f}",
                    f"{np.median(iterations):.0f}", str(max(iterations)),
                    f"{np.mean(difficulty):.1f}", f"{rho:.2f}",
                ]
            )  # fmt: skip
    report.tables.append(table)
    if out_dir is not None:
        path = out_dir / "iterations_vs_difficulty.png"
        plot_difficulty(panels, agents.env_id, path)
        report.notes.append(f"iterations against difficulty per decision: {path}")


def plot_difficulty(
    panels: Sequence[tuple[str, Mapping[str, RolloutResult]]], env_id: str, path: Path
) -> None:
    """Iterations against difficulty per decision, one panel per rule, warm and cold; a PNG.

    :param panels: (rule, start -> episodes) per panel.
    :param env_id: the env, for the titles.
    :param path: the PNG to write.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 4.0), squeeze=False)
    for axis, (rule, runs) in zip(axes[0], panels, strict=True):
        for start, result in runs.items():
            difficulty = [d.difficulty for d in result.decisions]
            iterations = [d.iterations for d in result.decisions]
            rho = spearman(difficulty, iterations)
            axis.scatter(
                difficulty, iterations, s=8, alpha=0.5, label=f"{start} (Spearman {rho:.2f})"
            )
        axis.set_xlabel("difficulty of the state")
        axis.set_ylabel("iterations of the decision")
        axis.set_title(f"{rule}, {env_id}", fontsize=9)
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=7)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def run_benchmark(
    planner: PlannerNetwork,
    bench: HaltingBenchConfig,
    device: torch.device,
    trained: bool,
    origin: str,
    out_dir: str | Path | None = None,
    sections: Sequence[str] = SECTIONS,
) -> BenchReport:
    """Run the comparisons: the three of the module docstring, then the curves of accuracy
    against iterations (in distribution and shifted), the agent level and the per-decision
    Spearman correlations.

    :param planner: the planner (on ``device``).
    :param bench: sizes and repetitions.
    :param device: where to run.
    :param trained: whether the weights are trained (else accuracies are flagged meaningless).
    :param origin: where the weights came from, for the report.
    :param out_dir: folder of the figures (PNG); None draws none.
    :param sections: the sections to run, of :data:`SECTIONS`.
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
    folder = None if out_dir is None else Path(out_dir)
    if "halting" in sections:
        _halting_section(planner, mixed, bench, device, report)
    elif {"curves", "difficulty"} & set(sections):
        report.notes.append("learned halting head: the checkpoint's, not trained here")
    if "compaction" in sections:
        _compaction_section(planner, mixed, bench, device, report)
    if "warm" in sections:
        _warm_start_section(planner, bench, device, report, trained)
    if "curves" in sections:
        _curves_section(planner, bench, device, report, folder)
    agents = _Agents(planner, episode_env_id(planner, bench), bench, device)
    if "agent" in sections:
        _agent_section(agents, report)
    if "difficulty" in sections:
        _difficulty_section(agents, report, folder)
    return report


OPTION_FIELDS = (
    "rounds", "max_iters", "eval_size", "sudoku_blanks", "head_batches", "episodes",
    "episode_env", "episode_steps", "tols", "readout_tols", "readout_patiences",
    "readout_decided", "curve_depth", "shift_maze_sizes", "shift_sudoku_blanks", "shift_size",
    "agent_episodes", "agent_depths", "agent_learned", "agent_fixed_starts",
    "decision_cells",
)  # fmt: skip


def _none_help(text: str) -> dict[str, str]:
    return {"help": f"{text} (none: the bench config's)"}


@dataclass
class HaltingBenchArgs:
    """Arguments of ``python -m bench.halting``: every field is a ``--flag``; those of
    :data:`OPTION_FIELDS` (and ``--maze-sizes``) left None keep the bench config's value."""

    checkpoint: str = field(default=DEFAULT_CHECKPOINT, metadata={"help": "planner checkpoint"})
    random_weights: bool = field(
        default=False, metadata={"help": "ignore the checkpoint (random planner)"}
    )
    device: str = field(
        default="auto",
        metadata={"help": "auto (CUDA if present), cpu or cuda", "choices": DEVICE_CHOICES},
    )
    quick: bool = field(default=False, metadata={"help": "tiny sizes (for tests)"})
    sections: tuple[str, ...] = field(
        default=SECTIONS,
        metadata={
            "help": "sections to run; without 'halting' the learned head is the checkpoint's, "
            "untrained",
            "choices": SECTIONS,
        },
    )
    out: str = field(default=DEFAULT_OUT, metadata={"help": "folder of the figures ('': none)"})
    rounds: int | None = field(default=None, metadata=_none_help("timed rounds"))
    max_iters: int | None = field(default=None, metadata=_none_help("iteration cap"))
    eval_size: int | None = field(default=None, metadata=_none_help("puzzles in the accuracy set"))
    maze_sizes: tuple[int, ...] | None = field(
        default=None, metadata=_none_help("smallest,largest odd maze side of the mixes")
    )
    sudoku_blanks: float | None = field(
        default=None, metadata=_none_help("largest share of blanks (Sudoku)")
    )
    head_batches: int | None = field(default=None, metadata=_none_help("head training batches"))
    episodes: int | None = field(default=None, metadata=_none_help("warm/cold episodes"))
    episode_env: str | None = field(default=None, metadata=_none_help("env id of the episodes"))
    episode_steps: int | None = field(
        default=None, metadata=_none_help("cut episodes after this many steps")
    )
    tols: tuple[float, ...] | None = field(default=None, metadata=_none_help("fixed-point tols"))
    readout_tols: tuple[float, ...] | None = field(
        default=None, metadata=_none_help("readout tols")
    )
    readout_patiences: tuple[int, ...] | None = field(
        default=None, metadata=_none_help("readout patiences k")
    )
    readout_decided: tuple[float, ...] | None = field(
        default=None, metadata=_none_help("readout_decided values")
    )
    curve_depth: int | None = field(
        default=None, metadata=_none_help("deepest fixed depth of the curves")
    )
    shift_maze_sizes: tuple[int, ...] | None = field(
        default=None, metadata=_none_help("smallest,largest shifted maze side")
    )
    shift_sudoku_blanks: tuple[float, ...] | None = field(
        default=None, metadata=_none_help("smallest,largest share of blanks of the shifted Sudokus")
    )
    shift_size: int | None = field(default=None, metadata=_none_help("puzzles in the shifted set"))
    agent_episodes: int | None = field(
        default=None, metadata=_none_help("episodes per agent (agent level)")
    )
    agent_depths: tuple[int, ...] | None = field(
        default=None, metadata=_none_help("fixed depths tried first")
    )
    # Both bench configs play the learned head's agent: a plain --flag/--no-flag, always passed.
    agent_learned: bool = field(
        default=HaltingBenchConfig.agent_learned,
        metadata={"help": "also play the learned head's agent (per-decision Spearman)"},
    )
    agent_fixed_starts: tuple[str, ...] | None = field(
        default=None,
        metadata={
            "help": "starts of the fixed-depth agents: warm, cold or warm,cold (none: warm)",
            "choices": ("warm", "cold"),
        },
    )
    decision_cells: str | None = field(
        default=None,
        metadata={
            "help": "the agent's cell of a maze decision (curves): an unforced random cell, or "
            "the start (none: the bench config's)",
            "choices": DECISION_CELLS,
        },
    )
    threads: int = field(default=1, metadata={"help": "torch CPU threads"})
    seed: int = field(default=0, metadata={"help": "seed of puzzles, episodes and random weights"})

    def __post_init__(self) -> None:
        for name in ("maze_sizes", "shift_maze_sizes", "shift_sudoku_blanks"):
            value = getattr(self, name)
            if value is not None and len(value) != 2:
                raise ValueError(f"--{name.replace('_', '-')} takes two values, got {value}")
        self.bench_config()  # the config's own checks, as usage errors

    def bench_config(self) -> HaltingBenchConfig:
        """The bench config: the quick or full one, with the options given.

        :return: the config.
        :raises ValueError: a value the config refuses.
        """
        bench = QUICK_CONFIG if self.quick else HaltingBenchConfig()
        overrides: dict[str, Any] = {"seed": self.seed, **given_options(self, OPTION_FIELDS)}
        if self.maze_sizes is not None:
            overrides["maze_sizes"] = self.maze_sizes
        return replace(bench, **overrides)


def main(argv: Sequence[str] | None = None) -> BenchReport:
    """Run the benchmark from command-line arguments and print its tables.

    :param argv: arguments without the program name (None: ``sys.argv[1:]``).
    :return: the report that was printed.
    """
    args = parse_args(
        HaltingBenchArgs,
        argv,
        "Adaptive halting vs fixed depth and a learned head; compaction vs batch-level halting; "
        "warm vs cold start; accuracy against iterations per decision (in distribution and "
        "shifted); agent level; iterations against difficulty.",
    )
    device = resolve_bench_device(args.device)
    bench = args.bench_config()
    with torch_threads(args.threads):
        fields = QUICK_RANDOM_REASONER if args.quick else maze_reasoner_fields()
        loaded = load_planner_or_random(
            None if args.random_weights else args.checkpoint,
            device,
            "FPR/Maze-v0",
            fields,
            args.seed,
        )
        report = run_benchmark(
            loaded.planner,
            bench,
            device,
            loaded.trained,
            loaded.origin,
            args.out or None,
            args.sections,
        )
    print(format_report(report))
    return report


if __name__ == "__main__":
    main()
