"""Evaluate a planner's success and planning depth against difficulty, compute caps and size.

Writes ``report.json``, ``report.md`` (the tables) and PNG plots into ``--out``, and logs them to
TensorBoard there. Three measurements:
1. depth against difficulty: greedy episodes on ``--env``; every decision's iterations against
   ``info["difficulty"]`` of its state, grouped into buckets, with their Spearman correlation;
2. forced-depth sweep: the same agent with its iterations capped at each of ``--caps`` (adaptive
   halting below the cap), and at fixed depth (exactly that many iterations, no early stop);
3. size sweep (maze): success and iterations on mazes of each side in ``--sizes``.
On its defaults it plays the shipped ``maze_mixed`` on mazes whose world changes under the agent
(doors close, shortcuts open, the goal moves), where the depth of each decision shows most.

    python -m train.evaluate --env FPR/Maze-15x15-v0 --checkpoint path.safetensors --out eval/
"""

from __future__ import annotations

import itertools
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from fpr_agents.arguments import flat_values
from fpr_agents.checkpoints import CHECKPOINT_DIR
from fpr_agents.evaluation.report import (
    depth_markdown,
    depth_report,
    episode_iterations,
    episode_iterations_markdown,
    event_markdown,
    event_report,
    halting_warnings,
    json_safe,
    markdown_table,
    plot_depth,
    plot_events,
    plot_sweep,
    sweep_markdown,
)
from fpr_agents.evaluation.rollout import RolloutResult, run_episodes
from fpr_agents.policy.planner import PlannerNetwork
from fpr_agents.reasoner.config import HALTING_MODES, READOUT_SIGNALS
from train.common import (
    CONFIG_DIR,
    check_env_id,
    check_solver_overrides,
    cli,
    env_task_description,
    load_planner,
    parse_args,
    resolve_device,
    seed_everything,
)

SHIPPED_MAZE_PLANNER = CHECKPOINT_DIR / "maze_mixed.safetensors"


@dataclass
class EvaluateSolverArgs:
    """How each decision solves (zero or empty: what the checkpoint says)."""

    max_iters: int = field(default=0, metadata={"help": "iteration cap (0: the checkpoint's)"})
    patience: int = field(default=0, metadata={"help": "FPOPT patience (0: the checkpoint's)"})
    tol: float = field(
        default=0.0, metadata={"help": "fixed-point tolerance (0: the checkpoint's)"}
    )
    halting: str = field(
        default="",
        metadata={"help": "halting rule ('': the checkpoint's)", "choices": ("", *HALTING_MODES)},
    )
    readout_tol: float = field(
        default=-1.0, metadata={"help": "readout rule's tolerance (negative: the checkpoint's)"}
    )
    readout_signal: str = field(
        default="",
        metadata={
            "help": "what the readout rule watches ('': the checkpoint's)",
            "choices": ("", *READOUT_SIGNALS),
        },
    )
    readout_fresh_tol: float = field(
        default=-1.0,
        metadata={
            "help": "residual below which the readout rule trusts a warm start's old decision "
            "(negative: the checkpoint's)"
        },
    )
    readout_warm_check: bool | None = field(
        default=None,
        metadata={
            "help": "check every warm start that began decided against the fresh tolerance, "
            "even when its decision came back during the solve (none: the checkpoint's)"
        },
    )
    stall_patience: int = field(
        default=-1,
        metadata={
            "help": "stall guard: iterations without progress after which a decision halts as "
            "stalled (0: no guard; negative: the checkpoint's)"
        },
    )
    replan_on_repeat: bool = field(
        default=True,
        metadata={
            "help": "the first time the agent is back in a state of its episode, solve that "
            "decision from scratch (a second return ends the episode as a loop)"
        },
    )
    hold_plans: bool = field(
        default=True,
        metadata={
            "help": "a decision whose observation is the one the last action was expected to "
            "give is read from the kept plan without iterating, where it is decided"
        },
    )

    def __post_init__(self) -> None:
        if self.max_iters < 0:
            raise ValueError(f"--max-iters must be >= 0, got {self.max_iters}")
        check_solver_overrides(self.patience, self.tol, self.halting)


@dataclass
class SweepArgs:
    """The sweeps beside the main report: cold episodes, forced depths, maze sizes."""

    cold: bool = field(
        default=True,
        metadata={"help": "also play the episodes cold (no warm start) for per-state depth"},
    )
    caps: tuple[int, ...] = field(
        default=(1, 4, 16, 64), metadata={"help": "forced-depth caps (empty: skip)"}
    )
    sizes: tuple[int, ...] = field(
        default=(9, 15, 21, 33), metadata={"help": "maze sides to sweep (empty: skip)"}
    )
    size_max_iters: int = field(
        default=0, metadata={"help": "cap for the size sweep (0: 8 x side)"}
    )
    sweep_episodes: int = field(default=12, metadata={"help": "episodes per sweep setting"})

    def __post_init__(self) -> None:
        for flag, values in (("--caps", self.caps), ("--sizes", self.sizes)):
            if any(v < 1 for v in values):
                raise ValueError(f"{flag} must be positive integers, got {list(values)}")
        if self.sweep_episodes < 1:
            raise ValueError(f"--sweep-episodes must be >= 1, got {self.sweep_episodes}")


@dataclass
class EvaluateArgs:
    """Arguments of ``python -m train.evaluate``: every leaf field is a ``--flag``."""

    config_section = "evaluate"
    config_dir = CONFIG_DIR

    env: str = field(
        default="FPR/Maze-Dynamic-15x15-v0", metadata={"help": "env id to evaluate on"}
    )
    checkpoint: str = field(
        default=str(SHIPPED_MAZE_PLANNER),
        metadata={
            "help": "planner checkpoint (train.pretrain or train.ppo); default: shipped maze_mixed"
        },
    )
    env_kwargs: str = field(
        default="",
        metadata={
            "help": "keyword arguments of the env as a JSON object, e.g. "
            '\'{"families": ["flip"], "max_depth": 1}\' (ARC concept tasks)'
        },
    )
    episodes: int = field(default=32, metadata={"help": "episodes for the depth report"})
    parallel: int = field(default=16, metadata={"help": "envs stepped together (one batch)"})
    n_buckets: int = field(default=5, metadata={"help": "difficulty buckets"})
    difficulty_key: str = field(
        default="difficulty",
        metadata={
            "help": "info key of each state's difficulty, e.g. propagation_rounds or "
            "search_nodes on Sudoku (default: the env's difficulty)"
        },
    )
    seed: int = field(default=12345, metadata={"help": "first episode seed (unseen by training)"})
    device: str = field(default="auto", metadata={"help": "auto (CUDA if present), cpu or cuda"})
    threads: int = field(default=2, metadata={"help": "torch CPU threads"})
    out: str = field(
        default="runs/evaluation", metadata={"help": "report folder (its report is replaced)"}
    )
    progress: bool = field(default=True, metadata={"help": "show a progress bar"})
    solver: EvaluateSolverArgs = field(default_factory=EvaluateSolverArgs)
    sweeps: SweepArgs = field(default_factory=SweepArgs)

    @property
    def env_options(self) -> dict[str, Any]:
        """``--env-kwargs`` as a dict (empty when not given)."""
        return json.loads(self.env_kwargs) if self.env_kwargs else {}

    def __post_init__(self) -> None:
        if self.env_kwargs:
            try:
                options = json.loads(self.env_kwargs)
            except json.JSONDecodeError as error:
                raise ValueError(
                    f"--env-kwargs is not JSON ({error.msg}): {self.env_kwargs}"
                ) from None
            if not isinstance(options, dict):
                raise ValueError(f"--env-kwargs must be a JSON object, got {self.env_kwargs}")
        for name in ("episodes", "parallel", "n_buckets", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(
                    f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}"
                )


def _evaluate(
    planner: PlannerNetwork,
    make_env: Any,
    episodes: int,
    args: EvaluateArgs,
    device: torch.device,
    bar: Any,
    **solve: Any,
) -> RolloutResult:
    envs = [make_env() for _ in range(min(args.parallel, episodes))]
    seeds = [args.seed + i for i in range(episodes)]
    solve.setdefault("hold_plans", args.solver.hold_plans)
    solve.setdefault("replan_on_repeat", args.solver.replan_on_repeat)
    solve.setdefault("difficulty_key", args.difficulty_key)
    result = run_episodes(planner, envs, seeds, device=device, progress=bar, **solve)
    for env in envs:
        env.close()
    return result


def _row(result: RolloutResult, **setting: Any) -> dict[str, Any]:
    converged = [d.converged for d in result.decisions]
    return {
        **setting,
        "success_rate": result.success_rate,
        "mean_iterations": result.mean_iterations,
        "converged_share": float(np.mean(converged)) if converged else float("nan"),
        "episodes": len(result.episodes),
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the evaluation and write its files.

    :param argv: command-line arguments (None: ``sys.argv[1:]``).
    :return: the report (as written to report.json).
    """
    args = parse_args(EvaluateArgs, argv, __doc__.splitlines()[0])
    check_env_id(args.env)
    caps, sizes = list(args.sweeps.caps), list(args.sweeps.sizes)
    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    device = resolve_device(args.device)
    planner = load_planner(args.checkpoint, device)
    # 0 keeps the checkpoint's own setting
    planner.set_solver(
        **{k: v for k, v in (("patience", args.solver.patience), ("tol", args.solver.tol)) if v}
    )
    if args.solver.halting:
        planner.set_solver(halting=args.solver.halting)
    if args.solver.readout_tol >= 0:
        planner.set_solver(readout_tol=args.solver.readout_tol)
    if args.solver.readout_signal:
        planner.set_solver(readout_signal=args.solver.readout_signal)
    if args.solver.readout_fresh_tol >= 0:
        planner.set_solver(readout_fresh_tol=args.solver.readout_fresh_tol)
    if args.solver.readout_warm_check is not None:
        planner.set_solver(readout_warm_check=args.solver.readout_warm_check)
    if args.solver.stall_patience >= 0:
        planner.set_solver(stall_patience=args.solver.stall_patience)
    max_iters = args.solver.max_iters or planner.config.max_iters
    family = planner.task.get("family")
    env_family = env_task_description(gym.make(args.env, **args.env_options))["family"]
    if env_family != family:
        raise ValueError(f"checkpoint plans for {family!r} tasks, but {args.env} is {env_family!r}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    is_maze = family == "maze"
    total = (
        args.episodes * (2 if args.sweeps.cold else 1) + 2 * len(caps) * args.sweeps.sweep_episodes
    )
    total += len(sizes) * args.sweeps.sweep_episodes if is_maze else 0
    bar = tqdm(total=total, desc="evaluate", disable=not args.progress)
    started = time.perf_counter()

    def make() -> gym.Env:
        return gym.make(args.env, **args.env_options)

    main_result = _evaluate(planner, make, args.episodes, args, device, bar, max_iters=max_iters)
    depth = depth_report(main_result, args.n_buckets)
    cold_result, cold_depth = None, None
    if args.sweeps.cold:
        cold_result = _evaluate(
            planner, make, args.episodes, args, device, bar, max_iters=max_iters, warm_start=False
        )
        cold_depth = depth_report(cold_result, args.n_buckets)
    forced = []
    for cap in caps:
        capped = _evaluate(
            planner, make, args.sweeps.sweep_episodes, args, device, bar, max_iters=cap
        )
        fixed = _evaluate(
            planner, make, args.sweeps.sweep_episodes, args, device, bar,
            max_iters=cap, halting="fixed_depth", warm_start=False,
        )  # fmt: skip
        forced.append(_row(capped, cap=cap, halting="adaptive (capped)"))
        forced.append(_row(fixed, cap=cap, halting="fixed depth"))
    size_rows = []
    if is_maze:
        for size in sizes:
            cap = args.sweeps.size_max_iters or 8 * size

            def make_sized(size: int = size) -> gym.Env:
                return gym.make("FPR/Maze-v0", size=size, max_episode_steps=4 * size * size)

            result = _evaluate(
                planner, make_sized, args.sweeps.sweep_episodes, args, device, bar, max_iters=cap
            )
            size_rows.append(_row(result, size=size, cap=cap))
    bar.close()
    elapsed = time.perf_counter() - started
    warnings = halting_warnings(depth["halting"], f"{args.env} (warm start)")
    if cold_depth is not None:
        warnings += halting_warnings(cold_depth["halting"], f"{args.env} (cold)")
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)

    report: dict[str, Any] = {
        "env": args.env,
        "checkpoint": args.checkpoint,
        "args": flat_values(args),
        "seconds": elapsed,
        "solver": {
            "halting": planner.config.halting,
            "tol": planner.config.tol,
            "patience": planner.config.patience,
            "readout_tol": planner.config.readout_tol,
            "readout_signal": planner.config.readout_signal,
            "readout_fresh_tol": planner.config.readout_fresh_tol,
            "readout_warm_check": planner.config.readout_warm_check,
            "hold_plans": args.solver.hold_plans,
            "replan_on_repeat": args.solver.replan_on_repeat,
            "readout_patience": planner.config.readout_patience,
            "stall_patience": planner.config.stall_patience,
            "max_iters": max_iters,
        },
        "warnings": warnings,
        "events": {
            "warm": event_report(main_result),
            "cold": None if cold_result is None else event_report(cold_result),
        },
        "depth": depth,
        "cold_depth": cold_depth,
        "episode_iterations": episode_iterations(main_result, cold_result),
        "forced_depth": forced,
        "size_sweep": size_rows,
        "decisions": [asdict(d) for d in main_result.decisions],
        "episodes": [asdict(e) for e in main_result.episodes],
    }
    (out / "report.json").write_text(json.dumps(json_safe(report), indent=1, allow_nan=False))
    _write_markdown(out / "report.md", report, args)
    plot_depth(main_result, depth, str(out / "depth_vs_difficulty.png"), cold_result, cold_depth)
    if report["events"]["warm"] is not None:
        plot_events(main_result, str(out / "iterations_along_episodes.png"))
    if forced:
        adaptive_rows = [r for r in forced if r["halting"] == "adaptive (capped)"]
        fixed_rows = [r for r in forced if r["halting"] == "fixed depth"]
        plot_sweep(
            adaptive_rows,
            "cap",
            "iteration cap (adaptive halting)",
            str(out / "success_vs_cap.png"),
            log_x=True,
        )
        plot_sweep(
            fixed_rows, "cap", "fixed depth", str(out / "success_vs_fixed_depth.png"), log_x=True
        )
    if size_rows:
        plot_sweep(size_rows, "size", "maze side", str(out / "success_vs_size.png"))
    _log_tensorboard(out, report)
    return report


def _halting_markdown(shares: dict[str, float]) -> str:
    return markdown_table(list(shares), [[shares[flag] for flag in shares]])


def _write_markdown(path: Path, report: dict[str, Any], args: EvaluateArgs) -> None:
    parts = [
        f"# Evaluation of `{report['checkpoint']}` on `{report['env']}`",
        "",
        f"{args.episodes} greedy episodes (seeds {args.seed}..{args.seed + args.episodes - 1}); "
        f"{report['seconds']:.0f} s in all.",
        "",
        f"Solver: `{report['solver']['halting']}` halting, cap {report['solver']['max_iters']}.",
        "",
        f"Difficulty: the env's `info[{args.difficulty_key!r}]` of each state.",
        "",
        "## Iterations against the difficulty of the state (warm start within episodes)",
        "",
        depth_markdown(report["depth"]),
        "",
        "Why decisions halted (shares):",
        "",
        _halting_markdown(report["depth"]["halting"]),
        "",
        f"Decisions solved from scratch because the agent came back to a state of its episode: "
        f"{report['depth']['replanned']}; episodes ended in a loop: "
        f"{report['depth']['looped_episodes']}.",
    ]
    if report["cold_depth"] is not None:
        parts += [
            "",
            "## The same episodes, every decision solved cold",
            "",
            "Each state's own depth, with nothing carried over from the decision before:",
            "",
            depth_markdown(report["cold_depth"]),
            "",
            _halting_markdown(report["cold_depth"]["halting"]),
            "",
            episode_iterations_markdown(report["episode_iterations"]),
        ]
    for start, events in report["events"].items():
        if events is not None:
            parts += [
                "",
                f"## Where the world changes ({start} start)",
                "",
                event_markdown(events),
            ]
    if report["warnings"]:
        parts += ["", "## Warnings", ""] + [f"- {w}" for w in report["warnings"]]
    if report["forced_depth"]:
        parts += ["", "## Forced-depth sweep", ""]
        for halting in ("adaptive (capped)", "fixed depth"):
            rows = [r for r in report["forced_depth"] if r["halting"] == halting]
            parts += [f"{halting}:", "", sweep_markdown(rows, "cap", "cap"), ""]
        monotone = _monotone(
            [r for r in report["forced_depth"] if r["halting"] == "adaptive (capped)"]
        )
        parts.append(
            "Success rises monotonically with the cap."
            if monotone
            else "Success is not monotone in the cap (see the rows above)."
        )
    if report["size_sweep"]:
        parts += [
            "",
            "## Size sweep",
            "",
            sweep_markdown(report["size_sweep"], "size", "maze side"),
        ]
    path.write_text("\n".join(parts) + "\n")


def _monotone(rows: list[dict[str, Any]]) -> bool:
    values = [r["success_rate"] for r in rows]
    return all(b >= a for a, b in itertools.pairwise(values))


def _log_tensorboard(out: Path, report: dict[str, Any]) -> None:
    writer = SummaryWriter(str(out / "tensorboard"))
    depth = report["depth"]
    for i, bucket in enumerate(depth["buckets"]):
        writer.add_scalar("depth/iterations_mean_by_bucket", bucket["iterations"]["mean"], i)
        if np.isfinite(bucket["success_rate"]):
            writer.add_scalar("depth/success_by_bucket", bucket["success_rate"], i)
    if np.isfinite(depth["spearman_iterations_difficulty"]):
        writer.add_scalar("depth/spearman", depth["spearman_iterations_difficulty"], 0)
    writer.add_scalar("depth/success_rate", depth["success_rate"], 0)
    for row in report["forced_depth"]:
        tag = "adaptive" if row["halting"].startswith("adaptive") else "fixed"
        writer.add_scalar(f"forced_depth/{tag}_success", row["success_rate"], row["cap"])
    for row in report["size_sweep"]:
        writer.add_scalar("size/success", row["success_rate"], row["size"])
        writer.add_scalar("size/iterations", row["mean_iterations"], row["size"])
    writer.add_text("report", (out / "report.md").read_text())
    writer.close()


if __name__ == "__main__":
    result = cli(main)
    print((Path(result["args"]["out"]) / "report.md").read_text())
