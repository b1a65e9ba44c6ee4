"""Supervised data from the environments' oracles, for pretraining the planner.

Each family's data source draws a batch of puzzles with their oracle answer at every cell: for the
maze, the set of shortest-path moves at every free cell (the whole policy field); for Sudoku, the
solution digit of every blank cell. Targets are sets (``optimal``: (B, H, W, C) bool) so that
ties between equally good moves are not punished.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import gymnasium as gym
import numpy as np
import torch

import envs  # noqa: F401  (registers the FPR ids)
from envs.arc_concepts import CONCEPT_FAMILIES, ConceptConfig, generate_concept_task
from envs.arc_tasks import PADDING_SYMBOL, pad_grid
from envs.maze import FLOOR, GOAL, MOVES, distance_field
from envs.maze_events import EVENT_KINDS, apply_random_event, optimal_move_sets
from envs.maze_generators import (
    MAZE_GENERATORS,
    PERFECT_MAZE_GENERATORS,
    generate_maze,
    largest_component,
)
from envs.sudoku_solver import generate_puzzle
from fpr_agents.policy.planner import PlannerNetwork
from train.common import env_task_description


@dataclass
class OracleBatch:
    """One batch of oracle-labelled puzzles.

    :param obs: observation tensors by key, as the env emits them (grids padded to one size).
    :param optimal: (B, H, W, C) bool: the oracle's acceptable outputs at each cell.
    :param cells: (B, H, W) bool: cells that carry a target.
    :param difficulty: (B,) float: the puzzle's difficulty (see each source).
    :param extra: anything a source needs for its own evaluation (e.g. start and goal cells).
    """

    obs: dict[str, torch.Tensor]
    optimal: torch.Tensor
    cells: torch.Tensor
    difficulty: torch.Tensor
    extra: dict[str, Any]

    def to(self, device: torch.device) -> OracleBatch:
        """Move the tensors to ``device``.

        :param device: target device.
        :return: a batch on that device.
        """
        return OracleBatch(
            obs={k: v.to(device) for k, v in self.obs.items()},
            optimal=self.optimal.to(device),
            cells=self.cells.to(device),
            difficulty=self.difficulty.to(device),
            extra=self.extra,
        )


def set_loss(logits: torch.Tensor, optimal: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against a set of acceptable classes: ``-log P(output in optimal set)``.

    :param logits: (B, H, W, C).
    :param optimal: (B, H, W, C) bool.
    :param cells: (B, H, W) bool, cells that count.
    :return: scalar mean over the counted cells.
    """
    logits = logits.float()
    total = torch.logsumexp(logits, dim=-1)  # (B, H, W)
    good = torch.logsumexp(logits.masked_fill(~optimal, float("-inf")), dim=-1)
    per_cell = (total - good).masked_fill(~cells, 0.0)
    return per_cell.sum() / cells.sum().clamp_min(1)


def wavefront_cells(
    distance: torch.Tensor,
    iterations: int,
    min_speed: float,
    max_speed: float,
    free: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Which maze cells a wave from the goal has surely reached after ``iterations`` iterations,
    and which it surely has not. Free cells that cannot reach the goal are never reached: with
    ``free`` given they are ``unknown`` at every iteration (asked for no decision), as a pocket
    of a cave that no wave enters.

    :param distance: (B, H, W) int, each cell's path distance to the goal, -1 on walls, padding
        and cells that cannot reach the goal; the goal (0) is in neither set.
    :param iterations: iterations applied since the latent started from zeros (>= 0).
    :param min_speed: cells per iteration the wave spreads at least (> 0).
    :param max_speed: cells per iteration it spreads at most (>= ``min_speed``).
    :param free: (B, H, W) bool, the free cells (the batch's ``obs["grid"] > 0``): those at
        distance -1 are the unreachable ones. None leaves every cell at distance -1 out of both
        sets, walls and padding as well as unreachable cells.
    :return: ``known`` (within ``min_speed * iterations``) and ``unknown`` (beyond
        ``max_speed * iterations``, or unreachable), each (B, H, W) bool.
    """
    if not 0 < min_speed <= max_speed:
        raise ValueError(
            f"wavefront_cells: need 0 < min_speed <= max_speed, got {min_speed}, {max_speed}"
        )
    if iterations < 0:
        raise ValueError(f"wavefront_cells: iterations must be >= 0, got {iterations}")
    known = (distance > 0) & (distance <= min_speed * iterations)
    unknown = distance > max_speed * iterations
    if free is not None:
        unknown = unknown | (free & (distance < 0))
    return known, unknown


def wavefront_loss(
    logits: torch.Tensor, optimal: torch.Tensor, known: torch.Tensor, unknown: torch.Tensor
) -> torch.Tensor:
    """Maze loss that asks for what a wave from the goal could know by now: the shortest-path
    moves on the cells it has surely reached, uniform logits (no decision) on the cells it surely
    has not (both from :func:`wavefront_cells`; cells that cannot reach the goal are among them
    at every iteration), nothing in between. A planner trained so cannot commit a cell before the
    goal's plan reaches it, so on a larger maze its far cells wait for the wave instead of
    guessing a plan of their own, and a pocket no path leads out of holds no decision at all.

    :param logits: (B, H, W, C) move logits.
    :param optimal: (B, H, W, C) bool, the shortest-path moves.
    :param known: (B, H, W) bool, the cells the wave has surely reached.
    :param unknown: (B, H, W) bool, the cells it surely has not.
    :return: scalar: the mean over counted cells of the set loss (reached) and the cross-entropy
        to the uniform distribution minus its minimum log C (not reached).
    """
    logits = logits.float()
    total = torch.logsumexp(logits, dim=-1)  # (B, H, W)
    good = torch.logsumexp(logits.masked_fill(~optimal, float("-inf")), dim=-1)
    uniform = total - logits.mean(dim=-1) - math.log(logits.shape[-1])  # KL(uniform || p) >= 0
    per_cell = (total - good).masked_fill(~known, 0.0) + uniform.masked_fill(~unknown, 0.0)
    return per_cell.sum() / (known | unknown).sum().clamp_min(1)


def cell_correct(logits: torch.Tensor, optimal: torch.Tensor) -> torch.Tensor:
    """Whether the most likely class at each cell is acceptable.

    :param logits: (B, H, W, C).
    :param optimal: (B, H, W, C) bool.
    :return: (B, H, W) bool.
    """
    return optimal.gather(-1, logits.argmax(dim=-1, keepdim=True)).squeeze(-1)


class OracleSource:
    """A family's supervised data source. Subclasses set ``env_id`` defaults and implement
    :meth:`sample` and :meth:`cell_logits`.

    :param env_id: the registered env whose task description the planner is built from.
    """

    family: str = ""

    def __init__(self, env_id: str) -> None:
        env = gym.make(env_id)
        self.task_description: dict[str, Any] = env_task_description(env)
        height, width = self.task_description["grid_shape"]
        observation_space = cast(gym.spaces.Dict, env.observation_space)
        # The flat length of each grid key's observation (a Box in every FPR env).
        lengths = {
            key: cast(gym.spaces.Box, observation_space[key]).shape[0]
            for key in self.task_description["grid_keys"]
        }
        # Grid keys that stack K grids (flat length K * H * W in the env's observation space).
        self.stack_sizes: dict[str, int] = {
            key: length // (height * width)
            for key, length in lengths.items()
            if length > height * width
        }
        env.close()
        if self.task_description["family"] != self.family:
            raise ValueError(
                f"{env_id} is a {self.task_description['family']!r} env, "
                f"not {self.family!r} as this data source needs"
            )

    def sample(self, batch_size: int, rng: np.random.Generator, progress: float) -> OracleBatch:
        """Draw a batch.

        :param batch_size: puzzles in the batch.
        :param rng: the source of randomness.
        :param progress: training progress in [0, 1], for the curriculum.
        :return: the batch.
        """
        raise NotImplementedError

    def cell_logits(self, planner: PlannerNetwork, z: torch.Tensor) -> torch.Tensor:
        """Per-cell logits of the planner's head on latent ``z``.

        :param planner: the planner network.
        :param z: latent, (B, H, W, d).
        :return: (B, H, W, C).
        """
        raise NotImplementedError


class MazeOracle(OracleSource):
    """Mazes of random odd sizes with the shortest-path move set at every free cell.

    Difficulty is the goal's eccentricity (the longest shortest path to it), which is what the
    number of iterations of a whole-field planner follows.

    :param env_id: a maze env id (for the task description).
    :param min_size: smallest maze side.
    :param max_size: largest maze side (reached by the curriculum).
    :param curriculum: fraction of training over which the largest size grows to ``max_size``.
    :param extra_openings: largest fraction of walls knocked out (drawn uniformly per maze, half
        of the mazes stay perfect).
    :param far_goals: share of mazes whose goal is a farthest square from a random one (an end
        of a longest path in a perfect maze) instead of a uniform draw: the longest distances a
        maze of a given size holds, which a planner must carry to extrapolate to larger mazes.
    :param generators: the maze generators drawn from, uniformly: any of ``MAZE_GENERATORS``
        (default ``PERFECT_MAZE_GENERATORS``; the registered ``FPR/Maze-NxN-v0`` ids use
        ``"backtracker"``, whose long corridors hold the longest paths). ``"rooms"`` adds open
        rooms and loops (ties between equally short moves: the move sets hold every one);
        ``"caves"`` adds open areas and pockets that cannot reach the goal (distance -1, no
        optimal move; :func:`wavefront_cells` asks them for no decision). The goal is drawn in
        the maze's largest connected component.
    :param one_size_per_batch: draw one side per batch instead of one per maze, so a batch
        holds no padding (the sides are drawn from the same distribution, batch by batch).
    """

    family = "maze"

    def __init__(
        self,
        env_id: str = "FPR/Maze-v0",
        min_size: int = 9,
        max_size: int = 15,
        curriculum: float = 0.3,
        extra_openings: float = 0.1,
        far_goals: float = 0.0,
        generators: tuple[str, ...] = PERFECT_MAZE_GENERATORS,
        one_size_per_batch: bool = False,
    ) -> None:
        super().__init__(env_id)
        self.one_size_per_batch = one_size_per_batch
        unknown = sorted(set(generators) - set(MAZE_GENERATORS)) if generators else ["(none)"]
        if unknown:
            raise ValueError(f"unknown maze generators {unknown}; choose from {MAZE_GENERATORS}")
        self.generators = tuple(generators)
        if not 0.0 <= far_goals <= 1.0:
            raise ValueError(f"far_goals must be a share in [0, 1], got {far_goals}")
        self.far_goals = far_goals
        if min_size < 5 or min_size % 2 == 0 or max_size % 2 == 0 or max_size < min_size:
            raise ValueError(
                f"maze sizes must be odd with 5 <= min_size <= max_size, got {min_size}, {max_size}"
            )
        self.min_size, self.max_size = min_size, max_size
        self.curriculum = curriculum
        self.extra_openings = extra_openings

    def _largest_size(self, progress: float) -> int:
        share = 1.0 if self.curriculum <= 0 else min(1.0, progress / self.curriculum)
        largest = int(self.min_size + share * (self.max_size - self.min_size))
        return largest if largest % 2 == 1 else largest - 1

    def sample(self, batch_size: int, rng: np.random.Generator, progress: float) -> OracleBatch:
        """Draw mazes (padded with walls to the batch's largest side) and their move sets.

        :param batch_size: mazes in the batch.
        :param rng: the source of randomness.
        :param progress: training progress in [0, 1].
        :return: the batch; ``extra`` holds ``goal`` and ``start`` (the farthest cell) per maze
            and ``distance``, (B, H, W) int64, each cell's path distance to the goal (-1 on walls,
            padding and cells the goal cannot be reached from).
        """
        largest = self._largest_size(progress)
        # One side for the whole batch leaves no padding: a batch of 9-15 mixed is padded to 15,
        # which spends about 1.5x the FLOPs of its mazes' own cells.
        drawn = 1 if self.one_size_per_batch else batch_size
        sizes = rng.choice(np.arange(self.min_size, largest + 1, 2), size=drawn)
        sizes = np.repeat(sizes, batch_size // drawn)
        side = int(sizes.max())
        return self.batch_from_sizes([int(s) for s in sizes], rng, side)

    def batch_from_sizes(
        self, sizes: list[int], rng: np.random.Generator, side: int | None = None
    ) -> OracleBatch:
        """Draw one maze per size, padded to ``side``.

        :param sizes: the side of each maze.
        :param rng: the source of randomness.
        :param side: padded side (default: the largest size).
        :return: the batch.
        """
        side = side or max(sizes)
        n = len(sizes)
        grid = np.zeros((n, side, side), dtype=np.uint8)
        optimal = np.zeros((n, side, side, len(MOVES)), dtype=bool)
        difficulty = np.zeros(n, dtype=np.float32)
        distance = np.full((n, side, side), -1, dtype=np.int64)
        goals, starts = [], []
        for i, size in enumerate(sizes):
            generator = self.generators[int(rng.integers(len(self.generators)))]
            openings = float(rng.uniform(0, self.extra_openings)) if rng.random() < 0.5 else 0.0
            maze = generate_maze(size, rng, generator, openings)
            free = np.argwhere(largest_component(maze))  # every free cell of a connected maze
            goal = tuple(int(v) for v in free[rng.integers(len(free))])
            if rng.random() < self.far_goals:
                from_anchor = distance_field(maze, goal)
                farthest = np.argwhere(from_anchor == from_anchor.max())
                goal = tuple(int(v) for v in farthest[rng.integers(len(farthest))])
            distances = distance_field(maze, goal)
            distance[i, :size, :size] = distances
            grid[i, :size, :size] = maze
            grid[i, goal[0], goal[1]] = GOAL
            padded = np.full((size + 2, size + 2), -1, dtype=np.int64)
            padded[1:-1, 1:-1] = distances
            for action, (d_row, d_col) in enumerate(MOVES):
                neighbour = padded[1 + d_row : 1 + d_row + size, 1 + d_col : 1 + d_col + size]
                optimal[i, :size, :size, action] = (distances > 0) & (neighbour == distances - 1)
            difficulty[i] = float(distances.max())
            goals.append(goal)
            starts.append(
                tuple(int(v) for v in np.unravel_index(distances.argmax(), distances.shape))
            )
        return OracleBatch(
            obs={"grid": torch.from_numpy(grid)},
            optimal=torch.from_numpy(optimal),
            cells=torch.from_numpy(optimal.any(-1)),
            difficulty=torch.from_numpy(difficulty),
            extra={"goal": goals, "start": starts, "distance": torch.from_numpy(distance)},
        )

    @staticmethod
    def moved_goals(
        batch: OracleBatch, rng: np.random.Generator, removed: float = 0.0
    ) -> dict[str, torch.Tensor]:
        """The batch's observations with each maze's goal moved to another free square drawn
        uniformly, or (with probability ``removed`` per maze) taken away; the square left becomes
        free. The same mazes, another task (or none).

        :param batch: a batch of this source.
        :param rng: the source of randomness.
        :param removed: probability that a maze's goal is removed instead of moved.
        :return: observations like ``batch.obs``.
        """
        if not 0.0 <= removed <= 1.0:
            raise ValueError(f"moved_goals: removed must be a probability, got {removed}")
        grid = batch.obs["grid"].clone()  # (B, H, W)
        for i, goal in enumerate(batch.extra["goal"]):
            free = np.argwhere(grid[i].numpy() > 0)
            free = free[(free[:, 0] != goal[0]) | (free[:, 1] != goal[1])]
            remove = removed > 0 and rng.random() < removed
            if len(free) == 0 and not remove:
                continue
            grid[i, goal[0], goal[1]] = FLOOR
            if not remove:
                row, col = (int(v) for v in free[rng.integers(len(free))])
                grid[i, row, col] = GOAL
        return {**batch.obs, "grid": grid}

    @staticmethod
    def after_events(
        batch: OracleBatch, rng: np.random.Generator, kinds: tuple[str, ...] = EVENT_KINDS
    ) -> tuple[OracleBatch, list[str]]:
        """The batch's mazes after one random event each (a door closing on the path from the
        maze's start, a shortcut opening, the goal moving: ``envs.maze_events``), with the plan
        after the event as targets.

        ``extra["distance"]`` is shaped for the wavefront loss counted from the event: a cell
        whose optimal moves the event left as they were holds distance 1 (known from the first
        round on: it must keep its move), a cell whose moves changed holds its new distance to
        the goal (the plan from scratch would have reached it by then, so it is surely known;
        news can travel no faster than that for a closed door, whose longer way round comes from
        the goal side), unreachable and wall cells -1. ``extra["goal_distance"]`` holds the plain
        new distances and ``extra["changed"]`` the cells whose moves changed.

        :param batch: a batch of this source (on the CPU), the mazes before the events.
        :param rng: the source of randomness.
        :param kinds: the event kinds drawn from.
        :return: the batch after the events, and each maze's event kind ("none" where none
            could happen).
        """
        grids = batch.obs["grid"].numpy().copy()  # (B, H, W)
        n, height, width = grids.shape
        optimal = np.zeros((n, height, width, len(MOVES)), dtype=bool)
        shaped = np.full((n, height, width), -1, dtype=np.int64)
        plain = np.full((n, height, width), -1, dtype=np.int64)
        changed = np.zeros((n, height, width), dtype=bool)
        before = batch.optimal.numpy()
        goals, event_kinds = [], []
        for i in range(n):
            rows, cols = np.nonzero(grids[i])
            bottom, right = int(rows.max()) + 2, int(cols.max()) + 2  # the maze and its border
            maze = grids[i, :bottom, :right]
            event = apply_random_event(
                maze, batch.extra["goal"][i], batch.extra["start"][i], rng, kinds
            )
            after = event.grid.copy()
            after[after > 0] = FLOOR
            after[event.goal] = GOAL
            grids[i, :bottom, :right] = after
            distances = distance_field(after, event.goal)
            moves = optimal_move_sets(after, event.goal, distances)  # (h, w, 4)
            optimal[i, :bottom, :right] = moves
            plain[i, :bottom, :right] = distances
            moved = (moves != before[i, :bottom, :right]).any(-1) & (distances > 0)
            changed[i, :bottom, :right] = moved
            shaped[i, :bottom, :right] = np.where(distances > 0, np.where(moved, distances, 1), -1)
            goals.append(tuple(int(v) for v in event.goal))
            event_kinds.append(event.kind)
        extra = dict(batch.extra)
        extra.update(
            goal=goals,
            distance=torch.from_numpy(shaped),
            goal_distance=torch.from_numpy(plain),
            changed=torch.from_numpy(changed),
        )
        after_batch = OracleBatch(
            obs={**batch.obs, "grid": torch.from_numpy(grids)},
            optimal=torch.from_numpy(optimal),
            cells=torch.from_numpy(optimal.any(-1)),
            difficulty=torch.from_numpy(plain.reshape(n, -1).max(axis=1).astype(np.float32)),
            extra=extra,
        )
        return after_batch, event_kinds

    def cell_logits(self, planner: PlannerNetwork, z: torch.Tensor) -> torch.Tensor:
        """Move logits at every cell.

        :param planner: the planner network (its move head).
        :param z: latent, (B, H, W, d).
        :return: (B, H, W, 4).
        """
        assert planner.move_head is not None
        return planner.move_head.forward_all(z)

    @staticmethod
    def greedy_success(logits: torch.Tensor, batch: OracleBatch) -> np.ndarray:
        """Follow the most likely move from the farthest cell; success on reaching the goal.

        :param logits: (B, H, W, 4).
        :param batch: the batch the logits belong to.
        :return: (B,) bool.
        """
        moves = logits.argmax(-1).cpu().numpy()
        grid = batch.obs["grid"].cpu().numpy()
        success = np.zeros(len(moves), dtype=bool)
        for i, (start, goal) in enumerate(
            zip(batch.extra["start"], batch.extra["goal"], strict=True)
        ):
            row, col = start
            for _ in range(int(grid[i].size)):
                if (row, col) == goal:
                    break
                d_row, d_col = MOVES[moves[i, row, col]]
                if grid[i, row + d_row, col + d_col] != 0:
                    row, col = row + d_row, col + d_col
            success[i] = (row, col) == goal
        return success


class SudokuOracle(OracleSource):
    """Unique-solution Sudoku puzzles with the solution digit at every blank cell.

    Difficulty is the number of blanks.

    :param env_id: a Sudoku env id (for the task description and board size).
    :param min_blanks: fewest blanks (start of the curriculum).
    :param max_blanks: most blanks (reached by the curriculum).
    :param curriculum: fraction of training over which the blanks grow to ``max_blanks``.
    """

    family = "sudoku"

    def __init__(
        self,
        env_id: str = "FPR/Sudoku-9x9-v0",
        min_blanks: int = 10,
        max_blanks: int = 45,
        curriculum: float = 0.3,
    ) -> None:
        super().__init__(env_id)
        self.size = int(self.task_description["grid_shape"][0])
        if not 1 <= min_blanks <= max_blanks <= self.size * self.size:
            raise ValueError(
                f"need 1 <= min_blanks <= max_blanks <= {self.size * self.size}, "
                f"got {min_blanks}, {max_blanks}"
            )
        self.min_blanks, self.max_blanks = min_blanks, max_blanks
        self.curriculum = curriculum

    def sample(self, batch_size: int, rng: np.random.Generator, progress: float) -> OracleBatch:
        """Draw puzzles and their solutions.

        :param batch_size: puzzles in the batch.
        :param rng: the source of randomness.
        :param progress: training progress in [0, 1].
        :return: the batch.
        """
        share = 1.0 if self.curriculum <= 0 else min(1.0, progress / self.curriculum)
        high = round(self.min_blanks + share * (self.max_blanks - self.min_blanks))
        return self.batch_from_blanks([(self.min_blanks, high)] * batch_size, rng)

    def batch_from_blanks(
        self,
        blanks: list[int | tuple[int, int]],
        rng: np.random.Generator,
        placed_share: float | None = None,
    ) -> OracleBatch:
        """One puzzle per entry of ``blanks``, shown as the env shows it mid-episode: a share of
        the blanks already filled with their solution digits, which (unlike the clues) are not
        marked ``given``.

        :param blanks: blanks wanted per puzzle (an int or a (low, high) range).
        :param rng: the source of randomness.
        :param placed_share: share of the blanks already placed; None draws it per puzzle,
            uniformly in [0, 1) (so half the time about half the board is the agent's).
        :return: the batch.
        """
        n, size = len(blanks), self.size
        boards = np.zeros((n, size, size), dtype=np.uint8)
        solutions = np.zeros((n, size, size), dtype=np.int64)
        given = np.zeros((n, size, size), dtype=np.uint8)
        for i, wanted in enumerate(blanks):
            puzzle, solution = generate_puzzle(size, wanted, rng)
            given[i] = puzzle > 0
            share = float(rng.random()) if placed_share is None else placed_share
            open_cells = np.flatnonzero(puzzle == 0)
            placed = rng.permutation(open_cells)[: int(share * len(open_cells))]
            puzzle.flat[placed] = solution.flat[placed]
            boards[i], solutions[i] = puzzle, solution
        optimal = np.zeros((n, size, size, size), dtype=bool)
        np.put_along_axis(optimal, (solutions - 1)[..., None], True, axis=-1)
        blank = boards == 0
        optimal &= blank[..., None]
        return OracleBatch(
            obs={"board": torch.from_numpy(boards), "given": torch.from_numpy(given)},
            optimal=torch.from_numpy(optimal),
            cells=torch.from_numpy(blank),
            difficulty=torch.from_numpy(blank.sum(axis=(1, 2)).astype(np.float32)),
            extra={},
        )

    def cell_logits(self, planner: PlannerNetwork, z: torch.Tensor) -> torch.Tensor:
        """Digit logits at every cell.

        :param planner: the planner network (its cell head).
        :param z: latent, (B, H, W, d).
        :return: (B, H, W, size).
        """
        assert planner.cell_head is not None
        return planner.cell_head.forward_cells(z)


# Concept families whose answer has the test input's shape (the canvas starts as the input).
SAME_SHAPE_FAMILIES = tuple(f for f in CONCEPT_FAMILIES if f not in ("scale_up", "crop"))


class ArcConceptOracle(OracleSource):
    """Generated ARC concept tasks with the answer's colour at every cell of the answer.

    Only families whose answer keeps the test input's size are drawn by default (a rotation of a
    non-square grid swaps its sides); ``any_shape`` allows every family, as the shape head's
    data (``train.arc_shape``) needs. The canvas is shown at the answer's shape, as after the
    oracle's resize, with a random share of its wrong cells already painted right. Resizing and
    submitting are not learned here: the shape head gives the size, the action rule
    (``fpr_agents.policy.arc_actions``) the actions. Difficulty is the concept difficulty (grid
    cells x composition depth).

    :param env_id: an ARC env id (for the task description, grid side and demo count).
    :param families: concept families to draw from (default: every same-shape family).
    :param max_depth: most transformations composed in one task.
    :param min_size: smallest input side.
    :param max_size: largest input side (at most the env's grid side).
    :param any_shape: also allow the families that change the grid's shape.
    """

    family = "arc"

    def __init__(
        self,
        env_id: str = "FPR/ARC-Concepts-v0",
        families: tuple[str, ...] | None = None,
        max_depth: int = 1,
        min_size: int = 3,
        max_size: int | None = None,
        any_shape: bool = False,
    ) -> None:
        super().__init__(env_id)
        self.side = int(self.task_description["grid_shape"][0])
        self.n_demos = self.stack_sizes.get("demo_inputs", 1)
        families = tuple(families or SAME_SHAPE_FAMILIES)
        allowed = CONCEPT_FAMILIES if any_shape else SAME_SHAPE_FAMILIES
        unknown = sorted(set(families) - set(allowed))
        if unknown:
            raise ValueError(
                f"families {unknown} change the grid's shape or are unknown; choose from {allowed}"
            )
        self.config = ConceptConfig(
            min_size=min_size,
            max_size=min(max_size or self.side, self.side),
            max_grid=self.side,
            families=families,
            max_depth=max_depth,
            n_demos=self.n_demos,
        )

    def sample(self, batch_size: int, rng: np.random.Generator, progress: float) -> OracleBatch:
        """Draw concept tasks, each canvas with a random share of its wrong cells painted right.

        :param batch_size: tasks in the batch.
        :param rng: the source of randomness.
        :param progress: unused (no curriculum).
        :return: the batch.
        """
        return self.batch(batch_size, rng, painted_share=None)

    def batch(
        self, batch_size: int, rng: np.random.Generator, painted_share: float | None
    ) -> OracleBatch:
        """Draw concept tasks.

        :param batch_size: tasks in the batch.
        :param rng: the source of randomness.
        :param painted_share: share of the canvas's wrong cells already painted right; None draws
            it per task, uniformly in [0, 1); 0 shows the canvas as the episode starts.
        :return: the batch; ``extra`` holds each answer's (h, w) and its transformations.
        """
        tasks = [generate_concept_task(rng, self.config) for _ in range(batch_size)]
        pairs = [
            ([(p["input"], p["output"]) for p in task["train"]],
             (task["test"][0]["input"], task["test"][0]["output"]))
            for task in tasks
        ]  # fmt: skip
        batch = self.batch_from_pairs(pairs, rng, painted_share)
        batch.difficulty = torch.tensor([float(task["difficulty"]) for task in tasks])
        batch.extra["transformations"] = [task["transformations"] for task in tasks]
        return batch

    def batch_from_pairs(
        self,
        tasks: list[tuple[list[tuple[np.ndarray, np.ndarray]], tuple[np.ndarray, np.ndarray]]],
        rng: np.random.Generator,
        painted_share: float | None = 0.0,
    ) -> OracleBatch:
        """A batch from given tasks (generated, or real ARC tasks whose grids fit the side).

        :param tasks: per task, its demonstration pairs and its test pair, (input, output) grids.
        :param rng: the source of randomness (for the painted share).
        :param painted_share: as in :meth:`batch`.
        :return: the batch; difficulty is the answer's cell count.
        """
        n, side, k = len(tasks), self.side, self.n_demos
        demo_in = np.full((n, k, side, side), PADDING_SYMBOL, dtype=np.uint8)
        demo_out = np.full((n, k, side, side), PADDING_SYMBOL, dtype=np.uint8)
        test_in = np.full((n, side, side), PADDING_SYMBOL, dtype=np.uint8)
        canvas = np.full((n, side, side), PADDING_SYMBOL, dtype=np.uint8)
        answer = np.zeros((n, side, side), dtype=np.int64)
        cells = np.zeros((n, side, side), dtype=bool)
        shapes: list[tuple[int, int]] = []
        # Extents as the env lists them: K demo inputs, K demo outputs, test input, canvas.
        extents = np.zeros((n, 2 * k + 2, 2), dtype=np.uint8)
        for i, (demos, (grid_in, grid_out)) in enumerate(tasks):
            for j, (demo_input, demo_output) in enumerate(demos[:k]):
                pad_grid(demo_input, side, demo_in[i, j])
                pad_grid(demo_output, side, demo_out[i, j])
                extents[i, j] = demo_input.shape
                extents[i, k + j] = demo_output.shape
            h, w = grid_out.shape
            extents[i, 2 * k] = grid_in.shape
            extents[i, 2 * k + 1] = (h, w)
            pad_grid(grid_in, side, test_in[i])
            # The canvas as after the oracle's resize (overlap kept, new cells 0), then a share
            # of its wrong cells painted right.
            board = np.zeros((h, w), dtype=np.uint8)
            rows, cols = min(h, grid_in.shape[0]), min(w, grid_in.shape[1])
            board[:rows, :cols] = grid_in[:rows, :cols]
            wrong = np.flatnonzero(board != grid_out)
            share = float(rng.random()) if painted_share is None else painted_share
            fixed = rng.permutation(wrong)[: int(share * len(wrong))]
            board.flat[fixed] = grid_out.flat[fixed]
            pad_grid(board, side, canvas[i])
            answer[i, :h, :w] = grid_out
            cells[i, :h, :w] = True
            shapes.append((h, w))
        optimal = np.zeros((n, side, side, 10), dtype=bool)
        np.put_along_axis(optimal, answer[..., None], True, axis=-1)
        optimal &= cells[..., None]
        return OracleBatch(
            obs={
                "demo_inputs": torch.from_numpy(demo_in),
                "demo_outputs": torch.from_numpy(demo_out),
                "test_input": torch.from_numpy(test_in),
                "canvas": torch.from_numpy(canvas),
                self.task_description["shapes_key"]: torch.from_numpy(extents.reshape(n, -1)),
            },
            optimal=torch.from_numpy(optimal),
            cells=torch.from_numpy(cells),
            difficulty=torch.from_numpy(cells.sum(axis=(1, 2)).astype(np.float32)),
            extra={"answer_shape": shapes},
        )

    def cell_logits(self, planner: PlannerNetwork, z: torch.Tensor) -> torch.Tensor:
        """Colour logits at every cell.

        :param planner: the planner network (its cell head).
        :param z: latent, (B, H, W, d).
        :return: (B, H, W, 10).
        """
        assert planner.cell_head is not None
        return planner.cell_head.forward_cells(z)


ORACLES: Mapping[str, type[OracleSource]] = {
    "maze": MazeOracle,
    "sudoku": SudokuOracle,
    "arc": ArcConceptOracle,
}
