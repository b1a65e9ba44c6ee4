"""The Maze environment: reach the goal of a fully observed maze with absolute moves (on MiniGrid).

Also holds the maze's grid algorithms, public for the pretraining scripts: ``parse_layout`` (a
user's maze), ``distance_field`` (BFS distances to the goal) and ``shortest_path_actions`` (the
oracle's move at every cell).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from minigrid.core.constants import TILE_PIXELS
from minigrid.core.grid import Grid
from minigrid.core.mission import MissionSpace
from minigrid.core.world_object import Goal, Wall
from minigrid.minigrid_env import MiniGridEnv

from envs.maze_generators import (
    MAZE_GENERATORS,
    generate_maze,
    largest_component,
    validate_maze_size,
)

__all__ = [
    "LAYOUT_CHARS",
    "LAYOUT_VALUES",
    "MOVES",
    "REGISTRATIONS",
    "MazeEnv",
    "distance_field",
    "parse_layout",
    "shortest_path_actions",
]

# Observation symbol ids of the "grid" key.
WALL, FLOOR, GOAL = 0, 1, 2
# Layout symbols: as characters and as integers (the integer ids extend the observation ids).
START = 3
LAYOUT_CHARS: dict[str, int] = {"#": WALL, ".": FLOOR, "G": GOAL, "S": START}
LAYOUT_VALUES: dict[int, str] = {value: char for char, value in LAYOUT_CHARS.items()}
# Action i moves the agent by MOVES[i] = (drow, dcol): up, right, down, left.
MOVES: tuple[tuple[int, int], ...] = ((-1, 0), (0, 1), (1, 0), (0, -1))
# MiniGrid's agent_dir of each move (0 faces +x, 1 +y, 2 -x, 3 -y): the drawn agent faces its move.
_MOVE_TO_MINIGRID_DIR: tuple[int, ...] = (3, 0, 1, 2)
PLACEMENTS: tuple[str, ...] = ("random", "far")
REGISTERED_SIZES: tuple[int, ...] = (9, 11, 13, 15, 17, 21, 25, 33, 59, 101)
ROOMS_SIZES: tuple[int, ...] = (15, 33)  # FPR/Maze-Rooms-{n}x{n}-v0
CAVES_SIZES: tuple[int, ...] = (15, 33, 51)  # FPR/Maze-Caves-{n}x{n}-v0

Cell = tuple[int, int]  # (row, col)


def _mission() -> str:
    """MiniGrid's mission text (a module function, so the env pickles)."""
    return "reach the goal"


def _as_cell(value: Any, name: str, shape: tuple[int, int]) -> Cell:
    """Check that ``value`` is a ``(row, col)`` inside a grid of ``shape``; return it as ints."""
    try:
        row, col = (int(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a (row, col) pair of integers, got {value!r}") from None
    if not (0 <= row < shape[0] and 0 <= col < shape[1]):
        raise ValueError(
            f"{name} (row {row}, column {col}) is outside the {shape[0]} x {shape[1]} grid"
        )
    return row, col


def distance_field(grid: np.ndarray, goal: Sequence[int]) -> np.ndarray:
    """Shortest-path distance (in moves) from every square to ``goal``, by breadth-first search.

    :param grid: ``(H, W)`` array; 0 is a wall, any other value is free.
    :param goal: ``(row, col)`` of a free square.
    :return: ``(H, W)`` int64 array of distances; -1 at walls and at squares that cannot reach
        the goal.
    """
    free = np.asarray(grid) != WALL  # (H, W)
    if free.ndim != 2:
        raise ValueError(f"grid must be 2-D, got shape {free.shape}")
    height, width = free.shape
    goal_row, goal_col = _as_cell(goal, "goal", (height, width))
    if not free[goal_row, goal_col]:
        raise ValueError(f"goal (row {goal_row}, column {goal_col}) is a wall")
    padded_width = width + 2
    padded = np.zeros((height + 2, padded_width), dtype=bool)  # wall border: no bounds checks
    padded[1:-1, 1:-1] = free
    is_free = padded.ravel().tolist()
    distances = [-1] * len(is_free)
    source = (goal_row + 1) * padded_width + goal_col + 1
    distances[source] = 0
    offsets = (-padded_width, 1, padded_width, -1)
    frontier = [source]
    depth = 0
    while frontier:
        depth += 1
        next_frontier = []
        for square in frontier:
            for offset in offsets:
                neighbour = square + offset
                if is_free[neighbour] and distances[neighbour] < 0:
                    distances[neighbour] = depth
                    next_frontier.append(neighbour)
        frontier = next_frontier
    return np.asarray(distances, dtype=np.int64).reshape(height + 2, padded_width)[1:-1, 1:-1]


def shortest_path_actions(
    grid: np.ndarray, goal: Sequence[int], distances: np.ndarray | None = None
) -> np.ndarray:
    """The oracle's move at every square: one step along a shortest path to ``goal``.

    Where several moves are optimal, the first in ``MOVES`` order (up, right, down, left) wins.

    :param grid: ``(H, W)`` array; 0 is a wall, any other value is free.
    :param goal: ``(row, col)`` of a free square.
    :param distances: ``distance_field(grid, goal)`` if already computed.
    :return: ``(H, W)`` int64 array of action ids (indices into ``MOVES``); -1 at walls, at the
        goal and at squares that cannot reach it.
    """
    if distances is None:
        distances = distance_field(grid, goal)
    height, width = distances.shape
    padded = np.full((height + 2, width + 2), -1, dtype=np.int64)
    padded[1:-1, 1:-1] = distances
    actions = np.full((height, width), -1, dtype=np.int64)
    for action in reversed(range(len(MOVES))):  # reversed: the lowest optimal action id is kept
        d_row, d_col = MOVES[action]
        neighbour = padded[1 + d_row : 1 + d_row + height, 1 + d_col : 1 + d_col + width]
        actions[(distances > 0) & (neighbour == distances - 1)] = action
    return actions


def _move_masks(free: np.ndarray) -> np.ndarray:
    """``(H, W, 4)`` bool: ``[r, c, a]`` is True when move ``a`` from ``(r, c)`` lands on a free
    square inside the grid."""
    height, width = free.shape
    padded = np.zeros((height + 2, width + 2), dtype=bool)
    padded[1:-1, 1:-1] = free
    masks = np.empty((height, width, len(MOVES)), dtype=bool)
    for action, (d_row, d_col) in enumerate(MOVES):
        masks[:, :, action] = padded[1 + d_row : 1 + d_row + height, 1 + d_col : 1 + d_col + width]
    return masks


def _layout_rows(layout: str | Sequence[Any] | np.ndarray) -> list[list[Any]]:
    """Split a layout into rows of symbols (characters or integers), without validating them."""
    if isinstance(layout, str):
        lines = [line.strip() for line in layout.splitlines()]
        while lines and not lines[0]:
            lines.pop(0)
        while lines and not lines[-1]:
            lines.pop()
        return [list(line) for line in lines]
    if isinstance(layout, np.ndarray):
        if layout.ndim != 2:
            raise ValueError(f"a layout array must be 2-D, got shape {layout.shape}")
        return layout.tolist()
    rows = []
    for index, row in enumerate(layout):
        if isinstance(row, str | Sequence | np.ndarray):
            rows.append(list(row))
        else:
            raise ValueError(f"layout row {index} is not a sequence of symbols: {row!r}")
    return rows


def _symbol_id(symbol: Any, row: int, col: int) -> int:
    """Map one layout symbol (``'#'``, ``'.'``, ``'S'``, ``'G'`` or 0..3) to its integer id."""
    if isinstance(symbol, str) and symbol in LAYOUT_CHARS:
        return LAYOUT_CHARS[symbol]
    is_integer = isinstance(symbol, int | np.integer) and not isinstance(symbol, bool | np.bool_)
    if is_integer and int(symbol) in LAYOUT_VALUES:
        return int(symbol)
    expected = ", ".join(f"{char!r} ({value})" for char, value in LAYOUT_CHARS.items())
    raise ValueError(f"unknown symbol {symbol!r} at row {row}, column {col}; expected {expected}")


def parse_layout(layout: str | Sequence[Any] | np.ndarray) -> tuple[np.ndarray, Cell, Cell]:
    """Read a maze given by the user and check it.

    ASCII: ``'#'`` wall, ``'.'`` floor, ``'S'`` start, ``'G'`` goal, one row per line (blank lines
    around the maze and spaces around each row are ignored). As integers (a 2-D array or a list of
    lists): 0 wall, 1 floor, 2 goal, 3 start. Rows and columns in error messages count from 0.

    :param layout: an ASCII string, a list of row strings, or a 2-D array / list of lists of ints.
    :return: ``(maze, start, goal)``: the ``(H, W)`` uint8 maze (0 wall, 1 floor; start and goal
        are floor) and the ``(row, col)`` of the start and of the goal.
    """
    rows = _layout_rows(layout)
    if not rows or not rows[0]:
        raise ValueError("layout is empty")
    width = len(rows[0])
    for index, row in enumerate(rows):
        if len(row) != width:
            raise ValueError(
                f"ragged layout: row {index} has {len(row)} columns but row 0 has {width}"
            )
    if len(rows) < 3 or width < 3:
        raise ValueError(
            f"layout is {len(rows)} rows x {width} columns; MiniGrid needs at least 3 x 3"
        )
    ids = np.empty((len(rows), width), dtype=np.uint8)  # (H, W)
    found: dict[int, Cell] = {}
    for r, row in enumerate(rows):
        for c, symbol in enumerate(row):
            symbol_id = _symbol_id(symbol, r, c)
            if symbol_id in (START, GOAL):
                name = LAYOUT_VALUES[symbol_id]
                if symbol_id in found:
                    first_row, first_col = found[symbol_id]
                    raise ValueError(
                        f"second {name!r} at row {r}, column {c} "
                        f"(the first is at row {first_row}, column {first_col})"
                    )
                found[symbol_id] = (r, c)
            ids[r, c] = symbol_id
    for symbol_id in (START, GOAL):
        if symbol_id not in found:
            raise ValueError(f"layout has no {LAYOUT_VALUES[symbol_id]!r}")
    start, goal = found[START], found[GOAL]
    maze = (ids != WALL).astype(np.uint8)
    if distance_field(maze, goal)[start] < 0:
        raise ValueError(
            f"goal 'G' at row {goal[0]}, column {goal[1]} cannot be reached from "
            f"start 'S' at row {start[0]}, column {start[1]}"
        )
    return maze, start, goal


class MazeEnv(MiniGridEnv):
    """A fully observed maze on MiniGrid, moved through with absolute moves.

    ## Description

    The agent stands on a square of a maze and must reach the goal square. Mazes are generated at
    each reset (a perfect maze by recursive backtracker, Kruskal or Prim, optionally with extra
    openings that add loops; open rooms joined by corridors and doorways, with loops; or caves:
    random floor with open areas, loops and unreachable pockets), or given by the user as a
    ``layout``. The whole maze is visible. Start and goal are always joined by a path, so the
    agent never stands on a square that cannot reach the goal.
    The class is a ``MiniGridEnv``: ``self.grid`` holds MiniGrid ``Wall`` and ``Goal`` objects and
    ``render()`` draws with MiniGrid's renderer (the agent's triangle faces its last move).

    ## Observation

    A ``Dict`` (SB3-compatible; MiniGrid's image/direction/mission observation is not used):

    - ``"grid"``: ``Box(0, 2, (H * W,), uint8)``: the (H, W) grid flattened row-major (SB3 takes
      1-D Boxes; ``reshape(task_description["grid_shape"])`` restores it). 0 wall, 1 floor,
      2 goal. The agent is not drawn in, so the grid only changes when the maze does.
    - ``"agent"``: ``Box(0, [H - 1, W - 1], (2,), int64)``: the agent's ``[row, col]`` (row is
      MiniGrid's y, col its x).

    ## Actions

    ``Discrete(4)``, absolute moves (MiniGrid's turn/forward actions are not used):

    | Num | Move  | (drow, dcol) |
    |-----|-------|--------------|
    | 0   | up    | (-1, 0)      |
    | 1   | right | (0, 1)       |
    | 2   | down  | (1, 0)       |
    | 3   | left  | (0, -1)      |

    A move into a wall (or off the grid) is a bump: it uses a step and changes nothing.
    ``action_masks()`` gives the moves that do not bump; ``oracle_action()`` a move along a
    shortest path.

    ## Rewards

    As MiniGrid: ``1 - 0.9 * (step_count / max_steps)`` on reaching the goal, 0 otherwise.

    ## Termination

    Terminates when the agent reaches the goal; truncates when ``step_count`` reaches
    ``max_steps`` (default ``4 * H * W``, MiniGrid's choice, matching the registered
    ``max_episode_steps``).

    ## Info

    ``difficulty``: shortest-path distance (BFS, in moves) from the agent to the goal now;
    ``optimal_steps``: that distance at reset; ``is_success``: the agent is on the goal.

    ## Registered ids (and kwargs)

    - ``FPR/Maze-v0``: ``size=15, generator="backtracker"``, ``max_episode_steps=900``.
    - ``FPR/Maze-{n}x{n}-v0`` for n in 9, 11, 13, 15, 17, 21, 25, 33, 59, 101: ``size=n``,
      backtracker, ``max_episode_steps=4 * n * n``.
    - ``FPR/Maze-Branching-15x15-v0``: ``size=15, generator="kruskal", extra_openings=0.1``,
      ``max_episode_steps=900``.
    - ``FPR/Maze-Rooms-{n}x{n}-v0`` for n in 15, 33: ``size=n, generator="rooms"``,
      ``max_episode_steps=4 * n * n``.
    - ``FPR/Maze-Caves-{n}x{n}-v0`` for n in 15, 33, 51: ``size=n, generator="caves"``,
      ``max_episode_steps=4 * n * n``.

    Reset ``options``: ``{"start": (row, col), "goal": (row, col)}``, either or both, fix the start
    and/or the goal for this episode (free squares, distinct, the goal reachable from the start).

    :param size: side of the generated square grid, walls included (odd, at least 5).
    :param generator: ``"backtracker"`` (long corridors), ``"kruskal"`` or ``"prim"`` (more
        branching), ``"rooms"`` (open rooms, corridors, loops) or ``"caves"`` (random floor,
        unreachable pockets); see ``envs.maze_generators``.
    :param extra_openings: fraction in [0, 1] of the remaining cell walls knocked out after
        carving a perfect maze (0: exactly one route; more: several routes).
    :param placement: ``"random"`` (start and goal uniform over the pairs of distinct free
        squares joined by a path) or ``"far"`` (the goal at the end of a longest path found by two
        BFS sweeps from a random square of the largest connected component, the start at the far
        end).
    :param layout: a user's maze (see ``parse_layout``): ASCII ``#``, ``.``, ``S``, ``G`` or ints
        0 wall, 1 floor, 2 goal, 3 start. When given, ``size``, ``generator``, ``extra_openings``
        and ``placement`` are ignored and every episode uses this maze, start and goal.
    :param max_steps: steps before truncation; default ``4 * H * W``.
    :param render_mode: ``"rgb_array"``, ``"ansi"`` or None.
    :param tile_size: pixels per square in ``rgb_array`` renders.
    """

    metadata = {"render_modes": ["rgb_array", "ansi"], "render_fps": 10}  # noqa: RUF012

    # This episode's maze, start, goal and agent (set by ``_gen_grid``).
    _free: np.ndarray  # (H, W) bool, True on floor
    _move_mask: np.ndarray  # (H, W, 4) bool
    _goal: Cell
    _distances: np.ndarray  # (H, W) int64 steps to the goal, -1 where unreachable
    _oracle_actions: np.ndarray  # (H, W) shortest-path move of each square
    _grid_obs: np.ndarray  # (H, W) uint8
    _agent_row: int
    _agent_col: int
    _optimal_steps: int
    _minigrid_grid: Grid

    def __init__(
        self,
        size: int = 15,
        generator: str = "backtracker",
        extra_openings: float = 0.0,
        placement: str = "random",
        layout: str | Sequence[Any] | np.ndarray | None = None,
        max_steps: int | None = None,
        render_mode: str | None = None,
        tile_size: int = TILE_PIXELS,
    ) -> None:
        self._layout_maze: np.ndarray | None = None
        self._layout_start: Cell | None = None
        self._layout_goal: Cell | None = None
        if layout is not None:
            self._layout_maze, self._layout_start, self._layout_goal = parse_layout(layout)
            height, width = self._layout_maze.shape
        else:
            validate_maze_size(size)
            if generator not in MAZE_GENERATORS:
                raise ValueError(
                    f"unknown maze generator {generator!r}; expected one of {MAZE_GENERATORS}"
                )
            if not 0.0 <= extra_openings <= 1.0:
                raise ValueError(f"extra_openings must be in [0, 1], got {extra_openings}")
            height = width = int(size)
        if placement not in PLACEMENTS:
            raise ValueError(f"unknown placement {placement!r}; expected one of {PLACEMENTS}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"unknown render_mode {render_mode!r}; expected one of "
                f"{self.metadata['render_modes']} or None"
            )
        if max_steps is None:
            max_steps = 4 * height * width
        if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
            raise ValueError(f"max_steps must be a positive integer, got {max_steps!r}")
        self.generator = generator
        self.extra_openings = float(extra_openings)
        self.placement = placement
        super().__init__(
            mission_space=MissionSpace(mission_func=_mission),
            width=width,
            height=height,
            max_steps=max_steps,
            see_through_walls=True,
            render_mode=render_mode,
            tile_size=tile_size,
            highlight=False,
        )
        self.action_space = spaces.Discrete(len(MOVES))
        self.observation_space = spaces.Dict(
            {
                "grid": spaces.Box(0, GOAL, (height * width,), dtype=np.uint8),
                "agent": spaces.Box(
                    low=np.zeros(2, dtype=np.int64),
                    high=np.array([height - 1, width - 1], dtype=np.int64),
                    dtype=np.int64,
                ),
            }
        )
        self._reset_options: dict[str, Any] = {}
        self._has_maze = False
        # Set when ``grid`` must be rebuilt for a new maze: the goal it has to draw.
        self._minigrid_grid_goal: Cell | None = None

    @property
    def task_description(self) -> dict[str, Any]:
        """What the policy needs to know about this task (docs/interfaces.md, section 1).

        :return: plain-data description: family, grid shape, grid keys, action layout and moves.
        """
        return {
            "family": "maze",
            "grid_shape": [self.height, self.width],
            "grid_keys": {"grid": 3},
            "valid_key": None,
            "action_layout": "move_at_agent",
            "moves": [list(move) for move in MOVES],
            "agent_key": "agent",
        }

    # ---- episode --------------------------------------------------------------------------

    # MiniGridEnv annotates reset and step with gymnasium's ObsType and ActType unbound.
    def reset(  # type: ignore[override]
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Start an episode on a new maze (or on the user's layout).

        :param seed: seeds ``self.np_random``, the source of every random choice.
        :param options: optional ``"start"`` and/or ``"goal"`` ``(row, col)`` to fix this episode.
        :return: the first observation and info.
        """
        gym.Env.reset(self, seed=seed)  # MiniGrid's reset would build its own slow observation
        options = dict(options or {})
        unknown = set(options) - {"start", "goal"}
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; expected 'start', 'goal'")
        self._reset_options = options
        self._gen_grid(self.width, self.height)
        self.agent_dir = 0  # MiniGrid's "facing right"
        self.carrying = None
        self.step_count = 0
        self._optimal_steps = int(self._distances[self._agent_row, self._agent_col])
        return self._observation(), self._info()

    def _gen_grid(self, width: int, height: int) -> None:
        """Make this episode's maze, start and goal; build MiniGrid's grid and the cached arrays.

        :param width: grid width (MiniGrid's x extent, our columns).
        :param height: grid height (MiniGrid's y extent, our rows).
        """
        if self._layout_maze is not None:
            maze = self._layout_maze
            start, goal = self._layout_start, self._layout_goal
            maze_changed = not self._has_maze
        else:
            maze = generate_maze(width, self.np_random, self.generator, self.extra_openings)
            start, goal = None, None
            maze_changed = True
        start, goal, distances = self._place_start_goal(maze, start, goal, not maze_changed)
        if maze_changed or goal != self._goal:
            self._free = maze.astype(bool)  # (H, W)
            self._move_mask = _move_masks(self._free)  # (H, W, 4)
            self._goal = goal
            self._distances = distances
            self._oracle_actions = shortest_path_actions(maze, goal, self._distances)
            self._grid_obs = maze.copy()  # (H, W) uint8; observed flattened to (H * W,)
            self._grid_obs[goal] = GOAL
            self._minigrid_grid_goal = goal  # MiniGrid's grid is built on first access
            self._has_maze = True
        self._agent_row, self._agent_col = start
        self.agent_pos = (start[1], start[0])

    def _place_start_goal(
        self, maze: np.ndarray, start: Cell | None, goal: Cell | None, same_maze: bool
    ) -> tuple[Cell, Cell, np.ndarray]:
        """Choose the start and goal: reset options first, then the layout's, then random draws.

        :param same_maze: the maze is the previous episode's, so its distance field may be reused.
        :return: start, goal and the distance field to the goal.
        """
        shape = maze.shape
        if "start" in self._reset_options:
            start = _as_cell(self._reset_options["start"], "start", shape)
        if "goal" in self._reset_options:
            goal = _as_cell(self._reset_options["goal"], "goal", shape)
        for name, cell in (("start", start), ("goal", goal)):
            if cell is not None and not maze[cell]:
                raise ValueError(f"{name} (row {cell[0]}, column {cell[1]}) is a wall")
        if start is not None and start == goal:
            raise ValueError(
                f"start and goal are the same square (row {start[0]}, column {start[1]})"
            )
        distances = None
        if start is None or goal is None:
            start, goal, distances = self._draw_start_goal(maze, start, goal)
        if distances is None:
            reuse = same_maze and goal == self._goal
            distances = self._distances if reuse else distance_field(maze, goal)
            if distances[start] < 0:
                raise ValueError(
                    f"goal (row {goal[0]}, column {goal[1]}) cannot be reached from "
                    f"start (row {start[0]}, column {start[1]})"
                )
        return start, goal, distances

    def _draw_start_goal(
        self, maze: np.ndarray, start: Cell | None, goal: Cell | None
    ) -> tuple[Cell, Cell, np.ndarray | None]:
        """Draw whichever of start and goal is missing, from ``self.np_random``, in the same
        connected component as the other (a cave has pockets no path leads out of).

        :param maze: ``(H, W)`` uint8 maze, 0 wall.
        :param start: the fixed start, or None to draw it.
        :param goal: the fixed goal, or None to draw it.
        :return: start, goal and the distance field to the goal where it was computed (else None).
        """
        if self.placement == "random":
            return self._draw_random(maze, start, goal)
        return self._draw_far(maze, start, goal)

    def _draw_random(
        self, maze: np.ndarray, start: Cell | None, goal: Cell | None
    ) -> tuple[Cell, Cell, np.ndarray | None]:
        """Uniform draws: a missing pair is uniform over the pairs of distinct free squares joined
        by a path (drawn again until joined); a missing end is uniform over the squares that the
        fixed one reaches."""
        rng = self.np_random
        if start is None and goal is None:
            free = np.flatnonzero(maze)
            while True:
                first, second = rng.choice(len(free), size=2, replace=False).tolist()
                start, goal = self._cell(free[first]), self._cell(free[second])
                distances = distance_field(maze, goal)
                if distances[start] > 0:
                    return start, goal, distances
        if start is not None:
            others = np.flatnonzero(self._reach(maze, start, "start") > 0)
            return start, self._cell(others[rng.integers(len(others))]), None
        assert goal is not None  # both missing returned above
        reach = self._reach(maze, goal, "goal")
        others = np.flatnonzero(reach > 0)
        return self._cell(others[rng.integers(len(others))]), goal, reach

    def _draw_far(
        self, maze: np.ndarray, start: Cell | None, goal: Cell | None
    ) -> tuple[Cell, Cell, np.ndarray | None]:
        """Each missing end at a farthest square (ties broken at random) from the other; a missing
        pair from a random anchor, drawn in the largest connected component where the maze has
        several: two BFS sweeps, an end of a longest path there."""
        rng = self.np_random
        if start is None and goal is None:
            free = np.flatnonzero(maze)
            anchor = self._cell(free[rng.integers(len(free))])
            from_anchor = distance_field(maze, anchor)
            if int((from_anchor >= 0).sum()) < len(free):  # pockets: anchor in the main part
                main = np.flatnonzero(largest_component(maze))
                anchor = self._cell(main[rng.integers(len(main))])
                from_anchor = distance_field(maze, anchor)
            goal = self._farthest(from_anchor, rng)
        if start is None:
            assert goal is not None  # drawn above when both were missing
            distances = self._reach(maze, goal, "goal")
            return self._farthest(distances, rng), goal, distances
        return start, self._farthest(self._reach(maze, start, "start"), rng), None

    @staticmethod
    def _reach(maze: np.ndarray, cell: Cell, name: str) -> np.ndarray:
        """The distance field from ``cell``; a ``ValueError`` when no other square is reachable.

        :param maze: ``(H, W)`` uint8 maze, 0 wall.
        :param cell: a free square.
        :param name: ``"start"`` or ``"goal"``, for the message.
        :return: ``(H, W)`` int64 distances from ``cell``, -1 where unreachable.
        """
        distances = distance_field(maze, cell)
        if distances.max() <= 0:
            raise ValueError(
                f"no other square can be reached from the {name} (row {cell[0]}, column {cell[1]})"
            )
        return distances

    def _cell(self, flat_index: int) -> Cell:
        row, col = divmod(int(flat_index), self.width)
        return row, col

    def _farthest(self, distances: np.ndarray, rng: np.random.Generator) -> Cell:
        candidates = np.flatnonzero(distances == distances.max())
        return self._cell(candidates[rng.integers(len(candidates))])

    @property
    def grid(self) -> Grid:
        """MiniGrid's ``Grid`` of the current maze (``Wall`` and ``Goal`` objects), built lazily:
        stepping and resetting do not need it, MiniGrid's renderer and tools do.

        :return: the grid, ``width`` x ``height``.
        """
        goal = self._minigrid_grid_goal
        if goal is not None:
            self._minigrid_grid_goal = None
            self._minigrid_grid = Grid(self.width, self.height)
            self._draw_grid(goal)
        return self._minigrid_grid

    @grid.setter
    def grid(self, grid: Grid) -> None:
        self._minigrid_grid = grid
        self._minigrid_grid_goal = None

    def _draw_grid(self, goal: Cell) -> None:
        """Put the current maze on the new, empty ``grid``: a ``Wall`` on each wall square and the
        ``Goal``.

        :param goal: the goal square.
        """
        # Same row-major order as MiniGrid's storage: index = y * width + x.
        self.grid.grid = [None if free else Wall() for free in self._free.ravel().tolist()]
        self.put_obj(Goal(), goal[1], goal[0])

    def step(  # type: ignore[override]
        self, action: int | np.integer
    ) -> tuple[dict[str, np.ndarray], SupportsFloat, bool, bool, dict[str, Any]]:
        """Move the agent one square (or bump into a wall).

        :param action: 0 up, 1 right, 2 down, 3 left.
        :return: observation, reward, terminated, truncated, info.
        """
        move = int(action)
        if not 0 <= move < len(MOVES):
            raise ValueError(f"action must be in 0..{len(MOVES) - 1}, got {action!r}")
        self.step_count += 1
        row, col = self._agent_row, self._agent_col
        if self._move_mask[row, col, move]:
            d_row, d_col = MOVES[move]
            row, col = row + d_row, col + d_col
            self._agent_row, self._agent_col = row, col
            self.agent_pos = (col, row)
        self.agent_dir = _MOVE_TO_MINIGRID_DIR[move]
        terminated = (row, col) == self._goal
        reward = self._reward() if terminated else 0.0
        truncated = self.step_count >= self.max_steps
        return self._observation(), reward, terminated, truncated, self._info()

    def _observation(self) -> dict[str, np.ndarray]:
        return {
            "grid": self._grid_obs.reshape(-1).copy(),  # row-major (H * W,): SB3 takes 1-D Boxes
            "agent": np.array([self._agent_row, self._agent_col], dtype=np.int64),
        }

    def _info(self) -> dict[str, Any]:
        row, col = self._agent_row, self._agent_col
        return {
            "difficulty": int(self._distances[row, col]),
            "optimal_steps": self._optimal_steps,
            "is_success": (row, col) == self._goal,
        }

    # ---- expert and masks -----------------------------------------------------------------

    def _require_maze(self) -> None:
        if not self._has_maze:
            raise RuntimeError("the maze does not exist yet: call reset() first")

    def action_masks(self) -> np.ndarray:
        """The moves that do not bump into a wall (sb3-contrib's MaskablePPO convention).

        :return: ``(4,)`` bool array; at least one entry is True.
        """
        self._require_maze()
        return self._move_mask[self._agent_row, self._agent_col].copy()

    def oracle_action(self) -> int:
        """The expert's move: one step along a shortest path to the goal (O(1), from a field
        computed once per maze). On the goal itself, the first valid move.

        :return: an action id in 0..3.
        """
        self._require_maze()
        action = int(self._oracle_actions[self._agent_row, self._agent_col])
        if action < 0:
            action = int(np.flatnonzero(self.action_masks())[0])
        return action

    # ---- rendering ------------------------------------------------------------------------

    def render(self) -> np.ndarray | str | None:
        """Draw the maze: ``rgb_array`` through MiniGrid's renderer, ``ansi`` as text.

        :return: an ``(H * tile_size, W * tile_size, 3)`` uint8 image, a string (``#`` wall,
            ``.`` floor, ``G`` goal, ``A`` agent; ``?`` everywhere before the first reset), or
            None without a render mode.
        """
        if self.render_mode == "ansi":
            return self._render_ansi()
        return super().render()

    def _render_ansi(self) -> str:
        if not self._has_maze:
            return "\n".join("?" * self.width for _ in range(self.height))
        chars = np.array(["#", ".", "G"])[self._grid_obs]  # (H, W)
        chars[self._agent_row, self._agent_col] = "A"
        return "\n".join("".join(row) for row in chars.tolist())

    def get_full_render(self, highlight: bool, tile_size: int) -> np.ndarray:
        """MiniGrid's full-grid render, without the partial-view highlight (all is visible).

        :param highlight: ignored: the maze is fully observed.
        :param tile_size: pixels per square.
        :return: ``(H * tile_size, W * tile_size, 3)`` uint8 image.
        """
        agent = (self._agent_col, self._agent_row)  # MiniGrid's (x, y), as ``agent_pos``
        return self.grid.render(tile_size, agent, self.agent_dir, highlight_mask=None)


def _registration(env_id: str, size: int, **kwargs: Any) -> dict[str, Any]:
    return {
        "id": env_id,
        "entry_point": "envs.maze:MazeEnv",
        "kwargs": {"size": size, **kwargs},
        "max_episode_steps": 4 * size * size,
    }


REGISTRATIONS: list[dict] = [
    _registration("FPR/Maze-v0", 15, generator="backtracker"),
    *(_registration(f"FPR/Maze-{n}x{n}-v0", n, generator="backtracker") for n in REGISTERED_SIZES),
    _registration("FPR/Maze-Branching-15x15-v0", 15, generator="kruskal", extra_openings=0.1),
    *(_registration(f"FPR/Maze-Rooms-{n}x{n}-v0", n, generator="rooms") for n in ROOMS_SIZES),
    *(_registration(f"FPR/Maze-Caves-{n}x{n}-v0", n, generator="caves") for n in CAVES_SIZES),
]
