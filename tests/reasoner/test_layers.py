"""Layers: norms, MLP, 2D rotary attention, non-expansive grid convolution, gates, embedding."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from fpr_agents.reasoner.layers import (
    ConvSwiGLU,
    Gate,
    GridAttention,
    GridConv,
    GridEmbedding,
    RMSNorm,
    SwiGLU,
    apply_grid_rotary,
    grid_rotary_tables,
)


def test_rmsnorm_unit_rms_and_zero_stays_zero(generator: torch.Generator) -> None:
    norm = RMSNorm(8)
    h = torch.randn(3, 4, 8, generator=generator) * 5
    h[0, 0] = 0.0
    out = norm(h)
    assert torch.allclose(out[1].pow(2).mean(-1), torch.ones(4), atol=1e-4)
    assert torch.equal(out[0, 0], torch.zeros(8))


def test_swiglu_shape_and_tokenwise(generator: torch.Generator) -> None:
    mlp = SwiGLU(8, 12)
    h = torch.randn(2, 3, 3, 8, generator=generator)
    out = mlp(h)
    assert out.shape == h.shape
    assert torch.allclose(mlp(h[:, 1:2, 2:3]), out[:, 1:2, 2:3], atol=1e-6)


def test_rotary_scores_depend_only_on_relative_position(generator: torch.Generator) -> None:
    head_dim, height, width = 16, 9, 11
    cos, sin = grid_rotary_tables(
        height, width, head_dim, 100.0, torch.device("cpu"), torch.float64
    )
    query = torch.randn(head_dim, generator=generator, dtype=torch.float64)
    key = torch.randn(head_dim, generator=generator, dtype=torch.float64)

    def score(query_cell: tuple[int, int], key_cell: tuple[int, int]) -> float:
        qi = query_cell[0] * width + query_cell[1]
        ki = key_cell[0] * width + key_cell[1]
        rotated_q = apply_grid_rotary(query[None], cos[qi : qi + 1], sin[qi : qi + 1])
        rotated_k = apply_grid_rotary(key[None], cos[ki : ki + 1], sin[ki : ki + 1])
        return float((rotated_q * rotated_k).sum())

    base = score((1, 2), (3, 7))
    assert score((5, 3), (7, 8)) == pytest.approx(base, abs=1e-9)  # same offset (2, 5)
    assert score((1, 2), (3, 6)) != pytest.approx(base, abs=1e-3)  # column offset differs
    assert score((1, 2), (4, 7)) != pytest.approx(base, abs=1e-3)  # row offset differs
    # Rotation keeps norms.
    rotated = apply_grid_rotary(query.expand(height * width, -1), cos, sin)
    assert torch.allclose(rotated.norm(dim=-1), query.norm().expand(height * width))


def _reference_attention(
    attention: GridAttention, h: torch.Tensor, mask: torch.Tensor | None
) -> torch.Tensor:
    """Grid attention written the plain way, to check the fused projection."""
    batch, height, width, dim = h.shape
    heads, head_dim = attention.n_heads, attention.head_dim
    q, k, v = attention.qkv(h.reshape(batch, -1, dim)).split(dim, dim=-1)
    q, k, v = (t.reshape(batch, -1, heads, head_dim).transpose(1, 2) for t in (q, k, v))
    cos, sin = grid_rotary_tables(height, width, head_dim, attention.rope_base, h.device, h.dtype)
    q, k = apply_grid_rotary(q, cos, sin), apply_grid_rotary(k, cos, sin)
    scores = q @ k.transpose(-1, -2) / math.sqrt(head_dim)
    if mask is not None:
        scores = scores.masked_fill(~mask.reshape(batch, 1, 1, -1), float("-inf"))
    out = (scores.softmax(-1) @ v).transpose(1, 2).reshape(batch, height, width, dim)
    return attention.proj_out(out)


def test_fused_attention_matches_reference(generator: torch.Generator) -> None:
    torch.manual_seed(0)
    attention = GridAttention(16, 2, rope_base=50.0)
    h = torch.randn(3, 4, 5, 16, generator=generator)
    mask = torch.ones(3, 4, 5, dtype=torch.bool)
    mask[1, 3:, :] = False
    mask[2, :, 2:] = False
    for m in (None, mask):
        assert torch.allclose(attention(h, m), _reference_attention(attention, h, m), atol=1e-5)


def test_attention_ignores_padded_keys(generator: torch.Generator) -> None:
    torch.manual_seed(0)
    attention = GridAttention(16, 4)
    h = torch.randn(1, 5, 5, 16, generator=generator)
    mask = torch.zeros(1, 5, 5, dtype=torch.bool)
    mask[:, :3, :4] = True
    disturbed = h.clone()
    disturbed[~mask] = 1e3
    out, out_disturbed = attention(h, mask), attention(disturbed, mask)
    assert torch.allclose(out[mask], out_disturbed[mask], atol=1e-5)
    # Same as attending within the cropped grid alone.
    assert torch.allclose(out[:, :3, :4], attention(h[:, :3, :4]), atol=1e-5)


def test_attention_rejects_bad_head_width() -> None:
    with pytest.raises(ValueError, match="multiple of 4"):
        GridAttention(12, 2)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    scale=st.floats(0.1, 20.0),
    height=st.integers(1, 6),
    width=st.integers(1, 6),
)
def test_grid_conv_is_non_expansive(seed: int, scale: float, height: int, width: int) -> None:
    torch.manual_seed(seed)
    conv = GridConv(4, 3)
    with torch.no_grad():
        conv.weight.normal_(std=scale)  # any learned kernel
    z = torch.randn(2, height, width, 4)
    out = conv(z)
    assert (out.abs().amax(dim=(0, 1, 2)) <= z.abs().amax(dim=(0, 1, 2)) + 1e-5).all()
    assert conv.kernel().abs().sum(dim=(1, 2, 3)).max() <= 1.0 + 1e-6


def test_grid_conv_is_depthwise_local_and_masked() -> None:
    torch.manual_seed(0)
    conv = GridConv(3, 3)
    z = torch.zeros(1, 5, 5, 3)
    z[0, 2, 2, 1] = 1.0
    out = conv(z)
    assert out[..., 0].abs().sum() == 0 and out[..., 2].abs().sum() == 0  # depthwise
    touched = out[0, :, :, 1] != 0
    assert touched[1:4, 1:4].all() and touched.sum() == 9  # 3x3 neighbourhood only
    expected = F.conv2d(z.permute(0, 3, 1, 2), conv.kernel(), padding=1, groups=3)
    assert torch.allclose(out, expected.permute(0, 2, 3, 1))
    mask = torch.ones(1, 5, 5, dtype=torch.bool)
    mask[0, 2, 3] = False
    assert conv(z, mask)[0, 2, 3].abs().sum() == 0


def test_residual_grid_conv_adds_the_input() -> None:
    torch.manual_seed(0)
    conv = GridConv(3, 3, non_expansive=False)
    with torch.no_grad():
        conv.weight.normal_(std=2.0)
    z = torch.randn(2, 4, 4, 3)
    expected = z + F.conv2d(z.permute(0, 3, 1, 2), conv.weight, padding=1, groups=3).permute(
        0, 2, 3, 1
    )
    assert torch.allclose(conv(z), expected, atol=1e-5)
    assert torch.equal(conv.kernel(), conv.weight)  # unconstrained


def test_conv_swiglu_mixes_channels_of_neighbours_only() -> None:
    torch.manual_seed(0)
    mlp = ConvSwiGLU(4, 8, 3)
    h = torch.zeros(1, 7, 7, 4)
    h[0, 3, 3, 0] = 1.0
    out = mlp(h)
    assert out.shape == h.shape
    touched = out[0].abs().sum(-1) != 0  # (7, 7)
    # two 3x3 convolutions: the 5x5 neighbourhood, nothing beyond
    assert touched[1:6, 1:6].all() and touched.sum() == 25
    assert (out[0, 3, 3] != 0).all()  # every channel reads channel 0


def test_conv_swiglu_zeroes_and_ignores_padded_cells() -> None:
    torch.manual_seed(0)
    mlp = ConvSwiGLU(4, 8, 3)
    h = torch.randn(2, 5, 5, 4)
    mask = torch.ones(2, 5, 5, dtype=torch.bool)
    mask[:, :, 3:] = False
    noisy = h.clone()
    noisy[~mask] = 100.0
    clean_out, noisy_out = mlp(h, mask), mlp(noisy, mask)
    assert torch.allclose(clean_out, noisy_out, atol=1e-5)
    assert torch.equal(noisy_out[~mask], torch.zeros_like(noisy_out[~mask]))
    with pytest.raises(ValueError, match="kernel_size"):
        ConvSwiGLU(4, 8, 2)


def test_gate_initial_value() -> None:
    gate = Gate(5, 0.75)
    assert torch.allclose(gate(), torch.full((5,), 0.75))
    with pytest.raises(ValueError, match="init"):
        Gate(5, 1.0)


def test_grid_embedding_adds_absolute_positions_when_asked() -> None:
    torch.manual_seed(0)
    plain = GridEmbedding({"grid": 3}, d_model=8)
    torch.manual_seed(0)
    placed = GridEmbedding({"grid": 3}, d_model=8, max_positions=4)
    grid = torch.zeros(1, 3, 4, dtype=torch.long)  # one symbol everywhere
    x_plain, x_placed = plain({"grid": grid}), placed({"grid": grid})
    assert torch.equal(x_plain[0, 0, 0], x_plain[0, 2, 3])  # no position: all cells alike
    assert placed.rows is not None and placed.cols is not None
    expected = placed.rows.weight[2] + placed.cols.weight[1]
    torch.testing.assert_close(x_placed[0, 2, 1] - x_plain[0, 2, 1], expected)
    with pytest.raises(ValueError, match="max_positions"):
        placed({"grid": torch.zeros(1, 5, 2, dtype=torch.long)})
    with pytest.raises(ValueError, match="max_positions"):
        GridEmbedding({"grid": 3}, d_model=8, max_positions=-1)


def test_grid_embedding_adds_distances_to_each_grids_far_edges() -> None:
    torch.manual_seed(0)
    embedding = GridEmbedding({"grid": 3, "pairs": 3}, 8, {"pairs": 2}, edge_positions=5)
    grids = {"grid": torch.zeros(2, 5, 5, dtype=torch.long), "pairs": torch.zeros(2, 2, 5, 5)}
    plain = GridEmbedding({"grid": 3, "pairs": 3}, 8, {"pairs": 2})
    plain.tables = embedding.tables
    extents = {
        "grid": torch.tensor([[3, 4], [4, 5]]),  # (B, 2): unstacked
        "pairs": torch.tensor([[[2, 2], [0, 0]], [[3, 3], [0, 0]]]),  # (B, K, 2)
    }
    edges = embedding(grids, extents) - plain(grids)  # (2, 5, 5, 8)
    # Cell (r, c) of a 3x4 grid (and 2x2) is as far from the far edges as (r + 1, c + 1) of a
    # 4x5 grid (and 3x3).
    torch.testing.assert_close(edges[0, 1, 2], edges[1, 2, 3])
    torch.testing.assert_close(edges[0, 0, 0], edges[1, 1, 1])
    assert not torch.allclose(edges[0, 1, 2], edges[1, 1, 2])
    # Outside a grid every cell reads that grid's one "outside" entry.
    torch.testing.assert_close(edges[0, 3, 4] - edges[0, 4, 4], torch.zeros(8))
    assert embedding.edge_rows is not None and embedding.edge_cols is not None
    rows = {k: t.weight for k, t in embedding.edge_rows.items()}  # 6 entries per stacked grid
    cols = {k: t.weight for k, t in embedding.edge_cols.items()}
    expected = (
        rows["grid"][1] + rows["pairs"][0] + rows["pairs"][6 + 5]
        + cols["grid"][1] + cols["pairs"][5] + cols["pairs"][6 + 5]
    )  # fmt: skip
    torch.testing.assert_close(edges[0, 1, 2], expected)
    # Float extents (as SB3 passes Box observations) read the same.
    floats = {key: value.float() for key, value in extents.items()}
    torch.testing.assert_close(embedding(grids, floats), edges + plain(grids))


@pytest.mark.parametrize(
    ("extents", "message"),
    [
        (None, "needs the grids' extents"),
        ({"grid": torch.zeros(2, 2)}, "missing the extents of grids \\['pairs'\\]"),
        ({"grid": torch.zeros(2, 2), "pairs": torch.zeros(2, 3, 2)}, "'pairs'.*\\(2, 2, 2\\)"),
        ({"grid": torch.full((2, 2), 6), "pairs": torch.zeros(2, 2, 2)}, "\\[0, 5\\].*max 6"),
        ({"grid": torch.zeros(2, 2), "pairs": torch.full((2, 2, 2), -1)}, "min -1"),
        ({"grid": torch.zeros(1, 2), "pairs": torch.zeros(2, 2, 2)}, "'grid'.*\\(2, 1, 2\\)"),
    ],
)
def test_grid_embedding_rejects_bad_extents(
    extents: dict[str, torch.Tensor] | None, message: str
) -> None:
    embedding = GridEmbedding({"grid": 3, "pairs": 3}, 8, {"pairs": 2}, edge_positions=5)
    grids = {"grid": torch.zeros(2, 5, 5, dtype=torch.long), "pairs": torch.zeros(2, 2, 5, 5)}
    with pytest.raises(ValueError, match=message):
        embedding(grids, extents)
    with pytest.raises(ValueError, match="edge_positions"):
        GridEmbedding({"grid": 3}, 8, edge_positions=-1)


def test_grid_embedding_sums_channels_and_stack_indices() -> None:
    torch.manual_seed(0)
    embedding = GridEmbedding({"grid": 4, "pairs": 3}, d_model=8, stack_sizes={"pairs": 2})
    grid = torch.tensor([[[0, 1], [2, 3]]])  # (1, 2, 2)
    pairs = torch.tensor([[[[0, 1], [2, 0]], [[0, 1], [2, 0]]]])  # (1, 2, 2, 2)
    x = embedding({"grid": grid, "pairs": pairs})
    assert x.shape == (1, 2, 2, 8)
    tables = embedding.tables
    expected = tables["grid"].weight[1] + tables["pairs"].weight[1] + tables["pairs"].weight[3 + 1]
    assert torch.allclose(x[0, 0, 1], expected)
    # Stack index matters: the same symbol in stack 0 and 1 uses different rows.
    assert not torch.allclose(tables["pairs"].weight[1], tables["pairs"].weight[4])
    # Integral floats (as SB3 passes Box observations) are accepted.
    x_float = embedding({"grid": grid.float(), "pairs": pairs.double()})
    assert torch.equal(x, x_float)


@pytest.mark.parametrize(
    ("grids", "message"),
    [
        ({"grid": torch.zeros(1, 2, 2, dtype=torch.long)}, "missing"),
        ({"grid": torch.full((1, 2, 2), 4), "pairs": torch.zeros(1, 2, 2, 2)}, "'grid'.*outside"),
        ({"grid": torch.zeros(1, 2, 2), "pairs": torch.zeros(1, 2, 2)}, "'pairs'.*4 dims"),
        ({"grid": torch.zeros(1, 2, 2), "pairs": torch.zeros(1, 3, 2, 2)}, "'pairs'.*stack 2"),
        ({"grid": torch.full((1, 2, 2), 0.5), "pairs": torch.zeros(1, 2, 2, 2)}, "non-integer"),
        ({"grid": torch.zeros(1, 2, 2), "pairs": torch.zeros(1, 2, 3, 2)}, "'pairs'.*others"),
    ],
)
def test_grid_embedding_rejects_bad_grids(grids: dict[str, torch.Tensor], message: str) -> None:
    embedding = GridEmbedding({"grid": 4, "pairs": 3}, d_model=8, stack_sizes={"pairs": 2})
    with pytest.raises(ValueError, match=message):
        embedding(grids)


def test_grid_embedding_rejects_bad_construction() -> None:
    with pytest.raises(ValueError, match="unknown channels"):
        GridEmbedding({"grid": 4}, 8, stack_sizes={"other": 2})
    with pytest.raises(ValueError, match="'grid' must be >= 1"):
        GridEmbedding({"grid": 0}, 8)
    with pytest.raises(ValueError, match="identifier"):
        GridEmbedding({"a.b": 2}, 8)
