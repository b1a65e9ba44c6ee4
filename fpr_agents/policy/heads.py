"""Readout heads that turn the reasoner's fixed point into action logits and values."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn


def masked_mean(z: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of the latent over the valid cells of each sample.

    :param z: latent, (B, H, W, d).
    :param mask: (B, H, W) bool, True on real cells; None means every cell is real.
    :return: (B, d).
    """
    if mask is None:
        return z.mean(dim=(1, 2))
    weights = mask.to(z.dtype).unsqueeze(-1)  # (B, H, W, 1)
    return (z * weights).sum(dim=(1, 2)) / weights.sum(dim=(1, 2)).clamp_min(1.0)


def mlp(net: nn.Sequential, features: torch.Tensor) -> torch.Tensor:
    """A head's ``Linear -> SiLU -> Linear`` applied as functions: the same result as
    ``net(features)`` without three module calls' overhead, which is most of a small head's cost
    at batch 1 (a solve reads the move head at every iteration). Hooks on the layers do not run.

    :param net: ``nn.Sequential(nn.Linear, nn.SiLU, nn.Linear)``.
    :param features: (..., in_features).
    :return: (..., out_features).
    """
    first, _, last = net
    assert isinstance(first, nn.Linear) and isinstance(last, nn.Linear)
    hidden = F.silu(F.linear(features, first.weight, first.bias))
    return F.linear(hidden, last.weight, last.bias)


class CellsRead(NamedTuple):
    """The cells a :class:`MoveHead` reads: sample ``samples[b]``'s latent at ``(rows[b, j],
    cols[b, j])`` for its cell (j = 0) and each move's neighbour, weighted 0 off the grid.

    :param samples: (B, 1) long.
    :param rows: (B, 1 + n_moves) long.
    :param cols: (B, 1 + n_moves) long.
    :param inside: (B, 1 + n_moves, 1) bool.
    """

    samples: torch.Tensor
    rows: torch.Tensor
    cols: torch.Tensor
    inside: torch.Tensor


class MoveHead(nn.Module):
    """Move logits from the latent at a cell and at its neighbours along each move.

    The same weights act at any cell of any grid size: the features of a cell are its latent
    concatenated with the latents one move away (zeros off the grid).

    :param d_model: latent width d.
    :param moves: the env's moves, ``[[drow, dcol], ...]``, one per action.
    :param hidden: width of the hidden layer.
    """

    def __init__(self, d_model: int, moves: Sequence[Sequence[int]], hidden: int = 64) -> None:
        super().__init__()
        if not moves:
            raise ValueError("MoveHead: 'moves' must list at least one move")
        self.moves = [(int(dr), int(dc)) for dr, dc in moves]
        # the cell itself, then one move away along each move: (1 + n_moves, 2)
        offsets = torch.tensor([(0, 0), *self.moves], dtype=torch.long)
        self.offsets: torch.Tensor
        self.register_buffer("offsets", offsets, persistent=False)
        self.net = nn.Sequential(
            nn.Linear((1 + len(self.moves)) * d_model, hidden),
            nn.SiLU(),
            nn.Linear(hidden, len(self.moves)),
        )

    @staticmethod
    def _shift(z: torch.Tensor, drow: int, dcol: int) -> torch.Tensor:
        """The latent one move away from every cell: out[r, c] = z[r + drow, c + dcol] (0 off-grid).

        :param z: (B, H, W, d).
        :param drow: row offset.
        :param dcol: column offset.
        :return: (B, H, W, d).
        """
        _, height, width, _ = z.shape
        out = torch.zeros_like(z)
        rows_dst = slice(max(0, -drow), min(height, height - drow))
        rows_src = slice(max(0, drow), min(height, height + drow))
        cols_dst = slice(max(0, -dcol), min(width, width - dcol))
        cols_src = slice(max(0, dcol), min(width, width + dcol))
        out[:, rows_dst, cols_dst] = z[:, rows_src, cols_src]
        return out

    def forward_all(self, z: torch.Tensor) -> torch.Tensor:
        """Move logits at every cell (pretraining reads the whole policy field).

        :param z: latent, (B, H, W, d).
        :return: logits, (B, H, W, n_moves).
        """
        features = torch.cat([z] + [self._shift(z, dr, dc) for dr, dc in self.moves], dim=-1)
        return mlp(self.net, features)

    def forward(self, z: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
        """Move logits at one cell per sample.

        :param z: latent, (B, H, W, d).
        :param position: (B, 2) long, [row, col] of the agent.
        :return: logits, (B, n_moves).
        """
        return self.read(z, self.cells_read(position, (z.shape[1], z.shape[2])))

    def cells_read(self, position: torch.Tensor, sides: tuple[int, int]) -> CellsRead:
        """Where :meth:`read` gathers from: each sample's cell and its neighbours on an
        ``H x W`` grid. A solve that reads the same cells at every iteration computes this once.

        :param position: (B, 2) long, [row, col] of the agent.
        :param sides: the latent's (H, W).
        :return: the gather's indices and its on-grid weights.
        """
        cells = position.long().unsqueeze(1) + self.offsets.to(position.device)  # (B, 1 + n, 2)
        rows = cells[..., 0].clamp(0, sides[0] - 1)  # the nearest cell on the grid: (B, 1 + n)
        cols = cells[..., 1].clamp(0, sides[1] - 1)
        inside = ((rows == cells[..., 0]) & (cols == cells[..., 1])).unsqueeze(-1)
        samples = torch.arange(position.shape[0], device=position.device).unsqueeze(1)  # (B, 1)
        return CellsRead(samples, rows, cols, inside)

    def read(self, z: torch.Tensor, where: CellsRead) -> torch.Tensor:
        """Move logits from the cells :meth:`cells_read` chose (one gather; a batch-1 solve
        reads this at every iteration).

        :param z: latent, (B, H, W, d), of the grid ``where`` was made for.
        :param where: from :meth:`cells_read`.
        :return: logits, (B, n_moves).
        """
        return self.logits(self.gather(z, where))

    def gather(self, z: torch.Tensor, where: CellsRead) -> torch.Tensor:
        """The latents :meth:`read` reads: each sample's cell, then one move away along each
        move (zeros off the grid).

        :param z: latent, (B, H, W, d), of the grid ``where`` was made for.
        :param where: from :meth:`cells_read`.
        :return: (B, 1 + n_moves, d); ``[:, 0]`` is the latent at each sample's own cell.
        """
        gathered = z[where.samples, where.rows, where.cols]  # (B, 1 + n_moves, d)
        return gathered * where.inside.to(z.dtype)  # zeros off the grid

    def logits(self, gathered: torch.Tensor) -> torch.Tensor:
        """Move logits from :meth:`gather`'s latents.

        :param gathered: (B, 1 + n_moves, d).
        :return: (B, n_moves).
        """
        return mlp(self.net, gathered.flatten(1))


class CellSymbolHead(nn.Module):
    """Per-cell, per-symbol logits, flattened in the env's action order, then global actions.

    Action ``(r * W + c) * n_symbols + s`` puts symbol s at (r, c); the global actions (resize,
    submit, ...) follow, read from the masked mean of the latent. Over the whole action space the
    cell actions score ``log p(s | cell)`` (a log-softmax over each cell's symbols), so the most
    likely action is the most confident placement: raw logits of different cells are not
    comparable, probabilities are.

    :param d_model: latent width d.
    :param n_symbols: symbols a cell can take.
    :param n_global: number of global actions after the cell actions.
    """

    def __init__(self, d_model: int, n_symbols: int, n_global: int = 0) -> None:
        super().__init__()
        if n_symbols < 1:
            raise ValueError(f"CellSymbolHead: n_symbols must be >= 1, got {n_symbols}")
        self.n_symbols = n_symbols
        self.cell = nn.Linear(d_model, n_symbols)
        self.global_actions = nn.Linear(d_model, n_global) if n_global > 0 else None

    def forward_cells(self, z: torch.Tensor) -> torch.Tensor:
        """Per-cell symbol logits.

        :param z: latent, (B, H, W, d).
        :return: (B, H, W, n_symbols).
        """
        return self.cell(z)

    def forward(self, z: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Logits over the whole action space.

        :param z: latent, (B, H, W, d).
        :param mask: (B, H, W) bool of real cells, for pooling; None means all.
        :return: (B, H * W * n_symbols + n_global); the cell part is log p(s | cell).
        """
        cells = torch.log_softmax(self.cell(z).float(), dim=-1).to(z.dtype).flatten(1)
        if self.global_actions is None:
            return cells
        return torch.cat([cells, self.global_actions(masked_mean(z, mask))], dim=-1)


class ValueHead(nn.Module):
    """State value from the masked mean and max of the latent, and (``at_agent``) the latent at
    the agent's cell.

    Where an agent moves through a fixed field (the maze), the pooled latent is the same wherever
    the agent stands; only its own cell tells how far it still has to go.

    :param d_model: latent width d.
    :param hidden: width of the hidden layer.
    :param at_agent: also read the latent at the agent's cell (``forward`` then needs it).
    """

    def __init__(self, d_model: int, hidden: int = 64, at_agent: bool = False) -> None:
        super().__init__()
        self.at_agent = at_agent
        width = (3 if at_agent else 2) * d_model
        self.net = nn.Sequential(nn.Linear(width, hidden), nn.SiLU(), nn.Linear(hidden, 1))

    def forward(
        self,
        z: torch.Tensor,
        mask: torch.Tensor | None = None,
        position: torch.Tensor | None = None,
        at_cell: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """
        :param z: latent, (B, H, W, d).
        :param mask: (B, H, W) bool of real cells; None means all.
        :param position: (B, 2) long, [row, col] of the agent; with ``at_agent``, this or
            ``at_cell`` is required.
        :param at_cell: (B, d) the latent at the agent's cell, when the caller has gathered it
            (the move head reads it too); it replaces ``position``.
        :return: values, (B, 1).
        """
        if mask is None:
            peak = z.amax(dim=(1, 2))
        else:
            peak = z.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(dim=(1, 2))
        parts = [masked_mean(z, mask), peak]
        if self.at_agent:
            if at_cell is None:
                if position is None:
                    raise ValueError("ValueHead(at_agent=True) needs the agent's position")
                index = torch.arange(z.shape[0], device=z.device)
                at_cell = z[index, position[:, 0].long(), position[:, 1].long()]  # (B, d)
            parts.append(at_cell)
        return mlp(self.net, torch.cat(parts, dim=-1))
