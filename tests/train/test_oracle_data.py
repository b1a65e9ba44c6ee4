"""The oracle data sources: targets agree with the envs' own rules."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from envs.arc_concepts import apply_transformations
from envs.maze import FLOOR, GOAL, distance_field
from envs.maze_generators import MAZE_GENERATORS, PERFECT_MAZE_GENERATORS
from envs.sudoku_solver import count_solutions
from train import oracle_data
from train.oracle_data import (
    ArcConceptOracle,
    MazeOracle,
    SudokuOracle,
    cell_correct,
    set_loss,
    wavefront_cells,
    wavefront_loss,
)


def test_maze_targets_are_shortest_path_moves() -> None:
    batch = MazeOracle().batch_from_sizes([9, 7], np.random.default_rng(0))
    grid = batch.obs["grid"].numpy()
    assert grid.shape == (2, 9, 9) and (grid[1, 7:, :] == 0).all()  # padded with walls
    # Following any optimal move from the farthest cell reaches the goal in 'difficulty' steps.
    for i in range(2):
        row, col = batch.extra["start"][i]
        steps = 0
        while (row, col) != batch.extra["goal"][i]:
            move = int(np.flatnonzero(batch.optimal[i, row, col].numpy())[0])
            row, col = row + (-1, 0, 1, 0)[move], col + (0, 1, 0, -1)[move]
            steps += 1
        assert steps == int(batch.difficulty[i])


def test_maze_batches_carry_each_cells_distance_to_the_goal() -> None:
    batch = MazeOracle().batch_from_sizes([9, 7], np.random.default_rng(3))
    distance = batch.extra["distance"].numpy()  # (2, 9, 9)
    grid = batch.obs["grid"].numpy()
    for i in range(2):
        np.testing.assert_array_equal(distance[i], distance_field(grid[i], batch.extra["goal"][i]))
    assert (distance[1, 7:, :] == -1).all()  # padding
    np.testing.assert_array_equal(batch.cells.numpy(), distance > 0)


def test_wavefront_loss_supervises_near_cells_and_keeps_far_ones_undecided() -> None:
    optimal = torch.tensor([[[[True, False, False, False]] * 3]])  # (1, 1, 3, 4)
    distance = torch.tensor([[[1, 5, 0]]])  # near, far, goal (no loss)

    def loss(logits: torch.Tensor, iterations: int, low: float, high: float) -> float:
        known, unknown = wavefront_cells(distance, iterations, low, high)
        return float(wavefront_loss(logits, optimal, known, unknown))

    right = torch.tensor([20.0, -20.0, -20.0, -20.0])
    flat = torch.zeros(4)
    # after 2 iterations at speeds (1, 2): the cell at 1 is known, the one at 5 is beyond 4
    good = torch.stack([right, flat, right])[None, None]  # (1, 1, 3, 4)
    assert loss(good, 2, 1.0, 2.0) < 1e-6
    decided = torch.stack([right, right, flat])[None, None]  # the far cell guessed: penalised
    assert loss(decided, 2, 1.0, 2.0) > 5
    wrong = torch.stack([-right, flat, right])[None, None]  # the near cell wrong
    assert loss(wrong, 2, 1.0, 2.0) > 5
    # after 5 iterations at (1, 3) both cells are known: the flat far cell costs log 4 / 2
    assert loss(good, 5, 1.0, 3.0) == pytest.approx(np.log(4) / 2, rel=1e-4)
    # between LO*t and HI*t nothing is asked: any logits on the far cell cost nothing
    assert loss(decided, 3, 1.0, 2.0) < 1e-6
    for args in ((2, 0.0, 1.0), (2, 2.0, 1.0), (-1, 1.0, 2.0)):
        with pytest.raises(ValueError, match="wavefront_cells"):
            wavefront_cells(distance, *args)


def test_cells_that_cannot_reach_the_goal_are_asked_for_no_decision_at_every_iteration() -> None:
    # A 5 x 7 maze padded to 7 x 7: a corridor to the goal and a pocket walled off from it.
    grid = torch.tensor(
        [
            [0, 0, 0, 0, 0, 0, 0],
            [0, 2, 1, 1, 0, 1, 0],
            [0, 0, 0, 0, 0, 1, 0],
            [0, 0, 0, 0, 0, 0, 0],
            [0, 0, 0, 0, 0, 0, 0],
            [0, 0, 0, 0, 0, 0, 0],  # padding
            [0, 0, 0, 0, 0, 0, 0],
        ]
    )[None]  # (1, 7, 7)
    distance = torch.from_numpy(distance_field(grid[0].numpy(), (1, 1)))[None]
    pocket = torch.zeros_like(grid, dtype=torch.bool)
    pocket[0, 1, 5] = pocket[0, 2, 5] = True
    assert (distance[pocket] == -1).all()
    free = grid > 0
    for iterations in (0, 1, 5, 1000):
        known, unknown = wavefront_cells(distance, iterations, 1.5, 3.0, free=free)
        assert (unknown & pocket).sum() == 2  # the pocket, at every iteration
        assert not (unknown & ~free).any() and not (known & ~free).any()  # not walls, padding
        assert not known[0, 1, 1] and not unknown[0, 1, 1]  # the goal: neither
        assert not (known & pocket).any()
        old_known, old_unknown = wavefront_cells(distance, iterations, 1.5, 3.0)
        assert torch.equal(known, old_known) and torch.equal(unknown & ~pocket, old_unknown)
    known, unknown = wavefront_cells(distance, 1000, 1.5, 3.0, free=free)
    optimal = torch.zeros(1, 7, 7, 4, dtype=torch.bool)
    optimal[0, 1, 2, 3] = optimal[0, 1, 3, 3] = True  # left, towards the goal
    right = torch.zeros(1, 7, 7, 4)
    right[0, 1, 2:4, 3] = 20.0
    assert float(wavefront_loss(right, optimal, known, unknown)) < 1e-6  # flat in the pocket
    guessed = right.clone()
    guessed[0, 1, 5, 2] = 20.0  # a move in the pocket, where no move leads to the goal
    # KL(uniform || p) of (20, 0, 0, 0) is 20 - 5 - log 4, over the 4 counted cells
    assert float(wavefront_loss(guessed, optimal, known, unknown)) > 3


def test_cave_batches_mark_their_pockets_unreachable() -> None:
    source = MazeOracle(generators=("caves",), extra_openings=0.0)
    batch = source.batch_from_sizes([15] * 8, np.random.default_rng(4), side=17)
    grid, distance = batch.obs["grid"], batch.extra["distance"]
    free = grid > 0
    pockets = free & (distance < 0)
    assert pockets.any()
    for i, goal in enumerate(batch.extra["goal"]):
        np.testing.assert_array_equal(distance[i].numpy(), distance_field(grid[i].numpy(), goal))
        reached = int((distance[i] >= 0).sum())
        assert reached >= 0.5 * int(free[i].sum())  # the goal sits in the largest component
    _, unknown = wavefront_cells(distance, 10_000, 1.5, 3.0, free=free)
    assert torch.equal(unknown, pockets)  # once the wave is everywhere, only pockets wait
    assert not (batch.cells & pockets).any()


def test_the_mixed_recipe_draws_every_generator_with_the_wavefront() -> None:
    from train.common import parse_args
    from train.pretrain import PretrainArgs, make_source

    args = parse_args(PretrainArgs, ["--config", "planners/maze_mixed.yaml"], "test")
    assert args.loss.objective == "wavefront" and args.loss.wave_speeds == (1.5, 3.0)
    assert args.data.far_goals == 0.5 and args.loss.regularisers == ("residual",)
    source = make_source(args)
    assert isinstance(source, MazeOracle) and set(source.generators) == set(MAZE_GENERATORS)
    assert make_source(PretrainArgs()).generators == PERFECT_MAZE_GENERATORS  # maze.yaml's


def test_far_goals_sit_at_an_end_of_a_longest_path() -> None:
    rng = np.random.default_rng(5)
    far = MazeOracle(extra_openings=0.0, far_goals=1.0).batch_from_sizes([11] * 6, rng)
    uniform = MazeOracle(extra_openings=0.0).batch_from_sizes([11] * 6, rng)
    for i in range(6):
        grid = far.obs["grid"][i].numpy()
        # In a perfect maze the goal's eccentricity is then the maze's diameter.
        diameter = max(
            int(distance_field(grid, tuple(cell)).max()) for cell in np.argwhere(grid > 0)
        )
        assert int(far.difficulty[i]) == diameter
    assert float(far.difficulty.mean()) > float(uniform.difficulty.mean())
    with pytest.raises(ValueError, match="far_goals"):
        MazeOracle(far_goals=1.5)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_one_size_per_batch_leaves_no_padding(seed: int) -> None:
    source = MazeOracle(min_size=5, max_size=11, curriculum=0.0, one_size_per_batch=True)
    rng = np.random.default_rng(seed)
    sides = set()
    for _ in range(12):
        batch = source.sample(4, rng, progress=1.0)
        grid = batch.obs["grid"].numpy()  # (B, side, side)
        side = grid.shape[1]
        sides.add(side)
        # Every maze fills the whole grid: its last row and column hold floor somewhere.
        for maze in grid:
            assert (maze[side - 2] > 0).any() and (maze[:, side - 2] > 0).any()
        assert batch.cells.shape == (4, side, side)
    assert sides <= {5, 7, 9, 11} and len(sides) >= 2  # sides still vary between batches


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), size=st.sampled_from([5, 7, 9]))
def test_moved_goals_keep_the_mazes_and_move_each_goal(seed: int, size: int) -> None:
    rng = np.random.default_rng(seed)
    batch = MazeOracle().batch_from_sizes([size, 5, size], rng)
    moved = MazeOracle.moved_goals(batch, rng)["grid"].numpy()
    grid = batch.obs["grid"].numpy()
    assert moved.shape == grid.shape and (batch.obs["grid"].numpy() == grid).all()
    np.testing.assert_array_equal(moved > 0, grid > 0)  # same walls, same free squares
    for i, goal in enumerate(batch.extra["goal"]):
        goals = np.argwhere(moved[i] == GOAL)
        assert len(goals) == 1 and tuple(goals[0]) != goal
        assert moved[i][goal] == FLOOR
    removed = MazeOracle.moved_goals(batch, rng, removed=1.0)["grid"].numpy()
    assert not (removed == GOAL).any()
    np.testing.assert_array_equal(removed > 0, grid > 0)
    with pytest.raises(ValueError, match="removed must be a probability"):
        MazeOracle.moved_goals(batch, rng, removed=1.5)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), size=st.sampled_from([7, 9, 11]))
def test_after_events_targets_the_plan_of_the_changed_maze(seed: int, size: int) -> None:
    rng = np.random.default_rng(seed)
    source = MazeOracle(extra_openings=0.3)
    before = source.batch_from_sizes([size, 7, size], rng)
    after, kinds = MazeOracle.after_events(before, rng)
    assert len(kinds) == 3
    for i, kind in enumerate(kinds):
        grid = after.obs["grid"][i].numpy()
        goal = after.extra["goal"][i]
        assert grid[goal] == GOAL and (grid == GOAL).sum() == 1
        truth = distance_field(grid, goal)
        np.testing.assert_array_equal(after.extra["goal_distance"][i].numpy(), truth)
        start = before.extra["start"][i]
        assert truth[start] >= 0 or start == goal  # the start keeps a way to the goal
        changed = after.extra["changed"][i].numpy()
        moved = (after.optimal[i].numpy() != before.optimal[i].numpy()).any(-1) & (truth > 0)
        np.testing.assert_array_equal(changed, moved)
        shaped = after.extra["distance"][i].numpy()
        np.testing.assert_array_equal(shaped[changed], truth[changed])  # from scratch: surely
        assert (shaped[(truth > 0) & ~changed] == 1).all()  # held from the first round on
        assert (shaped[truth <= 0] == -1).all()
        if kind == "none":
            assert not changed.any()
        if kind == "goal":
            assert goal != before.extra["goal"][i]
    assert (before.obs["grid"].numpy() > 0).sum() > 0  # the batch before is left as it was


def test_maze_generators_can_be_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    used: list[str] = []
    real = oracle_data.generate_maze

    def recording(size: int, rng: np.random.Generator, generator: str, openings: float):
        used.append(generator)
        return real(size, rng, generator, openings)

    monkeypatch.setattr(oracle_data, "generate_maze", recording)
    MazeOracle(generators=("backtracker",)).batch_from_sizes([9] * 6, np.random.default_rng(8))
    assert used == ["backtracker"] * 6
    used.clear()
    MazeOracle().batch_from_sizes([9] * 30, np.random.default_rng(8))
    assert set(used) == {"backtracker", "kruskal", "prim"}
    used.clear()
    MazeOracle(generators=("rooms", "caves")).batch_from_sizes([9] * 12, np.random.default_rng(8))
    assert set(used) == {"rooms", "caves"}
    with pytest.raises(ValueError, match="unknown maze generators \\['maze'\\]"):
        MazeOracle(generators=("maze",))
    with pytest.raises(ValueError, match="unknown maze generators"):
        MazeOracle(generators=())


def test_sudoku_targets_complete_a_unique_solution() -> None:
    batch = SudokuOracle("FPR/Sudoku-4x4-v0", 4, 10).batch_from_blanks(
        [8, 8], np.random.default_rng(1)
    )
    for i in range(2):
        board = batch.obs["board"][i].numpy().copy()
        assert count_solutions(board) == 1
        digits = batch.optimal[i].numpy().argmax(-1) + 1
        board[batch.cells[i].numpy()] = digits[batch.cells[i].numpy()]
        assert (board > 0).all() and count_solutions(board) == 1
        given = batch.obs["given"][i].numpy().astype(bool)
        assert not (given & batch.cells[i].numpy()).any()


def test_arc_targets_are_the_transformed_test_input() -> None:
    source = ArcConceptOracle("FPR/ARC-Concepts-v0", ("recolour", "flip"))
    batch = source.sample(4, np.random.default_rng(2), 0.0)
    assert batch.obs["demo_inputs"].shape == (4, source.n_demos, 10, 10)
    for i in range(4):
        h, w = batch.extra["answer_shape"][i]
        answer = batch.optimal[i, :h, :w].numpy().argmax(-1)
        assert batch.cells[i].sum() == h * w
        test_input = batch.obs["test_input"][i].numpy()
        rows, cols = int((test_input[:, 0] < 10).sum()), int((test_input[0] < 10).sum())
        expected = apply_transformations(
            test_input[:rows, :cols], batch.extra["transformations"][i]
        )
        np.testing.assert_array_equal(answer, expected)


def test_arc_batches_list_grid_extents_as_the_env_does() -> None:
    source = ArcConceptOracle("FPR/ARC-Concepts-v0", ("flip",))
    batch = source.sample(3, np.random.default_rng(3), 0.0)
    k = source.n_demos
    extents = batch.obs["shapes"].numpy().reshape(3, 2 * k + 2, 2)
    grids = [
        *(batch.obs["demo_inputs"][:, j] for j in range(k)),
        *(batch.obs["demo_outputs"][:, j] for j in range(k)),
        batch.obs["test_input"],
        batch.obs["canvas"],
    ]
    for index, grid in enumerate(grids):
        real = grid.numpy() < 10  # (3, G, G): not padding
        np.testing.assert_array_equal(extents[:, index, 0], real[:, :, 0].sum(axis=1))
        np.testing.assert_array_equal(extents[:, index, 1], real[:, 0, :].sum(axis=1))
    assert [tuple(e) for e in extents[:, -1]] == batch.extra["answer_shape"]


def test_set_loss_is_zero_only_on_the_set() -> None:
    optimal = torch.tensor([[[[True, True, False]]]])
    cells = torch.tensor([[[True]]])
    confident = torch.tensor([[[[20.0, 20.0, -20.0]]]])
    wrong = torch.tensor([[[[-20.0, -20.0, 20.0]]]])
    assert float(set_loss(confident, optimal, cells)) < 1e-6
    assert float(set_loss(wrong, optimal, cells)) > 10
    assert bool(cell_correct(confident, optimal).all()) and not bool(
        cell_correct(wrong, optimal).any()
    )
