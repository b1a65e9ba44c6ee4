"""Maze events: the world changes under the agent (a door closes, a passage opens, the goal moves).

Pure functions on a ``(grid, goal, agent)`` triple, used by ``envs.maze_dynamic.DynamicMazeEnv``
and public for pretraining data ("the plan before the event -> the plan after it"):

- ``apply_random_event(grid, goal, agent, rng, kinds)``: one random event of the given kinds;
- ``close_door``, ``open_shortcut``, ``move_goal``: one event of one kind (None where that kind
  cannot happen here);
- ``optimal_move_sets(grid, goal)`` and ``count_replan_cells(...)``: the optimal moves at every
  square, and how many squares' optimal moves an event changed.

A grid is ``(H, W)``; 0 is a wall and any other value is free (a maze of 0/1, or the observation's
grid with the goal marked 2). A returned grid keeps the caller's convention: closed squares become
0, opened squares 1, and where the goal was marked 2 the mark moves with it. Every random draw
comes from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from envs.maze import FLOOR, GOAL, MOVES, WALL, Cell, distance_field, shortest_path_actions

__all__ = [
    "EVENT_KINDS",
    "MazeEvent",
    "apply_random_event",
    "close_door",
    "count_replan_cells",
    "move_goal",
    "open_shortcut",
    "optimal_move_sets",
    "shortest_path",
]

# Every kind of event, in the order the docs list them; "none" is the info of a quiet step.
EVENT_KINDS: tuple[str, ...] = ("door", "shortcut", "goal")
NO_EVENT = "none"


@dataclass(frozen=True)
class MazeEvent:
    """What one event did.

    :param kind: ``"door"``, ``"shortcut"``, ``"goal"``, or ``"none"`` when no event could happen.
    :param grid: the ``(H, W)`` grid after the event (a new array; the caller's convention kept).
    :param goal: the goal after the event.
    :param closed: squares that became walls (the door).
    :param opened: squares that became floor (the shortcut; for a door that would have cut the
        agent off from the goal, the square opened elsewhere at the same step).
    """

    kind: str
    grid: np.ndarray
    goal: Cell
    closed: tuple[Cell, ...] = ()
    opened: tuple[Cell, ...] = ()


def _shifted(field: np.ndarray, fill: int) -> np.ndarray:
    """``(4, H, W)``: entry ``[a, r, c]`` is ``field`` at the neighbour ``(r, c) + MOVES[a]``
    (``fill`` off the grid)."""
    height, width = field.shape
    padded = np.full((height + 2, width + 2), fill, dtype=field.dtype)
    padded[1:-1, 1:-1] = field
    return np.stack([padded[1 + dr : 1 + dr + height, 1 + dc : 1 + dc + width] for dr, dc in MOVES])


def optimal_move_sets(
    grid: np.ndarray, goal: Sequence[int], distances: np.ndarray | None = None
) -> np.ndarray:
    """Every optimal move at every square: the moves to a neighbour one step closer to ``goal``.

    :param grid: ``(H, W)`` array; 0 is a wall, any other value is free.
    :param goal: ``(row, col)`` of a free square.
    :param distances: ``distance_field(grid, goal)`` if already computed.
    :return: ``(H, W, 4)`` bool; all False at walls, at the goal and at squares that cannot reach
        it.
    """
    if distances is None:
        distances = distance_field(grid, goal)
    neighbours = _shifted(distances, -1)  # (4, H, W)
    optimal = (distances > 0) & (neighbours == distances - 1)  # (4, H, W)
    return np.moveaxis(optimal, 0, -1)


def count_replan_cells(
    grid_before: np.ndarray,
    goal_before: Sequence[int],
    grid_after: np.ndarray,
    goal_after: Sequence[int],
) -> int:
    """How many squares' plans an event invalidated: the squares free after it whose set of
    optimal moves (``optimal_move_sets``) differs from before it.

    :param grid_before: ``(H, W)`` grid before the event; 0 wall.
    :param goal_before: the goal before.
    :param grid_after: ``(H, W)`` grid after the event.
    :param goal_after: the goal after.
    :return: the number of such squares (0 when nothing changed).
    """
    before = optimal_move_sets(grid_before, goal_before)  # (H, W, 4)
    after = optimal_move_sets(grid_after, goal_after)  # (H, W, 4)
    changed = (before != after).any(axis=-1) & (np.asarray(grid_after) != WALL)
    return int(changed.sum())


def shortest_path(
    grid: np.ndarray, goal: Sequence[int], agent: Sequence[int], actions: np.ndarray | None = None
) -> list[Cell]:
    """The squares of the oracle's shortest path from ``agent`` to ``goal``, both ends included
    (``shortest_path_actions``' tie-break: the first optimal move in ``MOVES`` order).

    :param grid: ``(H, W)`` array; 0 wall.
    :param goal: the goal.
    :param agent: the start of the path; must reach the goal.
    :param actions: ``shortest_path_actions(grid, goal)`` if already computed.
    :return: the path as ``(row, col)`` squares.
    """
    if actions is None:
        actions = shortest_path_actions(grid, goal)
    cell = (int(agent[0]), int(agent[1]))
    goal = (int(goal[0]), int(goal[1]))
    path = [cell]
    while cell != goal:
        action = int(actions[cell])
        if action < 0:
            raise ValueError(f"square (row {cell[0]}, column {cell[1]}) cannot reach the goal")
        cell = (cell[0] + MOVES[action][0], cell[1] + MOVES[action][1])
        path.append(cell)
    return path


def _interior_walls(free: np.ndarray) -> np.ndarray:
    """``(H, W)`` bool: walls off the grid's edge (the only squares an event may open)."""
    walls = ~free
    walls[[0, -1], :] = False
    walls[:, [0, -1]] = False
    return walls


def _nearest_neighbour(field: np.ndarray) -> np.ndarray:
    """``(H, W)``: the least non-negative value of ``field`` among each square's neighbours
    (a large number where no neighbour has one)."""
    big = np.iinfo(np.int64).max // 4
    neighbours = _shifted(np.where(field >= 0, field, big), big)  # (4, H, W)
    return neighbours.min(axis=0)


def _pick(rng: np.random.Generator, mask: np.ndarray) -> Cell | None:
    """A uniform draw among the True squares of ``mask`` (None if there are none)."""
    flat = np.flatnonzero(mask)
    if len(flat) == 0:
        return None
    row, col = divmod(int(flat[rng.integers(len(flat))]), mask.shape[1])
    return row, col


def _edit(
    grid: np.ndarray,
    goal: Cell,
    closed: Sequence[Cell] = (),
    opened: Sequence[Cell] = (),
    new_goal: Cell | None = None,
) -> np.ndarray:
    """A copy of ``grid`` with squares closed and opened, and the goal mark moved where the grid
    carries one."""
    out = np.array(grid, copy=True)
    for cell in closed:
        out[cell] = WALL
    for cell in opened:
        out[cell] = FLOOR
    if new_goal is not None and out[goal] == GOAL:
        out[goal] = FLOOR
        out[new_goal] = GOAL
    return out


def _check(grid: np.ndarray, goal: Sequence[int], agent: Sequence[int]) -> tuple[Cell, Cell]:
    goal = (int(goal[0]), int(goal[1]))
    agent = (int(agent[0]), int(agent[1]))
    if np.asarray(grid).ndim != 2:
        raise ValueError(f"grid must be 2-D, got shape {np.asarray(grid).shape}")
    if grid[agent] == WALL:
        raise ValueError(f"agent (row {agent[0]}, column {agent[1]}) is a wall")
    return goal, agent


def close_door(
    grid: np.ndarray, goal: Sequence[int], agent: Sequence[int], rng: np.random.Generator
) -> MazeEvent | None:
    """A door closes on the agent's shortest path, never cutting the agent off from the goal.

    The door is a square of the oracle's path strictly between the agent and the goal, drawn
    uniformly among those whose closing leaves a way round; where no square does (a perfect maze),
    among those for which one wall square borders both the agent's side and the goal's side: that
    wall opens at the same step (``opened``), so the goal stays reachable (one that does not make
    the way shorter than before the door, where there is one).

    :param grid: ``(H, W)`` grid; 0 wall.
    :param goal: the goal, reachable from ``agent``.
    :param agent: the agent's square.
    :param rng: source of the draws.
    :return: the event, or None when the path has no square between agent and goal that can close.
    """
    goal, agent = _check(grid, goal, agent)
    path = shortest_path(grid, goal, agent)[1:-1]
    if not path:
        return None
    length = len(path) + 1  # the agent's distance to the goal before the door
    free = np.asarray(grid) != WALL
    bridged: list[tuple[Cell, Cell]] = []  # (door, the wall that reconnects) when no detour
    for index in rng.permutation(len(path)).tolist():
        door = path[index]
        closed = free.copy()
        closed[door] = False
        if distance_field(closed, goal)[agent] > 0:
            return MazeEvent("door", _edit(grid, goal, closed=[door]), goal, closed=(door,))
        if not bridged:
            from_agent = _nearest_neighbour(distance_field(closed, agent))  # (H, W)
            to_goal = _nearest_neighbour(distance_field(closed, goal))  # (H, W)
            walls = _interior_walls(closed)
            walls[door] = False
            bridges = walls & (from_agent < free.size) & (to_goal < free.size)
            longer = bridges & (from_agent + 2 + to_goal >= length)  # a detour, not a shortcut
            bridge = _pick(rng, longer if longer.any() else bridges)
            if bridge is not None:
                bridged.append((door, bridge))
    if not bridged:
        return None
    door, bridge = bridged[0]
    new_grid = _edit(grid, goal, closed=[door], opened=[bridge])
    return MazeEvent("door", new_grid, goal, closed=(door,), opened=(bridge,))


def open_shortcut(
    grid: np.ndarray, goal: Sequence[int], agent: Sequence[int], rng: np.random.Generator
) -> MazeEvent | None:
    """A passage opens: a wall square (off the grid's edge) whose removal shortens the agent's
    shortest path to the goal, drawn uniformly among all such squares.

    :param grid: ``(H, W)`` grid; 0 wall.
    :param goal: the goal, reachable from ``agent``.
    :param agent: the agent's square.
    :param rng: source of the draws.
    :return: the event, or None when no single wall square shortens the path.
    """
    goal, agent = _check(grid, goal, agent)
    free = np.asarray(grid) != WALL
    to_goal = distance_field(free, goal)
    from_agent = distance_field(free, agent)
    through = _nearest_neighbour(from_agent) + 2 + _nearest_neighbour(to_goal)  # (H, W)
    cell = _pick(rng, _interior_walls(free) & (through < to_goal[agent]))
    if cell is None:
        return None
    return MazeEvent("shortcut", _edit(grid, goal, opened=[cell]), goal, opened=(cell,))


def move_goal(
    grid: np.ndarray, goal: Sequence[int], agent: Sequence[int], rng: np.random.Generator
) -> MazeEvent | None:
    """The goal moves to another free square that the agent can reach (not the agent's square,
    not the goal's), drawn uniformly.

    :param grid: ``(H, W)`` grid; 0 wall.
    :param goal: the goal.
    :param agent: the agent's square.
    :param rng: source of the draws.
    :return: the event, or None when the agent reaches no square but the goal.
    """
    goal, agent = _check(grid, goal, agent)
    reach = distance_field(np.asarray(grid) != WALL, agent) > 0  # (H, W): not the agent's square
    reach[goal] = False
    new_goal = _pick(rng, reach)
    if new_goal is None:
        return None
    return MazeEvent("goal", _edit(grid, goal, new_goal=new_goal), new_goal)


_EVENTS = {"door": close_door, "shortcut": open_shortcut, "goal": move_goal}


def apply_random_event(
    grid: np.ndarray,
    goal: Sequence[int],
    agent: Sequence[int],
    rng: np.random.Generator,
    kinds: Sequence[str] = EVENT_KINDS,
) -> MazeEvent:
    """One random event: the kinds in a random order, the first that can happen here.

    The agent always keeps a way to the goal. Usable on any maze, e.g. to build pretraining pairs
    (the oracle's plan on ``grid`` -> its plan on ``event.grid``).

    :param grid: ``(H, W)`` grid; 0 wall, any other value free (the goal may be marked 2).
    :param goal: the goal, reachable from ``agent``.
    :param agent: the agent's square.
    :param rng: source of every draw.
    :param kinds: the kinds to choose from (a subset of ``EVENT_KINDS``).
    :return: the event; kind ``"none"`` (grid and goal unchanged) when none of ``kinds`` can
        happen (e.g. the agent next to the goal, with no door possible and no shortcut).
    """
    unknown = [kind for kind in kinds if kind not in _EVENTS]
    if unknown:
        raise ValueError(f"unknown event kinds {unknown}; expected some of {EVENT_KINDS}")
    goal, agent = _check(grid, goal, agent)
    for index in rng.permutation(len(kinds)).tolist():
        event = _EVENTS[kinds[index]](grid, goal, agent, rng)
        if event is not None:
            return event
    return MazeEvent(NO_EVENT, np.array(grid, copy=True), goal)
