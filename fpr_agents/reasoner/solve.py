"""Test-time solving: iterate the reasoner's map per sample until it halts.

Halting modes: "fixed_point" (relative residual below ``tol``, with FPOPT step-size damping),
"readout" (what the decision reads has stopped changing and is decided), "fixed_depth" (a set
number of plain iterations) and "learned" (a Q-halt head decides). Under every mode but
"fixed_depth" a stall guard stops a sample that has stopped making progress (a limit cycle, a
slow drift) instead of running it to the cap. Samples that halt leave the active batch
(compaction), so each sample costs only its own iterations and its result never depends on its
batch-mates.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from typing_extensions import TypedDict, Unpack

from fpr_agents.reasoner.config import HALTING_MODES, SolverConfig
from fpr_agents.reasoner.lone import LoneRules, LoneState, as_float32, iterate_lone
from fpr_agents.reasoner.stepped import Readout, SteppedMap


@dataclass
class SolveResult:
    """The outcome of :func:`solve_fixed_point`, per sample.

    :param z: final latent, (B, H, W, d), zero on padded cells. For a diverged sample, the last
        latent that passed the divergence guard.
    :param iterations: applications of f spent on each sample, (B,) long.
    :param residual: relative residual of the last iterate, (B,) float32; inf when diverged.
    :param converged: whether the residual fell below the tolerance, (B,) bool.
    :param diverged: whether the latent became non-finite or exceeded the divergence limit, (B,).
    :param trace: when asked for, each sample's residual at each of its iterations; else None.
    :param stalled: halted by the stall guard (no progress for ``stall_patience`` iterations, or
        FPOPT's step size below ``eta_min``), (B,) bool.
    :param readout_stable: halted by the "readout" rule (its readout stable and decided), (B,).
    """

    z: torch.Tensor
    iterations: torch.Tensor
    residual: torch.Tensor
    converged: torch.Tensor
    diverged: torch.Tensor
    trace: list[list[float]] | None = None
    stalled: torch.Tensor | None = None
    readout_stable: torch.Tensor | None = None

    @property
    def capped(self) -> torch.Tensor:
        """Samples that ran to the iteration cap without any other reason to halt, (B,) bool."""
        other = self.converged | self.diverged
        for flag in (self.stalled, self.readout_stable):
            if flag is not None:
                other = other | flag
        return ~other


def relative_residual(f_z: torch.Tensor, z: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """``max over cells |f(z) - z|_inf / (max over cells |f(z)|_inf + eps)`` per sample, in float32.

    Padded cells are zero in both latents and so do not count.

    :param f_z: f(z), (B, H, W, d).
    :param z: z, (B, H, W, d).
    :param eps: added to the denominator.
    :return: (B,) float32.
    """
    f_z32, z32 = f_z.float(), z.float()
    change = (f_z32 - z32).abs().amax(dim=(1, 2, 3))
    scale = f_z32.abs().amax(dim=(1, 2, 3))
    return change / (scale + eps)


def measure_cells(
    f_z: torch.Tensor, z: torch.Tensor, config: SolverConfig, tol: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each cell's change under one application ``z -> f(z)``, and the sample's residual,
    divergence and convergence, in float32.

    A cell's change is ``|f(z) - z|_inf`` over its channels relative to the sample's scale
    ``max over cells |f(z)|_inf + residual_eps``; the residual is the largest cell change (padded
    cells are zero in both latents and so do not count).

    :param f_z: f(z), (B, H, W, d).
    :param z: z, (B, H, W, d).
    :param config: the solver's settings (residual_eps, divergence_limit).
    :param tol: residual tolerance.
    :return: per-cell change (B, H, W); residual (B,) (inf when diverged); diverged (B,) bool
        (f(z) not finite or beyond ``config.divergence_limit`` in max-norm); converged (B,) bool.
    """
    # Few operators on purpose: a batch-1 solve is bound by their count, not their arithmetic.
    f_z32 = f_z.float()
    size, diverged = measure_size(f_z32, config)
    change = (f_z32 - z.float()).abs().amax(dim=-1) / (size + config.residual_eps).view(-1, 1, 1)
    residual = change.amax(dim=(1, 2)).masked_fill(diverged, float("inf"))
    return change, residual, diverged, residual < tol  # inf (diverged) never converges


def measure_size(f_z: torch.Tensor, config: SolverConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The scale of ``f(z)`` and whether it diverged, per sample (shared by
    :func:`measure_cells` and :func:`measure_step`).

    :param f_z: f(z), (B, H, W, d).
    :param config: the solver's settings (divergence_limit).
    :return: max-norm (B,) float32 (NaN when not finite), and diverged (B,) bool.
    """
    size = f_z.float().abs().amax(dim=(1, 2, 3))  # (B,), NaN when not finite
    return size, ~(size <= config.divergence_limit)


def measure_step(
    f_z: torch.Tensor, z: torch.Tensor, config: SolverConfig, tol: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Residual, divergence and convergence of one application ``z -> f(z)``, per sample
    (:func:`measure_cells` without the per-cell changes).

    :param f_z: f(z), (B, H, W, d).
    :param z: z, (B, H, W, d).
    :param config: the solver's settings (residual_eps, divergence_limit).
    :param tol: residual tolerance.
    :return: residual (B,) float32 (inf when diverged), diverged (B,) bool, converged (B,) bool.
    """
    f_z32 = f_z.float()
    size, diverged = measure_size(f_z32, config)
    # the largest cell change over the scale: measure_cells' residual, bit for bit (division by
    # one positive number keeps the order), without the per-cell tensor
    change = (f_z32 - z.float()).abs().amax(dim=(1, 2, 3))
    residual = (change / (size + config.residual_eps)).masked_fill(diverged, float("inf"))
    return residual, diverged, residual < tol


def fpopt_update(
    residual: torch.Tensor,
    best: torch.Tensor,
    stalled: torch.Tensor,
    eta: torch.Tensor,
    config: SolverConfig,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step of FPOPT's bookkeeping: keep each sample's best residual and, after
    ``config.patience`` iterations without a new best, multiply its step size by ``config.gamma``.

    :param residual: this iteration's residuals, (B,).
    :param best: best residual so far, (B,).
    :param stalled: iterations since the last new best, (B,) long.
    :param eta: step sizes, (B,) float32.
    :param config: the solver's settings (patience, gamma).
    :return: the new best, stalled and eta.
    """
    improved = residual < best
    best = torch.where(improved, residual, best)
    stalled = torch.where(improved, torch.zeros_like(stalled), stalled + 1)
    reduce = stalled >= config.patience
    eta = torch.where(reduce, eta * config.gamma, eta)
    stalled = torch.where(reduce, torch.zeros_like(stalled), stalled)
    return best, stalled, eta


def check_grid_inputs(
    x: torch.Tensor, mask: torch.Tensor | None, d_model: int | None, where: str
) -> torch.Tensor | None:
    """Validate an input embedding and its mask.

    :param x: input embedding, expected (B, H, W, d_model), floating point.
    :param mask: expected None or (B, H, W); any dtype (non-zero = real cell).
    :param d_model: the reasoner's width; None accepts any width (the solver, which knows only
        its step function).
    :param where: name of the caller, used in error messages.
    :return: the mask as bool (B, H, W), or None.
    """
    if x.dim() != 4 or (d_model is not None and x.shape[-1] != d_model):
        width = "d" if d_model is None else str(d_model)
        raise ValueError(f"{where}: x must have shape (B, H, W, {width}), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{where}: x must be a floating-point tensor, got {x.dtype}")
    if mask is None:
        return None
    if tuple(mask.shape) != tuple(x.shape[:3]):
        raise ValueError(
            f"{where}: mask must have shape {tuple(x.shape[:3])} (B, H, W), got {tuple(mask.shape)}"
        )
    mask = mask.to(device=x.device) != 0
    empty = (~mask.flatten(1).any(dim=1)).nonzero().flatten().tolist()
    if empty:
        raise ValueError(f"{where}: mask has no valid cell in samples {empty}")
    return mask


def initial_latent(
    config: SolverConfig,
    x: torch.Tensor,
    mask: torch.Tensor | None,
    z0: torch.Tensor | None,
    z0_seeds: torch.Tensor | list[int] | None,
) -> torch.Tensor:
    """The starting latent z0 of a solve, zero on padded cells.

    A given ``z0`` wins over ``config.z0_mode``. In "random" mode each sample draws its own noise
    from a generator seeded with its seed (``z0_seeds[b]``, or ``config.z0_seed`` for all), one
    value per valid cell in row-major order, so the draw does not depend on batch-mates or padding.

    :param config: the solver's settings (z0_mode, z0_std, z0_seed).
    :param x: input embedding, (B, H, W, d).
    :param mask: (B, H, W) bool or None.
    :param z0: given initial latent (B, H, W, d), or None.
    :param z0_seeds: per-sample seeds (B,), or None.
    :return: z0, (B, H, W, d), dtype and device of x.
    """
    batch = x.shape[0]
    if z0 is not None:
        if tuple(z0.shape) != tuple(x.shape):
            raise ValueError(
                f"solve: z0 must have the shape of x {tuple(x.shape)}, got {tuple(z0.shape)}"
            )
        start = z0.to(device=x.device, dtype=x.dtype)
    elif config.z0_mode == "given":
        raise ValueError("solve: SolverConfig.z0_mode is 'given' but no z0 was passed")
    elif config.z0_mode == "zeros":
        start = torch.zeros_like(x)
    else:
        if z0_seeds is None:
            seeds = [config.z0_seed] * batch
        else:
            seeds = [int(seed) for seed in torch.as_tensor(z0_seeds).flatten().tolist()]
            if len(seeds) != batch:
                raise ValueError(f"solve: z0_seeds must hold {batch} seeds, got {len(seeds)}")
        valid = (
            torch.ones(x.shape[:3], dtype=torch.bool) if mask is None else mask.cpu()
        )  # (B, H, W)
        noise = torch.zeros(x.shape, dtype=torch.float32)  # drawn on CPU: same on every device
        for sample, seed in enumerate(seeds):
            generator = torch.Generator().manual_seed(seed)
            n_valid = int(valid[sample].sum())
            draw = torch.randn(n_valid, x.shape[-1], generator=generator) * config.z0_std
            noise[sample][valid[sample]] = draw
        start = noise.to(device=x.device, dtype=x.dtype)
    if mask is not None:
        start = start * mask.unsqueeze(-1).to(start.dtype)
    return start


def _crop_to_valid(
    z: torch.Tensor, x: torch.Tensor, mask: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Drop the trailing rows and columns that are padding for every sample in the batch.

    :param z: latent, (A, H, W, d).
    :param x: input embedding, (A, H, W, d).
    :param mask: (A, H, W) bool or None.
    :return: (z, x, mask) cropped to the smallest top-left box that holds every valid cell; the
        mask becomes None when every remaining cell is valid.
    """
    if mask is None:
        return z, x, mask
    rows = int(mask.any(dim=2).any(dim=0).nonzero().max()) + 1
    cols = int(mask.any(dim=1).any(dim=0).nonzero().max()) + 1
    if rows < mask.shape[1] or cols < mask.shape[2]:
        z, x, mask = z[:, :rows, :cols], x[:, :rows, :cols], mask[:, :rows, :cols]
    if bool(mask.all()):
        mask = None
    return z, x, mask


class SolveOptions(TypedDict, total=False):
    """The keyword options of a solve (see :func:`solve_fixed_point`), written once for the
    solver and for ``FixedPointReasoner.solve``."""

    max_iters: int | None
    tol: float | None
    halting: str | None
    return_trace: bool
    z0_seeds: torch.Tensor | list[int] | None
    readout: Readout | None


SOLVE_OPTIONS = frozenset(SolveOptions.__annotations__)


def solve_fixed_point(
    reasoner: SteppedMap,
    x: torch.Tensor,
    mask: torch.Tensor | None = None,
    z0: torch.Tensor | None = None,
    **options: Unpack[SolveOptions],
) -> SolveResult:
    """Iterate ``z <- f(z; x)`` per sample until each sample halts; runs without gradient.

    Each iteration computes ``f(z)`` and the relative residual ``r`` of the current ``z``, then
    steps ``z <- eta * f(z) + (1 - eta) * z`` (FPOPT; eta = 1 outside "fixed_point" mode). FPOPT
    keeps each sample's best residual; after ``patience`` iterations without a new best, its eta is
    multiplied by ``gamma``. A sample halts:

    - "fixed_point": when ``r < tol`` (converged), when ``eta < eta_min`` (stalled), or at
      ``max_iters``;
    - "readout": when ``readout`` of the new latent has changed by less than ``readout_tol``
      (max-norm of its probabilities) and been decided for ``readout_patience`` consecutive
      iterations, counting from the starting latent's readout (readout_stable), provided the
      decision arrived during the solve (the readout was undecided at some point; with
      ``readout_warm_check``, undecided at the start) or ``r < readout_fresh_tol`` (a decision
      held since a warm start is trusted only once the rest of the latent has nearly settled:
      news from far away may still be coming); when
      ``r < tol`` (converged); or at ``max_iters``;
    - "fixed_depth": after exactly ``max_iters`` (default ``config.fixed_depth``) iterations;
    - "learned": when the halting head's probability exceeds 0.5, or at ``max_iters``;
    - in every mode but "fixed_depth", when it has made no progress for ``stall_patience``
      iterations (stalled): progress is a cell settling (its change below ``tol``) that had not
      settled before, or the residual halving since the last progress;
    - in every mode, when ``f(z)`` is not finite or exceeds ``config.divergence_limit`` in
      max-norm (diverged; its result keeps the last good latent, with residual inf).

    Halted samples leave the active batch, and the padding no active sample needs is cropped.
    Works on x's device and dtype and under autocast (the latent stays in x's dtype, residuals are
    computed in float32).

    :param reasoner: the reasoner whose ``step`` is f.
    :param x: input embedding, (B, H, W, d).
    :param mask: (B, H, W), True (non-zero) on real cells; None when all cells are real. Grids of
        different sizes share a batch by padding to the largest, top-left aligned.
    :param z0: initial latent (B, H, W, d), e.g. a previous fixed point; None uses
        ``config.z0_mode``.
    :param max_iters: most iterations (default ``config.max_iters``; in "fixed_depth" mode the
        exact count, default ``config.fixed_depth``).
    :param tol: residual tolerance (default ``config.tol``).
    :param halting: halting mode (default ``config.halting``).
    :param return_trace: also return each sample's residual at each iteration.
    :param z0_seeds: per-sample seeds for ``z0_mode="random"``, (B,); default ``config.z0_seed``.
    :param readout: what the decision reads (:data:`Readout`); needed by the "readout" mode.
    :return: the per-sample result.
    """
    unknown = sorted(set(options) - SOLVE_OPTIONS)
    if unknown:
        raise TypeError(f"solve: unknown options {unknown}; valid: {sorted(SOLVE_OPTIONS)}")
    max_iters, tol = options.get("max_iters"), options.get("tol")
    return_trace, z0_seeds = options.get("return_trace", False), options.get("z0_seeds")
    readout = options.get("readout")
    config = reasoner.config
    mask = check_grid_inputs(x, mask, None, "solve")
    halting = options.get("halting")
    halting = config.halting if halting is None else halting
    if halting not in HALTING_MODES:
        raise ValueError(f"solve: halting must be one of {HALTING_MODES}, got {halting!r}")
    if halting == "readout" and readout is None:
        raise ValueError(
            "solve: the 'readout' halting mode needs a readout function (what the decision "
            "reads); the planner passes one, a bare reasoner has none"
        )
    if max_iters is None:
        max_iters = config.fixed_depth if halting == "fixed_depth" else config.max_iters
    if isinstance(max_iters, bool) or not isinstance(max_iters, int) or max_iters < 1:
        raise ValueError(f"solve: max_iters must be an integer >= 1, got {max_iters!r}")
    tol = config.tol if tol is None else float(tol)
    if not tol >= 0:
        raise ValueError(f"solve: tol must be >= 0, got {tol!r}")
    with torch.no_grad():
        start = initial_latent(config, x, mask, z0, z0_seeds)
        return _iterate(
            reasoner,
            x,
            mask,
            start,
            max_iters=max_iters,
            tol=tol,
            halting=halting,
            return_trace=return_trace,
            readout=readout if halting == "readout" else None,
        )


@dataclass
class _Progress:
    """The stall guard's per-sample bookkeeping (rows of the active batch).

    :param settled: most cells ever settled at once, (A,) long.
    :param anchor: residual at the last progress, (A,) float32.
    :param idle: iterations since the last progress, (A,) long.
    """

    settled: torch.Tensor
    anchor: torch.Tensor
    idle: torch.Tensor

    @classmethod
    def start(cls, batch: int, device: torch.device) -> _Progress:
        """No progress yet: nothing settled, no residual to halve.

        :param batch: samples.
        :param device: where the bookkeeping lives.
        :return: the bookkeeping.
        """
        return cls(
            settled=torch.zeros(batch, dtype=torch.long, device=device),
            anchor=torch.full((batch,), float("inf"), dtype=torch.float32, device=device),
            idle=torch.zeros(batch, dtype=torch.long, device=device),
        )

    def update(
        self, change: torch.Tensor, residual: torch.Tensor, mask: torch.Tensor | None, tol: float
    ) -> torch.Tensor:
        """Count this iteration's progress; return the idle iterations so far.

        :param change: per-cell relative change, (A, H, W).
        :param residual: (A,).
        :param mask: (A, H, W) bool or None: only real cells count.
        :param tol: a cell whose change is below this has settled.
        :return: (A,) long, iterations since the last progress.
        """
        settled_cells = change < tol
        if mask is not None:
            settled_cells = settled_cells & mask
        settled = settled_cells.sum(dim=(1, 2))  # (A,)
        progress = (settled > self.settled) | (residual < 0.5 * self.anchor)
        self.settled = torch.maximum(settled, self.settled)
        self.anchor = torch.where(progress, residual, self.anchor)
        self.idle = (self.idle + 1).masked_fill_(progress, 0)
        return self.idle

    def keep(self, rows: torch.Tensor) -> None:
        """Drop the rows of halted samples.

        :param rows: the active rows that go on, (A',) long.
        """
        self.settled, self.anchor, self.idle = (
            self.settled[rows],
            self.anchor[rows],
            self.idle[rows],
        )


def _solve_lone(
    reasoner: SteppedMap,
    x: torch.Tensor,
    mask: torch.Tensor | None,
    z: torch.Tensor,
    rules: LoneRules,
    max_iters: int,
    readout: Readout | None,
    return_trace: bool,
) -> SolveResult:
    """A solve of one sample, on :func:`iterate_lone` from its first iteration (none of the
    batched loop's per-sample tensors are made).

    :param reasoner: the reasoner whose ``step`` is f.
    :param x: input embedding, (1, H, W, d), zero on padded cells.
    :param mask: (1, H, W) bool or None.
    :param z: initial latent, (1, H, W, d), zero on padded cells.
    :param rules: the rules that apply.
    :param max_iters: most iterations.
    :param readout: the decision's readout ("readout" mode), else None.
    :param return_trace: record the residual trace.
    :return: the result.
    """
    start, device = z, x.device
    index = torch.zeros(1, dtype=torch.long, device=device)
    z, x, mask = _crop_to_valid(z, x, mask)
    state = LoneState(eta=as_float32(rules.config.eta0))
    if readout is not None:
        probs, decided = readout(z, index)  # the starting latent's readout
        state.previous, state.arrived = probs.float(), not bool(decided.item())
    trace: list[float] | None = [] if return_trace else None
    outcome = iterate_lone(
        reasoner, x, mask, z, state, rules,
        first=1, max_iters=max_iters, index=index, readout=readout, trace=trace,
    )  # fmt: skip
    if outcome.z.shape == start.shape:
        out_z = outcome.z.clone() if outcome.z is start else outcome.z
    else:
        out_z = torch.zeros_like(start)
        out_z[0, : outcome.z.shape[1], : outcome.z.shape[2]] = outcome.z[0]
    flags = torch.tensor(outcome.flags, dtype=torch.bool, device=device).view(4, 1)
    return SolveResult(
        z=out_z,
        iterations=torch.tensor([outcome.iterations], dtype=torch.long, device=device),
        residual=torch.tensor([outcome.residual], dtype=torch.float32, device=device),
        converged=flags[0],
        diverged=flags[1],
        trace=None if trace is None else [trace],
        stalled=flags[2],
        readout_stable=flags[3],
    )


def _iterate(
    reasoner: SteppedMap,
    x: torch.Tensor,
    mask: torch.Tensor | None,
    z: torch.Tensor,
    *,
    max_iters: int,
    tol: float,
    halting: str,
    return_trace: bool,
    readout: Readout | None = None,
    lone: bool = True,
) -> SolveResult:
    """The solve loop with per-sample halting and compaction (inputs already validated).

    :param reasoner: the reasoner whose ``step`` is f.
    :param x: input embedding, (B, H, W, d).
    :param mask: (B, H, W) bool or None.
    :param z: initial latent, (B, H, W, d), zero on padded cells.
    :param max_iters: most iterations.
    :param tol: residual tolerance.
    :param halting: halting mode.
    :param return_trace: record residual traces.
    :param readout: the decision's readout ("readout" mode), else None.
    :param lone: once one sample is left, iterate it with :func:`iterate_lone` (the same result
        with fewer operators); False keeps the batched loop to the end (the tests compare them).
    :return: the per-sample result.
    """
    config = reasoner.config
    batch, device = x.shape[0], x.device
    if mask is not None:
        x = x * mask.unsqueeze(-1).to(x.dtype)
    damped = halting == "fixed_point"
    guarded = halting != "fixed_depth" and config.stall_patience > 0
    rules = LoneRules(config, tol, halting, guarded)
    # fixed depth: before the last iteration only a diverged sample halts, and nothing else
    # reads the residual, so it is measured then (or when one diverged) and not every time
    lean = halting == "fixed_depth" and readout is None and not guarded and not return_trace
    limit = as_float32(config.divergence_limit)  # what torch compares a float32 tensor with
    if lone and batch == 1 and not lean:
        return _solve_lone(reasoner, x, mask, z, rules, max_iters, readout, return_trace)
    out_z = torch.zeros_like(z)
    out_iterations = torch.zeros(batch, dtype=torch.long, device=device)
    out_residual = torch.full((batch,), float("inf"), dtype=torch.float32, device=device)
    # the four flags as rows of one tensor: one allocation (a batch-1 solve counts operators)
    out_converged, out_diverged, out_stalled, out_readout = torch.zeros(
        4, batch, dtype=torch.bool, device=device
    ).unbind(0)
    trace: list[list[float]] | None = [[] for _ in range(batch)] if return_trace else None

    active = torch.arange(batch, device=device)  # global index of each active row
    active_list = list(range(batch))
    eta = best = stalled = torch.empty(0)  # FPOPT's step sizes: only for the damped iteration
    if damped:
        eta = torch.full((batch,), config.eta0, dtype=torch.float32, device=device)
        best = torch.full((batch,), float("inf"), dtype=torch.float32, device=device)
        stalled = torch.zeros(batch, dtype=torch.long, device=device)
    progress = _Progress.start(batch, device) if guarded else None
    z, x, mask = _crop_to_valid(z, x, mask)
    previous, steady, arrived = None, None, None
    if readout is not None:
        start_probs, start_decided = readout(z, active)  # the starting latent's readout
        previous = start_probs.float()  # (A, K)
        steady = torch.zeros(batch, dtype=torch.long, device=device)
        arrived = (
            ~start_decided
        )  # (A,): undecided at some point, so its decision came in this solve

    for iteration in range(1, max_iters + 1):
        if lone and not lean and len(active_list) == 1:
            # one sample left: its bookkeeping on Python numbers (the same result, fewer operators)
            state = LoneState()
            if damped:
                state.eta, state.best, state.stalled = eta.item(), best.item(), int(stalled.item())
            if progress is not None:
                state.settled, state.anchor = int(progress.settled.item()), progress.anchor.item()
                state.idle = int(progress.idle.item())
            if readout is not None:
                assert steady is not None and arrived is not None
                state.previous = previous
                state.steady, state.arrived = int(steady.item()), bool(arrived.item())
            outcome = iterate_lone(
                reasoner, x, mask, z, state, rules,
                first=iteration, max_iters=max_iters, index=active, readout=readout,
                trace=None if trace is None else trace[active_list[0]],
            )  # fmt: skip
            target = active_list[0]
            out_z[target, : z.shape[1], : z.shape[2]] = outcome.z[0]
            out_iterations[target] = outcome.iterations
            out_residual[target] = outcome.residual
            for flag, value in zip(
                (out_converged, out_diverged, out_stalled, out_readout), outcome.flags, strict=True
            ):
                flag[target] = value
            break
        f_z = reasoner.step(z, x, mask).to(z.dtype)  # (A, H, W, d)
        # no sample diverged: the largest entry of the batch within the limit (NaN is not)
        if lean and iteration < max_iters and float(f_z.abs().amax()) <= limit:
            z = f_z
            continue
        change = None  # per-cell changes (A, H, W): only the stall guard reads them
        if progress is not None:
            change, residual, diverged, converged = measure_cells(f_z, z, config, tol)
        else:
            residual, diverged, converged = measure_step(f_z, z, config, tol)
        stuck: torch.Tensor | None = None  # None: no sample is stuck (fewer operators)
        read_done: torch.Tensor | None = None
        if damped:
            # z + eta (f(z) - z) in one operator, and exactly f(z) at eta = 1
            z_next = torch.lerp(z, f_z, eta.view(-1, 1, 1, 1).to(z.dtype))
            best, stalled, eta = fpopt_update(residual, best, stalled, eta, config)
            stuck = eta < config.eta_min
            halt = converged | stuck
        else:
            z_next = f_z
            halt = converged if readout is not None else diverged  # diverged ones halt anyway
            if halting == "learned":
                halt = torch.sigmoid(reasoner.halt_logit(z_next, mask).float()) > 0.5
            # a diverged sample halts (below) and keeps its last finite latent
        if readout is not None:
            assert previous is not None and steady is not None and arrived is not None
            probs, decided = readout(z_next, active)
            probs = probs.float()
            moved = (probs - previous).abs().amax(dim=-1)  # (A,)
            steady = torch.where((moved < config.readout_tol) & decided, steady + 1, 0)
            previous = probs
            if not config.readout_warm_check:
                arrived = arrived | ~decided
            trusted = arrived | (residual < config.readout_fresh_tol)
            read_done = (steady >= config.readout_patience) & trusted
            halt = halt | read_done
        if progress is not None:
            assert change is not None
            idle_out = progress.update(change, residual, mask, tol) >= config.stall_patience
            stuck = idle_out if stuck is None else stuck | idle_out
            halt = halt | stuck
        halt = halt | diverged
        if iteration == max_iters:
            halt = torch.ones_like(halt)
        if trace is not None:
            for sample, value in zip(active_list, residual.tolist(), strict=True):
                trace[sample].append(value)
        halting_now = len(active_list) if iteration == max_iters else int(halt.sum())
        if halting_now == 0:
            z = z_next  # no sample diverged: every diverged one halts
            continue
        # the reasons a halting sample gives (a diverged one keeps its last finite latent)
        why_stalled = None if stuck is None else stuck & ~converged & ~diverged
        why_readout = None if read_done is None else read_done & ~diverged
        if halting_now == batch and z.shape == out_z.shape:
            # the whole batch halts together, uncropped: its results are this iteration's
            # tensors as they stand (no gather, no scatter; a batch-1 solve counts operators)
            out_z = torch.where(diverged.view(-1, 1, 1, 1), z, z_next)
            out_iterations.fill_(iteration)
            out_residual, out_converged, out_diverged = residual, converged, diverged
            out_stalled = out_stalled if why_stalled is None else why_stalled
            out_readout = out_readout if why_readout is None else why_readout
            break
        rows = halt.nonzero().flatten()
        targets = active[rows]
        height, width = z.shape[1], z.shape[2]
        gone = diverged[rows]
        out_z[targets, :height, :width] = torch.where(gone.view(-1, 1, 1, 1), z[rows], z_next[rows])
        out_iterations[targets] = iteration
        out_residual[targets] = residual[rows]
        out_converged[targets] = converged[rows]
        out_diverged[targets] = gone
        if why_stalled is not None:
            out_stalled[targets] = why_stalled[rows]
        if why_readout is not None:
            out_readout[targets] = why_readout[rows]
        keep = (~halt).nonzero().flatten()
        if keep.numel() == 0:
            break
        active = active[keep]
        if damped:
            eta, best, stalled = eta[keep], best[keep], stalled[keep]
        if progress is not None:
            progress.keep(keep)
        if previous is not None and steady is not None and arrived is not None:
            previous, steady, arrived = previous[keep], steady[keep], arrived[keep]
        active_list = active.tolist()
        z, x = z_next[keep], x[keep]
        mask = None if mask is None else mask[keep]
        z, x, mask = _crop_to_valid(z, x, mask)

    return SolveResult(
        z=out_z,
        iterations=out_iterations,
        residual=out_residual,
        converged=out_converged,
        diverged=out_diverged,
        trace=trace,
        stalled=out_stalled,
        readout_stable=out_readout,
    )
