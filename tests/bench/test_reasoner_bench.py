"""The reasoner benchmark: its quick mode end to end, its FLOP count and its memory counter."""

from __future__ import annotations

import contextlib
import math
from dataclasses import replace

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from bench.common import paired_ratio, resolve_bench_device
from bench.reasoner import (
    QUICK_CONFIG,
    QUICK_RANDOM_REASONER,
    FlopCount,
    ReasonerBenchConfig,
    ceiling_gemm_shape,
    main,
    saved_activation_bytes,
    step_flops,
)
from fpr_agents.reasoner import FixedPointReasoner, ReasonerConfig


@pytest.mark.slow
def test_quick_mode_gives_a_complete_finite_table(capsys: pytest.CaptureFixture) -> None:
    torch.set_num_threads(1)
    report = main(["--quick", "--random-weights", "--device", "cpu"])
    printed = capsys.readouterr().out

    assert "RANDOM WEIGHTS" in printed
    speed, memory = report.tables
    batches = (1, 16, 64, 256)
    assert [int(row[1]) for row in speed.rows] == list(batches) * 2  # two architectures
    assert {row[0].split(",")[0] for row in speed.rows} == {"conv-only", "attention"}
    assert all(row[0].endswith("3x3 MLP") for row in speed.rows)  # as the shipped maze planner
    # The rates divide the count of exactly what is timed, one step, by its time.
    planner = ReasonerConfig(**QUICK_RANDOM_REASONER)
    for config, key in ((planner, "conv"), (replace(planner, attention=True), "attention")):
        for batch in batches:
            counted = step_flops(config, QUICK_CONFIG.side, QUICK_CONFIG.side, batch).total
            assert report.values[f"{key}_b{batch}_flops_per_iter"] == counted
    assert len(memory.rows) == 2  # the quick iteration counts (3, 6)

    labels = [row.label for row in report.ratios]
    # per architecture and batch: the step rate, and a solve iteration against the bare step
    # at fixed depth and under an adaptive rule; then the two memory rows
    assert len(labels) == 3 * 2 * len(batches) + 2
    for row in report.ratios:
        assert math.isfinite(row.value) and row.value > 0, row.label
        assert (row.met is None) == (row.aim == "-"), row.label
    aimed = [row for row in report.ratios if row.met is not None]
    rates = [row for row in aimed if "step rate" in row.label]
    assert [row.label.rsplit(" ", 1)[-1] for row in rates] == ["64", "64"]
    overheads = [row for row in aimed if "solve iteration" in row.label]
    assert len(overheads) == 2 * 2 * len(batches)
    assert all(row.baseline == "bare step" for row in overheads)
    assert report.values["conv_b1_adaptive_over_step"] == overheads[1].value
    for value in report.values.values():
        assert math.isfinite(value)

    # Truncated back-propagation saves exactly as much at n=6 as at n=3; full grows with n.
    assert report.values["memory_truncated_n6"] == report.values["memory_truncated_n3"]
    assert report.values["memory_full_n6"] > 1.9 * report.values["memory_full_n3"]
    assert report.ratio("truncated back-prop memory, n=6 vs n=3").met is True

    # The ratio table comes last.
    tail = printed.rsplit("Ratios", 1)[1]
    assert len([line for line in tail.splitlines() if line.startswith("| ")]) == 1 + len(labels)
    assert printed.rstrip().splitlines()[-1].startswith(f"| {labels[-1]}")


# torch's FLOP counter (torch.utils.flop_counter.FlopCounterMode) counts matrix products (mm,
# addmm, bmm) and convolutions (aten.convolution, the depthwise one included), and so does
# step_flops. It does not count the fused attention kernel on the CPU
# (aten._scaled_dot_product_flash_attention_for_cpu, torch 2.13): the comparisons part by part
# therefore run attention on the math backend, which computes Q K^T and A V as two bmm the
# counter sees, and one test checks on the default backend that the fused kernel is all the
# counter misses. The counter files counts under the module they run in; FixedPointReasoner.step
# is not its forward, so the tracker names each part by its class (every block's attention
# adds up under "GridAttention", and so on).
TORCH_MODULES: dict[str, tuple[str, ...]] = {
    "local_mixing": ("GridConv",),
    "attention": ("GridAttention",),
    "mlp": ("SwiGLU", "ConvSwiGLU"),
}
FLOP_GRID = [
    pytest.param(
        attention,
        mlp_kernel,
        n_layers,
        shape,
        id=f"{kind}-m{mlp_kernel}-L{n_layers}-{'x'.join(map(str, shape))}",
    )
    for attention, kind in ((False, "conv"), (True, "attn"))
    for mlp_kernel in (1, 3)
    for n_layers in (1, 2)
    for shape in ((1, 4, 5), (3, 6, 6))  # (B, H, W)
]


def _torch_flop_counts(
    config: ReasonerConfig, shape: tuple[int, int, int], math_attention: bool = True
) -> dict[str, dict[str, int]]:
    """Run one real ``FixedPointReasoner.step`` under torch's FLOP counter.

    :param config: the reasoner's configuration.
    :param shape: (B, H, W) of the latent.
    :param math_attention: run attention on the math backend (products the counter sees).
    :return: module name ("Global" for all) -> op name -> FLOPs.
    """
    torch.manual_seed(0)
    reasoner = FixedPointReasoner(config)
    z = torch.randn(*shape, config.d_model)  # (B, H, W, d)
    x = torch.randn(*shape, config.d_model)  # (B, H, W, d)
    counter = FlopCounterMode(display=False)
    backend = sdpa_kernel(SDPBackend.MATH) if math_attention else contextlib.nullcontext()
    with torch.no_grad(), backend, counter:
        reasoner.step(z, x)
    return {
        module: {str(op): int(count) for op, count in ops.items()}
        for module, ops in counter.get_flop_counts().items()
    }


def _module_flops(counts: dict[str, dict[str, int]], part: str, ops: set[str] | None = None) -> int:
    """FLOPs torch counted inside one part of the step.

    :param counts: from :func:`_torch_flop_counts`.
    :param part: a key of ``TORCH_MODULES``.
    :param ops: count only these ops (None: all).
    :return: the part's FLOPs.
    """
    return sum(
        count
        for module in TORCH_MODULES[part]
        for op, count in counts.get(module, {}).items()
        if ops is None or op in ops
    )


def _assert_matches_torch_part_by_part(config: ReasonerConfig, shape: tuple[int, int, int]) -> None:
    """Compare step_flops with torch's counter on one real step: each part, then the whole.

    :param config: the reasoner's configuration.
    :param shape: (B, H, W) of the latent.
    """
    counts = _torch_flop_counts(config, shape)
    batch, height, width = shape
    flops = step_flops(config, height, width, batch)
    assert _module_flops(counts, "local_mixing") == flops.local_mixing
    assert _module_flops(counts, "mlp") == flops.mlp
    assert _module_flops(counts, "attention", {"aten.mm", "aten.addmm"}) == (
        flops.attention_projections
    )
    assert _module_flops(counts, "attention", {"aten.bmm"}) == flops.attention_products
    assert sum(counts["Global"].values()) == flops.total


@pytest.mark.parametrize(("attention", "mlp_kernel", "n_layers", "shape"), FLOP_GRID)
def test_flop_count_matches_torch_counter_on_the_real_step(
    attention: bool, mlp_kernel: int, n_layers: int, shape: tuple[int, int, int]
) -> None:
    config = ReasonerConfig(
        d_model=16, n_heads=2, n_layers=n_layers, attention=attention, mlp_kernel=mlp_kernel
    )
    _assert_matches_torch_part_by_part(config, shape)


@pytest.mark.parametrize(
    "fields",
    [
        {"conv_kernel": 5},
        {"mlp_kernel": 5, "attention": True},
        {"mlp_ratio": 1.5, "mlp_kernel": 3},  # hidden 24
        {"mlp_ratio": 0.3},  # hidden round(4.8) = 5
        {"n_heads": 1, "attention": True},
        {"n_heads": 4, "attention": True, "mlp_kernel": 3},
        {"block_style": "prenorm", "attention": True, "mlp_kernel": 3},
        {"block_style": "postnorm", "attention": True},
        # The embedding's options do not reach the step: the same count.
        {"position_embedding": 8, "edge_embedding": 8, "mirror_views": True, "attention": True},
    ],
    ids=lambda fields: ",".join(f"{key}={value}" for key, value in fields.items()),
)
def test_flop_count_matches_torch_counter_for_every_architecture_option(
    fields: dict[str, object],
) -> None:
    config = ReasonerConfig(**{"d_model": 16, "n_heads": 2, "attention": False, **fields})
    _assert_matches_torch_part_by_part(config, (2, 5, 3))


@pytest.mark.parametrize("mlp_kernel", [1, 3])
def test_fused_attention_is_all_that_torch_counter_misses_on_the_default_backend(
    mlp_kernel: int,
) -> None:
    config = ReasonerConfig(d_model=16, n_heads=2, n_layers=2, mlp_kernel=mlp_kernel)
    counts = _torch_flop_counts(config, (2, 4, 4), math_attention=False)
    flops = step_flops(config, 4, 4, batch=2)
    fused = sum(count for op, count in counts["Global"].items() if "scaled_dot_product" in op)
    # On the CPU the counter does not see the fused kernel (fused == 0); where it does (CUDA), it
    # counts the same two products.
    assert fused in (0, flops.attention_products)
    assert sum(counts["Global"].values()) - fused == flops.total - flops.attention_products


def test_embedding_options_leave_the_step_count_unchanged() -> None:
    plain = ReasonerConfig(d_model=16, n_heads=2)
    embedded = ReasonerConfig(d_model=16, n_heads=2, position_embedding=9, edge_embedding=9)
    mirrored = ReasonerConfig(d_model=16, n_heads=2, mirror_views=True)
    assert (
        step_flops(plain, 9, 9, 4) == step_flops(embedded, 9, 9, 4) == step_flops(mirrored, 9, 9, 4)
    )


def test_flop_count_of_small_steps_by_hand() -> None:
    # d=4, SwiGLU hidden 8, 2x3 grid (N=6), batch 2. Local mixing (3x3 depthwise): 2*9*6*4.
    # Token-wise MLP: 2*6*4*16 in + 2*6*8*4 out. 3x3 MLP: 9 times that.
    token_wise = step_flops(ReasonerConfig(d_model=4, n_heads=1, attention=False), 2, 3, batch=2)
    assert token_wise == FlopCount(
        local_mixing=2 * 432, attention_projections=0, attention_products=0, mlp=2 * 1152
    )
    conv_mlp = ReasonerConfig(d_model=4, n_heads=1, attention=False, mlp_kernel=3)
    assert step_flops(conv_mlp, 2, 3, batch=2).mlp == 2 * 9 * 1152
    # d=8 with attention, hidden 16, 2x3 grid, batch 1: projections 2*6*8*40 + 2*6*8*8,
    # products 2 * 2*6*6*8, MLP 2*6*8*32 + 2*6*16*8, local mixing 2*9*6*8.
    flops = step_flops(ReasonerConfig(d_model=8, n_heads=2), 2, 3)
    assert flops == FlopCount(
        local_mixing=864, attention_projections=4608, attention_products=1152, mlp=4608
    )
    assert flops.total == 864 + 4608 + 1152 + 4608


@settings(max_examples=25, deadline=None)
@given(
    height=st.integers(1, 12),
    width=st.integers(1, 12),
    batch=st.integers(1, 64),
    attention=st.booleans(),
    n_layers=st.integers(1, 3),
    mlp_kernel=st.sampled_from([1, 3, 5]),
)
def test_flops_scale_with_batch_tokens_and_layers(
    height: int, width: int, batch: int, attention: bool, n_layers: int, mlp_kernel: int
) -> None:
    config = ReasonerConfig(
        d_model=16, n_heads=2, attention=attention, n_layers=n_layers, mlp_kernel=mlp_kernel
    )
    one = step_flops(config, height, width)
    assert step_flops(config, height, width, batch).total == batch * one.total
    wider = step_flops(config, height, 2 * width)
    assert wider.mlp == 2 * one.mlp  # linear in the tokens
    assert wider.attention_projections == 2 * one.attention_projections
    assert wider.attention_products == 4 * one.attention_products  # quadratic in the tokens
    assert (one.attention_products > 0) == attention
    single = step_flops(replace(config, n_layers=1), height, width)
    assert one.mlp == n_layers * single.mlp
    assert one.local_mixing == single.local_mixing  # once per step, not per block
    rows, inner, cols = ceiling_gemm_shape(config, batch * height * width)
    assert rows == batch * height * width
    if mlp_kernel == 1:
        # The fused q/k/v/rotary projection, or SwiGLU's input projection.
        assert (inner, cols) == ((16, 80) if attention else (16, 64))
    else:
        # SwiGLU's input convolution as the product it lowers to: (k^2 d) -> 2h.
        assert (inner, cols) == (mlp_kernel**2 * 16, 64)


def test_saved_activation_bytes_counts_each_storage_once_and_skips_parameters() -> None:
    weight = torch.nn.Parameter(torch.randn(8, 8))
    inputs = torch.randn(32, 8)

    def forward() -> torch.Tensor:
        hidden = torch.exp(inputs @ weight)  # mm saves the inputs; exp saves its (32, 8) result
        return hidden * hidden  # saves the same storage twice

    counted, output = saved_activation_bytes(forward, [weight])
    assert counted == 2 * 32 * 8 * 4
    output.sum().backward()
    assert weight.grad is not None


def test_bad_settings_raise_value_errors() -> None:
    with pytest.raises(ValueError, match="height, width and batch"):
        step_flops(ReasonerConfig(), 0, 3)
    with pytest.raises(ValueError, match="k_grad"):
        ReasonerBenchConfig(memory_iters=(2, 8), k_grad=4)
    with pytest.raises(ValueError, match="--device"):
        resolve_bench_device("gpu")
    with pytest.raises(ValueError, match="equally long"):
        paired_ratio([1.0, 2.0], [1.0])
    assert paired_ratio([2.0, 9.0, 4.0], [1.0, 3.0, 1.0]) == 3.0
