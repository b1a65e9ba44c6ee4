"""The chain toy task's generator: chains are thin, separate, and labelled from their start."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fpr_agents.reasoner.toy import BODY, EMPTY, START, make_chain_batch, pad_batches


def _neighbours(row: int, col: int, height: int, width: int) -> list[tuple[int, int]]:
    candidates = [(row - 1, col), (row + 1, col), (row, col - 1), (row, col + 1)]
    return [(r, c) for r, c in candidates if 0 <= r < height and 0 <= c < width]


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    height=st.integers(1, 9),
    width=st.integers(1, 9),
    n_chains=st.integers(1, 4),
    min_length=st.integers(1, 6),
    extra=st.integers(0, 10),
    n_values=st.integers(1, 5),
)
def test_chain_grids_are_well_formed(
    seed: int, height: int, width: int, n_chains: int, min_length: int, extra: int, n_values: int
) -> None:
    rng = np.random.default_rng(seed)
    max_length = min_length + extra
    batch = make_chain_batch(
        rng,
        3,
        height,
        width,
        n_chains=n_chains,
        min_length=min_length,
        max_length=max_length,
        n_values=n_values,
    )
    for i in range(3):
        cell_type, value, labels, distance = (
            batch.cell_type[i],
            batch.value[i],
            batch.labels[i],
            batch.distance[i],
        )
        on_chain = cell_type != EMPTY
        starts = np.argwhere(cell_type == START)
        assert 1 <= len(starts) <= n_chains
        assert ((labels > 0) == on_chain).all() and ((distance >= 0) == on_chain).all()
        assert ((value > 0) == (cell_type == START)).all()
        assert labels.max() <= n_values
        longest, walked = 0, 0
        for start in map(tuple, starts):
            # Walk the chain from its start: each next cell is the unique unvisited chain
            # neighbour, one step further, with the start's label.
            chain, previous, current = [start], None, start
            while True:
                following = [
                    cell
                    for cell in _neighbours(*current, height, width)
                    if on_chain[cell] and cell != previous
                ]
                assert len(following) <= 1, "chains are thin and never touch"
                if not following:
                    break
                previous, current = current, following[0]
                assert cell_type[current] == BODY
                assert distance[current] == distance[previous] + 1
                assert labels[current] == value[start]
                chain.append(current)
            assert len(chain) <= max_length
            longest = max(longest, len(chain))
            walked += len(chain)
        assert walked == int(on_chain.sum()), "every chain cell is reached from a start"
        assert batch.chain_length[i] == longest


def test_generator_is_reproducible_and_reaches_wanted_lengths() -> None:
    first = make_chain_batch(np.random.default_rng(5), 8, 8, 8, n_chains=1, min_length=10)
    second = make_chain_batch(np.random.default_rng(5), 8, 8, 8, n_chains=1, min_length=10)
    assert np.array_equal(first.labels, second.labels)
    assert (first.chain_length >= 10).all()


def test_pad_batches_masks_the_padding() -> None:
    rng = np.random.default_rng(0)
    small, large = make_chain_batch(rng, 2, 3, 4), make_chain_batch(rng, 1, 5, 2)
    joined, valid = pad_batches([small, large])
    assert joined.cell_type.shape == (3, 5, 4) and valid.shape == (3, 5, 4)
    assert valid[:2, :3, :4].all() and not valid[:2, 3:].any() and not valid[2, :, 2:].any()
    assert np.array_equal(joined.labels[:2, :3, :4], small.labels)
    assert (joined.distance[~valid] == -1).all() and (joined.labels[~valid] == 0).all()
    with pytest.raises(ValueError, match="at least one"):
        pad_batches([])


def test_bad_generator_arguments_raise() -> None:
    with pytest.raises(ValueError, match="max_length must be >= 4"):
        make_chain_batch(np.random.default_rng(0), 1, 4, 4, min_length=4, max_length=3)
    with pytest.raises(ValueError, match="height"):
        make_chain_batch(np.random.default_rng(0), 1, 0, 4)
