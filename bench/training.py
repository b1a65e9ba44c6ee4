"""Training benchmark: PPO with the planner policy against PPO with SB3's default policy.

Both train on the same env with the same vector size, algorithm, hyper-parameters and seed
(``train/ppo.py``'s ``build_model``; ``--policy default`` is SB3's ``MultiInputPolicy``). The
two models train in turns, one rollout and one update at a time (a "chunk" of
``n_envs * n_steps`` env steps), the order reversed every other chunk, so load that comes and
goes hits both alike. Reported per policy:

- env steps per second of training (rollout + update), the median over chunks (the first chunk,
  which builds caches, is left out when there are three or more), and of the rollouts alone;
- the success each reaches at equal steps: greedy episodes on fixed seeds after the last chunk
  (invalid actions masked when the algorithm is MaskablePPO; an episode whose observation
  repeats is a failure, since a greedy policy in a deterministic env then loops for ever), and
  the success of the last training episodes (SB3's ``ep_success_buffer``).

The budgets are small (a few thousand steps), so the successes say where each policy stands
early in training, not where it ends. The bench sets no aim for these ratios.
``python -m bench.training --help`` lists the options.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList

import envs  # noqa: F401  (registers the FPR ids)
from bench.common import (
    DEVICE_CHOICES,
    BenchReport,
    RatioRow,
    Table,
    format_report,
    given_options,
    machine_description,
    paired_ratio,
    resolve_bench_device,
    torch_threads,
)
from fpr_agents.arguments import build, parse_args
from train.ppo import PPOArgs, build_model, make_envs, planner_callbacks

__all__ = [
    "OPTION_FIELDS",
    "TRAINING_CHECKPOINT",
    "PolicyRun",
    "RolloutTimer",
    "TrainingBenchArgs",
    "TrainingBenchConfig",
    "evaluate_success",
    "main",
    "run_benchmark",
]

# The planner users fine-tune with PPO (the README's SB3 example): the shipped maze planner that
# halts on its readout.
TRAINING_CHECKPOINT = "fpr_agents/checkpoints/maze_large.safetensors"

POLICIES = ("planner", "default")
POLICY_LABELS = {"planner": "planner policy (FPR)", "default": "SB3 MultiInputPolicy"}


class RolloutTimer(BaseCallback):
    """Adds up the seconds SB3 spends collecting rollouts (the rest of ``learn`` is updates).

    :param verbose: SB3 verbosity.
    """

    def __init__(self, verbose: int = 0) -> None:
        super().__init__(verbose)
        self.seconds = 0.0
        self._started = 0.0

    def _on_rollout_start(self) -> None:
        self._started = time.perf_counter()

    def _on_rollout_end(self) -> None:
        self.seconds += time.perf_counter() - self._started

    def _on_step(self) -> bool:
        return True


@dataclass(frozen=True)
class TrainingBenchConfig:
    """What to train and how long.

    :param env: env id both policies train on.
    :param algo: ``ppo`` or ``maskable_ppo``.
    :param n_envs: vectorised envs.
    :param n_steps: rollout length per env (a chunk is ``n_envs * n_steps`` env steps).
    :param batch_size: minibatch size.
    :param n_epochs: epochs per update.
    :param chunks: rollout + update cycles per policy (both get the same number of steps).
    :param eval_episodes: greedy episodes of the final evaluation.
    :param max_iters: the planner's iteration cap per decision.
    :param grad_iters: the planner's iterations with gradient in updates.
    :param d_model: width of a planner built without checkpoint.
    :param n_heads: its attention heads (used only when attention is on).
    :param mlp_kernel: its MLP kernel (1: token-wise SwiGLU, 3: ConvSwiGLU).
    :param compile: run the planner's reasoner step through ``torch.compile`` (``train.ppo
        --compile``); the graphs compile in the first chunk, which the rates leave out.
    :param seed: seed of both models and envs.
    """

    env: str = "FPR/Maze-9x9-v0"
    algo: str = "maskable_ppo"
    n_envs: int = 8
    n_steps: int = 64
    batch_size: int = 128
    n_epochs: int = 4
    chunks: int = 8
    eval_episodes: int = 20
    max_iters: int = 64
    grad_iters: int = 2
    d_model: int = 48
    n_heads: int = 4
    mlp_kernel: int = 1
    compile: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("n_envs", "n_steps", "batch_size", "n_epochs", "chunks", "eval_episodes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

    @property
    def chunk_steps(self) -> int:
        """Env steps of one chunk.

        :return: n_envs * n_steps.
        """
        return self.n_envs * self.n_steps


QUICK_CONFIG = TrainingBenchConfig(
    n_envs=2,
    n_steps=16,
    batch_size=16,
    n_epochs=1,
    chunks=2,
    eval_episodes=2,
    max_iters=8,
    d_model=16,
    n_heads=2,
)


@dataclass
class PolicyRun:
    """One policy's training.

    :param name: ``planner`` or ``default``.
    :param chunk_seconds: wall time of each chunk (rollout + update).
    :param rollout_seconds: of which collecting the rollout.
    :param eval_success: share of greedy evaluation episodes that succeeded, in percent.
    :param train_success: share of the last training episodes that succeeded, in percent (NaN
        when none finished).
    :param train_episodes: training episodes in that share.
    """

    name: str
    chunk_seconds: list[float]
    rollout_seconds: list[float]
    eval_success: float = float("nan")
    train_success: float = float("nan")
    train_episodes: int = 0


def _ppo_args(
    bench: TrainingBenchConfig, policy: str, device: str, pretrained: str | None
) -> PPOArgs:
    return build(
        PPOArgs,
        dict(
            env=bench.env,
            seed=bench.seed,
            device=device,
            algo=bench.algo,
            policy=policy,
            n_envs=bench.n_envs,
            n_steps=bench.n_steps,
            batch_size=bench.batch_size,
            n_epochs=bench.n_epochs,
            pretrained=pretrained if policy == "planner" else None,
            d_model=bench.d_model,
            n_heads=bench.n_heads,
            mlp_kernel=bench.mlp_kernel,
            max_iters=bench.max_iters,
            grad_iters=bench.grad_iters,
            compile=bench.compile and policy == "planner",
        ),
    )


def evaluate_success(
    model: BaseAlgorithm, env_id: str, episodes: int, seed: int, masked: bool
) -> float:
    """Greedy episodes on seeds ``seed, seed + 1, ...``; a repeated observation ends an episode
    as a failure (a deterministic policy in a deterministic env would loop for ever).

    :param model: the trained model.
    :param env_id: the env to play.
    :param episodes: how many episodes.
    :param seed: the first reset seed.
    :param masked: pass ``action_masks()`` to ``predict`` (MaskablePPO).
    :return: the share of successful episodes, in percent.
    """
    env = gym.make(env_id)
    unwrapped: Any = env.unwrapped  # the env itself, whose action_masks() MaskablePPO takes
    successes = []
    for episode in range(episodes):
        obs, info = env.reset(seed=seed + episode)
        seen = {_obs_key(obs)}
        done, looped = False, False
        state, start = None, np.ones(1, dtype=bool)  # the planning state, as evaluate_policy
        while not done and not looped:
            if masked:
                mask = unwrapped.action_masks()
                action, state = model.predict(  # type: ignore[call-arg]
                    obs, state=state, episode_start=start, deterministic=True, action_masks=mask
                )
            else:
                action, state = model.predict(
                    obs, state=state, episode_start=start, deterministic=True
                )
            start = np.zeros(1, dtype=bool)
            obs, _, terminated, truncated, info = env.step(int(action))
            done = terminated or truncated
            key = _obs_key(obs)
            looped = key in seen
            seen.add(key)
        successes.append(bool(info.get("is_success", False)) and not looped)
    env.close()
    return 100.0 * float(np.mean(successes))


def _obs_key(obs: dict[str, np.ndarray]) -> bytes:
    return b"".join(np.ascontiguousarray(obs[key]).tobytes() for key in sorted(obs))


def run_benchmark(
    bench: TrainingBenchConfig, device: torch.device, pretrained: str | None, origin: str
) -> BenchReport:
    """Train both policies in turns, then evaluate them.

    :param bench: env, sizes and budget.
    :param device: where the models train.
    :param pretrained: planner checkpoint the planner policy starts from, or None.
    :param origin: where the planner's weights come from, for the report.
    :return: the report.
    """
    models: dict[str, BaseAlgorithm] = {}
    timers: dict[str, RolloutTimer] = {}
    callbacks: dict[str, BaseCallback] = {}
    vec_envs = []
    for policy in POLICIES:
        args = _ppo_args(bench, policy, device.type, pretrained)
        vec_env = make_envs(args, bench.n_envs, bench.seed)
        vec_envs.append(vec_env)
        models[policy] = build_model(args, vec_env, None)
        timers[policy] = RolloutTimer()
        # As train.ppo does (value-only updates first, a pretrained reasoner frozen, warm starts
        # within episodes), without its TensorBoard scalars.
        chain = [*planner_callbacks(args, log_depth=False), timers[policy]]
        callbacks[policy] = CallbackList(chain)
    runs = {policy: PolicyRun(policy, [], []) for policy in POLICIES}
    for chunk in range(bench.chunks):
        order = list(POLICIES) if chunk % 2 == 0 else list(reversed(POLICIES))
        for policy in order:
            timer, before = timers[policy], timers[policy].seconds
            start = time.perf_counter()
            models[policy].learn(
                bench.chunk_steps, callback=callbacks[policy], reset_num_timesteps=chunk == 0
            )
            runs[policy].chunk_seconds.append(time.perf_counter() - start)
            runs[policy].rollout_seconds.append(timer.seconds - before)
    masked = bench.algo == "maskable_ppo"
    for policy, run in runs.items():
        model = models[policy]
        run.eval_success = evaluate_success(
            model, bench.env, bench.eval_episodes, bench.seed + 50_000, masked
        )
        buffer = list(model.ep_success_buffer or ())  # None before any learn
        run.train_episodes = len(buffer)
        run.train_success = 100.0 * float(np.mean(buffer)) if buffer else float("nan")
    for vec_env in vec_envs:
        vec_env.close()
    return _report(bench, device, runs, models, origin)


def _report(
    bench: TrainingBenchConfig,
    device: torch.device,
    runs: dict[str, PolicyRun],
    models: dict[str, BaseAlgorithm],
    origin: str,
) -> BenchReport:
    """The tables and ratios of a finished training comparison."""
    timed = slice(1, None) if bench.chunks >= 3 else slice(None)
    steps = bench.chunk_steps
    report = BenchReport(
        name="training",
        machine=machine_description(device),
        method=(
            f"{bench.chunks} chunks of {steps} env steps per policy ({bench.n_envs} envs x "
            f"{bench.n_steps} steps, then one update of {bench.n_epochs} epochs, minibatch "
            f"{bench.batch_size}), the two policies in turns; rates are medians over chunks"
            + (" 2.." if bench.chunks >= 3 else "")
            + f"; seed {bench.seed}"
        ),
        notes=[
            f"{bench.algo} on {bench.env}; planner: {origin}",
            f"small budget: {bench.chunks * steps} env steps per policy, so successes show "
            "early training only",
        ],
    )
    table = Table(
        f"PPO on {bench.env}, {bench.n_envs} envs, {bench.chunks * steps} env steps each",
        [
            "policy",
            "parameters",
            "env steps/s (train)",
            "env steps/s (rollouts)",
            "update time per chunk",
            "greedy success",
            "training-episode success",
        ],
    )
    rates: dict[str, list[float]] = {}
    rollout_rates: dict[str, list[float]] = {}
    for policy, run in runs.items():
        rates[policy] = [steps / seconds for seconds in run.chunk_seconds[timed]]
        rollout_rates[policy] = [steps / seconds for seconds in run.rollout_seconds[timed]]
        updates = [
            total - rollout
            for total, rollout in zip(run.chunk_seconds, run.rollout_seconds, strict=True)
        ][timed]
        n_parameters = sum(p.numel() for p in models[policy].policy.parameters())
        table.rows.append(
            [
                POLICY_LABELS[policy],
                f"{n_parameters:,}",
                f"{statistics.median(rates[policy]):,.0f}",
                f"{statistics.median(rollout_rates[policy]):,.0f}",
                f"{statistics.median(updates):.2f} s",
                f"{run.eval_success:.0f}% of {bench.eval_episodes}",
                (
                    f"{run.train_success:.0f}% of {run.train_episodes}"
                    if run.train_episodes
                    else "- (no episode ended)"
                ),
            ]
        )
        report.values[f"{policy}_steps_per_second"] = statistics.median(rates[policy])
        report.values[f"{policy}_rollout_steps_per_second"] = statistics.median(
            rollout_rates[policy]
        )
        report.values[f"{policy}_eval_success"] = run.eval_success
    report.tables.append(table)
    speed = paired_ratio(rates["planner"], rates["default"])
    rollout_speed = paired_ratio(rollout_rates["planner"], rollout_rates["default"])
    gap = runs["planner"].eval_success - runs["default"].eval_success
    report.values.update(
        {"steps_per_second_ratio": speed, "rollout_ratio": rollout_speed, "success_gap": gap}
    )
    baseline = POLICY_LABELS["default"]
    report.ratios += [
        RatioRow(
            "PPO env steps/s, training (rollouts + updates)",
            baseline,
            f"{statistics.median(rates['planner']):,.0f}/s",
            f"{statistics.median(rates['default']):,.0f}/s",
            speed,
            f"{speed:.3f}x",
        ),
        RatioRow(
            "PPO env steps/s, rollouts only",
            baseline,
            f"{statistics.median(rollout_rates['planner']):,.0f}/s",
            f"{statistics.median(rollout_rates['default']):,.0f}/s",
            rollout_speed,
            f"{rollout_speed:.3f}x",
        ),
        RatioRow(
            f"greedy success at equal steps ({bench.chunks * steps})",
            baseline,
            f"{runs['planner'].eval_success:.0f}%",
            f"{runs['default'].eval_success:.0f}%",
            gap,
            f"{gap:+.0f} pts",
        ),
    ]
    return report


# The flags that override the bench config's field of the same name when given.
OPTION_FIELDS = (
    "env", "chunks", "n_envs", "d_model", "mlp_kernel", "eval_episodes", "grad_iters",
)  # fmt: skip


@dataclass
class TrainingBenchArgs:
    """Arguments of ``python -m bench.training``: every field is a ``--flag``; those left None
    keep the bench config's value."""

    checkpoint: str = field(
        default=TRAINING_CHECKPOINT, metadata={"help": "planner checkpoint to start from"}
    )
    random_weights: bool = field(
        default=False, metadata={"help": "start the planner from random weights"}
    )
    device: str = field(
        default="auto",
        metadata={"help": "auto (CUDA if present), cpu or cuda", "choices": DEVICE_CHOICES},
    )
    quick: bool = field(default=False, metadata={"help": "tiny sizes (for tests)"})
    env: str | None = field(default=None, metadata={"help": "env id (none: the config's)"})
    chunks: int | None = field(
        default=None, metadata={"help": "rollout+update cycles each (none: the config's)"}
    )
    n_envs: int | None = field(
        default=None, metadata={"help": "vectorised envs (none: the config's)"}
    )
    eval_episodes: int | None = field(
        default=None,
        metadata={"help": "greedy episodes of the final evaluation (none: the config's)"},
    )
    d_model: int | None = field(
        default=None,
        metadata={"help": "width of a planner from random weights (none: the config's)"},
    )
    mlp_kernel: int | None = field(
        default=None,
        metadata={"help": "its MLP kernel (1: token-wise, 3: convs; none: the config's)"},
    )
    grad_iters: int | None = field(
        default=None,
        metadata={"help": "planner iterations with gradient in each update (none: the config's)"},
    )
    compile: bool = field(
        default=False,
        metadata={"help": "compile the planner's reasoner step (torch.compile)"},
    )
    threads: int = field(default=1, metadata={"help": "torch CPU threads"})
    seed: int = field(default=0, metadata={"help": "seed of both models and envs"})

    def __post_init__(self) -> None:
        self.bench_config()  # the config's own checks, as usage errors

    def bench_config(self) -> TrainingBenchConfig:
        """The bench config: the quick or full one, with the options given.

        :return: the config.
        :raises ValueError: a value the config refuses.
        """
        bench = QUICK_CONFIG if self.quick else TrainingBenchConfig()
        options = given_options(self, OPTION_FIELDS)
        return replace(bench, seed=self.seed, compile=self.compile, **options)


def main(argv: Sequence[str] | None = None) -> BenchReport:
    """Run the benchmark from command-line arguments and print its tables.

    :param argv: arguments without the program name (None: ``sys.argv[1:]``).
    :return: the report that was printed.
    """
    args = parse_args(
        TrainingBenchArgs,
        argv,
        "PPO env steps/s and success: planner policy vs SB3's default policy.",
    )
    device = resolve_bench_device(args.device)
    bench = args.bench_config()
    pretrained = None
    if not args.random_weights and args.checkpoint and Path(args.checkpoint).exists():
        pretrained = args.checkpoint
        origin = f"starts from {pretrained}"
    else:
        why = "--random-weights" if args.random_weights else f"{args.checkpoint} does not exist"
        origin = (
            f"starts from random weights ({why}), d={bench.d_model}, conv-only, "
            f"MLP kernel {bench.mlp_kernel}"
        )
    with torch_threads(args.threads):
        report = run_benchmark(bench, device, pretrained, origin)
    print(format_report(report))
    return report


if __name__ == "__main__":
    main()
