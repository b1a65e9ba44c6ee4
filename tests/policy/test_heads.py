"""Readout heads: shapes, action order and size independence."""

from __future__ import annotations

import pytest
import torch

from fpr_agents.policy.heads import CellSymbolHead, MoveHead, ValueHead, masked_mean, mlp

MOVES = [[-1, 0], [0, 1], [1, 0], [0, -1]]


def test_move_head_at_agent_matches_whole_field() -> None:
    torch.manual_seed(0)
    head = MoveHead(8, MOVES, hidden=16)
    z = torch.randn(3, 7, 9, 8)
    field = head.forward_all(z)  # (3, 7, 9, 4)
    positions = torch.tensor([[0, 0], [3, 4], [6, 8]])
    at_agent = head(z, positions)
    for i, (row, col) in enumerate(positions.tolist()):
        torch.testing.assert_close(at_agent[i], field[i, row, col])


def test_move_head_reads_neighbours_only() -> None:
    torch.manual_seed(0)
    head = MoveHead(4, MOVES, hidden=8)
    z = torch.randn(1, 5, 5, 4)
    before = head(z, torch.tensor([[2, 2]]))
    z_far = z.clone()
    z_far[0, 0, 0] += 10.0  # not a neighbour of (2, 2)
    torch.testing.assert_close(head(z_far, torch.tensor([[2, 2]])), before)
    z_near = z.clone()
    z_near[0, 1, 2] += 10.0  # the cell above
    assert not torch.allclose(head(z_near, torch.tensor([[2, 2]])), before)


def test_cell_head_flattens_in_env_action_order() -> None:
    torch.manual_seed(0)
    head = CellSymbolHead(6, n_symbols=3, n_global=2)
    z = torch.randn(2, 4, 5, 6)
    logits = head(z)
    assert logits.shape == (2, 4 * 5 * 3 + 2)
    cells = torch.log_softmax(head.forward_cells(z), dim=-1)
    row, col, symbol = 2, 3, 1
    torch.testing.assert_close(logits[:, (row * 5 + col) * 3 + symbol], cells[:, row, col, symbol])
    # Each cell's scores are log-probabilities over its symbols.
    per_cell = logits[:, : 4 * 5 * 3].reshape(2, 4, 5, 3).exp().sum(-1)
    torch.testing.assert_close(per_cell, torch.ones(2, 4, 5))


def test_pooling_ignores_masked_cells() -> None:
    z = torch.randn(1, 3, 3, 4)
    mask = torch.zeros(1, 3, 3, dtype=torch.bool)
    mask[0, :2, :2] = True
    z_changed = z.clone()
    z_changed[0, 2, 2] = 100.0
    torch.testing.assert_close(masked_mean(z, mask), masked_mean(z_changed, mask))
    head = ValueHead(4, hidden=8)
    torch.testing.assert_close(head(z, mask), head(z_changed, mask))


def test_value_head_at_agent_reads_the_agents_cell() -> None:
    torch.manual_seed(0)
    head = ValueHead(4, hidden=8, at_agent=True)
    z = torch.randn(2, 5, 5, 4)
    here = torch.tensor([[1, 1], [1, 1]])
    there = torch.tensor([[1, 1], [3, 2]])
    values_here, values_there = head(z, None, here), head(z, None, there)
    assert values_here.shape == (2, 1)
    assert torch.equal(values_here[0], values_there[0])  # same cell, same value
    assert not torch.equal(values_here[1], values_there[1])  # the pooled part alone is equal
    with pytest.raises(ValueError, match="position"):
        head(z)


def test_the_heads_mlp_is_their_sequential() -> None:
    torch.manual_seed(0)
    for head in (MoveHead(8, MOVES, hidden=16), ValueHead(8, hidden=16, at_agent=True)):
        features = torch.randn(5, head.net[0].in_features)
        torch.testing.assert_close(mlp(head.net, features), head.net(features), rtol=0, atol=0)


def test_move_head_gather_plan_matches_its_forward_and_shares_the_agents_cell() -> None:
    torch.manual_seed(0)
    head = MoveHead(6, MOVES, hidden=8)
    value = ValueHead(6, hidden=8, at_agent=True)
    z = torch.randn(3, 4, 5, 6)
    positions = torch.tensor([[0, 0], [3, 4], [2, 1]])  # corners read zeros off the grid
    where = head.cells_read(positions, (4, 5))
    gathered = head.gather(z, where)  # (3, 5, 6)
    assert torch.equal(gathered[:, 0], z[torch.arange(3), positions[:, 0], positions[:, 1]])
    assert torch.equal(gathered[0, 1], torch.zeros(6))  # up from the top row: off the grid
    torch.testing.assert_close(head.read(z, where), head(z, positions), rtol=0, atol=0)
    torch.testing.assert_close(head.logits(gathered), head(z, positions), rtol=0, atol=0)
    torch.testing.assert_close(
        value(z, None, at_cell=gathered[:, 0]), value(z, None, positions), rtol=0, atol=0
    )
