"""Pretraining's named components: the objective that scores a readout, the regularisers added to
it, and the starting latents a batch may begin from. A recipe selects them by name
(``objective: wavefront``, ``regularisers: [residual]``, ``starts: [event_switch]``); each one is
a small class with its parameters, built once per run by :func:`build_components`, so a new
training idea is a new entry in one of the tables below, not a new branch in ``main``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from envs.maze_events import EVENT_KINDS
from fpr_agents.policy.planner import PlannerNetwork
from train.oracle_data import (
    MazeOracle,
    OracleBatch,
    OracleSource,
    set_loss,
    wavefront_cells,
    wavefront_loss,
)

# ---------------------------------------------------------------------------------------------
# Objectives: the loss of one deep-supervision round's readout.


class Objective(Protocol):
    """Scores the readout after a round; says which cells should hold still."""

    maze_only: bool

    def loss(
        self,
        logits: torch.Tensor,
        batch: OracleBatch,
        iterations: int,
        mask: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The round's loss.

        :param logits: per-cell readout, (B, H, W, C).
        :param batch: the batch (targets, cells, extras).
        :param iterations: iterations applied since the latent was zero.
        :param mask: (B, H, W) bool of the cells inside each grid, or None.
        :return: the scalar loss, and the (B, H, W) cells that should hold still (None: all).
        """
        ...


@dataclass
class SetObjective:
    """Every supervised cell's readout against its set of right answers (any of several equally
    short moves counts)."""

    maze_only = False

    def loss(
        self,
        logits: torch.Tensor,
        batch: OracleBatch,
        iterations: int,
        mask: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """See :class:`Objective`."""
        return set_loss(logits, batch.optimal, batch.cells), None


@dataclass
class WavefrontObjective:
    """Maze: after t iterations, supervise the moves only within ``low * t`` of the goal and ask
    for "no decision" beyond ``high * t``; cells that cannot reach the goal get no decision.

    :param low: cells per iteration the known band grows by.
    :param high: cells per iteration beyond which no decision is asked for.
    """

    low: float
    high: float
    maze_only = True

    def __post_init__(self) -> None:
        if not (0 < self.low <= self.high and math.isfinite(self.high)):
            raise ValueError(
                f"--wave-speeds needs two numbers 0 < LO <= HI (finite), got {self.low},{self.high}"
            )

    def loss(
        self,
        logits: torch.Tensor,
        batch: OracleBatch,
        iterations: int,
        mask: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """See :class:`Objective`; the cells outside the band the wave is crossing hold still."""
        distance = batch.extra["distance"].to(logits.device)  # (B, H, W)
        free = batch.obs["grid"] > 0  # (B, H, W)
        known, unknown = wavefront_cells(distance, iterations, self.low, self.high, free=free)
        band = (distance > 0) & ~known & ~unknown
        still = ~band if mask is None else mask & ~band
        return wavefront_loss(logits, batch.optimal, known, unknown), still


# ---------------------------------------------------------------------------------------------
# Regularisers: terms added to the objective, or noise in the unroll.


class Regulariser(Protocol):
    """A term added to a round's loss (or noise in the unroll without gradient)."""

    @property
    def unroll_noise(self) -> float:
        """The standard deviation of the noise added to the latent in the unroll (0: none)."""
        ...

    def penalty(
        self,
        planner: PlannerNetwork,
        z: torch.Tensor,
        x: torch.Tensor,
        mask: torch.Tensor | None,
        still: torch.Tensor | None,
    ) -> torch.Tensor | None:
        """The term, or None when this regulariser adds none.

        :param planner: the planner being trained.
        :param z: the round's final latent, (B, H, W, d), with gradient.
        :param x: the input embedding, (B, H, W, d).
        :param mask: (B, H, W) bool of the cells inside each grid, or None.
        :param still: (B, H, W) bool of the cells that should hold still, or None (all).
        :return: a scalar, or None.
        """
        ...


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


@dataclass
class ResidualPenalty:
    """Teach the planner to hold its answer: one more iteration from the readout state should
    not move it (relative to the latent's scale).

    :param weight: the term's weight.
    """

    weight: float
    unroll_noise = 0.0

    def __post_init__(self) -> None:
        if not (self.weight >= 0 and math.isfinite(self.weight)):
            raise ValueError(f"--residual-weight must be >= 0 (finite), got {self.weight}")

    def penalty(
        self,
        planner: PlannerNetwork,
        z: torch.Tensor,
        x: torch.Tensor,
        mask: torch.Tensor | None,
        still: torch.Tensor | None,
    ) -> torch.Tensor | None:
        """See :class:`Regulariser`."""
        moved = planner.reasoner.step(z, x, mask) - z  # (B, H, W, d)
        scale = z.detach().pow(2).mean().clamp_min(1e-6)
        return self.weight * residual_penalty(moved, still) / scale


@dataclass
class LatentNoise:
    """Gaussian noise added to the latent after every training iteration, relative to its RMS:
    the planner learns to return to its plan from nearby states.

    :param scale: the noise's standard deviation relative to the latent's RMS.
    """

    scale: float

    def __post_init__(self) -> None:
        if not (self.scale >= 0 and math.isfinite(self.scale)):
            raise ValueError(f"--latent-noise must be >= 0 (finite), got {self.scale}")

    @property
    def unroll_noise(self) -> float:
        """The noise the unroll adds."""
        return self.scale

    def penalty(
        self,
        planner: PlannerNetwork,
        z: torch.Tensor,
        x: torch.Tensor,
        mask: torch.Tensor | None,
        still: torch.Tensor | None,
    ) -> torch.Tensor | None:
        """No loss term (see :class:`Regulariser`)."""
        return None


# ---------------------------------------------------------------------------------------------
# Starting latents: where a batch's solve begins instead of zero.


class StartState(Protocol):
    """A starting latent for a share of the batches."""

    share: float

    def start(
        self,
        planner: PlannerNetwork,
        source: OracleSource,
        batch: OracleBatch,
        rng: np.random.Generator,
    ) -> tuple[OracleBatch, torch.Tensor]:
        """The batch to train on and its starting latent.

        :param planner: the planner being trained.
        :param source: the data source.
        :param batch: the drawn batch (on the planner's device).
        :param rng: the source of randomness.
        :return: the batch (possibly changed) and the latent (B, H, W, d), without gradient.
        """
        ...


def _plan_from_zero(
    planner: PlannerNetwork, x: torch.Tensor, mask: torch.Tensor | None, iterations: int
) -> torch.Tensor:
    """The plan a start begins from: ``iterations`` steps from a zero latent.

    :param planner: the planner being trained.
    :param x: input embedding, (B, H, W, d).
    :param mask: (B, H, W) bool or None.
    :param iterations: steps to apply.
    :return: the latent, (B, H, W, d) (callers run without gradient).
    """
    z = torch.zeros_like(x)
    for _ in range(iterations):
        z = planner.reasoner.step(z, x, mask)
    return z


def _check_share(flag: str, share: float) -> None:
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"{flag} must be a share in [0, 1], got {share}")


@dataclass
class GoalSwitchStart:
    """Maze: start from the plan of the same mazes with another goal (or, for a share
    ``removes``, with none), iterated 1 to ``iters`` times from zero: the planner learns to
    overwrite an old plan.

    :param share: share of batches that start so.
    :param iters: most iterations on the other goal (drawn 1..iters once per batch).
    :param removes: share of switches whose maze has no goal at all.
    """

    share: float
    iters: int
    removes: float

    def __post_init__(self) -> None:
        _check_share("--goal-switch", self.share)
        _check_share("--switch-removes", self.removes)
        if self.iters < 1:
            raise ValueError(f"--switch-iters must be >= 1, got {self.iters}")

    @torch.no_grad()
    def start(
        self,
        planner: PlannerNetwork,
        source: OracleSource,
        batch: OracleBatch,
        rng: np.random.Generator,
    ) -> tuple[OracleBatch, torch.Tensor]:
        """See :class:`StartState`; the batch is unchanged."""
        assert isinstance(source, MazeOracle)  # build_components checks the family
        device = batch.obs["grid"].device
        moved = source.moved_goals(batch.to(torch.device("cpu")), rng, self.removes)
        x, mask = planner.embed({k: v.to(device) for k, v in moved.items()})  # (B, H, W, d)
        return batch, _plan_from_zero(planner, x, mask, int(rng.integers(1, self.iters + 1)))


@dataclass
class EventSwitchStart:
    """Maze: start where a planner stands when its world changes: the plan of the mazes before
    a random event each (``iters`` iterations from zero), with the mazes after it and their new
    plan as the targets.

    :param share: share of batches that start so.
    :param iters: iterations of the plan before the event.
    :param kinds: event kinds drawn from.
    """

    share: float
    iters: int
    kinds: tuple[str, ...]

    def __post_init__(self) -> None:
        _check_share("--event-switch", self.share)
        if self.iters < 1:
            raise ValueError(f"--event-iters must be >= 1, got {self.iters}")
        unknown = sorted(set(self.kinds) - set(EVENT_KINDS)) or ([] if self.kinds else ["''"])
        if unknown:
            raise ValueError(f"--event-kinds: unknown kinds {unknown}; choose from {EVENT_KINDS}")

    @torch.no_grad()
    def start(
        self,
        planner: PlannerNetwork,
        source: OracleSource,
        batch: OracleBatch,
        rng: np.random.Generator,
    ) -> tuple[OracleBatch, torch.Tensor]:
        """See :class:`StartState`; the batch returned is the one after the events."""
        assert isinstance(source, MazeOracle)  # build_components checks the family
        device = batch.obs["grid"].device
        after, _ = source.after_events(batch.to(torch.device("cpu")), rng, self.kinds)
        x, mask = planner.embed(batch.obs)  # (B, H, W, d): the maze before the events
        return after.to(device), _plan_from_zero(planner, x, mask, self.iters)


OBJECTIVES: tuple[str, ...] = ("set", "wavefront")
REGULARISERS: tuple[str, ...] = ("residual", "latent_noise")
STARTS: tuple[str, ...] = ("goal_switch", "event_switch")
MAZE_ONLY_STARTS = frozenset(STARTS)


@dataclass
class Components:
    """The components one pretraining run uses.

    :param objective: the loss of each round.
    :param regularisers: terms added to it, in order.
    :param starts: starting latents, tried in order for each batch.
    """

    objective: Objective
    regularisers: Sequence[Regulariser]
    starts: Sequence[tuple[str, StartState]]

    @property
    def unroll_noise(self) -> float:
        """Noise added to the latent in the unroll (the regularisers' total)."""
        return sum(r.unroll_noise for r in self.regularisers)

    def draw_start(
        self,
        planner: PlannerNetwork,
        source: OracleSource,
        batch: OracleBatch,
        rng: np.random.Generator,
    ) -> tuple[OracleBatch, torch.Tensor | None]:
        """Draw this batch's start: each start in turn takes it with its share.

        :param planner: the planner being trained.
        :param source: the data source.
        :param batch: the drawn batch.
        :param rng: the source of randomness.
        :return: the batch and its starting latent (None: zero).
        """
        for _, start in self.starts:
            if start.share > 0 and rng.random() < start.share:
                return start.start(planner, source, batch, rng)
        return batch, None

    def penalty(
        self,
        planner: PlannerNetwork,
        z: torch.Tensor,
        x: torch.Tensor,
        mask: torch.Tensor | None,
        still: torch.Tensor | None,
    ) -> torch.Tensor | None:
        """The regularisers' terms summed (None when none adds one).

        :param planner: the planner.
        :param z: the round's latent, (B, H, W, d).
        :param x: the input embedding, (B, H, W, d).
        :param mask: the grid cells, or None.
        :param still: the cells that should hold still, or None.
        :return: a scalar, or None.
        """
        terms = [r.penalty(planner, z, x, mask, still) for r in self.regularisers]
        present = [t for t in terms if t is not None]
        return sum(present[1:], present[0]) if present else None


def build_components(
    objective: str,
    regularisers: Sequence[str],
    starts: Sequence[str],
    *,
    wave_speeds: Sequence[float],
    residual_weight: float,
    latent_noise: float,
    goal_switch: float,
    switch_iters: int,
    switch_removes: float,
    event_switch: float,
    event_iters: int,
    event_kinds: Sequence[str],
    family: str | None = None,
) -> Components:
    """Build the named components with their parameters and check they fit together.

    :param objective: one of :data:`OBJECTIVES`.
    :param regularisers: names from :data:`REGULARISERS`.
    :param starts: names from :data:`STARTS`.
    :param wave_speeds: the wavefront objective's LO,HI.
    :param residual_weight: the residual regulariser's weight.
    :param latent_noise: the latent-noise regulariser's scale.
    :param goal_switch: the goal-switch start's share.
    :param switch_iters: its most iterations on the other goal.
    :param switch_removes: its share of goal removals.
    :param event_switch: the event-switch start's share.
    :param event_iters: its iterations before the event.
    :param event_kinds: its event kinds.
    :param family: the data source's family; maze-only components refuse others (None: unchecked).
    :return: the components.
    :raises ValueError: an unknown name, bad parameters, or components that do not fit.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"--objective: unknown {objective!r}; choose from {OBJECTIVES}")
    for flag, names, table in (("--regularisers", regularisers, REGULARISERS),
                               ("--starts", starts, STARTS)):  # fmt: skip
        unknown = sorted(set(names) - set(table))
        if unknown:
            raise ValueError(f"{flag}: unknown {unknown}; choose from {table}")
    built_objective: Objective
    if objective == "wavefront":
        if len(wave_speeds) != 2:
            raise ValueError(f"--wave-speeds must be two numbers LO,HI, got {tuple(wave_speeds)}")
        built_objective = WavefrontObjective(float(wave_speeds[0]), float(wave_speeds[1]))
    else:
        built_objective = SetObjective()
    built_regularisers: list[Regulariser] = []
    for name in regularisers:
        if name == "residual":
            built_regularisers.append(ResidualPenalty(residual_weight))
        else:
            built_regularisers.append(LatentNoise(latent_noise))
    built_starts: list[tuple[str, StartState]] = []
    for name in starts:
        if name == "goal_switch":
            built_starts.append((name, GoalSwitchStart(goal_switch, switch_iters, switch_removes)))
        else:
            built_starts.append(
                (name, EventSwitchStart(event_switch, event_iters, tuple(event_kinds)))
            )
    if objective == "wavefront" and "goal_switch" in starts:
        raise ValueError(
            "the wavefront objective counts iterations from a zero latent; the goal_switch start "
            "begins from another plan's latent: use one or the other"
        )
    if family is not None and family != "maze":
        maze_only = [f"--objective {objective}"] if built_objective.maze_only else []
        maze_only += [f"--starts {name}" for name in starts if name in MAZE_ONLY_STARTS]
        if maze_only:
            raise ValueError(f"{', '.join(maze_only)} is for maze envs, not the {family!r} family")
    return Components(built_objective, built_regularisers, built_starts)
