"""``train.enjoy``: a GIF with one frame per decision (plus the start) and the iterations each
decision took, from a planner checkpoint or an SB3 ``.zip``."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
import torch
from PIL import Image

import envs  # noqa: F401  (registers the FPR ids)
from fpr_agents.policy import planner_model
from train import enjoy

ENV = "FPR/Maze-9x9-v0"
TINY = ["--env", ENV, "--episodes", "1", "--max-steps", "4", "--device", "cpu", "--seed", "5"]


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def replayed_iterations(steps: int) -> list[int]:
    """The iterations of the same greedy decisions, played here with ``predict``.

    :param steps: decisions to play.
    :return: iterations per decision.
    """
    env = gym.make(ENV)
    model = planner_model("maze_large", env, algo="maskable_ppo", device="cpu")
    obs, _ = env.reset(seed=5)
    state, start, iterations = None, np.ones(1, dtype=bool), []
    for _ in range(steps):
        action, state = model.predict(
            obs, state, start, deterministic=True, action_masks=env.unwrapped.action_masks()
        )
        start = np.zeros(1, dtype=bool)
        iterations.append(int(model.policy.last_solve_stats["iterations"][0]))
        obs, *_ = env.step(int(action))
    return iterations


@pytest.mark.slow
def test_enjoy_writes_a_frame_per_decision_and_the_iterations(tmp_path) -> None:
    result = enjoy.main([*TINY, "--checkpoint", "maze_large", "--out", str(tmp_path / "a")])
    summary = json.loads((tmp_path / "a" / "decisions.json").read_text())
    (episode,) = summary["episodes"]
    steps = len(episode["actions"])
    assert 1 <= steps <= 4 and len(episode["iterations"]) == steps
    with Image.open(result["gif"]) as gif:
        assert gif.n_frames == steps + 1 == summary["frames"]
        assert gif.width > gif.height  # the env beside the chart
    assert episode["iterations"] == replayed_iterations(steps)
    # The same planner saved by SB3 plays the same episode.
    zip_path = tmp_path / "maze_large.zip"
    planner_model("maze_large", gym.make(ENV), algo="maskable_ppo", device="cpu").save(zip_path)
    enjoy.main([*TINY, "--checkpoint", str(zip_path), "--out", str(tmp_path / "b")])
    again = json.loads((tmp_path / "b" / "decisions.json").read_text())["episodes"][0]
    assert again["actions"] == episode["actions"]
    assert again["iterations"] == episode["iterations"]


def test_enjoy_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="--algo"):
        enjoy.EnjoyArgs(algo="dqn")
    with pytest.raises(ValueError, match="--episodes"):
        enjoy.EnjoyArgs(episodes=0)
    with pytest.raises(ValueError, match="--max-steps"):
        enjoy.EnjoyArgs(max_steps=-1)
