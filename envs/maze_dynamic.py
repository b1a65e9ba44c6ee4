"""The dynamic Maze: ``MazeEnv`` episodes in which the world changes under the agent."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, SupportsFloat

import numpy as np
from minigrid.core.world_object import Door

from envs.maze import Cell, MazeEnv, _move_masks, distance_field, shortest_path_actions
from envs.maze_events import EVENT_KINDS, NO_EVENT, apply_random_event, count_replan_cells

__all__ = ["DOOR_COLOR", "DYNAMIC_SIZES", "REGISTRATIONS", "DynamicMazeEnv"]

DOOR_COLOR = "yellow"  # MiniGrid's colour of a closed (locked) door
DYNAMIC_SIZES: tuple[int, ...] = (15, 33)  # FPR/Maze-Dynamic-{n}x{n}-v0
# The registered ids' maze: long corridors with loops, so most doors leave a way round.
_DYNAMIC_MAZE: dict[str, Any] = {"generator": "backtracker", "extra_openings": 0.1}
_DYNAMIC_N_EVENTS = (1, 3)


class DynamicMazeEnv(MazeEnv):
    """A fully observed maze whose doors, walls and goal change while the agent is on its way.

    ## Description

    ``MazeEnv`` (a MiniGrid ``MiniGridEnv``; every ``MazeEnv`` keyword argument works) with
    events. At reset, ``n_events`` event steps are drawn from ``self.np_random`` among
    ``1 .. optimal_steps - 1`` (the steps at which an agent on a shortest path is still on its
    way). After the agent's move at such a step (unless it has reached the goal), one event of the
    kinds in ``events``, drawn uniformly, changes the maze (a kind that cannot happen here gives
    way to another; if none can, the step stays quiet):

    - ``"door"``: a door closes on a square of the agent's current shortest path (the oracle's
      path), drawn as a locked MiniGrid ``Door``. It never cuts the agent off from the goal: a
      square with a way round is chosen where one exists; otherwise a wall bordering both sides
      opens at the same step.
    - ``"shortcut"``: a wall square whose removal shortens the agent's path opens.
    - ``"goal"``: the goal moves to another square that the agent can reach.

    The events are ``envs.maze_events``' functions; ``apply_random_event`` gives them to any maze.
    Doors stay closed until an event opens them again (a shortcut, or a door's way round).

    ## Observation

    As ``MazeEnv``: ``"grid"`` ``Box(0, 2, (H * W,), uint8)``, 0 wall, 1 floor, 2 goal, showing
    the current maze, so the planner sees every change; a closed door is a wall (0). ``"agent"``
    the agent's ``[row, col]``.

    ## Actions

    As ``MazeEnv``: ``Discrete(4)``, 0 up, 1 right, 2 down, 3 left; a door is a wall to bump into.
    ``action_masks()`` and ``oracle_action()`` read the current maze, so the oracle follows the
    new shortest path after each event.

    ## Rewards

    As ``MazeEnv``: ``1 - 0.9 * (step_count / max_steps)`` on reaching the goal, 0 otherwise.

    ## Termination

    As ``MazeEnv``: at the goal (where it is now); truncation at ``max_steps``.

    ## Info

    As ``MazeEnv`` (``difficulty``: the agent's BFS distance to the goal in the current maze;
    ``optimal_steps``; ``is_success``), plus ``event``: the kind that happened at this step, or
    ``"none"``; ``replan_cells``: the number of free squares whose set of optimal moves the event
    changed (0 on quiet steps and at reset).

    ## Registered ids (and kwargs)

    - ``FPR/Maze-Dynamic-{n}x{n}-v0`` for n in 15, 33: ``size=n, generator="backtracker",
      extra_openings=0.1, events=("door", "shortcut", "goal"), n_events=(1, 3)``,
      ``max_episode_steps=4 * n * n``.
    - ``FPR/Maze-Dynamic-Door-15x15-v0``, ``-Shortcut-``, ``-Goal-``: the same at 15, one kind
      each (``events=("door",)`` and so on).

    Reset ``options``: ``MazeEnv``'s ``"start"`` and ``"goal"``, and ``"event_steps"``: the steps
    of this episode's events (positive integers), instead of the draw.

    :param events: the kinds of event, some of ``"door"``, ``"shortcut"``, ``"goal"`` (empty: a
        plain maze).
    :param n_events: events per episode: an int, or a ``(low, high)`` range drawn at each reset
        (both included); fewer when the episode's shortest path has fewer steps to spare.
    :param maze_kwargs: ``MazeEnv``'s keyword arguments (``size``, ``generator``,
        ``extra_openings``, ``placement``, ``layout``, ``max_steps``, ``render_mode``,
        ``tile_size``).
    """

    metadata = MazeEnv.metadata

    def __init__(
        self,
        events: Sequence[str] = EVENT_KINDS,
        n_events: int | Sequence[int] = _DYNAMIC_N_EVENTS,
        **maze_kwargs: Any,
    ) -> None:
        if isinstance(events, str):
            raise ValueError(f"events must be a sequence of kinds, got the string {events!r}")
        events = tuple(events)
        unknown = [kind for kind in events if kind not in EVENT_KINDS]
        if unknown or len(set(events)) != len(events):
            raise ValueError(f"events must be distinct kinds of {EVENT_KINDS}, got {events!r}")
        self.events = events
        self.n_events = _event_count_range(n_events)
        super().__init__(**maze_kwargs)
        self._doors: tuple[Cell, ...] = ()
        self._event_steps: frozenset[int] = frozenset()
        self._maze_edited = False

    # ---- episode --------------------------------------------------------------------------

    def reset(  # type: ignore[override]  # as MazeEnv.reset
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Start an episode on a new maze and draw its event steps.

        :param seed: seeds ``self.np_random``, the source of every random choice.
        :param options: optional ``"start"``, ``"goal"`` (as ``MazeEnv``) and ``"event_steps"``.
        :return: the first observation and info.
        """
        options = dict(options or {})
        event_steps = options.pop("event_steps", None)
        if self._maze_edited:  # a user layout is rebuilt from the layout, not from the edits
            self._has_maze = False
            self._maze_edited = False
        self._doors = ()
        obs, info = super().reset(seed=seed, options=options)
        if event_steps is not None:
            self._event_steps = _as_steps(event_steps)
        else:
            self._event_steps = self._draw_event_steps()
        return obs, info

    def _draw_event_steps(self) -> frozenset[int]:
        """``n_events`` distinct steps among ``1 .. optimal_steps - 1``, from ``self.np_random``."""
        if not self.events:
            return frozenset()
        low, high = self.n_events
        count = int(self.np_random.integers(low, high + 1))
        spare = self._optimal_steps - 1
        if count == 0 or spare <= 0:
            return frozenset()
        steps = self.np_random.choice(spare, size=min(count, spare), replace=False) + 1
        return frozenset(steps.tolist())

    def step(  # type: ignore[override]  # as MazeEnv.step
        self, action: int | np.integer
    ) -> tuple[dict[str, np.ndarray], SupportsFloat, bool, bool, dict[str, Any]]:
        """Move the agent one square; at an event step the maze then changes.

        :param action: 0 up, 1 right, 2 down, 3 left.
        :return: observation, reward, terminated, truncated, info (with ``event`` and
            ``replan_cells``).
        """
        obs, reward, terminated, truncated, info = super().step(action)
        if terminated or self.step_count not in self._event_steps:
            return obs, reward, terminated, truncated, info
        kind, replan = self._apply_event()
        if kind == NO_EVENT:
            return obs, reward, terminated, truncated, info
        return self._observation(), reward, terminated, truncated, self._info(kind, replan)

    def _apply_event(self) -> tuple[str, int]:
        """Change the maze by one random event; refresh every cached array.

        :return: the event's kind and its ``replan_cells``.
        """
        agent = (self._agent_row, self._agent_col)
        before_grid, before_goal = self._grid_obs, self._goal
        event = apply_random_event(before_grid, before_goal, agent, self.np_random, self.events)
        if event.kind == NO_EVENT:
            return NO_EVENT, 0
        doors = [cell for cell in self._doors if cell not in event.opened]
        self._doors = (*doors, *(cell for cell in event.closed if cell not in doors))
        self._grid_obs = event.grid
        self._goal = event.goal
        self._free = event.grid != 0  # (H, W)
        self._move_mask = _move_masks(self._free)  # (H, W, 4)
        self._distances = distance_field(self._free, event.goal)
        self._oracle_actions = shortest_path_actions(self._free, event.goal, self._distances)
        self._minigrid_grid_goal = event.goal  # MiniGrid's grid is rebuilt on next access
        self._maze_edited = True
        return event.kind, count_replan_cells(before_grid, before_goal, event.grid, event.goal)

    def _info(self, event: str = NO_EVENT, replan_cells: int = 0) -> dict[str, Any]:
        return {**super()._info(), "event": event, "replan_cells": int(replan_cells)}

    @property
    def doors(self) -> tuple[Cell, ...]:
        """The closed doors of the current maze, as ``(row, col)`` squares (walls in the grid).

        :return: the doors, in the order they closed.
        """
        return self._doors

    # ---- MiniGrid and rendering -----------------------------------------------------------

    def _draw_grid(self, goal: Cell) -> None:
        """Put the current maze on MiniGrid's new, empty ``grid`` (built lazily, as in
        ``MazeEnv``): ``Wall`` and ``Goal`` objects, and a locked ``Door`` on each closed door.

        :param goal: the goal square.
        """
        super()._draw_grid(goal)
        for row, col in self._doors:
            self.grid.set(col, row, Door(DOOR_COLOR, is_open=False, is_locked=True))

    def render(self) -> np.ndarray | str | None:
        """Draw the maze: ``rgb_array`` through MiniGrid's renderer (doors as locked doors),
        ``ansi`` as text.

        :return: an image, a string (``#`` wall, ``D`` door, ``.`` floor, ``G`` goal, ``A`` agent;
            ``?`` everywhere before the first reset), or None without a render mode.
        """
        if self.render_mode != "ansi" or not self._has_maze:
            return super().render()
        chars = np.array(["#", ".", "G"])[self._grid_obs]  # (H, W)
        for cell in self._doors:
            chars[cell] = "D"
        chars[self._agent_row, self._agent_col] = "A"
        return "\n".join("".join(row) for row in chars.tolist())


def _event_count_range(n_events: int | Sequence[int]) -> tuple[int, int]:
    """Check ``n_events`` (an int or a ``(low, high)`` pair, 0 <= low <= high); return the pair."""
    if isinstance(n_events, int | np.integer) and not isinstance(n_events, bool):
        low = high = int(n_events)
    else:
        try:
            low, high = (int(v) for v in n_events)  # type: ignore[union-attr]
        except (TypeError, ValueError):
            raise ValueError(
                f"n_events must be an int or a (low, high) pair, got {n_events!r}"
            ) from None
    if not 0 <= low <= high:
        raise ValueError(f"n_events must satisfy 0 <= low <= high, got {n_events!r}")
    return low, high


def _as_steps(steps: Any) -> frozenset[int]:
    """Check the ``"event_steps"`` reset option: positive integers."""
    try:
        values = [int(step) for step in steps]
    except (TypeError, ValueError):
        raise ValueError(f"event_steps must be a sequence of integers, got {steps!r}") from None
    if any(step < 1 for step in values):
        raise ValueError(f"event_steps must be positive (steps count from 1), got {steps!r}")
    return frozenset(values)


def _registration(env_id: str, size: int, events: tuple[str, ...]) -> dict[str, Any]:
    return {
        "id": env_id,
        "entry_point": "envs.maze_dynamic:DynamicMazeEnv",
        "kwargs": {"size": size, **_DYNAMIC_MAZE, "events": events, "n_events": _DYNAMIC_N_EVENTS},
        "max_episode_steps": 4 * size * size,
    }


REGISTRATIONS: list[dict] = [
    *(_registration(f"FPR/Maze-Dynamic-{n}x{n}-v0", n, EVENT_KINDS) for n in DYNAMIC_SIZES),
    *(
        _registration(f"FPR/Maze-Dynamic-{kind.capitalize()}-15x15-v0", 15, (kind,))
        for kind in EVENT_KINDS
    ),
]
