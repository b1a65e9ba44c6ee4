"""The looped, weight-tied core of the Fixed-Point Reasoner: one application ``f(z; x)``.

Paper symbols (Movahedi et al., "Fixed-Point Reasoners", 2026) map to names here:
alpha_1 -> ``gates().layer`` (a1), alpha_2 -> ``gates().iteration`` (a2),
beta_1 -> ``gates().block_scale`` (b1), beta_2 -> ``gates().input_scale`` (b2),
f -> :meth:`FixedPointReasoner.step`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import nn
from typing_extensions import Unpack

from fpr_agents.reasoner.compiled import CompiledStep
from fpr_agents.reasoner.config import ArchitectureConfig, ReasonerConfig
from fpr_agents.reasoner.layers import (
    ConvSwiGLU,
    Gate,
    GridAttention,
    GridConv,
    RMSNorm,
    SwiGLU,
)
from fpr_agents.reasoner.solve import (
    SolveOptions,
    SolveResult,
    check_grid_inputs,
    solve_fixed_point,
)


@dataclass
class GateValues:
    """The gate values of one application of f, all per channel, shape (d,).

    :param layer: a1, the residual gate of every sub-block.
    :param iteration: a2, the gate on the previous latent at input injection.
    :param block_scale: b1 = b2 * (1 - a1) / (1 - a1 ** S), S = sub-blocks per step.
    :param input_scale: b2 = 1 - a2 * a1 ** S.
    """

    layer: torch.Tensor
    iteration: torch.Tensor
    block_scale: torch.Tensor
    input_scale: torch.Tensor


class ReasonerBlock(nn.Module):
    """One block: an attention sub-block (optional) and a SwiGLU sub-block, each with its norm.

    :param config: the reasoner's architecture (a ReasonerConfig is one).
    """

    def __init__(self, config: ArchitectureConfig) -> None:
        super().__init__()
        dim = config.d_model
        self.attn_norm: RMSNorm | None = None
        self.attn: GridAttention | None = None
        if config.attention:
            self.attn_norm = RMSNorm(dim, config.eps)
            self.attn = GridAttention(dim, config.n_heads, config.rope_base)
        self.mlp_norm = RMSNorm(dim, config.eps)
        self.mlp: SwiGLU | ConvSwiGLU = (
            SwiGLU(dim, config.mlp_hidden)
            if config.mlp_kernel == 1
            else ConvSwiGLU(dim, config.mlp_hidden, config.mlp_kernel)
        )

    def sublayers(self) -> list[tuple[RMSNorm, nn.Module]]:
        """The (norm, function) pairs of this block in order.

        :return: one or two pairs.
        """
        pairs: list[tuple[RMSNorm, nn.Module]] = []
        if self.attn is not None and self.attn_norm is not None:
            pairs.append((self.attn_norm, self.attn))
        pairs.append((self.mlp_norm, self.mlp))
        return pairs


def _eager_step(
    reasoner: FixedPointReasoner, z: torch.Tensor, x: torch.Tensor, mask: torch.Tensor | None
) -> torch.Tensor:
    """The step function that :meth:`FixedPointReasoner.compile_step` compiles.

    :param reasoner: the reasoner.
    :param z: latent, (B, H, W, d).
    :param x: input embedding, (B, H, W, d).
    :param mask: (B, H, W) bool or None.
    :return: f(z; x), (B, H, W, d).
    """
    return reasoner.eager_step(z, x, mask)


def _apply_sublayer(
    function: nn.Module, h: torch.Tensor, mask: torch.Tensor | None
) -> torch.Tensor:
    """Call a sub-layer, passing the mask to those that look at other cells.

    :param function: a GridAttention, ConvSwiGLU or SwiGLU.
    :param h: its input, (B, H, W, d).
    :param mask: (B, H, W) bool or None.
    :return: its output, (B, H, W, d).
    """
    if isinstance(function, (GridAttention, ConvSwiGLU)):
        return function(h, mask)
    return function(h)


class FixedPointReasoner(nn.Module):
    """A looped, weight-tied Transformer on a 2D grid whose latent is iterated to a fixed point.

    One application ``f(z; x)`` (:meth:`step`):

    1. local mixing ``z <- GridConv(z)``, a depthwise convolution whose kernel is kept
       non-expansive (see :class:`GridConv`);
    2. input injection ``h = a2 * z + b2 * x``;
    3. L blocks of ``h = a1 * h + b1 * Attn(RMSNorm(h))``, ``h = a1 * h + b1 * SwiGLU(RMSNorm(h))``
       (the SwiGLU's projections are ``mlp_kernel x mlp_kernel`` convolutions when that is > 1;
       its input is normalised per cell, so the update stays bounded and Theorem 1 still holds).

    The ablations drop the gates and use plain residuals everywhere: local mixing
    ``z <- z + conv(z)`` (unconstrained kernel), ``h = z + x``, then ``h = h + F(RMSNorm(h))``
    (``block_style="prenorm"``) or ``h = RMSNorm(h + F(h))`` (``"postnorm"``); each sub-block's
    norm is used before or after it.

    :param config: the reasoner configuration.
    """

    def __init__(self, config: ReasonerConfig) -> None:
        super().__init__()
        self.config = config
        dim = config.d_model
        gated = config.block_style == "gated"
        self.local_mixing = GridConv(dim, config.conv_kernel, non_expansive=gated)
        self.blocks = nn.ModuleList(ReasonerBlock(config) for _ in range(config.n_layers))
        self.gate_layer: Gate | None = None
        self.gate_iteration: Gate | None = None
        if gated:
            self.gate_layer = Gate(dim, config.gate_init_layer)
            self.gate_iteration = Gate(dim, config.gate_init_iter)
        self.halt_head = nn.Linear(dim, 1)
        self._compiled_step: CompiledStep | None = None
        # the gates and the mixing kernel, computed once per solve (:meth:`parameters_held`)
        self._held: tuple[GateValues | None, torch.Tensor] | None = None

    @property
    def sublayers_per_step(self) -> int:
        """Number S of gated sub-blocks in one application of f.

        :return: 2L with attention, L without.
        """
        return self.config.n_layers * (2 if self.config.attention else 1)

    def gates(self) -> GateValues:
        """The gate values a1, a2 and the tied scales b1, b2 (gated style only).

        :return: the four per-channel vectors, each (d,).
        """
        if self.gate_layer is None or self.gate_iteration is None:
            raise ValueError(
                f"FixedPointReasoner.gates: block_style={self.config.block_style!r} has no gates"
            )
        layer = self.gate_layer()
        iteration = self.gate_iteration()
        layer_power = layer**self.sublayers_per_step
        input_scale = 1.0 - iteration * layer_power
        block_scale = input_scale * (1.0 - layer) / (1.0 - layer_power)
        return GateValues(layer, iteration, block_scale, input_scale)

    @contextmanager
    def parameters_held(self) -> Iterator[None]:
        """Within the block, without gradient, the eager step reads the gates and the mixing
        kernel (functions of the parameters alone) computed once on entry, not at every
        iteration: about a tenth of a batch-1 step on a small grid. With gradient enabled (a
        training unroll) it changes nothing. The parameters must not change inside the block.

        :return: a context manager.
        """
        if torch.is_grad_enabled():
            yield
            return
        before = self._held
        gates = self.gates() if self.gate_layer is not None else None
        self._held = (gates, self.local_mixing.kernel())
        try:
            yield
        finally:
            self._held = before

    def no_weight_decay_parameters(self) -> list[nn.Parameter]:
        """Parameters to exclude from weight decay: the gate parameters.

        :return: the gate parameters (empty for the ungated ablations).
        """
        return [gate.param for gate in (self.gate_layer, self.gate_iteration) if gate is not None]

    def step(
        self, z: torch.Tensor, x: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """One application of the map f: :meth:`eager_step`, or its compiled form after
        :meth:`compile_step`.

        :param z: latent, (B, H, W, d).
        :param x: input embedding, (B, H, W, d).
        :param mask: (B, H, W) bool, True on real cells; None when all cells are real.
        :return: f(z; x), (B, H, W, d), zero on padded cells.
        """
        compiled = self._compiled_step
        if compiled is None:
            return self.eager_step(z, x, mask)
        return compiled(self, z, x, mask)

    def compile_step(
        self,
        enabled: bool = True,
        *,
        mode: str | None = None,
        backend: str | Callable[..., Any] = "inductor",
        max_graphs: int = 32,
    ) -> CompiledStep | None:
        """Run :meth:`step` through ``torch.compile`` from now on (or, ``enabled=False``, eagerly
        again); every solve and training unroll then uses the compiled step.

        Compiling is a choice of the running process, like the device or the thread count, not a
        configuration field: the compiled step computes the same f (to floating-point rounding),
        so it changes neither what the weights mean (the architecture a checkpoint fixes) nor
        how a solve runs (the solver settings a checkpoint records and a user may change). A
        checkpoint saved from a compiled reasoner is the same checkpoint.

        Graphs are compiled lazily, one per grid size (the batch is symbolic, so a solve whose
        batch shrinks as samples halt does not recompile), mask presence, gradient mode and
        autocast; the first call of each takes seconds to a minute on a CPU. When compiling
        fails the step warns once and runs eagerly (see
        :class:`~fpr_agents.reasoner.compiled.CompiledStep`).

        :param enabled: True compiles (keeping graphs already compiled with the same options);
            False goes back to the eager step.
        :param mode: ``torch.compile``'s mode (None: its default).
        :param backend: ``torch.compile``'s backend.
        :param max_graphs: most graphs compiled; other shapes run eagerly.
        :return: the compiled step's handle (its ``graphs``, ``compile_seconds``, ``failure``),
            or None when disabled.
        """
        if not enabled:
            self._compiled_step = None
            return None
        current = self._compiled_step
        if current is not None and (current.mode, current.backend, current.max_graphs) == (
            mode,
            backend,
            max_graphs,
        ):
            return current
        self._compiled_step = CompiledStep(_eager_step, mode, backend, max_graphs)
        return self._compiled_step

    @property
    def compiled_step(self) -> CompiledStep | None:
        """The compiled step's handle after :meth:`compile_step`, else None."""
        return self._compiled_step

    def eager_step(
        self, z: torch.Tensor, x: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """One application of the map f, run operator by operator (never compiled here).

        :param z: latent, (B, H, W, d).
        :param x: input embedding, (B, H, W, d).
        :param mask: (B, H, W) bool, True on real cells; None when all cells are real.
        :return: f(z; x), (B, H, W, d), zero on padded cells.
        """
        valid = None if mask is None else mask.unsqueeze(-1).to(z.dtype)  # (B, H, W, 1)
        if valid is not None:
            z = z * valid
        # a compiled step computes its gates in its own graph (and never reads the held values)
        held = None if torch.compiler.is_compiling() else self._held
        z = self.local_mixing(z, kernel=None if held is None else held[1])  # (B, H, W, d)
        blocks = cast(list[ReasonerBlock], list(self.blocks))
        sublayers = [pair for block in blocks for pair in block.sublayers()]
        style = self.config.block_style
        if style == "gated":
            gate = self.gates() if held is None or held[0] is None else held[0]
            h = gate.iteration * z + gate.input_scale * x
            for norm, function in sublayers:
                update = _apply_sublayer(function, norm(h), mask)
                h = gate.layer * h + gate.block_scale * update
        elif style == "prenorm":
            h = z + x
            for norm, function in sublayers:
                h = h + _apply_sublayer(function, norm(h), mask)
        else:  # "postnorm", validated by ReasonerConfig
            h = z + x
            for norm, function in sublayers:
                h = norm(h + _apply_sublayer(function, h, mask))
        if valid is not None:
            h = h * valid
        return h

    def forward(
        self, z: torch.Tensor, x: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Same as :meth:`step`.

        :param z: latent, (B, H, W, d).
        :param x: input embedding, (B, H, W, d).
        :param mask: (B, H, W) bool or None.
        :return: f(z; x), (B, H, W, d).
        """
        return self.step(z, x, mask)

    def halt_logit(self, z: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Logit of the learned halting (Q-halt) head on the masked mean of the latent.

        :param z: latent, (B, H, W, d).
        :param mask: (B, H, W) bool or None.
        :return: (B,) logits; sigmoid > 0.5 means "halt".
        """
        if mask is None:
            pooled = z.mean(dim=(1, 2))  # (B, d)
        else:
            valid = mask.unsqueeze(-1).to(z.dtype)
            pooled = (z * valid).sum(dim=(1, 2)) / valid.sum(dim=(1, 2)).clamp_min(1.0)
        return self.halt_head(pooled).squeeze(-1)

    def solve(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None = None,
        z0: torch.Tensor | None = None,
        **options: Unpack[SolveOptions],
    ) -> SolveResult:
        """Iterate f to a fixed point, per sample, without gradient.

        See :func:`fpr_agents.reasoner.solve.solve_fixed_point` for the full description.

        :param x: input embedding, (B, H, W, d).
        :param mask: (B, H, W) bool, True on real cells, or None.
        :param z0: initial latent (B, H, W, d) (a warm start), or None to use ``config.z0_mode``.
        :param options: :class:`~fpr_agents.reasoner.solve.SolveOptions` (``max_iters``,
            ``tol``, ``halting``, ``return_trace``, ``z0_seeds``, ``readout``), as the solver
            takes them.
        :return: the per-sample result.
        """
        # The solver takes any width; this reasoner needs its own (the solver checks the rest).
        check_grid_inputs(x, None, self.config.d_model, "solve")
        # a solve runs without gradient: entering no_grad first lets the parameters be held
        # (held values are skipped whenever gradient is on)
        with torch.no_grad(), self.parameters_held():
            return solve_fixed_point(self, x, mask, z0, **options)
