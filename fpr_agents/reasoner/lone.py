"""A lone sample's solve loop, its halting bookkeeping on Python numbers.

Once one sample is left in a solve (a batch-1 decision, or the slowest sample of a batch), the
batched loop's bookkeeping costs more than its arithmetic: FPOPT's step size, the stall guard's
progress and the readout rule's count are thirty-odd operators on one-element tensors an
iteration, each with a fixed cost of several microseconds. Here the same rules run on Python
numbers, read from the latents once an iteration (one transfer on an accelerator, the
synchronisation the batched loop's halting test already makes). Every comparison is made in
float32, against thresholds rounded to float32, as torch makes it, and the step-size
arithmetic is float32 too, so a sample's result is the same bit for bit whether it solved
alone or among batch-mates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from fpr_agents.reasoner.config import SolverConfig
from fpr_agents.reasoner.stepped import Readout, SteppedMap


def as_float32(value: float) -> float:
    """The float32 nearest ``value``, as a Python float: what torch compares a float32 tensor
    against when given a Python number.

    :param value: any real number.
    :return: ``value`` rounded to float32.
    """
    return float(np.float32(value))


@dataclass
class LoneState:
    """One sample's halting bookkeeping, as the batched loop hands it over.

    :param eta: FPOPT's step size (float32 value).
    :param best: FPOPT's best residual so far.
    :param stalled: FPOPT's iterations since the last new best.
    :param settled: the stall guard's most cells ever settled at once.
    :param anchor: the stall guard's residual at the last progress.
    :param idle: the stall guard's iterations since the last progress.
    :param previous: the readout rule's last probabilities, (1, K) float32; None without it.
    :param steady: the readout rule's consecutive steady, decided iterations.
    :param arrived: the readout rule's "undecided at some point" flag.
    """

    eta: float = 1.0
    best: float = math.inf
    stalled: int = 0
    settled: int = 0
    anchor: float = math.inf
    idle: int = 0
    previous: torch.Tensor | None = None
    steady: int = 0
    arrived: bool = False


@dataclass
class LoneOutcome:
    """How the lone sample halted: what the batched loop writes into its result row.

    :param z: the latent it keeps, (1, H', W', d).
    :param iterations: applications of f spent on it in all.
    :param residual: relative residual of its last iterate (inf when diverged).
    :param converged: residual below the tolerance.
    :param diverged: f(z) not finite or beyond the divergence limit.
    :param stalled: halted by the stall guard or FPOPT's eta_min, neither converged nor diverged.
    :param readout_stable: halted by the readout rule, not diverged.
    """

    z: torch.Tensor
    iterations: int
    residual: float
    converged: bool
    diverged: bool
    stalled: bool
    readout_stable: bool

    @property
    def flags(self) -> tuple[bool, bool, bool, bool]:
        """converged, diverged, stalled and readout_stable, in the order of the result."""
        return self.converged, self.diverged, self.stalled, self.readout_stable


@dataclass(frozen=True)
class LoneRules:
    """Which rules a lone solve applies (the readout rule runs when a readout is passed).

    :param config: the solver's settings.
    :param tol: residual tolerance.
    :param halting: the halting mode.
    :param guarded: whether the stall guard runs.
    """

    config: SolverConfig
    tol: float
    halting: str
    guarded: bool

    @property
    def damped(self) -> bool:
        """FPOPT's damped step ("fixed_point" mode)."""
        return self.halting == "fixed_point"


def _step_size(eta: float, like: torch.Tensor) -> torch.Tensor:
    """FPOPT's step size as the batched loop applies it: eta cast to the latent's dtype, a
    tensor (a Python number would be wrapped and cast at every multiplication).

    :param eta: the step size (a float32 value).
    :param like: the latent, whose dtype and device the step size takes.
    :return: eta, () in ``like``'s dtype.
    """
    return torch.tensor(eta, dtype=torch.float32, device=like.device).to(like.dtype)


class _Meter:
    """Scale, residual and settled cells of one application ``z -> f(z)`` of a lone sample, by
    the formulas of the batched loop's ``measure_cells`` / ``measure_step``, so the numbers are
    the same. Its constants are float32 tensors made once (a Python number in an operator is
    wrapped and cast anew each time), and its numbers are read one by one on the CPU, where a
    read is free, or in one transfer on an accelerator.

    :param rules: the rules (the stall guard needs the settled cells).
    :param device: where the latents live.
    """

    def __init__(self, rules: LoneRules, device: torch.device) -> None:
        self.guarded = rules.guarded
        self.eps = torch.tensor(rules.config.residual_eps, dtype=torch.float32, device=device)
        self.tol = torch.tensor(rules.tol, dtype=torch.float32, device=device)
        self.on_cpu = device.type == "cpu"

    def read(self, values: list[torch.Tensor]) -> list[float]:
        """One-element tensors as Python numbers.

        :param values: one-element tensors.
        :return: their values, as floats.
        """
        if self.on_cpu:
            return [float(value.item()) for value in values]
        return torch.stack([value.float().reshape(()) for value in values]).tolist()

    def __call__(
        self,
        f_z: torch.Tensor,
        z: torch.Tensor,
        mask: torch.Tensor | None,
        extra: list[torch.Tensor],
    ) -> list[float]:
        """Measure one application, with ``extra`` one-element values read at the same time.

        :param f_z: f(z), (1, H, W, d).
        :param z: z, (1, H, W, d).
        :param mask: (1, H, W) bool or None.
        :param extra: further one-element tensors to read.
        :return: [scale (NaN when not finite), residual (not yet inf for a diverged sample),
            settled cells (0 without the stall guard), *extra].
        """
        f_z32 = f_z.float()
        size = f_z32.abs().amax()  # () float32, NaN when not finite
        if not self.guarded:
            residual = (f_z32 - z.float()).abs().amax() / (size + self.eps)
            size_value, residual_value, *rest = self.read([size, residual, *extra])
            return [size_value, residual_value, 0.0, *rest]
        change = (f_z32 - z.float()).abs().amax(dim=-1) / (size + self.eps)  # (1, H, W)
        settled_cells = change < self.tol
        if mask is not None:
            settled_cells = settled_cells & mask
        settled = settled_cells.sum(dtype=torch.float32)
        return self.read([size, change.amax(), settled, *extra])


def iterate_lone(
    reasoner: SteppedMap,
    x: torch.Tensor,
    mask: torch.Tensor | None,
    z: torch.Tensor,
    state: LoneState,
    rules: LoneRules,
    *,
    first: int,
    max_iters: int,
    index: torch.Tensor,
    readout: Readout | None,
    trace: list[float] | None,
) -> LoneOutcome:
    """Iterate one sample from iteration ``first`` until it halts, under the rules of
    ``solve_fixed_point`` (its docstring states them), the bookkeeping on Python numbers.

    :param reasoner: the stepped map (its ``step`` and, for the "learned" rule, ``halt_logit``).
    :param x: input embedding, (1, H, W, d), zero on padded cells.
    :param mask: (1, H, W) bool or None.
    :param z: the current latent, (1, H, W, d).
    :param state: the bookkeeping so far (updated in place).
    :param rules: which rules apply.
    :param first: the number of the next iteration (1 for a fresh solve).
    :param max_iters: most iterations in all.
    :param index: the sample's index in the solve's batch, (1,) long (the readout's argument).
    :param readout: the decision's readout ("readout" mode), else None.
    :param trace: the sample's residual trace to append to, or None.
    :return: how it halted.
    """
    config = rules.config
    tol = as_float32(rules.tol)
    limit = as_float32(config.divergence_limit)
    eta_min, gamma = as_float32(config.eta_min), np.float32(config.gamma)
    readout_tol, fresh_tol = as_float32(config.readout_tol), as_float32(config.readout_fresh_tol)
    measure = _Meter(rules, x.device)
    iteration = first
    step_size = _step_size(state.eta, z)
    while True:
        f_z = reasoner.step(z, x, mask).to(z.dtype)  # (1, H, W, d)
        z_next = torch.lerp(z, f_z, step_size) if rules.damped else f_z  # as the batched loop
        extra: list[torch.Tensor] = []
        probs = None
        if readout is not None:
            assert state.previous is not None
            probs, decided = readout(z_next, index)
            probs = probs.float()
            extra += [(probs - state.previous).abs().amax(), decided.reshape(())]
        if rules.halting == "learned":
            extra.append(torch.sigmoid(reasoner.halt_logit(z_next, mask).float()).reshape(()))
        size, residual, settled, *read = measure(f_z, z, mask, extra)
        diverged = not size <= limit
        if diverged:
            residual = math.inf
        converged = residual < tol  # inf (diverged) never converges
        stuck = False
        halt = converged if readout is not None else diverged
        if rules.damped:
            if residual < state.best:
                state.best, state.stalled = residual, 0
            else:
                state.stalled += 1
            if state.stalled >= config.patience:
                state.eta = float(np.float32(state.eta) * gamma)
                state.stalled = 0
                step_size = _step_size(state.eta, z)
            stuck = state.eta < eta_min
            halt = converged or stuck
        elif rules.halting == "learned":
            halt = read[-1] > 0.5
        read_done = False
        if readout is not None:
            moved, decided_now = read[0], read[1] > 0.5
            state.steady = state.steady + 1 if moved < readout_tol and decided_now else 0
            state.previous = probs
            if not config.readout_warm_check:
                state.arrived = state.arrived or not decided_now
            trusted = state.arrived or residual < fresh_tol
            read_done = state.steady >= config.readout_patience and trusted
            halt = halt or read_done
        if rules.guarded:
            count = int(settled)
            progress = count > state.settled or residual < as_float32(0.5 * state.anchor)
            state.settled = max(count, state.settled)
            if progress:
                state.anchor, state.idle = residual, 0
            else:
                state.idle += 1
            stuck = stuck or state.idle >= config.stall_patience
            halt = halt or stuck
        if trace is not None:
            trace.append(residual)
        if halt or diverged or iteration == max_iters:
            return LoneOutcome(
                z=z if diverged else z_next,
                iterations=iteration,
                residual=residual,
                converged=converged,
                diverged=diverged,
                stalled=stuck and not converged and not diverged,
                readout_stable=read_done and not diverged,
            )
        z = z_next
        iteration += 1
