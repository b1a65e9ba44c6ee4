"""Maze events on a (grid, goal, agent) triple: doors, shortcuts, goal moves, replanning counts.

Distances in the checks come from ``scipy.sparse.csgraph``, not from the code under test.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envs.maze import MOVES, parse_layout
from envs.maze_events import (
    EVENT_KINDS,
    apply_random_event,
    close_door,
    count_replan_cells,
    move_goal,
    open_shortcut,
    optimal_move_sets,
    shortest_path,
)
from envs.maze_generators import MAZE_GENERATORS, generate_maze, largest_component
from tests.envs.graph_checks import scipy_distances


@st.composite
def _mazes(draw: st.DrawFn) -> tuple[np.ndarray, tuple[int, int], tuple[int, int], int]:
    """A generated maze, an agent and a goal joined by a path, and a seed for the event."""
    size = draw(st.sampled_from([7, 9, 15, 21]))
    generator = draw(st.sampled_from(MAZE_GENERATORS))
    openings = draw(st.sampled_from([0.0, 0.1]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    maze = generate_maze(size, rng, generator, openings)
    main = np.flatnonzero(largest_component(maze))
    first, second = rng.choice(len(main), size=2, replace=False).tolist()
    agent, goal = divmod(int(main[first]), size), divmod(int(main[second]), size)
    return maze, agent, goal, draw(st.integers(0, 2**32 - 1))


def _changed(before: np.ndarray, after: np.ndarray) -> set[tuple[int, int]]:
    rows, cols = np.nonzero((np.asarray(before) != 0) != (np.asarray(after) != 0))
    return set(zip(rows.tolist(), cols.tolist(), strict=True))


@settings(max_examples=150, deadline=None)
@given(case=_mazes())
def test_a_door_closes_on_the_shortest_path_and_never_cuts_off_the_goal(case: tuple) -> None:
    maze, agent, goal, seed = case
    event = close_door(maze, goal, agent, np.random.default_rng(seed))
    to_goal, from_agent = scipy_distances(maze, goal), scipy_distances(maze, agent)
    if event is None:  # no square of the path can close without cutting off the goal for good
        for door in shortest_path(maze, goal, agent)[1:-1]:
            closed = maze.copy()
            closed[door] = 0
            assert scipy_distances(closed, goal)[agent] < 0
            for r, c in zip(*np.nonzero(closed[1:-1, 1:-1] == 0), strict=True):
                if (r + 1, c + 1) != door:
                    reopened = closed.copy()
                    reopened[r + 1, c + 1] = 1
                    assert scipy_distances(reopened, goal)[agent] < 0
        return
    assert event.kind == "door" and event.goal == goal and len(event.closed) == 1
    door = event.closed[0]
    assert door not in (agent, goal)
    assert from_agent[door] + to_goal[door] == to_goal[agent]  # on a shortest path
    assert door in shortest_path(maze, goal, agent)  # on the oracle's own path
    assert event.grid[door] == 0
    assert scipy_distances(event.grid, goal)[agent] > 0  # the goal stays reachable
    assert _changed(maze, event.grid) == {door, *event.opened}
    for cell in event.opened:  # a way round, opened only where the door left none
        assert maze[cell] == 0
        without = maze.copy()
        without[door] = 0
        assert scipy_distances(without, goal)[agent] < 0


@settings(max_examples=150, deadline=None)
@given(case=_mazes())
def test_a_shortcut_shortens_the_agents_path(case: tuple) -> None:
    maze, agent, goal, seed = case
    event = open_shortcut(maze, goal, agent, np.random.default_rng(seed))
    before = scipy_distances(maze, goal)[agent]
    if event is None:
        return
    (cell,) = event.opened
    assert event.kind == "shortcut" and event.closed == () and event.goal == goal
    assert maze[cell] == 0 and 0 < cell[0] < maze.shape[0] - 1 and 0 < cell[1] < maze.shape[1] - 1
    assert _changed(maze, event.grid) == {cell}
    assert 0 < scipy_distances(event.grid, goal)[agent] < before


def test_shortcuts_are_drawn_among_every_wall_that_shortens_the_path() -> None:
    maze, agent, goal = parse_layout(
        """
        #######
        #S#G..#
        #.###.#
        #.....#
        #######
        """
    )
    before = scipy_distances(maze, goal)[agent]
    shortening = set()
    for r, c in zip(*np.nonzero(maze[1:-1, 1:-1] == 0), strict=True):
        opened = maze.copy()
        opened[r + 1, c + 1] = 1
        if scipy_distances(opened, goal)[agent] < before:
            shortening.add((int(r) + 1, int(c) + 1))
    drawn = set()
    for seed in range(60):
        event = open_shortcut(maze, goal, agent, np.random.default_rng(seed))
        assert event is not None
        drawn.update(event.opened)
    assert drawn == shortening and (1, 2) in drawn


@settings(max_examples=100, deadline=None)
@given(case=_mazes())
def test_the_goal_moves_to_another_reachable_square(case: tuple) -> None:
    maze, agent, goal, seed = case
    marked = maze.copy()
    marked[goal] = 2
    event = move_goal(marked, goal, agent, np.random.default_rng(seed))
    reachable = scipy_distances(maze, agent) > 0  # squares the agent can walk to
    reachable[goal] = False
    if event is None:  # a cave whose component holds only the agent and the goal
        assert not reachable.any()
        return
    assert event.kind == "goal"
    assert event.goal not in (agent, goal)
    assert scipy_distances(maze, agent)[event.goal] > 0
    assert np.array_equal(event.grid != 0, maze != 0)  # the walls stay
    assert event.grid[event.goal] == 2 and event.grid[goal] == 1  # the mark moves with it
    assert (event.grid == 2).sum() == 1


def test_a_perfect_maze_door_opens_a_way_round() -> None:
    maze, agent, goal = parse_layout(
        """
        #######
        #S....#
        #####.#
        #G....#
        #######
        """
    )
    event = close_door(maze, goal, agent, np.random.default_rng(0))
    assert event is not None and len(event.opened) == 1
    assert scipy_distances(event.grid, goal)[agent] > 0


@settings(max_examples=60, deadline=None)
@given(case=_mazes(), kinds=st.lists(st.sampled_from(EVENT_KINDS), min_size=1, unique=True))
def test_random_events_are_reproducible_and_of_the_asked_kinds(case: tuple, kinds: list) -> None:
    maze, agent, goal, seed = case
    original = maze.copy()
    first = apply_random_event(maze, goal, agent, np.random.default_rng(seed), kinds)
    second = apply_random_event(maze, goal, agent, np.random.default_rng(seed), kinds)
    assert first.kind == second.kind and first.goal == second.goal
    assert np.array_equal(first.grid, second.grid)
    assert first.closed == second.closed and first.opened == second.opened
    assert first.kind in (*kinds, "none")
    if first.kind != "none":
        assert scipy_distances(first.grid, first.goal)[agent] > 0
        assert count_replan_cells(maze, goal, first.grid, first.goal) > 0
    assert np.array_equal(maze, original)  # the caller's grid is not edited


def test_no_event_when_no_kind_can_happen() -> None:
    maze, agent, goal = parse_layout("#####\n#SG.#\n#####")
    event = apply_random_event(maze, goal, agent, np.random.default_rng(0), ("door", "shortcut"))
    assert event.kind == "none" and np.array_equal(event.grid, maze) and event.goal == goal
    moved = apply_random_event(maze, goal, agent, np.random.default_rng(0))
    assert moved.kind == "goal" and moved.goal == (1, 3)


def test_unknown_kinds_are_refused() -> None:
    maze, agent, goal = parse_layout("#####\n#SG.#\n#####")
    with pytest.raises(ValueError, match="unknown event kinds"):
        apply_random_event(maze, goal, agent, np.random.default_rng(0), ("flood",))


@settings(max_examples=60, deadline=None)
@given(case=_mazes())
def test_move_sets_and_replan_count_match_scipy(case: tuple) -> None:
    maze, agent, goal, seed = case
    event = apply_random_event(maze, goal, agent, np.random.default_rng(seed))

    def move_sets(grid: np.ndarray, target: tuple[int, int]) -> np.ndarray:
        dist = scipy_distances(grid, target)
        out = np.zeros((*dist.shape, 4), dtype=bool)
        for r, c in zip(*np.nonzero(dist > 0), strict=True):
            for a, (dr, dc) in enumerate(MOVES):
                nr, nc = r + dr, c + dc
                inside = 0 <= nr < dist.shape[0] and 0 <= nc < dist.shape[1]
                out[r, c, a] = inside and dist[nr, nc] == dist[r, c] - 1
        return out

    before, after = move_sets(maze, goal), move_sets(event.grid, event.goal)
    assert np.array_equal(optimal_move_sets(maze, goal), before)
    expected = int(((before != after).any(-1) & (event.grid != 0)).sum())
    assert count_replan_cells(maze, goal, event.grid, event.goal) == expected
    assert count_replan_cells(maze, goal, maze, goal) == 0
