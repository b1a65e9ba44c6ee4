"""Building blocks of the reasoner: normalisation, MLP, grid attention with 2D rotary positions,
depthwise grid convolution, per-channel gates and the embedding of symbol grids.

All grid tensors are channels-last: a latent or embedding has shape (B, H, W, d) and a validity
mask has shape (B, H, W) with True on real cells.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn


class RMSNorm(nn.Module):
    """Root-mean-square normalisation over the last dimension, with a learned per-channel scale.

    A zero vector (a padded cell) stays zero.

    :param dim: size of the normalised (last) dimension.
    :param eps: added to the mean square before the square root.
    """

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """Normalise ``h``.

        :param h: input, (..., dim).
        :return: normalised input, (..., dim), same dtype.
        """
        h32 = h.float()
        scale = torch.rsqrt(h32.pow(2).mean(dim=-1, keepdim=True) + self.eps)
        return (h32 * scale).to(h.dtype) * self.weight


class SwiGLU(nn.Module):
    """Gated MLP ``W_out(silu(W_gate h) * W_up h)``, without biases.

    :param dim: input and output width.
    :param hidden: hidden width.
    """

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.proj_in = nn.Linear(dim, 2 * hidden, bias=False)
        self.proj_out = nn.Linear(hidden, dim, bias=False)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """Apply the MLP token-wise.

        :param h: input, (..., dim).
        :return: output, (..., dim).
        """
        gate, up = self.proj_in(h).split(self.hidden, dim=-1)  # (..., hidden) each
        return self.proj_out(F.silu(gate) * up)


class ConvSwiGLU(nn.Module):
    """Gated MLP whose projections are channel-mixing ``k x k`` convolutions over the grid.

    ``conv_out(silu(g) * u)`` with ``(g, u) = conv_in(h)``: each cell reads its neighbours' channels
    in both projections, so one application carries information ``2 * (k // 2)`` cells, where the
    token-wise :class:`SwiGLU` carries none. Padded cells are zeroed before each convolution, so
    they never leak into real ones. Without biases, like :class:`SwiGLU`.

    :param dim: input and output width.
    :param hidden: hidden width.
    :param kernel_size: odd kernel side k.
    """

    def __init__(self, dim: int, hidden: int, kernel_size: int = 3) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"ConvSwiGLU: kernel_size must be odd and >= 1, got {kernel_size}")
        self.hidden = hidden
        padding = kernel_size // 2
        self.conv_in = nn.Conv2d(dim, 2 * hidden, kernel_size, padding=padding, bias=False)
        self.conv_out = nn.Conv2d(hidden, dim, kernel_size, padding=padding, bias=False)

    def forward(self, h: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Apply the MLP over the grid.

        :param h: input, (B, H, W, dim).
        :param mask: (B, H, W) bool, True on real cells, or None.
        :return: output, (B, H, W, dim), zero on padded cells.
        """
        valid = None if mask is None else mask.unsqueeze(1).to(h.dtype)  # (B, 1, H, W)
        x = h.permute(0, 3, 1, 2)  # (B, dim, H, W)
        if valid is not None:
            x = x * valid
        gate, up = self.conv_in(x).split(self.hidden, dim=1)  # (B, hidden, H, W) each
        inner = F.silu(gate) * up
        if valid is not None:
            inner = inner * valid
        out = self.conv_out(inner)  # (B, dim, H, W)
        if valid is not None:
            out = out * valid
        return out.permute(0, 2, 3, 1)


def grid_rotary_tables(
    height: int,
    width: int,
    head_dim: int,
    base: float,
    device: torch.device,
    dtype: torch.dtype,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine and sine tables of the 2D rotary position embedding of an ``height x width`` grid.

    A head's channels form four quarters of ``f = head_dim / 4``: quarters 0 and 1 rotate with the
    row index (channel ``j`` of quarter 0 pairs with channel ``j`` of quarter 1), quarters 2 and 3
    with the column index. Cell (r, c) gets the same angles in every grid size, so a model trained
    on small grids reads large ones, and query-key products depend only on relative positions.

    :param height: grid rows H.
    :param width: grid columns W.
    :param head_dim: attention head width; a multiple of 4.
    :param base: frequency base; pair ``j`` turns at ``base ** (-j / f)`` radians per cell.
    :param device: device of the tables.
    :param dtype: dtype of the tables.
    :return: (cos, sin), each (H * W, head_dim), cells in row-major order.
    """
    if head_dim % 4 != 0:
        raise ValueError(f"grid_rotary_tables: head_dim must be a multiple of 4, got {head_dim}")
    n_freq = head_dim // 4
    freqs = base ** (-torch.arange(n_freq, dtype=torch.float64, device=device) / n_freq)
    rows = torch.arange(height, dtype=torch.float64, device=device).repeat_interleave(width)
    cols = torch.arange(width, dtype=torch.float64, device=device).repeat(height)
    row_angles = rows[:, None] * freqs[None, :]  # (N, f)
    col_angles = cols[:, None] * freqs[None, :]  # (N, f)
    angles = torch.cat((row_angles, row_angles, col_angles, col_angles), dim=-1)  # (N, head_dim)
    return angles.cos().to(dtype), angles.sin().to(dtype)


def rotary_partners(head_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The signed channel permutation P of the 2D rotary embedding: ``(P q)[i] = sign[i] *
    q[index[i]]``, so that rotating is ``q * cos + (P q) * sin``.

    :param head_dim: attention head width; a multiple of 4.
    :return: (index, sign), each (head_dim,): index long, sign float (+1 or -1).
    """
    if head_dim % 4 != 0:
        raise ValueError(f"rotary_partners: head_dim must be a multiple of 4, got {head_dim}")
    n_freq = head_dim // 4
    quarter = torch.arange(n_freq)
    index = torch.cat((quarter + n_freq, quarter, quarter + 3 * n_freq, quarter + 2 * n_freq))
    sign = torch.cat(
        (-torch.ones(n_freq), torch.ones(n_freq), -torch.ones(n_freq), torch.ones(n_freq))
    )
    return index, sign


def apply_grid_rotary(heads: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate queries or keys by their cells' 2D positions (the plain, unfused form).

    :param heads: queries or keys, (..., N, head_dim), N = H * W cells in row-major order.
    :param cos: from :func:`grid_rotary_tables`, (N, head_dim).
    :param sin: from :func:`grid_rotary_tables`, (N, head_dim).
    :return: rotated tensor, same shape as ``heads``.
    """
    index, sign = rotary_partners(heads.shape[-1])
    partners = heads[..., index.to(heads.device)] * sign.to(device=heads.device, dtype=heads.dtype)
    return heads * cos + partners * sin


class GridAttention(nn.Module):
    """Multi-head self-attention over the H * W cells of a grid, with 2D rotary positions and a
    key padding mask (padded cells are never attended to).

    The rotary embedding is fused into the input projection: besides q, k, v the projection also
    yields ``P q`` and ``P k`` (P from :func:`rotary_partners`, applied to the weight rows), so the
    rotation costs two multiplications and an addition on contiguous data.

    :param dim: model width d.
    :param n_heads: number of heads; ``dim / n_heads`` must be a multiple of 4.
    :param rope_base: frequency base of the 2D rotary embedding.
    """

    def __init__(self, dim: int, n_heads: int, rope_base: float = 100.0) -> None:
        super().__init__()
        if dim % n_heads != 0 or (dim // n_heads) % 4 != 0:
            raise ValueError(
                f"GridAttention: dim={dim} / n_heads={n_heads} must be a whole multiple of 4"
            )
        self.dim = dim
        self.n_heads = n_heads
        self.head_dim = dim // n_heads
        self.rope_base = rope_base
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.proj_out = nn.Linear(dim, dim, bias=False)
        index, sign = rotary_partners(self.head_dim)
        head_offsets = torch.arange(2 * n_heads).repeat_interleave(self.head_dim) * self.head_dim
        self.partner_index: torch.Tensor  # buffers, not saved in checkpoints
        self.partner_sign: torch.Tensor
        self.register_buffer("partner_index", index.repeat(2 * n_heads) + head_offsets, False)
        self.register_buffer("partner_sign", sign.repeat(2 * n_heads), persistent=False)
        self._rotary_cache: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    def _rotary(
        self, height: int, width: int, device: torch.device, dtype: torch.dtype
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Cached rotary tables for one grid size, tiled over the q and k channels of every head.

        :param height: grid rows.
        :param width: grid columns.
        :param device: device of the tables.
        :param dtype: dtype of the tables.
        :return: (cos, sin), each (H * W, 2 * d).
        """
        key = (height, width, device, dtype)
        if key not in self._rotary_cache:
            if len(self._rotary_cache) > 32:
                self._rotary_cache.clear()
            cos, sin = grid_rotary_tables(
                height, width, self.head_dim, self.rope_base, device, dtype
            )
            self._rotary_cache[key] = (
                cos.repeat(1, 2 * self.n_heads),
                sin.repeat(1, 2 * self.n_heads),
            )
        return self._rotary_cache[key]

    def forward(self, h: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Attend from every cell to every valid cell of the same grid.

        :param h: (normalised) latent, (B, H, W, d).
        :param mask: (B, H, W) bool, True on real cells; None when every cell is real.
        :return: attention output, (B, H, W, d); rows of padded cells hold values to be masked.
        """
        batch, height, width, dim = h.shape
        n_tokens = height * width
        weight = self.qkv.weight  # (3d, d): rows of q, k, v
        partner_rows = weight[: 2 * dim][self.partner_index] * self.partner_sign[:, None]
        projected = F.linear(h.reshape(batch, n_tokens, dim), torch.cat((weight, partner_rows)))
        cos, sin = self._rotary(height, width, h.device, projected.dtype)  # (N, 2d) each
        query_key = torch.addcmul(
            projected[..., : 2 * dim] * cos, projected[..., 3 * dim :], sin
        )  # (B, N, 2d)
        query_key = query_key.reshape(batch, n_tokens, 2, self.n_heads, self.head_dim)
        query = query_key[:, :, 0].transpose(1, 2)  # (B, heads, N, head_dim)
        key = query_key[:, :, 1].transpose(1, 2)
        value = (
            projected[..., 2 * dim : 3 * dim]
            .reshape(batch, n_tokens, self.n_heads, self.head_dim)
            .transpose(1, 2)
        )
        attn_mask = None
        if mask is not None:
            attn_mask = mask.reshape(batch, 1, 1, n_tokens)  # (B, 1, 1, N): True = attend
        out = F.scaled_dot_product_attention(query, key, value, attn_mask=attn_mask)
        out = out.transpose(1, 2).reshape(batch, height, width, dim)  # (B, H, W, d)
        return self.proj_out(out)


class GridConv(nn.Module):
    """Depthwise ``k x k`` convolution over the grid, zero outside the valid cells.

    Two forms:

    - ``non_expansive=True`` (the gated FPRM design): the output is ``conv(z)`` with each
      channel's kernel rescaled so that the sum of its absolute weights is at most 1, which makes
      the mixing non-expansive in the max norm, ``|GridConv(z)|_inf <= |z|_inf``, and keeps the
      gated iteration bounded (FPRM's Theorem 1). The kernel starts as a damped identity (centre
      0.6) plus small random neighbour weights.
    - ``non_expansive=False`` (the ungated ablations): a plain residual branch ``z + conv(z)``
      with an unconstrained kernel that starts small.

    :param dim: number of channels d.
    :param kernel_size: odd kernel side k.
    :param non_expansive: which of the two forms.
    """

    def __init__(self, dim: int, kernel_size: int = 3, non_expansive: bool = True) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"GridConv: kernel_size must be odd and >= 1, got {kernel_size}")
        self.kernel_size = kernel_size
        self.non_expansive = non_expansive
        weight = torch.empty(dim, 1, kernel_size, kernel_size).uniform_(-0.05, 0.05)
        if non_expansive:
            weight[:, :, kernel_size // 2, kernel_size // 2] = 0.6
        self.weight = nn.Parameter(weight)

    def kernel(self) -> torch.Tensor:
        """The effective kernel; in the non-expansive form each channel's L1 norm is clipped to 1.

        :return: (d, 1, k, k).
        """
        if not self.non_expansive:
            return self.weight
        l1 = self.weight.abs().sum(dim=(1, 2, 3), keepdim=True)  # (d, 1, 1, 1)
        return self.weight / l1.clamp_min(1.0)

    def forward(
        self, z: torch.Tensor, mask: torch.Tensor | None = None, kernel: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Mix each cell with its neighbours, channel by channel.

        :param z: latent, (B, H, W, d); must be zero on padded cells.
        :param mask: (B, H, W) bool, True on real cells, or None.
        :param kernel: :meth:`kernel` computed beforehand (a solve computes it once), or None.
        :return: mixed latent, (B, H, W, d), zero on padded cells.
        """
        channels_first = z.permute(0, 3, 1, 2)  # (B, d, H, W), channels-last in memory
        kernel = (self.kernel() if kernel is None else kernel).to(z.dtype)
        mixed = F.conv2d(
            channels_first, kernel, padding=self.kernel_size // 2, groups=kernel.shape[0]
        )
        mixed = mixed.permute(0, 2, 3, 1)  # (B, H, W, d)
        if not self.non_expansive:
            mixed = z + mixed
        if mask is not None:
            mixed = mixed * mask.unsqueeze(-1).to(mixed.dtype)
        return mixed


class Gate(nn.Module):
    """A learnable per-channel gate ``a = sigmoid(param)`` in (0, 1).

    :param dim: number of channels.
    :param init: initial gate value, in (0, 1).
    """

    def __init__(self, dim: int, init: float) -> None:
        super().__init__()
        if not 0.0 < init < 1.0:
            raise ValueError(f"Gate: init must be in (0, 1), got {init}")
        self.param = nn.Parameter(torch.full((dim,), math.log(init / (1.0 - init))))

    def forward(self) -> torch.Tensor:
        """The gate values.

        :return: (dim,) values in (0, 1).
        """
        return torch.sigmoid(self.param)


class GridEmbedding(nn.Module):
    """Embeds integer symbol grids into the reasoner's input ``x``: the sum of one embedding per
    channel (and, for stacked grids, per stack index k).

    :param vocab_sizes: observation key -> vocabulary size V (symbol ids 0..V-1).
    :param d_model: embedding width d.
    :param stack_sizes: observation key -> number K of stacked grids, for keys whose grids have
        shape (B, K, H, W); keys not listed have shape (B, H, W).
    :param max_positions: when > 0, also add a learned embedding of each cell's absolute row and
        column (grids up to this side). Rotary attention sees only relative offsets, which cannot
        tell a Sudoku box from its neighbour; absolute positions can. 0 keeps the embedding free
        of the grid size (the maze planner extrapolates to larger grids that way).
    :param edge_positions: when > 0, also add, for each of the observation's grids (every stacked
        grid of every channel), a learned embedding of each cell's distance to that grid's bottom
        edge and to its right edge, from the grids' extents given to :meth:`forward` by channel
        name (grids up to this side; cells outside a grid get an "outside" entry).
        Grids are padded at the bottom and right, so absolute positions tell a cell's distance
        to the top and left edges, and these the distance to the other two: the two together
        locate a cell's mirror image in a grid of any size.
    """

    def __init__(
        self,
        vocab_sizes: Mapping[str, int],
        d_model: int,
        stack_sizes: Mapping[str, int] | None = None,
        max_positions: int = 0,
        edge_positions: int = 0,
    ) -> None:
        super().__init__()
        if max_positions < 0:
            raise ValueError(f"GridEmbedding: max_positions must be >= 0, got {max_positions}")
        if edge_positions < 0:
            raise ValueError(f"GridEmbedding: edge_positions must be >= 0, got {edge_positions}")
        self.max_positions = max_positions
        self.edge_positions = edge_positions
        stack_sizes = dict(stack_sizes or {})
        if not vocab_sizes:
            raise ValueError("GridEmbedding: vocab_sizes must name at least one channel")
        unknown = sorted(set(stack_sizes) - set(vocab_sizes))
        if unknown:
            raise ValueError(f"GridEmbedding: stack_sizes names unknown channels {unknown}")
        self.vocab_sizes = dict(vocab_sizes)
        self.stack_sizes = {key: int(stack_sizes.get(key, 1)) for key in vocab_sizes}
        self.stacked = set(stack_sizes)
        n_tables = 0
        tables: dict[str, nn.Embedding] = {}
        for key, vocab in self.vocab_sizes.items():
            depth = self.stack_sizes[key]
            if not isinstance(vocab, int) or vocab < 1:
                raise ValueError(f"GridEmbedding: vocab size of '{key}' must be >= 1, got {vocab}")
            if depth < 1:
                raise ValueError(f"GridEmbedding: stack size of '{key}' must be >= 1, got {depth}")
            if not key.isidentifier():
                raise ValueError(f"GridEmbedding: channel name '{key}' must be an identifier")
            tables[key] = nn.Embedding(depth * vocab, d_model)
            n_tables += depth
        self.tables = nn.ModuleDict(tables)
        for table in tables.values():
            nn.init.normal_(table.weight, std=1.0 / math.sqrt(n_tables))
        self.rows: nn.Embedding | None = None
        self.cols: nn.Embedding | None = None
        if max_positions > 0:
            self.rows = nn.Embedding(max_positions, d_model)
            self.cols = nn.Embedding(max_positions, d_model)
            for table in (self.rows, self.cols):
                nn.init.normal_(table.weight, std=1.0 / math.sqrt(n_tables))
        # Per channel, one table row per (stack index, distance 0..edge_positions-1 or outside).
        self.edge_rows: nn.ModuleDict | None = None
        self.edge_cols: nn.ModuleDict | None = None
        if edge_positions > 0:
            self.edge_rows, self.edge_cols = nn.ModuleDict(), nn.ModuleDict()
            for key in self.vocab_sizes:
                for edges in (self.edge_rows, self.edge_cols):
                    table = nn.Embedding(self.stack_sizes[key] * (edge_positions + 1), d_model)
                    nn.init.normal_(table.weight, std=1.0 / n_tables)
                    edges[key] = table

    def _symbol_ids(self, key: str, grid: torch.Tensor) -> torch.Tensor:
        """Check one channel's grid and turn it into row indices of its table.

        :param key: channel name.
        :param grid: symbol ids, (B, H, W) or (B, K, H, W); any integer or integral float dtype.
        :return: table rows, (B, K, H, W) long.
        """
        expected_dims = 4 if key in self.stacked else 3
        if grid.dim() != expected_dims:
            raise ValueError(
                f"GridEmbedding: grid '{key}' must have {expected_dims} dims, got shape "
                f"{tuple(grid.shape)}"
            )
        if expected_dims == 3:
            grid = grid.unsqueeze(1)  # (B, 1, H, W)
        depth, vocab = self.stack_sizes[key], self.vocab_sizes[key]
        if grid.shape[1] != depth:
            raise ValueError(
                f"GridEmbedding: grid '{key}' must stack {depth} grids, got {grid.shape[1]}"
            )
        if grid.is_floating_point():
            rounded = grid.round()
            if not torch.equal(rounded, grid):
                raise ValueError(f"GridEmbedding: grid '{key}' holds non-integer symbol ids")
            grid = rounded
        ids = grid.long()
        if ids.numel() > 0:
            low, high = (int(v) for v in torch.aminmax(ids))  # one pass (a solve's fixed cost)
            if low < 0 or high >= vocab:
                raise ValueError(
                    f"GridEmbedding: grid '{key}' has symbol ids outside [0, {vocab - 1}]: "
                    f"min {low}, max {high}"
                )
        if depth == 1:
            return ids
        offsets = torch.arange(depth, device=ids.device).view(1, depth, 1, 1) * vocab
        return ids + offsets

    def _edge_ids(self, extents: torch.Tensor, side: int, axis: int) -> torch.Tensor:
        """Table rows of each stacked grid's distance to its far edge along one axis.

        :param extents: (B, K, 2) long, each grid's (height, width).
        :param side: the padded grid's side along the axis.
        :param axis: 0 for rows (distance to the bottom edge), 1 for columns (to the right edge).
        :return: (B, K, side) long rows of the channel's edge table.
        """
        limit = self.edge_positions
        positions = torch.arange(side, device=extents.device)
        distance = extents[..., axis, None] - 1 - positions  # (B, K, side); < 0 outside
        distance = torch.where(distance < 0, torch.full_like(distance, limit), distance)
        depth = extents.shape[1]
        return distance + torch.arange(depth, device=extents.device).view(1, -1, 1) * (limit + 1)

    def _edge_embedding(
        self, extents: Mapping[str, torch.Tensor], batch: int, height: int, width: int
    ) -> torch.Tensor:
        """The sum over every grid of its cells' distance-to-far-edge embeddings.

        :param extents: channel name -> (B, K, 2) each stacked grid's (height, width), or (B, 2)
            for an unstacked channel; any integral dtype.
        :param batch: samples B.
        :param height: padded rows H.
        :param width: padded columns W.
        :return: (B, H, W, d).
        """
        assert self.edge_rows is not None and self.edge_cols is not None
        missing = sorted(set(self.vocab_sizes) - set(extents))
        if missing:
            raise ValueError(f"GridEmbedding: missing the extents of grids {missing}")
        total: torch.Tensor | None = None
        for key in self.vocab_sizes:
            depth = self.stack_sizes[key]
            own = extents[key]
            own = own.unsqueeze(1) if own.dim() == 2 else own
            if tuple(own.shape) != (batch, depth, 2):
                raise ValueError(
                    f"GridEmbedding: extents of '{key}' must have shape ({batch}, {depth}, 2) or "
                    f"({batch}, 2) when unstacked, got {tuple(extents[key].shape)}"
                )
            own = (own.round() if own.is_floating_point() else own).long()
            if own.numel() > 0 and (int(own.min()) < 0 or int(own.max()) > self.edge_positions):
                raise ValueError(
                    f"GridEmbedding: extents of '{key}' must lie in [0, {self.edge_positions}] "
                    f"(edge_positions), got min {int(own.min())}, max {int(own.max())}"
                )
            rows = self.edge_rows[key](self._edge_ids(own, height, 0)).sum(dim=1)  # (B, H, d)
            cols = self.edge_cols[key](self._edge_ids(own, width, 1)).sum(dim=1)  # (B, W, d)
            grid = rows[:, :, None, :] + cols[:, None, :, :]  # (B, H, W, d)
            total = grid if total is None else total + grid
        assert total is not None
        return total

    def forward(
        self,
        grids: Mapping[str, torch.Tensor],
        extents: Mapping[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Embed the grids.

        :param grids: channel name -> symbol ids, (B, H, W) or (B, K, H, W) as declared.
        :param extents: channel name -> each grid's (height, width), (B, K, 2) for stacked
            channels, (B, 2) otherwise; needed only with ``edge_positions``.
        :return: input embedding x, (B, H, W, d).
        """
        missing = sorted(set(self.vocab_sizes) - set(grids))
        if missing:
            raise ValueError(f"GridEmbedding: missing grids {missing}")
        embedded: torch.Tensor | None = None
        grid_shape: tuple[int, ...] | None = None
        for key, table in self.tables.items():
            rows = self._symbol_ids(key, grids[key])  # (B, K, H, W)
            shape = (rows.shape[0], *rows.shape[2:])
            if grid_shape is not None and shape != grid_shape:
                raise ValueError(
                    f"GridEmbedding: grid '{key}' has (B, H, W) = {shape}, others {grid_shape}"
                )
            grid_shape = shape
            # (B, H, W, d): the sum over the stack, or its one grid
            channel = table(rows[:, 0]) if rows.shape[1] == 1 else table(rows).sum(dim=1)
            embedded = channel if embedded is None else embedded + channel
        assert embedded is not None
        if self.rows is not None and self.cols is not None:
            _, height, width, _ = embedded.shape
            if max(height, width) > self.max_positions:
                raise ValueError(
                    f"GridEmbedding: grid of {height}x{width} exceeds max_positions="
                    f"{self.max_positions} (the absolute position tables)"
                )
            row_ids = torch.arange(height, device=embedded.device)
            col_ids = torch.arange(width, device=embedded.device)
            positions = self.rows(row_ids)[:, None, :] + self.cols(col_ids)[None, :, :]  # (H, W, d)
            embedded = embedded + positions.to(embedded.dtype)
        if self.edge_positions > 0:
            if extents is None:
                raise ValueError("GridEmbedding: edge_positions > 0 needs the grids' extents")
            batch, height, width, _ = embedded.shape
            on_device = {key: value.to(embedded.device) for key, value in extents.items()}
            edges = self._edge_embedding(on_device, batch, height, width)
            embedded = embedded + edges.to(embedded.dtype)
        return embedded
