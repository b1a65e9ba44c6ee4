"""Watch a planner play: greedy episodes of a checkpoint written to a GIF, each frame the env beside
the iterations every decision of the episode took so far.

Read top to bottom: arguments, seeding, the env (rendered as RGB arrays), the model (a planner
``.safetensors`` of ``train.pretrain`` / ``train.ppo`` or a shipped planner's name, made an SB3
model by ``planner_model``; or an SB3 ``.zip`` of ``train.ppo``), then the episodes: each decision
warm-starts from the previous one, as ``predict`` carries the planning state. Writes
``episodes.gif`` and ``decisions.json`` (per episode: seed, actions, iterations per decision,
return, success) to ``--out``.

    python -m train.enjoy --checkpoint maze_large --env FPR/Maze-15x15-v0 --episodes 2
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image
from sb3_contrib import MaskablePPO
from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
from stable_baselines3 import PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.save_util import load_from_zip_file

from fpr_agents.policy import planner_model
from train.common import CONFIG_DIR, check_env_id, cli, parse_args, resolve_device, seed_everything

MIN_HEIGHT = 256  # frames are at least this tall, so the chart stays legible


@dataclass
class EnjoyArgs:
    """Arguments of ``python -m train.enjoy`` (every field is a ``--flag``)."""

    config_section = "enjoy"
    config_dir = CONFIG_DIR

    checkpoint: str = field(
        default="maze_large",
        metadata={"help": "planner .safetensors, SB3 .zip of train.ppo, or a shipped planner"},
    )
    env: str = field(default="FPR/Maze-9x9-v0", metadata={"help": "env id"})
    algo: str = field(
        default="auto",
        metadata={"help": "auto (a .zip's own; maskable_ppo for a planner), ppo or maskable_ppo"},
    )
    episodes: int = field(default=1, metadata={"help": "greedy episodes to play"})
    max_steps: int = field(
        default=0, metadata={"help": "most decisions per episode (0: until the episode ends)"}
    )
    max_iters: int = field(default=0, metadata={"help": "iteration cap per decision (0: keep)"})
    seed: int = field(default=0, metadata={"help": "seed of the first episode (then +1 each)"})
    device: str = field(default="auto", metadata={"help": "auto (CUDA if present), cpu or cuda"})
    threads: int = field(default=1, metadata={"help": "torch CPU threads"})
    fps: float = field(default=4.0, metadata={"help": "GIF frames per second"})
    out: str = field(default="runs/enjoy", metadata={"help": "folder of the GIF and the JSON"})

    def __post_init__(self) -> None:
        if self.algo not in ("auto", "ppo", "maskable_ppo"):
            raise ValueError(f"--algo must be auto, ppo or maskable_ppo, got {self.algo!r}")
        if self.episodes < 1:
            raise ValueError(f"--episodes must be >= 1, got {self.episodes}")
        for name in ("max_steps", "max_iters"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 0")
        if self.fps <= 0:
            raise ValueError(f"--fps must be > 0, got {self.fps}")


def load_model(args: EnjoyArgs, env: gym.Env) -> BaseAlgorithm:
    """The model to watch: an SB3 ``.zip`` as saved, or a planner made an SB3 model.

    :param args: the arguments.
    :param env: the env it plays (a planner's policy is built for it).
    :return: the model, its planner's solver as ``--max-iters`` asks.
    """
    device = resolve_device(args.device)
    if args.checkpoint.endswith(".zip"):
        algo = args.algo
        if algo == "auto":
            data, _, _ = load_from_zip_file(args.checkpoint, device="cpu")
            if data is None:
                raise ValueError(f"{args.checkpoint} holds no SB3 model data")
            masked = issubclass(data["policy_class"], MaskableActorCriticPolicy)
            algo = "maskable_ppo" if masked else "ppo"
        model = (MaskablePPO if algo == "maskable_ppo" else PPO).load(
            args.checkpoint, device=device
        )
    else:
        algo = "maskable_ppo" if args.algo == "auto" else args.algo
        model = planner_model(args.checkpoint, env, algo, device=device, seed=args.seed)
    planner = getattr(model.policy, "planner", None)
    if planner is None:
        raise ValueError(f"{args.checkpoint} holds no planner policy (train.enjoy shows planners)")
    if args.max_iters:
        planner.set_solver(max_iters=args.max_iters)
    return model


def chart(iterations: Sequence[int], height: int, title: str) -> np.ndarray:
    """A bar chart of the iterations each decision took, as an image.

    :param iterations: iterations per decision so far.
    :param height: the image's height in pixels (its width is 1.25 times that).
    :param title: the chart's title.
    :return: (height, width, 3) uint8.
    """
    dpi = 100
    figure = Figure(figsize=(1.25 * height / dpi, height / dpi), dpi=dpi)
    canvas = FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    steps = np.arange(1, len(iterations) + 1)
    axes.bar(steps, iterations, color="tab:blue")
    axes.set_xlim(0.4, max(len(iterations), 10) + 0.6)
    axes.set_ylim(0, max([*iterations, 1]) * 1.1)
    axes.set_xlabel("decision")
    axes.set_ylabel("iterations")
    axes.set_title(title, fontsize=9)
    figure.tight_layout()
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def frame(picture: np.ndarray, iterations: Sequence[int], title: str) -> Image.Image:
    """One GIF frame: the env's picture beside the iteration chart.

    :param picture: the env's ``render()``, (H, W, 3) uint8.
    :param iterations: iterations per decision so far.
    :param title: the chart's title.
    :return: the frame.
    """
    image = Image.fromarray(picture)
    if image.height < MIN_HEIGHT:
        scale = MIN_HEIGHT / image.height
        image = image.resize((round(image.width * scale), MIN_HEIGHT), Image.Resampling.NEAREST)
    plot = Image.fromarray(chart(iterations, image.height, title))
    canvas = Image.new("RGB", (image.width + plot.width, max(image.height, plot.height)), "white")
    canvas.paste(image, (0, 0))
    canvas.paste(plot, (image.width, 0))
    return canvas


def rendered(env: gym.Env) -> np.ndarray:
    """The env's picture, as ``render()`` returns it in ``rgb_array`` mode.

    :param env: the env, rendering RGB arrays.
    :return: (H, W, 3) uint8.
    """
    picture = env.render()
    if not isinstance(picture, np.ndarray):
        raise TypeError(f"expected render() to return an RGB array, got {type(picture).__name__}")
    return picture


def last_iterations(model: BaseAlgorithm) -> int:
    """The reasoner iterations of the model's latest decision.

    :param model: a model with a planner policy, after ``predict`` on one observation.
    :return: the iterations.
    """
    stats: dict[str, np.ndarray] | None = getattr(model.policy, "last_solve_stats", None)
    if stats is None:
        raise ValueError("the model's policy has made no planner decision yet")
    return int(stats["iterations"][0])


@dataclass
class EpisodeRecord:
    """One greedy episode.

    :param seed: the reset seed.
    :param actions: the action of each decision.
    :param iterations: the reasoner iterations of each decision.
    :param episode_return: the sum of rewards.
    :param success: ``info["is_success"]`` at the end.
    :param ended: the episode terminated or was truncated (False: stopped by ``--max-steps``).
    """

    seed: int
    actions: list[int] = field(default_factory=list)
    iterations: list[int] = field(default_factory=list)
    episode_return: float = 0.0
    success: bool = False
    ended: bool = False


def play(
    model: BaseAlgorithm, env: gym.Env, seed: int, max_steps: int, number: int
) -> tuple[EpisodeRecord, list[Image.Image]]:
    """Play one greedy episode, warm-starting each decision from the previous one.

    :param model: the model.
    :param env: the env, rendering RGB arrays.
    :param seed: the reset seed.
    :param max_steps: most decisions (0: until the episode ends).
    :param number: the episode's number, for the frames' titles.
    :return: the record and the frames (one before the first decision, one after each).
    """
    record = EpisodeRecord(seed)
    obs, info = env.reset(seed=seed)
    frames = [frame(rendered(env), [], f"episode {number}: start")]
    masked = isinstance(model, MaskablePPO)
    state, episode_start = None, np.ones(1, dtype=bool)
    unwrapped: Any = env.unwrapped  # the FPR env, with its action_masks
    while not (max_steps and len(record.actions) >= max_steps):
        kwargs = {"action_masks": unwrapped.action_masks()} if masked else {}
        action, state = model.predict(
            obs, state=state, episode_start=episode_start, deterministic=True, **kwargs
        )
        episode_start = np.zeros(1, dtype=bool)
        record.actions.append(int(action))
        record.iterations.append(last_iterations(model))
        obs, reward, terminated, truncated, info = env.step(int(action))
        record.episode_return += float(reward)
        title = (
            f"episode {number}, decision {len(record.actions)}: {record.iterations[-1]} iterations"
        )
        frames.append(frame(rendered(env), record.iterations, title))
        if terminated or truncated:
            record.ended = True
            break
    record.success = bool(info.get("is_success", False))
    return record, frames


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Play the episodes and write the GIF and the JSON.

    :param argv: command-line arguments (None: ``sys.argv[1:]``).
    :return: the paths written and the episodes' records.
    """
    args = parse_args(EnjoyArgs, argv, __doc__.splitlines()[0])
    check_env_id(args.env)
    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    env = gym.make(args.env, render_mode="rgb_array")
    model = load_model(args, env)
    records, frames = [], []
    for episode in range(args.episodes):
        record, shown = play(model, env, args.seed + episode, args.max_steps, episode + 1)
        records.append(record)
        frames += shown
    env.close()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    gif, decisions = out / "episodes.gif", out / "decisions.json"
    duration = round(1000 / args.fps)
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=duration, loop=0)
    summary = {
        "checkpoint": args.checkpoint,
        "env": args.env,
        "frames": len(frames),
        "episodes": [asdict(record) for record in records],
    }
    decisions.write_text(json.dumps(summary, indent=2))
    for record in records:
        print(
            f"seed {record.seed}: {len(record.actions)} decisions, success {record.success}, "
            f"iterations {record.iterations}"
        )
    return {"gif": str(gif), "json": str(decisions), "episodes": records}


if __name__ == "__main__":
    cli(main)
