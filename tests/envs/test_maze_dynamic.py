"""The dynamic Maze: events at seeded steps, the oracle after each, infos, rendering, ids.

Distances in the checks come from scipy (``tests.envs.graph_checks``), not from the env.
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
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import envs
from envs.maze import MOVES, MazeEnv
from envs.maze_dynamic import REGISTRATIONS, DynamicMazeEnv
from envs.maze_events import EVENT_KINDS
from tests.envs.graph_checks import scipy_distances

DYNAMIC_IDS = [spec["id"] for spec in REGISTRATIONS]
PERFECT = """
#######
#S....#
#####.#
#G....#
#######
"""


def _grid(obs: dict, env: gym.Env) -> np.ndarray:
    return obs["grid"].reshape(env.unwrapped.task_description["grid_shape"])  # (H, W)


def _goal_of(grid: np.ndarray) -> tuple[int, int]:
    rows, cols = np.nonzero(grid == 2)
    assert len(rows) == 1
    return int(rows[0]), int(cols[0])


def _follow_oracle(env: gym.Env, obs: dict, info: dict) -> list[dict]:
    """Follow the oracle to the end; at every step check against scipy that its move is optimal
    in the maze it observed and that the difficulty is the distance in the maze it observes now.

    :return: the step infos.
    """
    infos = []
    terminated = truncated = False
    while not (terminated or truncated):
        grid = _grid(obs, env)
        distances = scipy_distances(grid, _goal_of(grid))
        row, col = obs["agent"].tolist()
        assert info["difficulty"] == distances[row, col] > 0
        action = env.unwrapped.oracle_action()
        d_row, d_col = MOVES[action]
        assert distances[row + d_row, col + d_col] == distances[row, col] - 1  # optimal
        obs, _, terminated, truncated, step_info = env.step(action)
        if step_info["event"] == "none":  # quiet: one step closer, nothing to replan
            assert step_info["difficulty"] == info["difficulty"] - 1
            assert step_info["replan_cells"] == 0
        infos.append(step_info)
        info = step_info
    assert terminated and info["is_success"] and info["difficulty"] == 0
    return infos


@settings(max_examples=25, deadline=None)
@given(env_id=st.sampled_from([i for i in DYNAMIC_IDS if "15x15" in i]), seed=st.integers(0, 2**31))
def test_the_oracle_stays_optimal_after_every_kind_of_event(env_id: str, seed: int) -> None:
    env = gym.make(env_id)
    obs, info = env.reset(seed=seed)
    infos = _follow_oracle(env, obs, info)
    # The episode's length is the sum of the optimal distances replanned at each event: the
    # steps up to the last event, then that event's distance.
    events = [step for step, info in enumerate(infos, start=1) if info["event"] != "none"]
    last_step = events[-1] if events else 0
    last_plan = infos[last_step - 1]["difficulty"] if events else info["difficulty"]
    assert len(infos) == last_step + last_plan
    env.close()


@pytest.mark.parametrize("kind", EVENT_KINDS)
def test_each_kind_happens_at_the_asked_steps(kind: str) -> None:
    env = gym.make(f"FPR/Maze-Dynamic-{kind.capitalize()}-15x15-v0")
    seen = 0
    for seed in range(10):
        obs, info = env.reset(seed=seed, options={"event_steps": [1, 2, 3]})
        infos = _follow_oracle(env, obs, info)
        for step, step_info in enumerate(infos, start=1):
            assert step_info["event"] in (kind, "none")
            if step > 3:
                assert step_info["event"] == "none"
            if step_info["event"] == kind:
                seen += 1
                assert step_info["replan_cells"] > 0
    assert seen >= 15


def test_a_door_closes_on_the_path_as_a_wall_and_a_minigrid_door() -> None:
    env = DynamicMazeEnv(events=("door",), size=15, extra_openings=0.1, render_mode="ansi")
    for seed in range(20):
        obs, _ = env.reset(seed=seed, options={"event_steps": [1]})
        grid = _grid(obs, env)
        goal = _goal_of(grid)
        before = scipy_distances(grid, goal)
        obs, _, terminated, _, info = env.step(env.oracle_action())
        if terminated:
            continue
        assert info["event"] == "door" and info["replan_cells"] > 0
        (door,) = env.doors
        after = _grid(obs, env)
        agent = tuple(obs["agent"].tolist())
        from_agent = scipy_distances(grid, agent)
        assert before[door] + from_agent[door] == before[agent]  # it was on a shortest path
        assert (
            after[door] == 0 and scipy_distances(after, goal)[agent] > 0
        )  # a wall; goal reachable
        assert set(np.unique(after).tolist()) <= {0, 1, 2}
        assert env.render().splitlines()[door[0]][door[1]] == "D"
        assert env.grid.get(door[1], door[0]).type == "door"
        env.close()
        return
    pytest.fail("no door event in 20 episodes")


@pytest.mark.slow
@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), size=st.sampled_from([9, 15]))
def test_doors_never_cut_off_the_goal_even_in_a_perfect_maze(seed: int, size: int) -> None:
    env = DynamicMazeEnv(events=("door",), size=size, generator="kruskal")
    obs, info = env.reset(seed=seed, options={"event_steps": range(1, 4 * size)})
    rng = np.random.default_rng(seed)
    for _ in range(4 * size):
        action = int(rng.choice(np.flatnonzero(env.action_masks())))
        obs, _, terminated, truncated, info = env.step(action)
        grid = _grid(obs, env)
        agent = tuple(obs["agent"].tolist())
        assert scipy_distances(grid, _goal_of(grid))[agent] == info["difficulty"] >= 0
        assert all(grid[cell] == 0 for cell in env.doors)
        if terminated or truncated:
            break


def test_quiet_steps_and_reset_report_no_event() -> None:
    env = gym.make("FPR/Maze-Dynamic-15x15-v0")
    _, info = env.reset(seed=0, options={"event_steps": []})
    assert info["event"] == "none" and info["replan_cells"] == 0
    for _ in range(30):
        _, _, terminated, _, info = env.step(env.unwrapped.oracle_action())
        assert info["event"] == "none" and info["replan_cells"] == 0
        if terminated:
            break


def test_event_steps_are_drawn_within_the_way() -> None:
    env = DynamicMazeEnv(size=15, n_events=(2, 4))
    counts = set()
    for seed in range(30):
        _, info = env.reset(seed=seed)
        steps = env._event_steps
        assert all(1 <= step < info["optimal_steps"] for step in steps)
        assert len(steps) <= 4 and (len(steps) >= 2 or info["optimal_steps"] - 1 < 2)
        counts.add(len(steps))
    assert {2, 3, 4} <= counts


def test_seeded_determinism_same_events_at_the_same_steps() -> None:
    def trajectory(seed: int) -> list:
        env = gym.make("FPR/Maze-Dynamic-15x15-v0")
        obs, info = env.reset(seed=seed)
        trace = [obs["grid"].tobytes(), repr(info)]
        rng = np.random.default_rng(0)
        for _ in range(80):
            action = int(rng.choice(np.flatnonzero(env.unwrapped.action_masks())))
            obs, reward, terminated, truncated, info = env.step(action)
            trace.append((obs["grid"].tobytes(), obs["agent"].tobytes(), reward, repr(info)))
            if terminated or truncated:
                obs, info = env.reset()
                trace.append(obs["grid"].tobytes())
        return trace

    first = trajectory(5)
    assert first == trajectory(5)
    assert any("'event': 'none'" not in str(step) for step in first)
    assert first != trajectory(6)


def test_without_events_it_is_the_plain_maze() -> None:
    plain, dynamic = MazeEnv(size=15), DynamicMazeEnv(events=(), size=15)
    for seed in range(3):
        a, _ = plain.reset(seed=seed)
        b, info = dynamic.reset(seed=seed)
        assert np.array_equal(a["grid"], b["grid"]) and np.array_equal(a["agent"], b["agent"])
        for _ in range(20):
            action = plain.oracle_action()
            assert dynamic.oracle_action() == action
            a, *_ = plain.step(action)
            b, _, _, _, info = dynamic.step(action)
            assert np.array_equal(a["grid"], b["grid"]) and info["event"] == "none"


def test_a_layout_comes_back_whole_at_the_next_reset() -> None:
    env = DynamicMazeEnv(events=("door",), layout=PERFECT, render_mode="ansi")
    first, _ = env.reset(seed=0, options={"event_steps": [1]})
    *_, info = env.step(env.oracle_action())
    assert info["event"] == "door" and len(env.doors) == 1
    assert "D" in env.render()
    again, _ = env.reset(seed=0, options={"event_steps": []})
    assert np.array_equal(first["grid"], again["grid"]) and env.doors == ()
    assert "D" not in env.render()


def test_rgb_render_draws_the_door() -> None:
    env = DynamicMazeEnv(events=("door",), layout=PERFECT, render_mode="rgb_array", tile_size=8)
    env.reset(seed=0, options={"event_steps": [1]})
    before = env.render()
    env.step(env.oracle_action())
    (door,) = env.doors
    after = env.render()

    def tile(img: np.ndarray, cell: tuple[int, int]) -> np.ndarray:
        return img[cell[0] * 8 : (cell[0] + 1) * 8, cell[1] * 8 : (cell[1] + 1) * 8]

    assert not np.array_equal(tile(after, door), tile(before, door))  # floor -> door
    assert not np.array_equal(tile(after, door), tile(after, (0, 0)))  # a door, not a wall
    encoded = env.grid.encode()[:, :, 0].T  # (row, col) MiniGrid object ids
    assert encoded[door] == 4  # MiniGrid's "door"


def test_pickle_round_trip_after_an_event() -> None:
    env = gym.make("FPR/Maze-Dynamic-Door-15x15-v0")
    env.reset(seed=2, options={"event_steps": [1, 3, 5]})
    for _ in range(3):
        env.step(env.unwrapped.oracle_action())
    clone = pickle.loads(pickle.dumps(env))
    assert clone.unwrapped.doors == env.unwrapped.doors
    for _ in range(40):
        action = env.unwrapped.oracle_action()
        assert clone.unwrapped.oracle_action() == action
        a, b = env.step(action), clone.step(action)
        assert np.array_equal(a[0]["grid"], b[0]["grid"]) and a[1:] == b[1:]
        if a[2]:
            break


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"events": "door"}, "sequence of kinds"),
        ({"events": ("flood",)}, "distinct kinds"),
        ({"events": ("door", "door")}, "distinct kinds"),
        ({"n_events": (3, 1)}, "low <= high"),
        ({"n_events": -1}, "low <= high"),
        ({"n_events": "many"}, "int or a"),
        ({"size": 4}, "odd integer"),
    ],
)
def test_bad_constructor_arguments(kwargs: dict, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        DynamicMazeEnv(**kwargs)


@pytest.mark.parametrize(
    ("options", "pattern"),
    [({"event_steps": [0]}, "positive"), ({"event_steps": "x"}, "integers"), ({"x": 1}, "x")],
)
def test_bad_reset_options(options: dict, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        DynamicMazeEnv().reset(seed=0, options=options)


def test_registered_ids() -> None:
    expected = {"FPR/Maze-Dynamic-15x15-v0", "FPR/Maze-Dynamic-33x33-v0"}
    expected |= {f"FPR/Maze-Dynamic-{k}-15x15-v0" for k in ("Door", "Shortcut", "Goal")}
    assert set(DYNAMIC_IDS) == expected and expected <= set(envs.registered_ids())
    for spec in REGISTRATIONS:
        env = gym.make(spec["id"])
        size = spec["kwargs"]["size"]
        assert env.spec.max_episode_steps == env.unwrapped.max_steps == 4 * size * size
        assert env.unwrapped.events == tuple(spec["kwargs"]["events"])
        env.close()


@pytest.mark.parametrize("env_id", DYNAMIC_IDS)
def test_checkers_pass_without_any_warning(env_id: str) -> None:
    env = gym.make(env_id)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        gym_check_env(env.unwrapped, skip_render_check=False)
        sb3_check_env(env, warn=True)
    assert [str(w.message) for w in record] == []
    env.close()
