"""A toy task for the reasoner: propagation along chains drawn on a grid.

Each grid holds a few chains: thin self-avoiding paths of 4-connected cells that never touch one
another. A chain's first cell (its start) shows a value; every cell of the chain must be labelled
with that value, every other cell with 0. A cell can only learn its value by following its chain
back to the start, so the information has to travel the chain's length: longer chains need more
iterations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EMPTY, BODY, START = 0, 1, 2
"""Cell types of the ``cell_type`` grid."""

_NEIGHBOURS: tuple[tuple[int, int], ...] = ((-1, 0), (0, 1), (1, 0), (0, -1))


@dataclass
class ChainBatch:
    """A batch of chain puzzles; every array is numpy, cells are (row, col).

    :param cell_type: (B, H, W) int64: EMPTY, BODY or START.
    :param value: (B, H, W) int64: the chain's value (1..n_values) on start cells, else 0.
    :param labels: (B, H, W) int64: the chain's value on every chain cell, else 0.
    :param distance: (B, H, W) int64: steps from the chain's start along the chain; -1 off-chain.
    :param chain_length: (B,) int64: cells of the longest chain in each grid.
    """

    cell_type: np.ndarray
    value: np.ndarray
    labels: np.ndarray
    distance: np.ndarray
    chain_length: np.ndarray


def _touches_other(
    occupied: np.ndarray, row: int, col: int, allowed: tuple[int, int] | None
) -> bool:
    """Whether (row, col) has an occupied 4-neighbour other than ``allowed``.

    :param occupied: (H, W) bool grid of chain cells.
    :param row: cell row.
    :param col: cell column.
    :param allowed: the one neighbour that may be occupied (the chain's current end), or None.
    :return: True when another occupied cell is adjacent.
    """
    height, width = occupied.shape
    for d_row, d_col in _NEIGHBOURS:
        r, c = row + d_row, col + d_col
        if 0 <= r < height and 0 <= c < width and occupied[r, c] and (r, c) != allowed:
            return True
    return False


def _grow_chain(
    rng: np.random.Generator, occupied: np.ndarray, target_length: int
) -> list[tuple[int, int]]:
    """One random thin walk of at most ``target_length`` cells that touches no occupied cell.

    :param rng: random generator.
    :param occupied: (H, W) bool grid of cells already used (not modified).
    :param target_length: wanted number of cells.
    :return: the walk's cells in order (empty when no cell is free).
    """
    height, width = occupied.shape
    starts = [
        (r, c)
        for r in range(height)
        for c in range(width)
        if not occupied[r, c] and not _touches_other(occupied, r, c, None)
    ]
    if not starts:
        return []
    path = [starts[rng.integers(len(starts))]]
    used = occupied.copy()
    used[path[0]] = True
    while len(path) < target_length:
        row, col = path[-1]
        options = []
        for d_row, d_col in _NEIGHBOURS:
            r, c = row + d_row, col + d_col
            if (
                0 <= r < height
                and 0 <= c < width
                and not used[r, c]
                and not _touches_other(used, r, c, (row, col))
            ):
                options.append((r, c))
        if not options:
            break
        path.append(options[rng.integers(len(options))])
        used[path[-1]] = True
    return path


def sample_chain_grid(
    rng: np.random.Generator,
    height: int,
    width: int,
    n_chains: int,
    min_length: int,
    max_length: int,
    n_values: int,
    attempts: int = 12,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Draw one grid of chains.

    Each chain aims at a length drawn uniformly from [min_length, max_length]; the longest of
    ``attempts`` walks is kept, so a crowded grid can hold shorter (or fewer) chains.

    :param rng: random generator.
    :param height: grid rows.
    :param width: grid columns.
    :param n_chains: chains to place.
    :param min_length: shortest wanted chain (cells).
    :param max_length: longest wanted chain (cells).
    :param n_values: values are drawn from 1..n_values.
    :param attempts: walks tried per chain.
    :return: (cell_type, value, labels, distance), each (H, W) int64.
    """
    occupied = np.zeros((height, width), dtype=bool)
    cell_type = np.zeros((height, width), dtype=np.int64)
    value = np.zeros((height, width), dtype=np.int64)
    labels = np.zeros((height, width), dtype=np.int64)
    distance = np.full((height, width), -1, dtype=np.int64)
    for _ in range(n_chains):
        target = int(rng.integers(min_length, max_length + 1))
        best: list[tuple[int, int]] = []
        for _ in range(attempts):
            path = _grow_chain(rng, occupied, target)
            if len(path) > len(best):
                best = path
            if len(best) >= target:
                break
        if not best:
            break
        chain_value = int(rng.integers(1, n_values + 1))
        for step, cell in enumerate(best):
            occupied[cell] = True
            cell_type[cell] = START if step == 0 else BODY
            labels[cell] = chain_value
            distance[cell] = step
        value[best[0]] = chain_value
    return cell_type, value, labels, distance


def make_chain_batch(
    rng: np.random.Generator,
    batch_size: int,
    height: int,
    width: int,
    n_chains: int = 2,
    min_length: int = 2,
    max_length: int | None = None,
    n_values: int = 4,
) -> ChainBatch:
    """Draw a batch of chain grids of one size.

    :param rng: random generator (the only source of randomness).
    :param batch_size: grids in the batch (>= 1).
    :param height: grid rows (>= 1).
    :param width: grid columns (>= 1).
    :param n_chains: chains per grid (>= 1).
    :param min_length: shortest wanted chain, in cells (>= 1).
    :param max_length: longest wanted chain (>= min_length); default ``height * width``.
    :param n_values: number of distinct chain values (>= 1).
    :return: the batch.
    """
    max_length = height * width if max_length is None else max_length
    for name, number, minimum in (
        ("batch_size", batch_size, 1),
        ("height", height, 1),
        ("width", width, 1),
        ("n_chains", n_chains, 1),
        ("min_length", min_length, 1),
        ("max_length", max_length, min_length),
        ("n_values", n_values, 1),
    ):
        if number < minimum:
            raise ValueError(f"make_chain_batch: {name} must be >= {minimum}, got {number}")
    grids = [
        sample_chain_grid(rng, height, width, n_chains, min_length, max_length, n_values)
        for _ in range(batch_size)
    ]
    cell_type, value, labels, distance = (np.stack(part) for part in zip(*grids, strict=True))
    chain_length = distance.reshape(batch_size, -1).max(axis=1) + 1
    return ChainBatch(cell_type, value, labels, distance, chain_length)


def pad_batches(batches: list[ChainBatch]) -> tuple[ChainBatch, np.ndarray]:
    """Join batches of different grid sizes into one, padding each grid at the bottom and right.

    Padded cells are EMPTY with label 0 and distance -1.

    :param batches: batches to join (at least one).
    :return: (joined batch of the largest height and width, valid mask (B, H, W) bool).
    """
    if not batches:
        raise ValueError("pad_batches: needs at least one batch")
    height = max(batch.cell_type.shape[1] for batch in batches)
    width = max(batch.cell_type.shape[2] for batch in batches)

    def padded(array: np.ndarray, fill: int) -> np.ndarray:
        out = np.full((array.shape[0], height, width), fill, dtype=array.dtype)
        out[:, : array.shape[1], : array.shape[2]] = array
        return out

    joined = ChainBatch(
        cell_type=np.concatenate([padded(b.cell_type, EMPTY) for b in batches]),
        value=np.concatenate([padded(b.value, 0) for b in batches]),
        labels=np.concatenate([padded(b.labels, 0) for b in batches]),
        distance=np.concatenate([padded(b.distance, -1) for b in batches]),
        chain_length=np.concatenate([b.chain_length for b in batches]),
    )
    valid = np.concatenate([padded(np.ones(b.cell_type.shape, dtype=bool), False) for b in batches])
    return joined, valid
