"""Reasoner speed and memory benchmark.

1. **Speed of one iteration.** Milliseconds per application of f (``FixedPointReasoner.step``,
   chained ``z <- f(z)`` as in a solve, its parameter values held as a solve holds them) and the
   achieved GFLOP/s at batch 1, 16, 64 and 256 on a square grid, against a plain matrix product
   timed in the same rounds: ``torch.matmul`` of the step's largest GEMM at the same number of
   tokens, ``(B * H * W, K) @ (K, N)`` (a ``k x k`` convolution of the MLP as the product it
   lowers to, ``K = k^2 * in``), into a preallocated output, the ceiling of what the machine does
   with matrices of that size. Each iteration's FLOPs are counted analytically
   (:func:`step_flops`: matrix products, convolutions and attention's two products, as
   ``torch.utils.flop_counter`` counts them; not elementwise work). Two architectures: the
   planner's (from the checkpoint, or ``train/configs/maze.yaml``) and the same with grid
   attention switched (on when the planner is conv-only, off otherwise). ``ms/iter in solve``
   also times ``solve(halting="fixed_depth")`` (the solve loop around the step; a fixed depth
   measures the residual at its last iteration only) and ``ms/iter, adaptive solve``
   ``solve(halting="fixed_point", tol=0)``: FPRM's rule at a tolerance no sample reaches, so
   every iteration pays what an adaptive rule does (the residual, FPOPT's bookkeeping, the stall
   guard's per-cell progress, the halting test) for all ``iters``. The ratio table sets each
   solve iteration against the bare step of the same round (median over rounds), with the aim of
   at most 1.15x.
2. **Training memory.** Bytes of the activations that autograd saves for the backward pass of
   ``truncated_unroll`` (``n - k`` iterations without gradient, then ``k`` with it) against full
   back-propagation through all ``n`` iterations, as ``n`` grows. Counted with
   ``torch.autograd.graph.saved_tensors_hooks`` (every saved storage once; parameters excluded),
   which is exact and deterministic; on CUDA the peak allocated memory is reported too.

3. **Compiled step** (``--compile``). The same step through
   :meth:`~fpr_agents.reasoner.core.FixedPointReasoner.compile_step` (``torch.compile``), timed
   in the same rounds as the eager one, with its solve. Compiling happens in a warm-up before
   the timed rounds, and its seconds are reported apart (a graph per grid size and for batch 1;
   larger batches share one, so most rows compile nothing).

``python -m bench.reasoner --help`` lists the options.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from statistics import median
from typing import Any

import torch

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
    load_planner_or_random,
    machine_description,
    maze_reasoner_fields,
    paired_ratio,
    synchronize,
    time_in_turns,
    torch_threads,
)
from fpr_agents.arguments import parse_args
from fpr_agents.reasoner import FixedPointReasoner, ReasonerConfig
from fpr_agents.reasoner.training import truncated_unroll

__all__ = [
    "FlopCount",
    "ReasonerBenchArgs",
    "ReasonerBenchConfig",
    "ceiling_gemm_shape",
    "main",
    "run_benchmark",
    "saved_activation_bytes",
    "step_flops",
]

GEMM_AIM_BATCH = 64
GEMM_AIM = 0.5  # the step's rate over the matrix product's rate at batch 64
SOLVE_OVERHEAD_AIM = 1.15  # an iteration inside a solve over a bare step, at most
FLAT_MEMORY_AIM = 1.05  # truncated memory at the most iterations over at the fewest: "flat"


# ------------------------------------------------------------------------------------------------
# FLOPs of one step.
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FlopCount:
    """Floating-point operations of one application of f, by part (a multiply-add counts 2).

    Only the matrix products, the convolutions and attention's two products are counted: what
    ``torch.utils.flop_counter.FlopCounterMode`` counts. Elementwise work (norms, gates and
    residuals, input injection, rotary, softmax, SiLU, masking) is not.

    :param local_mixing: the depthwise ``conv_kernel x conv_kernel`` local-mixing convolution.
    :param attention_projections: attention's input projection (q, k, v and the rotary partners
        of q and k, one fused product) and its output projection, every block.
    :param attention_products: attention's ``Q K^T`` and ``softmax(.) V``, every block.
    :param mlp: the SwiGLU sub-blocks' two projections, every block: token-wise linear layers
        (``mlp_kernel=1``) or ``mlp_kernel x mlp_kernel`` channel-mixing convolutions.
    """

    local_mixing: int
    attention_projections: int
    attention_products: int
    mlp: int

    @property
    def total(self) -> int:
        """All counted operations.

        :return: the sum of the four parts.
        """
        return self.local_mixing + self.attention_projections + self.attention_products + self.mlp


def _dense_products(config: ReasonerConfig) -> list[tuple[int, int]]:
    """(K, N) of every matrix product ``(tokens, K) @ (K, N)`` applied to all tokens in one step,
    in order; a ``k x k`` convolution is counted as the product it lowers to (im2col):
    ``K = k^2 * in_channels``.

    :param config: the reasoner's configuration.
    :return: one (K, N) per product.
    """
    dim, hidden, taps = config.d_model, config.mlp_hidden, config.mlp_kernel**2
    shapes: list[tuple[int, int]] = []
    for _ in range(config.n_layers):
        if config.attention:
            # q, k, v and the rotary partners of q and k come out of one fused projection.
            shapes += [(dim, 5 * dim), (dim, dim)]
        shapes += [(taps * dim, 2 * hidden), (taps * hidden, dim)]
    return shapes


def step_flops(config: ReasonerConfig, height: int, width: int, batch: int = 1) -> FlopCount:
    """Count the FLOPs of one ``FixedPointReasoner.step`` on a ``batch`` of ``height x width``
    grids: exactly what the benchmark times.

    With ``N = H * W`` cells, width ``d``, SwiGLU hidden width ``h`` (``round(mlp_ratio * d)``),
    local-mixing kernel side ``k`` (``conv_kernel``), MLP kernel side ``m`` (``mlp_kernel``),
    ``L`` blocks, per sample:

    - local mixing (depthwise, one ``k x k`` kernel per channel): ``2 k^2 N d``;
    - per attention sub-block: the fused input projection ``2 N d (5d)`` (q, k, v and the rotary
      partners of q and k), the output projection ``2 N d^2``, and the products ``Q K^T`` and
      ``A V``, ``2 N^2 d`` each, whatever ``n_heads`` (the heads split d);
    - per SwiGLU sub-block: ``2 m^2 N d (2h)`` in and ``2 m^2 N h d`` out (``m = 1``: the
      token-wise linear layers).

    A convolution counts every tap of every output cell, the zero padding at the grid's border
    included, as the kernels compute it (and as torch's counter counts it).

    Not counted: elementwise work (RMSNorm, the gates and residuals, input injection, rotary,
    softmax, SiLU and the gating product, the ungated styles' ``z + conv(z)``, a padding mask),
    small next to the products here (under 1% with the 3x3 MLP, a few percent with the
    token-wise one; softmax's ``~5 n_heads N^2`` is the largest part with attention); the gates'
    own ``O(d)`` arithmetic. ``block_style`` moves the norms and drops the gates, so it does not
    change the count; nor does a padding mask (masked cells are computed, then zeroed).

    The position and edge embeddings and the mirror views (``position_embedding``,
    ``edge_embedding``, ``mirror_views``) belong to the planner's input embedding x, which runs
    once per solve, not per step: they are not part of the step, nor of this count.

    :param config: the reasoner's configuration.
    :param height: grid rows H.
    :param width: grid columns W.
    :param batch: samples B.
    :return: the counts for the whole batch.
    """
    if height < 1 or width < 1 or batch < 1:
        raise ValueError(
            f"step_flops: height, width and batch must be >= 1, got {height}, {width}, {batch}"
        )
    tokens, dim, hidden = height * width, config.d_model, config.mlp_hidden
    taps = config.mlp_kernel**2
    layers = config.n_layers
    local_mixing = 2 * config.conv_kernel**2 * tokens * dim
    mlp = layers * 2 * taps * tokens * (dim * 2 * hidden + hidden * dim)
    attention_projections = attention_products = 0
    if config.attention:
        attention_projections = layers * 2 * tokens * (dim * 5 * dim + dim * dim)
        attention_products = layers * 2 * (2 * tokens * tokens * dim)
    return FlopCount(
        local_mixing=batch * local_mixing,
        attention_projections=batch * attention_projections,
        attention_products=batch * attention_products,
        mlp=batch * mlp,
    )


def ceiling_gemm_shape(config: ReasonerConfig, tokens: int) -> tuple[int, int, int]:
    """The matrix product the step's rate is compared with: the step's largest matrix product
    applied to all tokens of the batch at once. A ``k x k`` convolution of the MLP counts as the
    product it lowers to (im2col), ``(tokens, k^2 * in) @ (k^2 * in, out)``: for the shipped maze
    planner (d=32, ``mlp_kernel=3``) the SwiGLU input convolution, ``(tokens, 288) @ (288, 128)``.
    Attention's ``Q K^T`` and ``A V`` (batched, per head) are not candidates.

    :param config: the reasoner's configuration.
    :param tokens: B * H * W.
    :return: (M, K, N) of ``(M, K) @ (K, N)``.
    """
    n_in, n_out = max(_dense_products(config), key=lambda shape: shape[0] * shape[1])
    return tokens, n_in, n_out


# ------------------------------------------------------------------------------------------------
# Memory of back-propagation.
# ------------------------------------------------------------------------------------------------


def saved_activation_bytes(
    forward: Callable[[], torch.Tensor], parameters: Sequence[torch.Tensor]
) -> tuple[int, torch.Tensor]:
    """Run ``forward`` and count the bytes of the storages autograd saves for backward.

    Each storage counts once however many times it is saved; parameters are left out (they are
    memory the model has anyway).

    :param forward: builds the graph and returns its output.
    :param parameters: tensors whose storages are not counted.
    :return: (bytes, the output of ``forward``).
    """
    excluded = {param.untyped_storage().data_ptr() for param in parameters}
    sizes: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        pointer = storage.data_ptr()
        if pointer not in excluded:
            sizes[pointer] = max(sizes.get(pointer, 0), storage.nbytes())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        output = forward()
    return sum(sizes.values()), output


# ------------------------------------------------------------------------------------------------
# The benchmark.
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReasonerBenchConfig:
    """What to measure and how long.

    :param batches: batch sizes of the speed table.
    :param side: grid side (the grid is side x side, no padding).
    :param rounds: timed rounds (medians over them).
    :param min_seconds: least time of one timed turn.
    :param solve_iters: iterations per timed call, of the chained steps and of the solve.
    :param memory_batch: batch of the memory table.
    :param memory_iters: iteration counts n of the memory table.
    :param k_grad: iterations with gradient of truncated back-propagation.
    :param seed: seed of the inputs and of the second architecture's weights.
    """

    batches: tuple[int, ...] = (1, 16, 64, 256)
    side: int = 15
    rounds: int = 5
    min_seconds: float = 0.25
    solve_iters: int = 8
    memory_batch: int = 16
    memory_iters: tuple[int, ...] = (4, 8, 16, 32, 64)
    k_grad: int = 4
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.batches or min(self.batches) < 1:
            raise ValueError(f"batches must be positive, got {self.batches}")
        if not self.memory_iters or min(self.memory_iters) < self.k_grad:
            raise ValueError(
                f"memory_iters {self.memory_iters} must all be at least k_grad={self.k_grad}"
            )
        for name in ("side", "rounds", "solve_iters", "memory_batch", "k_grad"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


QUICK_CONFIG = ReasonerBenchConfig(
    side=5, rounds=2, min_seconds=0.0, solve_iters=2, memory_batch=2, memory_iters=(3, 6), k_grad=2
)
# Conv-only with a 3x3 MLP, as the shipped maze planner (d=32), at half its width.
QUICK_RANDOM_REASONER: dict[str, Any] = {
    "d_model": 16,
    "n_heads": 2,
    "attention": False,
    "mlp_kernel": 3,
}


def _architecture_name(config: ReasonerConfig) -> str:
    kind = "attention" if config.attention else "conv-only"
    name = f"{kind}, d={config.d_model}, L={config.n_layers}"
    if config.mlp_kernel > 1:
        name += f", {config.mlp_kernel}x{config.mlp_kernel} MLP"
    return name


def _inputs(
    config: ReasonerConfig, batch: int, side: int, device: torch.device, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    shape = (batch, side, side, config.d_model)
    x = torch.randn(shape, generator=generator).to(device)  # (B, H, W, d)
    z = torch.randn(shape, generator=generator).to(device)  # (B, H, W, d)
    return x, z


def _speed_rows(
    reasoner: FixedPointReasoner,
    bench: ReasonerBenchConfig,
    device: torch.device,
    report: BenchReport,
    table: Table,
    compiled_table: Table | None = None,
) -> None:
    """Time step, matrix product and solve at every batch size; add rows, ratios and values.
    With ``compiled_table``, the compiled step and solve take turns with them too."""
    config = reasoner.config
    name = _architecture_name(config)
    side = bench.side
    handle = None
    if compiled_table is not None:
        handle = reasoner.compile_step()
        assert handle is not None
        handle.enabled = False  # on only inside the compiled workloads
    for batch in bench.batches:
        x, z = _inputs(config, batch, side, device, bench.seed + batch)
        rows, inner, cols = ceiling_gemm_shape(config, batch * side * side)
        generator = torch.Generator().manual_seed(bench.seed)
        # The ceiling runs in the dtype autocast gives the step's products, into a preallocated
        # output: pure arithmetic, no allocation.
        gemm_dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
        left = torch.randn(rows, inner, generator=generator).to(device, gemm_dtype)
        right = torch.randn(inner, cols, generator=generator).to(device, gemm_dtype)
        product = torch.empty(rows, cols, device=device, dtype=gemm_dtype)
        iters = bench.solve_iters

        def step(z: torch.Tensor = z, x: torch.Tensor = x, iters: int = iters) -> torch.Tensor:
            # Chained as in a solve (z <- f(z)), with the gates and the mixing kernel held as a
            # solve holds them; one call is ``iters`` iterations.
            with torch.no_grad(), reasoner.parameters_held(), autocast(device):
                for _ in range(iters):
                    z = reasoner.step(z, x)
            return z

        def gemm(
            left: torch.Tensor = left, right: torch.Tensor = right, product: torch.Tensor = product
        ) -> torch.Tensor:
            with torch.no_grad():
                return torch.matmul(left, right, out=product)

        def solve(z: torch.Tensor = z, x: torch.Tensor = x, iters: int = iters) -> object:
            with autocast(device):
                return reasoner.solve(x, None, z, max_iters=iters, halting="fixed_depth")

        def adaptive(z: torch.Tensor = z, x: torch.Tensor = x, iters: int = iters) -> object:
            with autocast(device):
                return reasoner.solve(x, None, z, max_iters=iters, halting="fixed_point", tol=0.0)

        calls: dict[str, Callable[[], object]] = {
            "step": step, "gemm": gemm, "solve": solve, "adaptive": adaptive,
        }  # fmt: skip
        compile_seconds = graphs = 0.0
        if handle is not None:

            def compiled(call: Callable[[], object] = step) -> object:
                assert handle is not None
                handle.enabled = True
                try:
                    return call()
                finally:
                    handle.enabled = False

            def solve_compiled(solve: Callable[[], object] = solve) -> object:
                return compiled(solve)

            calls["step_compiled"] = compiled
            calls["solve_compiled"] = solve_compiled
            # Compile outside the timed rounds (the warm-up of time_in_turns reuses the graphs).
            before, graphs_before = handle.compile_seconds, handle.graphs
            compiled(step)
            compiled(solve)
            compile_seconds = handle.compile_seconds - before
            graphs = handle.graphs - graphs_before
        times = time_in_turns(calls, device, bench.rounds, bench.min_seconds)
        flops = step_flops(config, side, side, batch).total
        gemm_flops = 2 * rows * inner * cols
        step_times = [t / iters for t in times["step"]]
        step_rates = [flops / t for t in step_times]
        gemm_rates = [gemm_flops / t for t in times["gemm"]]
        ratio = paired_ratio(step_rates, gemm_rates)
        per_iter = {workload: median(times[workload]) / iters for workload in ("solve", "adaptive")}
        solve_per_iter, adaptive_per_iter = per_iter["solve"], per_iter["adaptive"]
        key = f"{'attention' if config.attention else 'conv'}_b{batch}"
        report.values.update(
            {
                f"{key}_flops_per_iter": float(flops),
                f"{key}_ms_per_iter": 1e3 * median(step_times),
                f"{key}_gflops": median(step_rates) / 1e9,
                f"{key}_gemm_gflops": median(gemm_rates) / 1e9,
                f"{key}_solve_ms_per_iter": 1e3 * solve_per_iter,
                f"{key}_adaptive_solve_ms_per_iter": 1e3 * adaptive_per_iter,
                f"{key}_ratio": ratio,
            }
        )
        table.rows.append(
            [
                name,
                str(batch),
                f"{flops / 1e6:,.1f}",
                format_seconds(median(step_times)),
                f"{median(step_rates) / 1e9:.2f}",
                f"({rows}x{inner})@({inner}x{cols})",
                f"{median(gemm_rates) / 1e9:.2f}",
                f"{ratio:.2f}",
                format_seconds(solve_per_iter),
                format_seconds(adaptive_per_iter),
            ]
        )
        aimed = batch == GEMM_AIM_BATCH
        report.ratios.append(
            RatioRow(
                label=f"{name}: step rate at batch {batch}",
                baseline=f"torch.matmul {rows}x{inner}x{cols}",
                ours=f"{median(step_rates) / 1e9:.2f} GFLOP/s",
                theirs=f"{median(gemm_rates) / 1e9:.2f} GFLOP/s",
                value=ratio,
                shown=f"{ratio:.2f}x",
                aim=f">= {GEMM_AIM:g}x" if aimed else "-",
                met=aim_at_least(ratio, GEMM_AIM) if aimed else None,
            )
        )
        for workload, rule in (("solve", "fixed depth"), ("adaptive", "adaptive rule")):
            overhead = paired_ratio(times[workload], times["step"])  # same iterations each
            report.values[f"{key}_{workload}_over_step"] = overhead
            report.ratios.append(
                RatioRow(
                    label=f"{name}: solve iteration, {rule}, at batch {batch}",
                    baseline="bare step",
                    ours=format_seconds(per_iter[workload]),
                    theirs=format_seconds(median(step_times)),
                    value=overhead,
                    shown=f"{overhead:.2f}x",
                    aim=f"<= {SOLVE_OVERHEAD_AIM:g}x",
                    met=aim_at_most(overhead, SOLVE_OVERHEAD_AIM),
                )
            )
        if compiled_table is not None and handle is not None:
            _compiled_row(
                report,
                compiled_table,
                name,
                key,
                batch,
                flops,
                times,
                gemm_rates,
                iters,
                compile_seconds,
                int(graphs),
                handle.failure,
            )


def _compiled_row(
    report: BenchReport,
    table: Table,
    name: str,
    key: str,
    batch: int,
    flops: int,
    times: dict[str, list[float]],
    gemm_rates: list[float],
    iters: int,
    compile_seconds: float,
    graphs: int,
    failure: str | None,
) -> None:
    """Add the compiled step's row, values and speed-up ratio (eager time over compiled time,
    paired within rounds)."""
    eager = [t / iters for t in times["step"]]
    ours = [t / iters for t in times["step_compiled"]]
    speedup = paired_ratio(eager, ours)
    solve_speedup = paired_ratio(times["solve"], times["solve_compiled"])
    rates = [flops / t for t in ours]
    versus_gemm = paired_ratio(rates, gemm_rates)
    report.values.update(
        {
            f"{key}_compiled_ms_per_iter": 1e3 * median(ours),
            f"{key}_compiled_gflops": median(rates) / 1e9,
            f"{key}_compiled_ratio": versus_gemm,
            f"{key}_compiled_speedup": speedup,
            f"{key}_compiled_solve_ms_per_iter": 1e3 * median(times["solve_compiled"]) / iters,
            f"{key}_compile_seconds": compile_seconds,
        }
    )
    table.rows.append(
        [
            name,
            str(batch),
            format_seconds(median(eager)),
            format_seconds(median(ours)),
            f"{speedup:.2f}x",
            f"{median(rates) / 1e9:.2f}",
            f"{versus_gemm:.2f}",
            format_seconds(median(times["solve"]) / iters),
            format_seconds(median(times["solve_compiled"]) / iters),
            f"{solve_speedup:.2f}x",
            "eager fallback" if failure else f"{compile_seconds:.1f} s ({graphs})",
        ]
    )
    report.ratios.append(
        RatioRow(
            label=f"{name}: compiled step speed-up at batch {batch}",
            baseline="the eager step",
            ours=format_seconds(median(ours)),
            theirs=format_seconds(median(eager)),
            value=speedup,
            shown=f"{speedup:.2f}x",
        )
    )


def _backprop_cost(
    reasoner: FixedPointReasoner,
    x: torch.Tensor,
    z: torch.Tensor,
    n_no_grad: int,
    k_grad: int,
    device: torch.device,
) -> tuple[int, float]:
    """Saved-activation bytes of one unroll and the peak CUDA memory of forward + backward."""
    parameters = list(reasoner.parameters())
    if device.type == "cuda":
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    start = torch.cuda.memory_allocated(device) if device.type == "cuda" else 0

    def forward() -> torch.Tensor:
        with autocast(device):
            return truncated_unroll(reasoner, x, None, z, n_no_grad, k_grad)

    saved, out = saved_activation_bytes(forward, parameters)
    out.float().square().mean().backward()
    reasoner.zero_grad(set_to_none=True)
    peak = float("nan")
    if device.type == "cuda":
        synchronize(device)
        peak = float(torch.cuda.max_memory_allocated(device) - start)
    return saved, peak


def _memory_rows(
    reasoner: FixedPointReasoner,
    bench: ReasonerBenchConfig,
    device: torch.device,
    report: BenchReport,
) -> Table:
    """Saved bytes and fwd+bwd time of truncated and full back-propagation for each n."""
    config = reasoner.config
    x, z = _inputs(config, bench.memory_batch, bench.side, device, bench.seed)
    k_grad = bench.k_grad
    header = ["iterations n", f"truncated (k={k_grad}) saved", "full saved", "full / truncated"]
    header += ["truncated fwd+bwd", "full fwd+bwd"]
    cuda = device.type == "cuda"
    if cuda:
        header += ["truncated peak", "full peak"]
    table = Table(
        f"Training memory: {_architecture_name(config)}, batch {bench.memory_batch}, "
        f"{bench.side}x{bench.side} grid (bytes of activations saved for backward)",
        header,
    )
    for n_iters in bench.memory_iters:
        truncated_bytes, truncated_peak = _backprop_cost(
            reasoner, x, z, n_iters - k_grad, k_grad, device
        )
        full_bytes, full_peak = _backprop_cost(reasoner, x, z, 0, n_iters, device)

        def truncated(n_iters: int = n_iters) -> None:
            _backprop_cost(reasoner, x, z, n_iters - k_grad, k_grad, device)

        def full(n_iters: int = n_iters) -> None:
            _backprop_cost(reasoner, x, z, 0, n_iters, device)

        times = time_in_turns({"truncated": truncated, "full": full}, device, bench.rounds)
        report.values[f"memory_truncated_n{n_iters}"] = float(truncated_bytes)
        report.values[f"memory_full_n{n_iters}"] = float(full_bytes)
        report.values[f"time_truncated_n{n_iters}_s"] = median(times["truncated"])
        report.values[f"time_full_n{n_iters}_s"] = median(times["full"])
        row = [
            str(n_iters),
            _mebibytes(truncated_bytes),
            _mebibytes(full_bytes),
            f"{full_bytes / truncated_bytes:.2f}x",
            format_seconds(median(times["truncated"])),
            format_seconds(median(times["full"])),
        ]
        if cuda:
            row += [_mebibytes(truncated_peak), _mebibytes(full_peak)]
        table.rows.append(row)
    first, last = bench.memory_iters[0], bench.memory_iters[-1]
    growth = (
        report.values[f"memory_truncated_n{last}"] / report.values[f"memory_truncated_n{first}"]
    )
    full_over = report.values[f"memory_full_n{last}"] / report.values[f"memory_truncated_n{last}"]
    report.ratios.append(
        RatioRow(
            label=f"truncated back-prop memory, n={last} vs n={first}",
            baseline=f"truncated at n={first}",
            ours=_mebibytes(report.values[f"memory_truncated_n{last}"]),
            theirs=_mebibytes(report.values[f"memory_truncated_n{first}"]),
            value=growth,
            shown=f"{growth:.2f}x",
            aim=f"<= {FLAT_MEMORY_AIM:g}x (flat)",
            met=aim_at_most(growth, FLAT_MEMORY_AIM),
        )
    )
    report.ratios.append(
        RatioRow(
            label=f"full back-prop memory at n={last}",
            baseline=f"truncated (k={k_grad}) at n={last}",
            ours=_mebibytes(report.values[f"memory_full_n{last}"]),
            theirs=_mebibytes(report.values[f"memory_truncated_n{last}"]),
            value=full_over,
            shown=f"{full_over:.2f}x",
        )
    )
    return table


def _mebibytes(size: float) -> str:
    if not math.isfinite(size):
        return "-"
    return f"{size / 2**20:,.2f} MiB"


def run_benchmark(
    reasoners: Sequence[FixedPointReasoner],
    bench: ReasonerBenchConfig,
    device: torch.device,
    notes: Sequence[str] = (),
    compile_step: bool = False,
    memory: bool = True,
) -> BenchReport:
    """Measure the speed of every reasoner and the training memory of the first.

    :param reasoners: the architectures to time (on ``device``); the first is the planner's.
    :param bench: sizes and repetitions.
    :param device: where to run.
    :param notes: lines for the report (where the weights came from).
    :param compile_step: also time the compiled step and solve (a table of their own).
    :param memory: measure the training memory (its table and ratios).
    :return: the report.
    """
    if not reasoners:
        raise ValueError("run_benchmark: give at least one reasoner")
    report = BenchReport(
        name="reasoner",
        machine=machine_description(device),
        method=(
            f"{bench.rounds} timed rounds per workload (each turn >= {bench.min_seconds:g} s) "
            f"after a warm-up; step, matrix product and solve take turns; medians; "
            f"seed {bench.seed}; FLOPs of matrix products, convolutions and attention's "
            f"QK^T and AV (step_flops), not of elementwise work"
        ),
        notes=list(notes),
    )
    speed = Table(
        f"One iteration on a {bench.side}x{bench.side} grid (no padding mask)",
        [
            "architecture",
            "batch",
            "MFLOP/iter",
            "time/iter",
            "GFLOP/s",
            "matmul (ceiling)",
            "matmul GFLOP/s",
            "step / matmul",
            "ms/iter in solve",
            "ms/iter, adaptive solve",
        ],
    )
    compiled = None
    if compile_step:
        compiled = Table(
            f"Compiled step (torch.compile) against eager, {bench.side}x{bench.side} grid; "
            "compile: seconds spent compiling before the timed rounds (graphs compiled)",
            [
                "architecture",
                "batch",
                "eager time/iter",
                "compiled time/iter",
                "speed-up",
                "compiled GFLOP/s",
                "compiled / matmul",
                "eager ms/iter in solve",
                "compiled ms/iter in solve",
                "solve speed-up",
                "compile",
            ],
        )
    for reasoner in reasoners:
        reasoner.eval()
        _speed_rows(reasoner, bench, device, report, speed, compiled)
        failure = None if reasoner.compiled_step is None else reasoner.compiled_step.failure
        if failure:
            report.notes.append(f"{_architecture_name(reasoner.config)}: {failure}; eager")
        reasoner.compile_step(False)
    report.tables.append(speed)
    if compiled is not None:
        report.tables.append(compiled)
    if memory:
        report.tables.append(_memory_rows(reasoners[0], bench, device, report))
    return report


@dataclass
class ReasonerBenchArgs:
    """Arguments of ``python -m bench.reasoner``: every field is a ``--flag``."""

    checkpoint: str = field(default=DEFAULT_CHECKPOINT, metadata={"help": "planner checkpoint"})
    random_weights: bool = field(
        default=False, metadata={"help": "ignore the checkpoint (random planner)"}
    )
    device: str = field(
        default="auto",
        metadata={"help": "auto (CUDA if present), cpu or cuda", "choices": DEVICE_CHOICES},
    )
    quick: bool = field(default=False, metadata={"help": "tiny sizes (for tests)"})
    rounds: int | None = field(default=None, metadata={"help": "timed rounds (none: the config's)"})
    seconds: float | None = field(
        default=None, metadata={"help": "least seconds per turn (none: the config's)"}
    )
    side: int | None = field(default=None, metadata={"help": "grid side (none: the config's)"})
    threads: int = field(default=1, metadata={"help": "torch CPU threads"})
    seed: int = field(default=0, metadata={"help": "seed of the inputs and random weights"})
    batches: tuple[int, ...] = field(
        default=(), metadata={"help": "batch sizes of the speed table (empty: the config's)"}
    )
    compile: bool = field(
        default=False,
        metadata={
            "help": "also time the step compiled with torch.compile beside the eager one "
            "(compile time reported apart, outside the timed rounds)"
        },
    )
    memory: bool = field(default=True, metadata={"help": "measure the training memory table"})
    second_architecture: bool = field(
        default=True,
        metadata={"help": "also time the planner's architecture with attention switched"},
    )


def main(argv: Sequence[str] | None = None) -> BenchReport:
    """Run the benchmark from command-line arguments and print its tables.

    :param argv: arguments without the program name (None: ``sys.argv[1:]``).
    :return: the report that was printed.
    """
    from bench.common import resolve_bench_device

    args = parse_args(
        ReasonerBenchArgs,
        argv,
        "Reasoner ms/iteration and GFLOP/s against a matrix product; back-prop memory.",
    )
    device = resolve_bench_device(args.device)
    base = QUICK_CONFIG if args.quick else ReasonerBenchConfig()
    bench = replace(
        base,
        rounds=base.rounds if args.rounds is None else args.rounds,
        min_seconds=base.min_seconds if args.seconds is None else args.seconds,
        side=base.side if args.side is None else args.side,
        seed=args.seed,
        batches=args.batches or base.batches,
    )
    with torch_threads(args.threads):
        random_fields = QUICK_RANDOM_REASONER if args.quick else maze_reasoner_fields()
        loaded = load_planner_or_random(
            None if args.random_weights else args.checkpoint,
            device,
            "FPR/Maze-v0",
            random_fields,
            args.seed,
        )
        planner_reasoner = loaded.planner.reasoner
        other_config = replace(
            planner_reasoner.config, attention=not planner_reasoner.config.attention
        )
        torch.manual_seed(args.seed)
        other = FixedPointReasoner(other_config).to(device)
        notes = [
            f"architecture 1: {loaded.origin} (weights do not change the cost of an iteration)"
        ]
        reasoners = [planner_reasoner]
        if args.second_architecture:
            reasoners.append(other)
            notes.append(
                f"architecture 2: the same with attention={other_config.attention}, random weights"
            )
        report = run_benchmark(reasoners, bench, device, notes, args.compile, args.memory)
    print(format_report(report))
    return report


if __name__ == "__main__":
    main()
