"""The Maze environment, its generators and its grid algorithms.

The checkers here do not reuse the code under test: connectivity comes from ``scipy.ndimage.label``
and distances from ``scipy.sparse.csgraph``.
"""

from __future__ import annotations

import pickle
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from hypothesis import given, settings
from hypothesis import strategies as st
from minigrid.core.grid import Grid
from minigrid.minigrid_env import MiniGridEnv
from scipy import ndimage
from scipy.sparse.csgraph import shortest_path
from stable_baselines3.common.env_checker import check_env as sb3_check_env
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

import envs
from envs.maze import (
    MOVES,
    REGISTRATIONS,
    MazeEnv,
    distance_field,
    parse_layout,
    shortest_path_actions,
)
from envs.maze_generators import (
    CAVE_MIN_SHARE,
    MAZE_GENERATORS,
    PERFECT_MAZE_GENERATORS,
    component_labels,
    generate_maze,
    largest_component,
)
from tests.envs.graph_checks import free_graph, scipy_distances

CORRIDOR = """
#####
#S.G#
#####
"""

LOOP = """
#######
#S....#
#.###.#
#.....#
#####G#
#######
"""


# ---- independent checkers ------------------------------------------------------------------


def _count_edges(free: np.ndarray) -> int:
    return int((free[1:, :] & free[:-1, :]).sum() + (free[:, 1:] & free[:, :-1]).sum())


def _n_components(free: np.ndarray) -> int:
    _, count = ndimage.label(free, structure=[[0, 1, 0], [1, 1, 1], [0, 1, 0]])
    return int(count)


def _grid(obs: dict, env: gym.Env) -> np.ndarray:
    """The observed grid, restored to ``(H, W)`` from its flat row-major ``(H * W,)`` form with
    the env's ``task_description["grid_shape"]`` (docs/interfaces.md, section 1)."""
    height, width = env.unwrapped.task_description["grid_shape"]
    flat = obs["grid"]
    assert flat.shape == (height * width,)  # every observation Box is 1-D
    return flat.reshape(height, width)  # (H, W)


def _goal_of(grid: np.ndarray) -> tuple[int, int]:
    rows, cols = np.nonzero(grid == 2)
    assert len(rows) == 1
    return int(rows[0]), int(cols[0])


def _run_oracle(env: gym.Env, info: dict) -> tuple[int, float, bool, dict]:
    """Follow the oracle from a reset (whose ``info`` is given) to the end of the episode; check
    that the difficulty falls by one per step."""
    expected = info["difficulty"]
    steps, reward, terminated, truncated = 0, 0.0, False, False
    while not (terminated or truncated):
        _, reward, terminated, truncated, info = env.step(env.unwrapped.oracle_action())
        steps += 1
        expected -= 1
        assert info["difficulty"] == expected
    return steps, float(reward), terminated, info


# ---- generators ----------------------------------------------------------------------------


@settings(max_examples=120, deadline=None)
@given(
    generator=st.sampled_from(PERFECT_MAZE_GENERATORS),
    cells_per_side=st.integers(2, 20),
    seed=st.integers(0, 2**32 - 1),
    extra=st.one_of(st.just(0.0), st.floats(0.0, 1.0)),
)
def test_generated_mazes_are_connected_and_perfect_without_openings(
    generator: str, cells_per_side: int, seed: int, extra: float
) -> None:
    size = 2 * cells_per_side + 1
    maze = generate_maze(size, np.random.default_rng(seed), generator, extra)
    assert maze.shape == (size, size) and maze.dtype == np.uint8
    assert set(np.unique(maze)) <= {0, 1}
    free = maze == 1
    assert not free[0].any() and not free[-1].any() and not free[:, 0].any()
    assert not free[:, -1].any()
    assert free[1::2, 1::2].all()  # every cell is part of the maze
    assert not free[::2, ::2].any()  # lattice corners stay walls
    assert _n_components(free) == 1  # solvable between any two squares
    n_nodes, n_edges = int(free.sum()), _count_edges(free)
    n_cells = cells_per_side**2
    n_cell_walls = 2 * cells_per_side * (cells_per_side - 1)
    loops = n_edges - n_nodes + 1  # independent cycles of a connected graph
    assert loops == round(extra * (n_cell_walls - (n_cells - 1)))
    if extra == 0.0:
        assert n_edges == n_nodes - 1  # a tree: exactly one route between two squares


@pytest.mark.parametrize("generator", PERFECT_MAZE_GENERATORS)
def test_largest_registered_size_is_a_tree(generator: str) -> None:
    maze = generate_maze(101, np.random.default_rng(5), generator)
    free = maze == 1
    assert _n_components(free) == 1
    assert _count_edges(free) == int(free.sum()) - 1


def test_generators_differ_in_shape() -> None:
    """The backtracker's corridors are longer: fewer dead ends than Kruskal's or Prim's."""

    def dead_ends(generator: str) -> int:
        total = 0
        for seed in range(5):
            free = generate_maze(31, np.random.default_rng(seed), generator) == 1
            padded = np.pad(free, 1)
            degree = sum(
                np.roll(padded, shift, axis)[1:-1, 1:-1] for shift in (1, -1) for axis in (0, 1)
            )
            total += int((free & (degree == 1)).sum())
        return total

    assert dead_ends("backtracker") < dead_ends("kruskal")
    assert dead_ends("backtracker") < dead_ends("prim")


def test_generation_is_seeded() -> None:
    assert {"rooms", "caves"} <= set(MAZE_GENERATORS)
    for generator in MAZE_GENERATORS:
        a = generate_maze(21, np.random.default_rng(3), generator, 0.2)
        b = generate_maze(21, np.random.default_rng(3), generator, 0.2)
        c = generate_maze(21, np.random.default_rng(4), generator, 0.2)
        assert np.array_equal(a, b) and not np.array_equal(a, c)


def _room_squares(free: np.ndarray) -> np.ndarray:
    """Squares of some all-free 2x2 block: on the cell lattice only a room's inside has them."""
    blocks = free[:-1, :-1] & free[1:, :-1] & free[:-1, 1:] & free[1:, 1:]
    inside = np.zeros(free.shape, dtype=bool)
    for dr in (0, 1):
        for dc in (0, 1):
            inside[dr : dr + blocks.shape[0], dc : dc + blocks.shape[1]] |= blocks
    return inside


def _loops_between_rooms(free: np.ndarray) -> int:
    """Independent cycles of the free squares once each room is shrunk to one node (loops that
    run through doorways and corridors, not only inside a room)."""
    rooms, n_rooms = ndimage.label(_room_squares(free), structure=[[0, 1, 0], [1, 1, 1], [0, 1, 0]])
    node = -np.ones(free.shape, dtype=np.int64)
    node[rooms > 0] = rooms[rooms > 0] - 1
    others = free & (rooms == 0)
    node[others] = n_rooms + np.arange(others.sum())
    n_nodes = n_rooms + int(others.sum())
    pairs = [
        (node[:-1, :][free[:-1, :] & free[1:, :]], node[1:, :][free[:-1, :] & free[1:, :]]),
        (node[:, :-1][free[:, :-1] & free[:, 1:]], node[:, 1:][free[:, :-1] & free[:, 1:]]),
    ]
    n_edges = sum(int((a != b).sum()) for a, b in pairs)  # edges inside one room do not count
    return n_edges - n_nodes + _n_components(free)


@settings(max_examples=80, deadline=None)
@given(cells_per_side=st.integers(2, 25), seed=st.integers(0, 2**32 - 1))
def test_room_mazes_are_connected_with_open_rooms_and_loops_between_them(
    cells_per_side: int, seed: int
) -> None:
    size = 2 * cells_per_side + 1
    maze = generate_maze(size, np.random.default_rng(seed), "rooms")
    assert maze.shape == (size, size) and maze.dtype == np.uint8
    assert set(np.unique(maze)) <= {0, 1}
    free = maze == 1
    assert not (free[0].any() or free[-1].any() or free[:, 0].any() or free[:, -1].any())
    assert free[1::2, 1::2].all()  # every cell is floor, in a room or on a corridor
    assert _n_components(free) == 1
    # at least one room several squares wide: a 3x3 block of floor
    blocks = sum(free[dr : size - 2 + dr, dc : size - 2 + dc] for dr in range(3) for dc in range(3))
    assert (blocks == 9).any()
    assert _count_edges(free) - int(free.sum()) + 1 > 0  # a cycle
    if cells_per_side >= 3:  # a single room fills the 2x2 lattice
        assert _loops_between_rooms(free) >= 1  # two routes between some rooms


@settings(max_examples=60, deadline=None)
@given(size=st.sampled_from([5, 7, 9, 15, 21, 33, 51]), seed=st.integers(0, 2**32 - 1))
def test_caves_have_a_main_component_that_holds_most_of_the_floor(size: int, seed: int) -> None:
    maze = generate_maze(size, np.random.default_rng(seed), "caves")
    assert maze.shape == (size, size) and maze.dtype == np.uint8
    assert set(np.unique(maze)) <= {0, 1}
    free = maze == 1
    assert not (free[0].any() or free[-1].any() or free[:, 0].any() or free[:, -1].any())
    labels, _ = ndimage.label(free, structure=[[0, 1, 0], [1, 1, 1], [0, 1, 0]])
    largest = np.bincount(labels.ravel())[1:].max()
    assert largest >= 2 and largest >= CAVE_MIN_SHARE * free.sum()
    main = largest_component(maze)
    assert int(main.sum()) == largest and _n_components(main) == 1 and (free | ~main).all()


def test_caves_hold_open_areas_loops_and_pockets() -> None:
    mazes = [generate_maze(33, np.random.default_rng(seed), "caves") == 1 for seed in range(10)]
    for free in mazes:
        loops = _count_edges(free) - int(free.sum()) + _n_components(free)
        assert loops > 20
        assert (free[:-1, :-1] & free[1:, :-1] & free[:-1, 1:] & free[1:, 1:]).any()  # open areas
    assert sum(_n_components(free) > 1 for free in mazes) >= 8  # unreachable pockets


def test_component_labels_match_scipy() -> None:
    for seed in range(20):
        grid = (np.random.default_rng(seed).random((9, 13)) < 0.5).astype(np.uint8)
        ours = component_labels(grid)
        theirs, count = ndimage.label(grid, structure=[[0, 1, 0], [1, 1, 1], [0, 1, 0]])
        assert ours.max() == count
        # the same partition (scipy numbers components in the same row-major order)
        np.testing.assert_array_equal(ours, theirs)
    assert not largest_component(np.zeros((3, 3), dtype=np.uint8)).any()


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"size": 4}, "odd integer >= 5"),
        ({"size": 3}, "odd integer >= 5"),
        ({"size": 7.0}, "odd integer >= 5"),
        ({"size": 7, "generator": "eller"}, "unknown maze generator"),
        ({"size": 7, "extra_openings": 1.5}, "extra_openings"),
    ],
)
def test_generator_rejects_bad_arguments(kwargs: dict, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        generate_maze(rng=np.random.default_rng(0), **kwargs)


# ---- grid algorithms -----------------------------------------------------------------------


@st.composite
def _grids_with_goal(draw: st.DrawFn) -> tuple[np.ndarray, tuple[int, int]]:
    height, width = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    bits = draw(st.lists(st.booleans(), min_size=height * width, max_size=height * width))
    grid = np.array(bits, dtype=np.uint8).reshape(height, width)
    goal = (draw(st.integers(0, height - 1)), draw(st.integers(0, width - 1)))
    grid[goal] = 2
    return grid, goal


@settings(max_examples=150, deadline=None)
@given(case=_grids_with_goal())
def test_distance_field_and_oracle_field_match_scipy(case: tuple) -> None:
    grid, goal = case
    distances = distance_field(grid, goal)
    assert np.array_equal(distances, scipy_distances(grid, goal))
    actions = shortest_path_actions(grid, goal)
    height, width = grid.shape
    for r in range(height):
        for c in range(width):
            if distances[r, c] <= 0:  # wall, unreachable or the goal
                assert actions[r, c] == -1
                continue
            optimal = [
                a
                for a, (dr, dc) in enumerate(MOVES)
                if 0 <= r + dr < height
                and 0 <= c + dc < width
                and distances[r + dr, c + dc] == distances[r, c] - 1
            ]
            assert actions[r, c] == optimal[0]  # the first optimal move in MOVES order


def test_distance_field_rejects_bad_goal() -> None:
    grid = np.ones((3, 3), dtype=np.uint8)
    grid[1, 1] = 0
    with pytest.raises(ValueError, match="is a wall"):
        distance_field(grid, (1, 1))
    with pytest.raises(ValueError, match="outside"):
        distance_field(grid, (3, 0))


# ---- layouts -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("layout", "pattern"),
    [
        ("#####\n#S.G#\n####", r"row 2 has 4 columns but row 0 has 5"),
        ("#####\n#S.G#\n#x###\n#####", r"'x' at row 2, column 1"),
        ("#####\n#S.G#\n#S###\n#####", r"second 'S' at row 2, column 1 .*row 1, column 1"),
        ("#####\n#SGG#\n#####", r"second 'G' at row 1, column 3 .*row 1, column 2"),
        ("#####\n#..G#\n#####", r"no 'S'"),
        ("#####\n#S..#\n#####", r"no 'G'"),
        ("######\n#S#.G#\n######", r"'G' at row 1, column 4 .*'S' at row 1, column 1"),
        ("SG\n..", r"2 rows x 2 columns"),
        ("", r"empty"),
        ([[0, 0, 0], [0, 3, 2], [0, 0]], r"row 2 has 2 columns but row 0 has 3"),
        ([[0, 0, 0, 0], [0, 3, 7, 2], [0, 0, 0, 0]], r"7 at row 1, column 2"),
        (np.array([[0, 0, 0, 0], [0, 3, 1, 2], [0, 0, 0, 0]]) * 1.0, r"0.0 at row 0, column 0"),
        (np.zeros((2, 3, 3), dtype=int), r"must be 2-D"),
    ],
)
def test_bad_layouts_say_where(layout: object, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        parse_layout(layout)
    with pytest.raises(ValueError, match=pattern):
        gym.make("FPR/Maze-v0", layout=layout)


def test_layout_forms_agree() -> None:
    ascii_maze, start, goal = parse_layout("\n    #####\n    #S.G#\n    #####\n")
    as_rows, start_rows, goal_rows = parse_layout(["#####", "#S.G#", "#####"])
    ints = np.array([[0, 0, 0, 0, 0], [0, 3, 1, 2, 0], [0, 0, 0, 0, 0]])
    as_ints, start_ints, goal_ints = parse_layout(ints)
    assert start == start_rows == start_ints == (1, 1)
    assert goal == goal_rows == goal_ints == (1, 3)
    expected = np.array([[0] * 5, [0, 1, 1, 1, 0], [0] * 5], dtype=np.uint8)
    for maze in (ascii_maze, as_rows, as_ints):
        assert np.array_equal(maze, expected)


def test_user_layout_episode() -> None:
    env = gym.make("FPR/Maze-v0", layout=LOOP, max_episode_steps=4 * 6 * 7)
    obs, info = env.reset(seed=0)
    assert obs["grid"].shape == (6 * 7,)  # non-square, flattened
    assert env.unwrapped.task_description["grid_shape"] == [6, 7]
    maze, _, _ = parse_layout(LOOP)
    expected = maze.copy()
    expected[4, 5] = 2
    assert np.array_equal(_grid(obs, env), expected)  # row-major: rows of the layout in order
    assert obs["agent"].tolist() == [1, 1] and _goal_of(_grid(obs, env)) == (4, 5)
    assert info == {"difficulty": 7, "optimal_steps": 7, "is_success": False}
    steps, reward, terminated, _ = _run_oracle(env, info)
    assert terminated and steps == 7
    assert reward == pytest.approx(1 - 0.9 * 7 / (4 * 6 * 7))
    obs_again, _ = env.reset(seed=1)
    assert np.array_equal(obs_again["grid"], obs["grid"])  # the user's maze every episode


def test_layout_without_border_bumps_at_the_edge() -> None:
    env = MazeEnv(layout="S..\n..#\n#.G")
    env.reset(seed=0)
    assert env.action_masks().tolist() == [False, True, True, False]
    obs, *_ = env.step(0)  # up, off the grid
    assert obs["agent"].tolist() == [0, 0]


# ---- episodes ------------------------------------------------------------------------------


@pytest.mark.parametrize("generator", MAZE_GENERATORS)
@pytest.mark.parametrize("placement", ["random", "far"])
@pytest.mark.parametrize("size", [5, 9, 21])
def test_oracle_reaches_goal_in_optimal_steps(generator: str, placement: str, size: int) -> None:
    env = gym.make(
        "FPR/Maze-v0", size=size, generator=generator, placement=placement, extra_openings=0.15
    )
    env.reset(seed=size)
    for _ in range(4):
        obs, info = env.reset()
        start = tuple(obs["agent"].tolist())
        optimal = info["optimal_steps"]
        grid = _grid(obs, env)
        assert optimal == scipy_distances(grid, _goal_of(grid))[start] > 0
        steps, reward, terminated, final_info = _run_oracle(env, info)
        assert terminated and steps == optimal
        assert final_info["is_success"] and final_info["difficulty"] == 0
        assert reward == pytest.approx(1 - 0.9 * optimal / (4 * size * size))


def _components(grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """scipy's 4-connected labels of the free squares and each label's size (index 0: walls)."""
    labels, _ = ndimage.label(grid != 0, structure=[[0, 1, 0], [1, 1, 1], [0, 1, 0]])
    return labels, np.bincount(labels.ravel())


@pytest.mark.parametrize("placement", ["random", "far"])
def test_caves_place_start_and_goal_in_one_component(placement: str) -> None:
    env = MazeEnv(size=15, generator="caves", placement=placement)
    env.reset(seed=0)
    pockets = 0
    for _ in range(30):
        obs, info = env.reset()
        grid = _grid(obs, env)
        goal, start = _goal_of(grid), tuple(obs["agent"].tolist())
        distances = scipy_distances(grid, goal)
        assert info["difficulty"] == info["optimal_steps"] == distances[start] > 0
        pockets += int(((grid != 0) & (distances < 0)).any())
        if placement == "far":  # in the largest component
            labels, sizes = _components(grid)
            assert labels[goal] == sizes[1:].argmax() + 1
        steps, _, terminated, final = _run_oracle(env, info)
        assert terminated and steps == distances[start] and final["is_success"]
    assert pockets > 10  # most caves hold squares that cannot reach the goal


@pytest.mark.parametrize("placement", ["random", "far"])
def test_an_end_fixed_in_a_pocket_gets_its_partner_there(placement: str) -> None:
    env = MazeEnv(size=15, generator="caves", placement=placement)
    checked = 0
    for seed in range(40):
        obs, _ = env.reset(seed=seed)
        grid = _grid(obs, env)
        labels, sizes = _components(grid)
        main = sizes[1:].argmax() + 1
        for label in np.flatnonzero(sizes[1:] >= 2) + 1:
            if label == main:
                continue
            square = tuple(int(v) for v in np.argwhere(labels == label)[0])
            obs, info = env.reset(seed=seed, options={"start": square})
            assert labels[_goal_of(_grid(obs, env))] == label and info["difficulty"] > 0
            obs, info = env.reset(seed=seed, options={"goal": square})
            assert labels[tuple(obs["agent"].tolist())] == label and info["difficulty"] > 0
            checked += 1
        for label in np.flatnonzero(sizes[1:] == 1) + 1:
            square = tuple(int(v) for v in np.argwhere(labels == label)[0])
            with pytest.raises(ValueError, match=r"no other square can be reached from the goal"):
                env.reset(seed=seed, options={"goal": square})
            checked += 1
    assert checked >= 10


def test_far_placement_spans_the_tree() -> None:
    """On a perfect maze, two BFS sweeps find a longest shortest path (the diameter)."""
    env = MazeEnv(size=11, generator="kruskal", placement="far")
    for seed in range(5):
        obs, info = env.reset(seed=seed)
        adjacency, _ = free_graph(_grid(obs, env))
        diameter = shortest_path(adjacency, unweighted=True).max()
        assert info["optimal_steps"] == diameter


def test_reset_options_fix_start_and_goal() -> None:
    env = MazeEnv(size=9)
    obs, info = env.reset(seed=0, options={"start": (1, 1), "goal": (7, 7)})
    assert obs["agent"].tolist() == [1, 1] and _goal_of(_grid(obs, env)) == (7, 7)
    assert info["optimal_steps"] == scipy_distances(_grid(obs, env), (7, 7))[1, 1]
    obs, _ = env.reset(seed=1, options={"goal": (1, 1)})
    assert _goal_of(_grid(obs, env)) == (1, 1) and obs["agent"].tolist() != [1, 1]
    obs, _ = env.reset(seed=2, options={"start": (7, 7)})
    assert obs["agent"].tolist() == [7, 7] and _goal_of(_grid(obs, env)) != (7, 7)
    layout_env = MazeEnv(layout=LOOP)
    obs, info = layout_env.reset(options={"start": (3, 1)})
    assert obs["agent"].tolist() == [3, 1] and info["optimal_steps"] == 5
    obs, info = layout_env.reset(options={"goal": (1, 5)})  # the layout's start, a new goal
    assert _goal_of(_grid(obs, layout_env)) == (1, 5) and info["optimal_steps"] == 4
    assert layout_env.oracle_action() == 1


@pytest.mark.parametrize(
    ("options", "pattern"),
    [
        ({"start": (0, 0)}, r"start \(row 0, column 0\) is a wall"),
        ({"goal": (1, 1), "start": (1, 1)}, r"same square \(row 1, column 1\)"),
        ({"goal": (9, 1)}, r"outside the 9 x 9 grid"),
        ({"goal": "corner"}, r"\(row, col\) pair"),
        ({"agent": (1, 1)}, r"unknown reset options"),
    ],
)
def test_bad_reset_options(options: dict, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        MazeEnv(size=9).reset(seed=0, options=options)


def test_unreachable_goal_option_is_refused() -> None:
    env = MazeEnv(layout="#######\n#S.#..#\n#.G#..#\n#######")
    with pytest.raises(ValueError, match=r"goal \(row 1, column 4\) cannot be reached"):
        env.reset(options={"goal": (1, 4)})


def test_rewards_bumps_and_truncation() -> None:
    env = gym.make("FPR/Maze-v0", layout=CORRIDOR)
    obs, info = env.reset(seed=0)
    max_steps = env.unwrapped.max_steps
    assert max_steps == 4 * 3 * 5
    assert info == {"difficulty": 2, "optimal_steps": 2, "is_success": False}
    obs, reward, terminated, truncated, info = env.step(0)  # up: a wall
    assert obs["agent"].tolist() == [1, 1] and reward == 0.0 and not terminated and not truncated
    assert env.unwrapped.step_count == 1 and info["difficulty"] == 2
    obs, reward, terminated, _, info = env.step(1)
    assert obs["agent"].tolist() == [1, 2] and reward == 0.0 and not terminated
    obs, reward, terminated, truncated, info = env.step(1)
    assert terminated and not truncated and info["is_success"] and info["difficulty"] == 0
    assert reward == pytest.approx(1 - 0.9 * 3 / max_steps)

    short = MazeEnv(layout=CORRIDOR, max_steps=2)
    short.reset()
    assert short.step(3)[3] is False
    _, reward, terminated, truncated, info = short.step(3)
    assert truncated and not terminated and reward == 0.0 and not info["is_success"]


def test_action_masks_match_bumps() -> None:
    env = MazeEnv(size=11, generator="prim", extra_openings=0.3)
    obs, _ = env.reset(seed=4)
    rng = np.random.default_rng(0)
    for _ in range(200):
        mask = env.action_masks()
        assert mask.dtype == np.bool_ and mask.shape == (4,) and mask.any()
        for action in range(4):
            clone = pickle.loads(pickle.dumps(env))
            moved, *_ = clone.step(action)
            assert (moved["agent"].tolist() != obs["agent"].tolist()) == mask[action]
        obs, *_ = env.step(int(rng.choice(np.flatnonzero(mask))))


def test_oracle_at_goal_and_before_reset() -> None:
    env = MazeEnv(layout=CORRIDOR)
    with pytest.raises(RuntimeError, match="reset"):
        env.action_masks()
    with pytest.raises(RuntimeError, match="reset"):
        env.oracle_action()
    env.reset()
    env.step(1)
    env.step(1)
    assert env.oracle_action() == 3  # on the goal: the only valid move


def test_invalid_action_is_refused() -> None:
    env = MazeEnv(size=5)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action must be in 0\.\.3"):
        env.step(4)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"size": 8}, "odd integer"),
        ({"generator": "wilson"}, "unknown maze generator"),
        ({"extra_openings": -0.1}, "extra_openings"),
        ({"placement": "corners"}, "unknown placement"),
        ({"render_mode": "human"}, "unknown render_mode"),
        ({"max_steps": 0}, "max_steps"),
    ],
)
def test_bad_constructor_arguments(kwargs: dict, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        MazeEnv(**kwargs)


def test_seeded_determinism() -> None:
    def trajectory(seed: int) -> list[bytes]:
        env = gym.make("FPR/Maze-Branching-15x15-v0")
        obs, _ = env.reset(seed=seed)
        trace = [obs["grid"].tobytes() + obs["agent"].tobytes()]
        for action in [1, 2, 2, 3, 0, 1, 1, 2] * 5:
            obs, reward, terminated, _, info = env.step(action)
            trace.append(obs["agent"].tobytes() + repr((reward, terminated, info)).encode())
        obs, _ = env.reset()  # the next maze comes from the same generator state
        trace.append(obs["grid"].tobytes())
        return trace

    assert trajectory(11) == trajectory(11)
    assert trajectory(11)[0] != trajectory(12)[0]


# ---- MiniGrid, rendering -------------------------------------------------------------------


def test_minigrid_grid_mirrors_the_observation() -> None:
    env = MazeEnv(size=9)
    obs, _ = env.reset(seed=3)
    assert isinstance(env, MiniGridEnv) and isinstance(env.grid, Grid)
    object_ids = env.grid.encode()[:, :, 0].T  # MiniGrid encodes (x, y); transpose to (row, col)
    grid = _grid(obs, env)  # (H, W)
    expected = np.select([grid == 0, grid == 2], [2, 8], 1)  # wall 2, goal 8, empty 1
    assert np.array_equal(object_ids, expected)
    row, col = obs["agent"].tolist()
    assert tuple(env.agent_pos) == (col, row)
    obs, _ = env.reset()  # a new maze: the MiniGrid grid follows
    assert np.array_equal(env.grid.encode()[:, :, 0].T == 2, _grid(obs, env) == 0)


def test_rgb_render_draws_the_agent() -> None:
    env = gym.make("FPR/Maze-v0", layout=CORRIDOR, render_mode="rgb_array", tile_size=8)
    env.reset()
    image = env.render()
    assert image.shape == (3 * 8, 5 * 8, 3) and image.dtype == np.uint8

    def tile(img: np.ndarray, row: int, col: int) -> np.ndarray:
        return img[row * 8 : (row + 1) * 8, col * 8 : (col + 1) * 8]

    assert not np.array_equal(tile(image, 1, 1), tile(image, 1, 2))  # agent vs. empty floor
    env.step(1)
    moved = env.render()
    assert np.array_equal(tile(moved, 1, 1), tile(image, 1, 2))  # the start is floor again
    assert np.array_equal(tile(moved, 1, 2), tile(image, 1, 1))  # the agent, still facing right


def test_ansi_render() -> None:
    env = MazeEnv(layout=CORRIDOR, render_mode="ansi")
    assert env.render() == "?????\n?????\n?????"
    env.reset()
    assert env.render() == "#####\n#A.G#\n#####"
    env.step(1)
    env.step(1)
    assert env.render() == "#####\n#..A#\n#####"


# ---- registration and checkers -------------------------------------------------------------


def test_registered_ids() -> None:
    ids = {spec["id"] for spec in REGISTRATIONS}
    expected = {f"FPR/Maze-{n}x{n}-v0" for n in (9, 11, 13, 15, 17, 21, 25, 33, 59, 101)}
    expected |= {f"FPR/Maze-Rooms-{n}x{n}-v0" for n in (15, 33)}
    expected |= {f"FPR/Maze-Caves-{n}x{n}-v0" for n in (15, 33, 51)}
    assert expected | {"FPR/Maze-v0", "FPR/Maze-Branching-15x15-v0"} == ids
    assert ids <= set(envs.registered_ids())
    for spec in REGISTRATIONS:
        env = gym.make(spec["id"])
        size = spec["kwargs"]["size"]
        assert env.spec.max_episode_steps == env.unwrapped.max_steps == 4 * size * size
        assert env.observation_space["grid"].shape == (size * size,)
        env.close()


def test_task_description() -> None:
    env = gym.make("FPR/Maze-11x11-v0")
    obs, _ = env.reset(seed=0)
    assert env.unwrapped.task_description == {
        "family": "maze",
        "grid_shape": [11, 11],
        "grid_keys": {"grid": 3},
        "valid_key": None,
        "action_layout": "move_at_agent",
        "moves": [[-1, 0], [0, 1], [1, 0], [0, -1]],
        "agent_key": "agent",
    }
    assert obs["grid"].max() == 2 and obs["agent"].shape == (2,)


def test_checkers_pass_without_any_warning() -> None:
    """With every observation Box 1-D, neither Gymnasium's nor SB3's checker warns at all."""
    env = gym.make("FPR/Maze-9x9-v0")
    for name, check in (
        ("gymnasium", lambda: gym_check_env(env.unwrapped, skip_render_check=False)),
        ("sb3", lambda: sb3_check_env(env, warn=True)),
    ):
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            check()
        messages = [f"{w.category.__name__}: {w.message}" for w in record]
        assert messages == [], f"{name} check_env warned: {messages}"


def test_pickle_round_trip_mid_episode() -> None:
    env = gym.make("FPR/Maze-v0")
    env.reset(seed=8)
    for action in (0, 1, 2, 3):
        env.step(action)
    clone = pickle.loads(pickle.dumps(env))
    for _ in range(20):
        action = env.unwrapped.oracle_action()
        assert clone.unwrapped.oracle_action() == action
        a, b = env.step(action), clone.step(action)
        assert np.array_equal(a[0]["agent"], b[0]["agent"]) and a[1:] == b[1:]
        if a[2]:
            break


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_gymnasium_vector_env(mode: str) -> None:
    vec = gym.make_vec("FPR/Maze-9x9-v0", num_envs=2, vectorization_mode=mode)
    obs, info = vec.reset(seed=0)
    assert obs["grid"].shape == (2, 9 * 9) and info["difficulty"].shape == (2,)
    obs, reward, terminated, truncated, info = vec.step(np.array([0, 1]))
    assert reward.shape == terminated.shape == truncated.shape == (2,)
    assert obs["agent"].shape == (2, 2) and info["is_success"].shape == (2,)
    vec.close()


@pytest.mark.parametrize(
    "vec_cls", [DummyVecEnv, pytest.param(SubprocVecEnv, marks=pytest.mark.slow)]
)
def test_sb3_vector_env(vec_cls: type) -> None:
    # "envs:" imports the package (and so registers the ids) in a fresh worker process too.
    vec = vec_cls([lambda: gym.make("envs:FPR/Maze-9x9-v0") for _ in range(2)])
    vec.seed(0)
    obs = vec.reset()
    assert obs["grid"].shape == (2, 9 * 9)
    actions = np.array(vec.env_method("oracle_action"))
    _, rewards, dones, infos = vec.step(actions)
    assert rewards.shape == (2,) and dones.shape == (2,)
    assert all({"difficulty", "is_success", "optimal_steps"} <= set(info) for info in infos)
    vec.close()
