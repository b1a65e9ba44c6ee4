"""Configuration of the Fixed-Point Reasoner, in two parts: the architecture (what the weights
mean) and the solver (how a solve runs). A checkpoint fixes the first; a user may change the
second. :class:`ReasonerConfig` holds both, flat."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

BLOCK_STYLES: tuple[str, ...] = ("gated", "prenorm", "postnorm")
HALTING_MODES: tuple[str, ...] = ("fixed_point", "readout", "fixed_depth", "learned")
READOUT_SIGNALS: tuple[str, ...] = ("probabilities", "choices", "plan")
Z0_MODES: tuple[str, ...] = ("zeros", "random", "given")


def _is_int(value: object) -> bool:
    """Whether ``value`` is an integer (and not a bool, which Python counts as one)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    """Whether ``value`` is a finite real number (int or float, not bool)."""
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


class _Checks:
    """Field checks shared by the configuration parts; each error names the class and field
    (``ArchitectureConfig.d_model ...``), so a flat :class:`ReasonerConfig` names itself."""

    def _fail(self, field: str, requirement: str) -> None:
        """Raise the ValueError for one field.

        :param field: name of the bad field.
        :param requirement: what the field must satisfy.
        """
        raise ValueError(
            f"{type(self).__name__}.{field} {requirement}, got {getattr(self, field)!r}"
        )

    def _check_positive_int(self, field: str) -> None:
        """Require an integer field to be >= 1.

        :param field: name of the field.
        """
        value = getattr(self, field)
        if not _is_int(value) or value < 1:
            self._fail(field, "must be an integer >= 1")

    def _check_open_unit(self, field: str) -> None:
        """Require a real field to lie strictly inside (0, 1).

        :param field: name of the field.
        """
        value = getattr(self, field)
        if not _is_real(value) or not 0.0 < value < 1.0:
            self._fail(field, "must be a real number strictly between 0 and 1")

    def _check_positive_real(self, field: str) -> None:
        """Require a real field to be finite and > 0.

        :param field: name of the field.
        """
        value = getattr(self, field)
        if not _is_real(value) or value <= 0:
            self._fail(field, "must be a finite real number > 0")


@dataclass
class ArchitectureConfig(_Checks):
    """The network of :class:`~fpr_agents.reasoner.core.FixedPointReasoner`: its shapes, and what
    its weights mean. A checkpoint fixes these (see :meth:`differences`).

    Paper symbols (Movahedi et al., 2026) map to names as follows: alpha_1 -> ``gate_init_layer``
    (the layer-wise gate a1), alpha_2 -> ``gate_init_iter`` (the iteration-wise gate a2).

    :param d_model: width d of the latent z and of the input embedding x.
    :param n_heads: attention heads; d_model / n_heads is the head width.
    :param n_layers: blocks L applied per iteration (each = attention + SwiGLU sub-block).
    :param mlp_ratio: SwiGLU hidden width as a multiple of d_model.
    :param attention: use grid self-attention; False gives the conv-only variant, which extrapolates
        to large grids at low cost (the attention sub-block is then left out).
    :param conv_kernel: side of the depthwise local-mixing convolution (odd).
    :param mlp_kernel: side of the MLP sub-block's projections (odd): 1 is the token-wise SwiGLU,
        3 or more makes both projections channel-mixing convolutions over the grid
        (:class:`~fpr_agents.reasoner.layers.ConvSwiGLU`), the strong local step that lets a
        conv-only planner carry a wave across a maze.
    :param position_embedding: when > 0, the planner's embedding adds learned absolute row and
        column embeddings for grids up to this side (Sudoku's boxes, ARC's mirror images); 0 keeps
        the model free of the grid size.
    :param edge_embedding: when > 0, the planner's embedding adds, for every grid whose extent
        the observation lists (the task's ``shapes_key``: ARC's demo pairs, test input and
        canvas), a learned embedding of each cell's distance to that grid's bottom and right
        edges, for grids up to this side. With ``position_embedding`` a cell can then find the
        cell mirrored across a grid of any width (a flip's source); 0: none.
    :param mirror_views: the planner's embedding also embeds every grid whose extent the
        observation lists mirrored left-right and top-bottom inside that extent, so a cell sees
        its mirror images' symbols where it sees its own (a flip, or a symmetry, becomes a
        per-cell comparison); needs a task with ``shapes_key``.
    :param gate_init_layer: initial value of the layer-wise gate a1, in (0, 1).
    :param gate_init_iter: initial value of the iteration-wise gate a2, in (0, 1).
    :param block_style: "gated" (the FPRM design), "prenorm" (ungated ``h = h + F(RMSNorm(h))``
        ablation) or "postnorm" (``h = RMSNorm(h + F(h))`` ablation); both ablations also use the
        plain residual local mixing ``z + conv(z)`` instead of the non-expansive one.
    :param rope_base: base of the 2D rotary position frequencies (grids are small: ~100 suits).
    :param eps: numerical epsilon of RMSNorm.
    """

    d_model: int = 64
    """Width d of the latent z and of the input embedding x."""
    n_heads: int = 4
    """Attention heads; d_model / n_heads is the head width (a multiple of 4 for 2D rotary)."""
    n_layers: int = 1
    """Blocks L per iteration, each an attention and a SwiGLU sub-block."""
    mlp_ratio: float = 2.0
    """SwiGLU hidden width = mlp_ratio * d_model."""
    attention: bool = True
    """Grid self-attention on (True) or the conv-only variant (False)."""
    conv_kernel: int = 3
    """Side of the depthwise local-mixing convolution; odd."""
    mlp_kernel: int = 1
    """Side of the MLP sub-block's projections; odd (1: token-wise SwiGLU, >1: ConvSwiGLU)."""
    position_embedding: int = 0
    """Largest grid side of the absolute row/column embeddings (0: none, size-free)."""
    edge_embedding: int = 0
    """Largest grid side of the per-grid distance-to-far-edge embeddings (0: none)."""
    mirror_views: bool = False
    """Embed each listed grid mirrored left-right and top-bottom inside its extent too."""
    gate_init_layer: float = 0.75
    """Initial layer-wise gate a1 (per channel, sigmoid-parametrised), in (0, 1)."""
    gate_init_iter: float = 0.25
    """Initial iteration-wise gate a2 (per channel, sigmoid-parametrised), in (0, 1)."""
    block_style: str = "gated"
    """'gated' (FPRM), 'prenorm' (ungated pre-norm ablation) or 'postnorm' (post-norm ablation)."""
    rope_base: float = 100.0
    """Base of the 2D rotary frequencies."""
    eps: float = 1e-6
    """Epsilon of RMSNorm."""

    def __post_init__(self) -> None:
        """Check every field; raise ValueError naming the first bad one."""
        self._check_architecture()

    @property
    def head_dim(self) -> int:
        """Width of one attention head.

        :return: d_model // n_heads.
        """
        return self.d_model // self.n_heads

    @property
    def mlp_hidden(self) -> int:
        """Hidden width of the SwiGLU sub-block.

        :return: max(1, round(mlp_ratio * d_model)).
        """
        return max(1, round(self.mlp_ratio * self.d_model))

    def differences(self, other: ArchitectureConfig) -> dict[str, tuple[Any, Any]]:
        """The architecture fields in which ``other`` differs from this one (a
        :class:`ReasonerConfig` is compared on its architecture part only).

        :param other: another architecture, e.g. the one a checkpoint was trained with.
        :return: field -> (this value, other's value), in field order; empty when they agree.
        """
        return {
            name: (getattr(self, name), getattr(other, name))
            for name in ARCHITECTURE_FIELDS
            if getattr(self, name) != getattr(other, name)
        }

    def _check_architecture(self) -> None:
        """Validate the fields that shape the network."""
        for field in ("d_model", "n_heads", "n_layers", "conv_kernel", "mlp_kernel"):
            self._check_positive_int(field)
        if not isinstance(self.attention, bool):
            self._fail("attention", "must be a bool")
        if self.attention:
            if self.d_model % self.n_heads != 0:
                self._fail("n_heads", f"must divide d_model={self.d_model}")
            if self.head_dim % 4 != 0:
                self._fail(
                    "n_heads",
                    "must leave a head width d_model/n_heads divisible by 4 (2D rotary)",
                )
        self._check_positive_real("mlp_ratio")
        if self.conv_kernel % 2 == 0:
            self._fail("conv_kernel", "must be odd")
        if self.mlp_kernel % 2 == 0:
            self._fail("mlp_kernel", "must be odd")
        if not _is_int(self.position_embedding) or self.position_embedding < 0:
            self._fail("position_embedding", "must be an integer >= 0")
        if not _is_int(self.edge_embedding) or self.edge_embedding < 0:
            self._fail("edge_embedding", "must be an integer >= 0")
        if not isinstance(self.mirror_views, bool):
            self._fail("mirror_views", "must be a bool")
        self._check_open_unit("gate_init_layer")
        self._check_open_unit("gate_init_iter")
        if self.block_style not in BLOCK_STYLES:
            self._fail("block_style", f"must be one of {BLOCK_STYLES}")
        self._check_positive_real("rope_base")
        if self.rope_base <= 1.0:
            self._fail("rope_base", "must be > 1")
        self._check_positive_real("eps")


@dataclass
class SolverConfig(_Checks):
    """How a solve runs (:func:`~fpr_agents.reasoner.solve.solve_fixed_point`): its halting rule,
    tolerances, caps, FPOPT damping and initial latent. None of it changes what the weights mean,
    so it may differ between training and use, or between a checkpoint and the run that loads it.

    Paper symbols (Movahedi et al., 2026) map to names as follows: epsilon -> ``tol``,
    eta / gamma / patience -> the FPOPT fields of the same names.

    :param tol: halting threshold on the relative residual r.
    :param max_iters: most applications of f in one solve.
    :param halting: "fixed_point" (r < tol with FPOPT damping), "readout" (what the decision
        reads has stopped changing and is decided, or r < tol; no damping), "fixed_depth" (always
        ``fixed_depth`` iterations) or "learned" (a Q-halt head decides).
    :param fixed_depth: iterations run by the "fixed_depth" halting mode.
    :param readout_tol: the "readout" rule's tolerance on the change of the readout's
        probabilities between two iterations (max-norm).
    :param readout_patience: consecutive iterations the readout must stay within
        ``readout_tol`` and decided before the "readout" rule halts (k).
    :param readout_decided: a readout is decided when the probability of its most likely
        choice is at least this; below it the planner has not made up its mind ("no decision
        yet", as a maze cell the plan has not reached yet), and the rule waits.
    :param readout_signal: what the "readout" rule watches: "probabilities" (the readout's
        probabilities, within ``readout_tol``), "choices" (only which choice is most likely:
        the move at the agent's cell, or every open cell's most likely symbol; decided when every
        open cell's is ``readout_decided`` likely) or "plan" (move layouts: the most likely
        move of every cell whose move is ``readout_decided`` likely, the whole plan rather than
        the agent's cell, decided when the agent's move is; symbol layouts: as "choices", which
        already reads every open cell). A greedy agent acts on choices, which settle well before
        their probabilities stop drifting; a plan that an event changed far from the agent
        settles only when the whole changed region has.
    :param hold_decided: a decision is taken from the kept plan without iterating (the world
        changed only as the last action said, ``PlannerNetwork.forward(hold=...)``) only where
        the action it gives is at least this likely: a plan that is merely decided can still be
        wrong where a fresh look at the new observation would correct it.
    :param readout_fresh_tol: a readout decided from the very start of a solve (a warm start's
        old decision) is trusted by the "readout" rule only once the whole-latent residual is
        below this: a change far from the read cell (a door closing across the maze) needs
        iterations to reach it, during which the old decision holds still. A readout that was
        undecided at some point of the solve needs no such check (its decision arrived),
        unless ``readout_warm_check`` is set.
    :param readout_warm_check: the ``readout_fresh_tol`` check applies to every solve whose
        readout was decided when it began (a warm start's old decision), even when the decision
        went undecided and came back during the solve: the news that unsettled it reached the
        read cell first and may still be crossing the rest of the plan. A solve that began
        undecided (a cold start) is never checked.
    :param stall_patience: stall guard of every rule but "fixed_depth": a sample that makes no
        progress for this many iterations halts, flagged ``stalled`` (0 turns the guard off).
        Progress is a new cell settling (its change below ``tol``) or the residual halving since
        the last progress: a wave crossing a maze settles cells every iteration and goes on,
        while a limit cycle or a slow drift settles none and is stopped.
    :param eta0: initial FPOPT step size eta, in (0, 1].
    :param patience: FPOPT iterations without a new best residual before eta is reduced.
    :param gamma: FPOPT factor applied to eta on each reduction, in (0, 1).
    :param eta_min: a sample whose eta falls below this halts (unconverged).
    :param z0_mode: initial latent: "zeros", "random" (Gaussian, per-sample seeded) or "given".
    :param z0_std: standard deviation of the "random" initial latent.
    :param z0_seed: seed of the "random" initial latent when the caller gives no per-sample seeds.
    :param divergence_limit: a sample whose latent exceeds this in max-norm (or is not finite) halts
        as diverged.
    :param residual_eps: added to the scale ``max over cells |f(z)|_inf`` that the relative
        residual divides by.
    """

    tol: float = 1e-3
    """A sample converges when its relative residual falls below tol."""
    max_iters: int = 64
    """Most applications of f in one solve."""
    halting: str = "fixed_point"
    """'fixed_point', 'readout', 'fixed_depth' or 'learned' (Q-halt head)."""
    fixed_depth: int = 16
    """Iterations of the 'fixed_depth' halting mode."""
    readout_tol: float = 0.01
    """'readout' rule: largest change of a readout probability counted as no change."""
    readout_patience: int = 2
    """'readout' rule: consecutive stable, decided iterations before halting (k)."""
    readout_decided: float = 0.5
    """'readout' rule: smallest top probability of a decided readout."""
    readout_signal: str = "probabilities"
    """'readout' rule: 'probabilities' (within readout_tol), 'choices' (most likely only) or
    'plan' (every cell's most likely move, on move layouts)."""
    hold_decided: float = 0.99
    """Smallest probability of the action a kept plan gives for it to be held (no iteration).
    At 0.5 the 9x9 Sudoku planner held plans that a fresh look would have corrected (81% of 48
    episodes solved, 94% when every decision is solved); at 0.99, 94%."""
    readout_fresh_tol: float = 0.05
    """'readout' rule: residual below which a decision held since the start is trusted."""
    readout_warm_check: bool = False
    """'readout' rule: check every solve that began decided against readout_fresh_tol, not
    only those whose decision never went undecided."""
    stall_patience: int = 256
    """Iterations without progress after which a sample halts as stalled (0: off). On 33x33
    mazes the shipped wave planner went 64 iterations without a new cell settling while its
    wave was still crossing (2 of 12 episodes lost at 64; none at 256)."""
    eta0: float = 1.0
    """Initial FPOPT step size, in (0, 1]."""
    patience: int = 16
    """FPOPT iterations without improvement before eta is multiplied by gamma. A wave crossing a
    large maze keeps the residual from improving for several iterations at a time: with 4, the
    maze planner halted 88% of 33x33 mazes unconverged; with 16, none."""
    gamma: float = 0.5
    """FPOPT step-size reduction factor, in (0, 1)."""
    eta_min: float = 1.0 / 64.0
    """A sample halts (unconverged) once its eta falls below eta_min."""
    z0_mode: str = "zeros"
    """Initial latent: 'zeros', 'random' or 'given'."""
    z0_std: float = 1.0
    """Standard deviation of the 'random' initial latent."""
    z0_seed: int = 0
    """Seed of the 'random' initial latent when no per-sample seeds are given."""
    divergence_limit: float = 1e4
    """Max-norm of the latent beyond which a sample halts as diverged."""
    residual_eps: float = 1e-6
    """Epsilon of the relative residual's denominator."""

    def __post_init__(self) -> None:
        """Check every field; raise ValueError naming the first bad one."""
        self._check_solver()

    def _check_solver(self) -> None:
        """Validate the halting, FPOPT and initial-state fields."""
        if not _is_real(self.tol) or self.tol < 0:
            self._fail("tol", "must be a finite real number >= 0")
        self._check_positive_int("max_iters")
        if self.halting not in HALTING_MODES:
            self._fail("halting", f"must be one of {HALTING_MODES}")
        self._check_positive_int("fixed_depth")
        if not _is_real(self.readout_tol) or self.readout_tol < 0:
            self._fail("readout_tol", "must be a finite real number >= 0")
        self._check_positive_int("readout_patience")
        if not _is_real(self.readout_decided) or not 0.0 <= self.readout_decided <= 1.0:
            self._fail("readout_decided", "must be a real number in [0, 1]")
        if self.readout_signal not in READOUT_SIGNALS:
            self._fail("readout_signal", f"must be one of {READOUT_SIGNALS}")
        if not _is_real(self.hold_decided) or not 0.0 <= self.hold_decided <= 1.0:
            self._fail("hold_decided", "must be a real number in [0, 1]")
        if not _is_real(self.readout_fresh_tol) or self.readout_fresh_tol < 0:
            self._fail("readout_fresh_tol", "must be a finite real number >= 0")
        if not isinstance(self.readout_warm_check, bool):
            self._fail("readout_warm_check", "must be true or false")
        if not _is_int(self.stall_patience) or self.stall_patience < 0:
            self._fail("stall_patience", "must be an integer >= 0")
        if not _is_real(self.eta0) or not 0.0 < self.eta0 <= 1.0:
            self._fail("eta0", "must be a real number in (0, 1]")
        self._check_positive_int("patience")
        self._check_open_unit("gamma")
        self._check_positive_real("eta_min")
        if self.eta_min > self.eta0:
            self._fail("eta_min", f"must be <= eta0={self.eta0}")
        if self.z0_mode not in Z0_MODES:
            self._fail("z0_mode", f"must be one of {Z0_MODES}")
        self._check_positive_real("z0_std")
        if not _is_int(self.z0_seed) or self.z0_seed < 0:
            self._fail("z0_seed", "must be an integer >= 0")
        self._check_positive_real("divergence_limit")
        self._check_positive_real("residual_eps")


# What a checkpoint fixes, and what a run may change, as field names (``train`` and the planner
# refuse solver overrides that name an architecture field).
ARCHITECTURE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(ArchitectureConfig))
SOLVER_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(SolverConfig))


# Bases in this order put the architecture fields first in ``fields`` and ``asdict``.
@dataclass
class ReasonerConfig(SolverConfig, ArchitectureConfig):
    """Every setting of :class:`~fpr_agents.reasoner.core.FixedPointReasoner` and its solver:
    the fields of :class:`ArchitectureConfig` and of :class:`SolverConfig`, flat
    (``ReasonerConfig(d_model=32, tol=1e-3)``, ``config.d_model``, ``dataclasses.asdict``, the
    flat dict a checkpoint stores). It is both an ArchitectureConfig and a SolverConfig, so it
    goes wherever either is wanted; :attr:`architecture` and :attr:`solver` give each part on
    its own, and :meth:`from_parts` joins two parts. See the parts for the fields.
    """

    def __post_init__(self) -> None:
        """Check every field of both parts; raise ValueError naming the first bad one."""
        self._check_architecture()
        self._check_solver()

    @property
    def architecture(self) -> ArchitectureConfig:
        """The architecture part, on its own.

        :return: a new ArchitectureConfig with this configuration's architecture fields.
        """
        return ArchitectureConfig(**{name: getattr(self, name) for name in ARCHITECTURE_FIELDS})

    @property
    def solver(self) -> SolverConfig:
        """The solver part, on its own.

        :return: a new SolverConfig with this configuration's solver fields.
        """
        return SolverConfig(**{name: getattr(self, name) for name in SOLVER_FIELDS})

    @classmethod
    def from_parts(cls, architecture: ArchitectureConfig, solver: SolverConfig) -> ReasonerConfig:
        """Join an architecture and a solver (e.g. a checkpoint's architecture with this run's
        solver).

        :param architecture: the architecture part (only its architecture fields are read).
        :param solver: the solver part (only its solver fields are read).
        :return: the flat configuration.
        """
        return cls(
            **{name: getattr(architecture, name) for name in ARCHITECTURE_FIELDS},
            **{name: getattr(solver, name) for name in SOLVER_FIELDS},
        )

    def with_solver(self, **changes: Any) -> ReasonerConfig:
        """This configuration with solver fields changed; the architecture stays.

        :param changes: SolverConfig fields and their new values, e.g. ``max_iters=256``.
        :return: the new configuration (validated).
        :raises ValueError: naming the architecture fields among ``changes`` ("shape the
            weights"), or the fields that are no configuration field at all.
        """
        shaping = [name for name in changes if name in ARCHITECTURE_FIELDS]
        if shaping:
            raise ValueError(
                f"ReasonerConfig.with_solver: {shaping} shape the weights and cannot change"
            )
        unknown = [name for name in changes if name not in SOLVER_FIELDS]
        if unknown:
            raise ValueError(
                f"ReasonerConfig.with_solver: {unknown} are no solver fields; those are "
                f"{list(SOLVER_FIELDS)}"
            )
        return ReasonerConfig.from_parts(self, SolverConfig(**{**asdict(self.solver), **changes}))
