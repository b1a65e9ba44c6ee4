"""The reasoner benchmark: its quick mode end to end, its FLOP count and its memory counter."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

from bench.common import paired_ratio, resolve_bench_device
from bench.reasoner import (
    ReasonerBenchConfig,
    ceiling_gemm_shape,
    main,
    saved_activation_bytes,
    step_flops,
)
from fpr_agents.reasoner import FixedPointReasoner, ReasonerConfig

# Ops that torch's FLOP counter counts for a step: matrix products and the convolution (it does
# not count the fused attention kernel on the CPU).
GEMM_AND_CONV_OPS = {"aten.mm", "aten.addmm", "aten.bmm", "aten.convolution"}


def test_quick_mode_gives_a_complete_finite_table(capsys: pytest.CaptureFixture) -> None:
    torch.set_num_threads(1)
    report = main(["--quick", "--random-weights", "--device", "cpu"])
    printed = capsys.readouterr().out

    assert "RANDOM WEIGHTS" in printed
    speed, memory = report.tables
    batches = (1, 16, 64, 256)
    assert [int(row[1]) for row in speed.rows] == list(batches) * 2  # two architectures
    assert {row[0].split(",")[0] for row in speed.rows} == {"conv-only", "attention"}
    assert len(memory.rows) == 2  # the quick iteration counts (3, 6)

    labels = [row.label for row in report.ratios]
    assert len(labels) == 2 * len(batches) + 2
    for row in report.ratios:
        assert math.isfinite(row.value) and row.value > 0, row.label
        assert (row.met is None) == (row.aim == "-"), row.label
    aimed = [row for row in report.ratios if row.met is not None]
    assert [row.label.rsplit(" ", 1)[-1] for row in aimed[:2]] == ["64", "64"]
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


@pytest.mark.parametrize("attention", [False, True])
def test_flop_count_matches_torch_counter_on_matrix_products_and_conv(attention: bool) -> None:
    config = ReasonerConfig(d_model=16, n_heads=2, n_layers=2, attention=attention)
    reasoner = FixedPointReasoner(config)
    z, x = torch.randn(3, 4, 5, 16), torch.randn(3, 4, 5, 16)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        reasoner.step(z, x)
    counted = sum(
        count
        for op, count in counter.get_flop_counts()["Global"].items()
        if str(op) in GEMM_AND_CONV_OPS
    )
    assert counted == step_flops(config, 4, 5, batch=3).gemm_and_conv


def test_flop_count_of_a_small_conv_only_step_by_hand() -> None:
    # d=4, SwiGLU hidden 8, 3x3 kernel, 2x3 grid (N=6): per sample conv 2*9*6*4, projections
    # 2*6*4*16 + 2*6*8*4, elementwise: injection 3*6*4, norm 4*6*4, SiLU 4*6*8, gating 6*8,
    # gated residual 3*6*4.
    flops = step_flops(ReasonerConfig(d_model=4, n_heads=1, attention=False), 2, 3, batch=2)
    assert flops.conv == 2 * 432
    assert flops.projections == 2 * (768 + 384)
    assert flops.attention == 0
    assert flops.elementwise == 2 * (72 + 96 + 192 + 48 + 72)
    assert flops.total == flops.conv + flops.projections + flops.elementwise


@settings(max_examples=25, deadline=None)
@given(
    height=st.integers(1, 12),
    width=st.integers(1, 12),
    batch=st.integers(1, 64),
    attention=st.booleans(),
    n_layers=st.integers(1, 3),
)
def test_flops_scale_with_batch_tokens_and_layers(
    height: int, width: int, batch: int, attention: bool, n_layers: int
) -> None:
    config = ReasonerConfig(d_model=16, n_heads=2, attention=attention, n_layers=n_layers)
    one = step_flops(config, height, width)
    assert step_flops(config, height, width, batch).total == batch * one.total
    wider = step_flops(config, height, 2 * width)
    assert wider.projections == 2 * one.projections  # linear in the tokens
    assert wider.attention == 4 * one.attention  # quadratic in the tokens
    assert (one.attention > 0) == attention
    rows, inner, cols = ceiling_gemm_shape(config, batch * height * width)
    assert (rows, inner) == (batch * height * width, 16)
    assert cols == (80 if attention else 64)  # the fused q/k/v/rotary projection, or SwiGLU's


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
