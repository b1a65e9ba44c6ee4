"""Environment speed benchmark: env steps per second and puzzle generation rates.

Each environment is stepped with random actions through ``gymnasium.make`` (the wrappers a user
gets), resets included, and compared with its peer measured in the same run:

- the maze (``FPR/Maze-9x9-v0``, and the same env on MiniGrid's own 8x8 empty room) against
  MiniGrid's ``MiniGrid-Empty-8x8-v0`` (and MiniGrid's empty room at our 9x9 size);
- ARC (``FPR/ARC-AGI-1-v0``: the ARC-AGI-1 training tasks on a 30x30 canvas) against ARCLE's
  ``ARCLE/O2ARCv2Env-v0`` (the same tasks and canvas), when the optional ``bench`` extra
  (``arcle``) is installed;
- Sudoku (``FPR/Sudoku-9x9-v0``) steps, and generation of unique 9x9 Sudokus and 15x15 mazes.

"Random valid actions" are drawn uniformly among the true entries of ``action_masks()``, and the
mask is computed at every step, since an agent must compute it too. "No mask" draws uniformly
over the whole action space. MiniGrid has no mask (every one of its actions is legal), and ARCLE
has none either: its valid actions are drawn as described in ``arcle_valid_sampler``.

Method: every workload is warmed up, then timed ``repeats`` times for ``seconds`` each. Within a
section the workloads take turns (round-robin, the order reversed every other round), so a ratio
is the median over rounds of ``ours / peer`` measured side by side in time; the rates shown are
the medians over rounds. ``python -m bench.envs --help`` lists the options.
"""

from __future__ import annotations

import gc
import importlib
import importlib.metadata
import importlib.util
import os
import platform
import random
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

import envs  # noqa: F401  (registers the FPR/... ids)
from envs.maze_generators import MAZE_GENERATORS, generate_maze
from envs.sudoku_solver import generate_puzzle
from fpr_agents.arguments import parse_args
from fpr_agents.device import DEVICE_CHOICES

__all__ = [
    "BenchConfig",
    "BenchReport",
    "Comparison",
    "ComparisonResult",
    "EnvsBenchArgs",
    "RateResult",
    "Workload",
    "arcle_uniform_sampler",
    "arcle_valid_sampler",
    "build_comparisons",
    "build_workloads",
    "format_report",
    "machine_description",
    "main",
    "masked_sampler",
    "measure_rate",
    "run_benchmarks",
    "uniform_sampler",
]

ARCLE_ENV_ID = "ARCLE/O2ARCv2Env-v0"
MINIGRID_ENV_ID = "MiniGrid-Empty-8x8-v0"
ARC_EPISODE_STEPS = 1000  # FPR/ARC-AGI-1-v0's max_episode_steps, given to ARCLE too
SUDOKU_GENERATION_AIM = 100.0  # unique 9x9 Sudokus per second
# arcle asks for `pygame`, which would clash with minigrid's `pygame-ce` (same module): --no-deps.
ARCLE_SKIP_REASON = "skipped: arcle not installed (pip install --no-deps arcle==0.2.6)"

# MiniGrid's Empty-8x8 room as a maze layout: walls around a 6x6 floor, the start at the top left
# and the goal at the bottom right, as MiniGrid places them.
MINIGRID_EMPTY_8X8_LAYOUT = "\n".join(
    ["########", "#S.....#", *(["#......#"] * 4), "#.....G#", "########"]
)

UnitOfWork = Callable[[], object]


@dataclass(frozen=True)
class BenchConfig:
    """How long and how often to measure.

    :param repeats: timed rounds per workload (the median is reported).
    :param seconds: length of one timed round of one workload, in seconds.
    :param warmup_seconds: untimed running of each workload before its first round.
    :param seed: seed of every environment and random action.
    """

    repeats: int = 5
    seconds: float = 1.0
    warmup_seconds: float = 0.3
    seed: int = 0

    def __post_init__(self) -> None:
        if self.repeats < 1:
            raise ValueError(f"BenchConfig.repeats must be at least 1, got {self.repeats}")
        if not self.seconds > 0:
            raise ValueError(f"BenchConfig.seconds must be positive, got {self.seconds}")
        if self.warmup_seconds < 0:
            raise ValueError(
                f"BenchConfig.warmup_seconds must not be negative, got {self.warmup_seconds}"
            )


QUICK_CONFIG = BenchConfig(repeats=2, seconds=0.04, warmup_seconds=0.01)


@dataclass(frozen=True)
class Workload:
    """One thing to time.

    :param key: short id used by comparisons (``"maze_9x9_masked"``).
    :param section: workloads of one section take turns, so their ratios are fair.
    :param label: the row's name in the table.
    :param actions: how actions are chosen (``"random valid"``, ``"random, no mask"``, ``"-"``).
    :param unit: what is counted per second (``"steps/s"``, ``"puzzles/s"``, ``"mazes/s"``).
    :param setup: called once with the seed; returns a function doing one unit of work.
    :param skip_reason: why the workload cannot run here (then ``setup`` is never called).
    """

    key: str
    section: str
    label: str
    actions: str
    unit: str
    setup: Callable[[int], UnitOfWork]
    skip_reason: str | None = None


@dataclass(frozen=True)
class RateResult:
    """The measured rates of one workload.

    :param workload: what was measured.
    :param rates: one rate per timed round, in ``workload.unit``; empty when skipped.
    """

    workload: Workload
    rates: tuple[float, ...] = ()

    @property
    def skipped(self) -> bool:
        """Whether the workload did not run.

        :return: True when there are no rates.
        """
        return not self.rates

    @property
    def median(self) -> float:
        """Median rate over rounds.

        :return: the median, or NaN when skipped.
        """
        return statistics.median(self.rates) if self.rates else float("nan")


@dataclass(frozen=True)
class Comparison:
    """A ratio with an aim: ``ours / baseline >= min_ratio``.

    :param label: the row's name in the ratio table.
    :param ours: key of our workload.
    :param baseline: key of the peer workload (same section), or None for a fixed target rate.
    :param min_ratio: the aim on the ratio.
    :param target_rate: the baseline rate when ``baseline`` is None.
    :param baseline_label: how the table names the baseline.
    """

    label: str
    ours: str
    baseline: str | None
    min_ratio: float
    baseline_label: str
    target_rate: float | None = None

    def __post_init__(self) -> None:
        if (self.baseline is None) == (self.target_rate is None):
            raise ValueError(
                f"comparison {self.label!r}: give exactly one of baseline and target_rate"
            )


@dataclass(frozen=True)
class ComparisonResult:
    """A measured comparison.

    :param comparison: what was compared.
    :param ratio: median over rounds of ``ours / baseline`` (NaN when a side was skipped).
    :param ours_rate: our median rate.
    :param baseline_rate: the peer's median rate, or the target rate.
    """

    comparison: Comparison
    ratio: float
    ours_rate: float
    baseline_rate: float

    @property
    def skipped(self) -> bool:
        """Whether a side of the comparison did not run.

        :return: True when the ratio is NaN.
        """
        return bool(np.isnan(self.ratio))

    @property
    def met(self) -> bool | None:
        """Whether the aim is met.

        :return: True or False, or None when skipped.
        """
        return None if self.skipped else self.ratio >= self.comparison.min_ratio


@dataclass
class BenchReport:
    """Everything one run measured.

    :param config: how it was measured.
    :param results: one per workload, in table order.
    :param comparisons: one per comparison, in table order.
    :param machine: a one-line description of the machine and package versions.
    """

    config: BenchConfig
    results: list[RateResult] = field(default_factory=list)
    comparisons: list[ComparisonResult] = field(default_factory=list)
    machine: str = ""

    def result(self, key: str) -> RateResult:
        """The result of one workload.

        :param key: the workload's key.
        :return: its result.
        """
        for result in self.results:
            if result.workload.key == key:
                return result
        raise ValueError(f"no workload with key {key!r} in this report")


# ------------------------------------------------------------------------------------------------
# Timing.
# ------------------------------------------------------------------------------------------------


def measure_rate(unit_of_work: UnitOfWork, seconds: float) -> float:
    """Run ``unit_of_work`` repeatedly for about ``seconds`` (at least once) and time it.

    :param unit_of_work: does one unit (one env step, one puzzle).
    :param seconds: how long to keep running.
    :return: units per second.
    """
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    now = start
    while count == 0 or now < deadline:
        unit_of_work()
        count += 1
        now = time.perf_counter()
    return count / (now - start)


def _time_section(workloads: Sequence[Workload], config: BenchConfig) -> list[RateResult]:
    """Warm up each workload, then time them in turns, ``config.repeats`` rounds."""
    units: list[UnitOfWork] = []
    for index, workload in enumerate(workloads):
        with warnings.catch_warnings():
            # Gymnasium's passive checker warns about some peers' spaces at make/first step.
            warnings.simplefilter("ignore")
            unit = workload.setup(config.seed + index)
            measure_rate(unit, config.warmup_seconds)
        units.append(unit)
    rates: list[list[float]] = [[] for _ in workloads]
    order = list(range(len(workloads)))
    for round_index in range(config.repeats):
        # Reversing every other round cancels a first/last position effect.
        for index in order if round_index % 2 == 0 else order[::-1]:
            gc.collect()  # the previous workload's garbage is not charged to this one
            rates[index].append(measure_rate(units[index], config.seconds))
    return [
        RateResult(workload=workload, rates=tuple(rate))
        for workload, rate in zip(workloads, rates, strict=True)
    ]


# ------------------------------------------------------------------------------------------------
# Action samplers and steppers.
# ------------------------------------------------------------------------------------------------


def masked_sampler(env: gym.Env, rng: random.Random) -> Callable[[], int]:
    """Random valid actions: uniform among the actions ``action_masks()`` allows, the mask
    computed at each call (its cost is part of the step's).

    :param env: an env whose unwrapped instance has ``action_masks()``.
    :param rng: source of the choices.
    :return: a function giving one action per call.
    """
    unwrapped: Any = env.unwrapped
    action_masks = unwrapped.action_masks
    uniform = rng.random

    def sample() -> int:
        valid = np.flatnonzero(action_masks())  # (n_valid,)
        if not valid.size:
            raise ValueError(f"{unwrapped.spec.id if unwrapped.spec else env}: no valid action")
        return int(valid[int(uniform() * valid.size)])

    return sample


def uniform_sampler(env: gym.Env, rng: random.Random) -> Callable[[], int]:
    """Random actions without a mask: uniform over a ``Discrete`` action space.

    :param env: an env with a ``Discrete`` action space.
    :param rng: source of the choices.
    :return: a function giving one action per call.
    """
    action_space: Any = env.action_space
    n_actions = int(action_space.n)
    uniform = rng.random

    def sample() -> int:
        return int(uniform() * n_actions)

    return sample


def arcle_valid_sampler(env: gym.Env, rng: random.Random) -> Callable[[], dict[str, Any]]:
    """Random valid actions for ARCLE, which has no mask: an operation uniform among its 35, and
    a selection inside the current grid: one cell for the flood fills (which ignore any other
    selection), else a rectangle (top-left corner uniform in the grid, bottom-right corner
    uniform below and right of it).

    :param env: an ARCLE env (``O2ARCv2Env``, possibly wrapped).
    :param rng: source of the choices.
    :return: a function giving one ``{"selection": (H, W) int8, "operation": int}`` per call.
    """
    arcle_env: Any = env.unwrapped
    side_rows, side_cols = int(arcle_env.H), int(arcle_env.W)
    n_operations = len(arcle_env.operations)
    single_cell = {
        index
        for index, name in enumerate(arcle_env.op_names)
        if name.lower().startswith("floodfill")
    }
    randrange = rng.randrange
    uniform = rng.random

    def sample() -> dict[str, Any]:
        grid_rows, grid_cols = arcle_env.current_state["grid_dim"].tolist()
        operation = int(uniform() * n_operations)
        selection = np.zeros((side_rows, side_cols), dtype=np.int8)  # (H, W)
        if operation in single_cell:
            selection[randrange(grid_rows), randrange(grid_cols)] = 1
        else:
            top, left = randrange(grid_rows), randrange(grid_cols)
            bottom, right = randrange(top, grid_rows), randrange(left, grid_cols)
            selection[top : bottom + 1, left : right + 1] = 1
        return {"selection": selection, "operation": operation}

    return sample


def arcle_uniform_sampler(env: gym.Env, rng: random.Random) -> Callable[[], dict[str, Any]]:
    """Random actions for ARCLE without regard to its state, as its action space's ``sample()``
    draws them: any operation, each of the H x W cells selected with probability 1/2.

    :param env: an ARCLE env (``O2ARCv2Env``, possibly wrapped).
    :param rng: source of the choices.
    :return: a function giving one ``{"selection": (H, W) int8, "operation": int}`` per call.
    """
    arcle_env: Any = env.unwrapped
    shape = (int(arcle_env.H), int(arcle_env.W))
    n_operations = len(arcle_env.operations)
    cells = np.random.default_rng(rng.randrange(2**32))
    uniform = rng.random

    def sample() -> dict[str, Any]:
        selection = cells.integers(0, 2, shape, dtype=np.int8)  # (H, W)
        return {"selection": selection, "operation": int(uniform() * n_operations)}

    return sample


Sampler = Callable[[gym.Env, random.Random], Callable[[], Any]]


def _stepper(make_env: Callable[[], gym.Env], sampler: Sampler) -> Callable[[int], UnitOfWork]:
    """A workload setup: make the env, reset it with the seed, step with ``sampler``'s actions,
    resetting when an episode ends (resets are part of the measured cost)."""

    def setup(seed: int) -> UnitOfWork:
        env = make_env()
        env.reset(seed=seed)
        sample = sampler(env, random.Random(seed))
        step, reset = env.step, env.reset

        def one_step() -> None:
            _, _, terminated, truncated, _ = step(sample())
            if terminated or truncated:
                reset()

        return one_step

    return setup


def _make_arcle() -> gym.Env:
    """ARCLE's O2ARCv2 env, truncated like FPR/ARC-AGI-1-v0."""
    importlib.import_module("arcle")  # registers the ARCLE/... ids
    return gym.make(ARCLE_ENV_ID, max_episode_steps=ARC_EPISODE_STEPS)


def _arcle_stepper(sampler: Sampler) -> Callable[[int], UnitOfWork]:
    """As ``_stepper``, and seeds numpy's global generator: ARCLE draws its tasks from it."""
    stepper = _stepper(_make_arcle, sampler)

    def setup(seed: int) -> UnitOfWork:
        np.random.seed(seed)  # ARCLE's reset draws tasks from numpy's global generator
        return stepper(seed)

    return setup


def _sudoku_generation(n_blanks: int | None) -> Callable[[int], UnitOfWork]:
    """A workload setup: generate one unique 9x9 Sudoku per unit."""

    def setup(seed: int) -> UnitOfWork:
        rng = np.random.default_rng(seed)
        return lambda: generate_puzzle(9, n_blanks, rng)

    return setup


def _maze_generation(size: int, generator: str) -> Callable[[int], UnitOfWork]:
    """A workload setup: generate one maze per unit."""

    def setup(seed: int) -> UnitOfWork:
        rng = np.random.default_rng(seed)
        return lambda: generate_maze(size, rng, generator)

    return setup


def _maker(env_id: str, **kwargs: Any) -> Callable[[], gym.Env]:
    return lambda: gym.make(env_id, **kwargs)


# ------------------------------------------------------------------------------------------------
# What is measured.
# ------------------------------------------------------------------------------------------------

VALID = "random valid"
NO_MASK = "random, no mask"
MINIGRID_ACTIONS = "random (all 7 legal)"


def build_workloads(arcle_available: bool) -> list[Workload]:
    """Every workload, in table order.

    :param arcle_available: whether ARCLE can be imported; if not, its rows are skipped.
    :return: the workloads.
    """
    maze_9 = _maker("FPR/Maze-9x9-v0")
    maze_room = _maker(
        "FPR/Maze-9x9-v0", layout=MINIGRID_EMPTY_8X8_LAYOUT, max_episode_steps=4 * 8 * 8
    )
    arc_agi_1 = _maker("FPR/ARC-AGI-1-v0")
    sudoku = _maker("FPR/Sudoku-9x9-v0")
    arcle_skip = None if arcle_available else ARCLE_SKIP_REASON
    arcle_label = f"{ARCLE_ENV_ID} (ARC-AGI-1 training, 30x30)"
    steps = "steps/s"
    workloads = [
        Workload(
            "maze_9x9_masked",
            "maze",
            "FPR/Maze-9x9-v0",
            VALID,
            steps,
            _stepper(maze_9, masked_sampler),
        ),
        Workload(
            "maze_9x9_no_mask",
            "maze",
            "FPR/Maze-9x9-v0",
            NO_MASK,
            steps,
            _stepper(maze_9, uniform_sampler),
        ),
        Workload(
            "maze_room_masked",
            "maze",
            "FPR maze on MiniGrid's 8x8 empty room",
            VALID,
            steps,
            _stepper(maze_room, masked_sampler),
        ),
        Workload(
            "minigrid_8x8",
            "maze",
            MINIGRID_ENV_ID,
            MINIGRID_ACTIONS,
            steps,
            _stepper(_maker(MINIGRID_ENV_ID), uniform_sampler),
        ),
        Workload(
            "minigrid_9x9",
            "maze",
            f"{MINIGRID_ENV_ID} with size=9",
            MINIGRID_ACTIONS,
            steps,
            _stepper(_maker(MINIGRID_ENV_ID, size=9), uniform_sampler),
        ),
        Workload(
            "arc_masked",
            "arc",
            "FPR/ARC-AGI-1-v0 (30x30)",
            VALID,
            steps,
            _stepper(arc_agi_1, masked_sampler),
        ),
        Workload(
            "arc_no_mask",
            "arc",
            "FPR/ARC-AGI-1-v0 (30x30)",
            NO_MASK,
            steps,
            _stepper(arc_agi_1, uniform_sampler),
        ),
        Workload(
            "arc_concepts_masked",
            "arc",
            "FPR/ARC-v0 (generated concepts, 30x30)",
            VALID,
            steps,
            _stepper(_maker("FPR/ARC-v0"), masked_sampler),
        ),
        Workload(
            "arcle_valid",
            "arc",
            arcle_label,
            VALID,
            steps,
            _arcle_stepper(arcle_valid_sampler),
            arcle_skip,
        ),
        Workload(
            "arcle_no_mask",
            "arc",
            arcle_label,
            NO_MASK,
            steps,
            _arcle_stepper(arcle_uniform_sampler),
            arcle_skip,
        ),
        Workload(
            "sudoku_masked",
            "sudoku",
            "FPR/Sudoku-9x9-v0",
            VALID,
            steps,
            _stepper(sudoku, masked_sampler),
        ),
        Workload(
            "sudoku_no_mask",
            "sudoku",
            "FPR/Sudoku-9x9-v0",
            NO_MASK,
            steps,
            _stepper(sudoku, uniform_sampler),
        ),
        Workload(
            "sudoku_gen_45",
            "generation",
            "unique 9x9 Sudoku, 45 blanks",
            "-",
            "puzzles/s",
            _sudoku_generation(45),
        ),
        Workload(
            "sudoku_gen_max",
            "generation",
            "unique 9x9 Sudoku, max blanks (minimal)",
            "-",
            "puzzles/s",
            _sudoku_generation(None),
        ),
    ]
    workloads += [
        Workload(
            f"maze_gen_{name}",
            "generation",
            f"15x15 maze, {name}",
            "-",
            "mazes/s",
            _maze_generation(15, name),
        )
        for name in MAZE_GENERATORS
    ]
    return workloads


def build_comparisons() -> list[Comparison]:
    """The ratio table's rows: each of our workloads against its named baseline and aim.

    :return: the comparisons.
    """
    sudoku_target = f"aim {SUDOKU_GENERATION_AIM:.0f} puzzles/s"
    return [
        Comparison(
            "maze 9x9 (valid) vs MiniGrid Empty-8x8",
            "maze_9x9_masked",
            "minigrid_8x8",
            1.0,
            MINIGRID_ENV_ID,
        ),
        Comparison(
            "maze 9x9 (valid) vs MiniGrid Empty at 9x9",
            "maze_9x9_masked",
            "minigrid_9x9",
            1.0,
            f"{MINIGRID_ENV_ID}, size=9",
        ),
        Comparison(
            "maze on the 8x8 empty room vs MiniGrid",
            "maze_room_masked",
            "minigrid_8x8",
            1.0,
            MINIGRID_ENV_ID,
        ),
        Comparison(
            "ARC-AGI-1 (valid) vs ARCLE (valid)", "arc_masked", "arcle_valid", 2.0, ARCLE_ENV_ID
        ),
        Comparison(
            "ARC-AGI-1 (no mask) vs ARCLE (no mask)",
            "arc_no_mask",
            "arcle_no_mask",
            2.0,
            ARCLE_ENV_ID,
        ),
        Comparison(
            "9x9 unique Sudoku, 45 blanks",
            "sudoku_gen_45",
            None,
            1.0,
            sudoku_target,
            SUDOKU_GENERATION_AIM,
        ),
        Comparison(
            "9x9 unique Sudoku, max blanks",
            "sudoku_gen_max",
            None,
            1.0,
            sudoku_target,
            SUDOKU_GENERATION_AIM,
        ),
    ]


def _compare(comparison: Comparison, results: dict[str, RateResult]) -> ComparisonResult:
    """Median over rounds of the paired ratio (rounds of one section ran side by side)."""
    ours = results[comparison.ours]
    if comparison.target_rate is not None:
        target = comparison.target_rate
        ratio = ours.median / target if not ours.skipped else float("nan")
        return ComparisonResult(comparison, ratio, ours.median, target)
    baseline = results[str(comparison.baseline)]
    if ours.workload.section != baseline.workload.section:
        raise ValueError(
            f"comparison {comparison.label!r}: {comparison.ours!r} and {comparison.baseline!r} "
            "are in different sections, so they were not timed side by side"
        )
    if ours.skipped or baseline.skipped:
        return ComparisonResult(comparison, float("nan"), ours.median, baseline.median)
    paired = [a / b for a, b in zip(ours.rates, baseline.rates, strict=True)]
    return ComparisonResult(comparison, statistics.median(paired), ours.median, baseline.median)


def run_benchmarks(config: BenchConfig, arcle_available: bool | None = None) -> BenchReport:
    """Measure every workload and comparison.

    :param config: how long and how often.
    :param arcle_available: whether to run ARCLE; None: whenever it can be imported.
    :return: the report.
    """
    machine = machine_description()
    if arcle_available is None:
        arcle_available = importlib.util.find_spec("arcle") is not None
    workloads = build_workloads(arcle_available)
    sections: dict[str, list[Workload]] = {}
    for workload in workloads:
        if workload.skip_reason is None:
            sections.setdefault(workload.section, []).append(workload)
    measured: dict[str, RateResult] = {}
    for section_workloads in sections.values():
        for result in _time_section(section_workloads, config):
            measured[result.workload.key] = result
    results = [measured.get(w.key, RateResult(workload=w)) for w in workloads]
    by_key = {result.workload.key: result for result in results}
    comparisons = [_compare(comparison, by_key) for comparison in build_comparisons()]
    return BenchReport(config, results, comparisons, machine)


# ------------------------------------------------------------------------------------------------
# Reporting.
# ------------------------------------------------------------------------------------------------


def _cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what ``platform`` says."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine_description() -> str:
    """One line: CPU, core count, load (other processes compete for the cores), Python and the
    versions of the packages compared.

    :return: the description.
    """
    packages = ("numpy", "gymnasium", "minigrid", "arcle")
    versions = ", ".join(f"{name} {_version(name)}" for name in packages)
    load = f"; load average {os.getloadavg()[0]:.1f} at start" if hasattr(os, "getloadavg") else ""
    return (
        f"{_cpu_model()}, {os.cpu_count()} CPU cores{load}; Python {platform.python_version()}; "
        f"{versions}"
    )


def _format_rate(rate: float) -> str:
    if np.isnan(rate):
        return "-"
    return f"{rate:,.0f}" if rate >= 100 else f"{rate:,.1f}"


def _format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table with padded columns (readable as text too)."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


def format_report(report: BenchReport) -> str:
    """The rates table, then, last, the ratios with their aims.

    :param report: a finished run.
    :return: the text to print.
    """
    config = report.config
    rate_rows = []
    for result in report.results:
        workload = result.workload
        if result.skipped:
            spread = workload.skip_reason or "skipped"
            low = high = "-"
        else:
            spread = f"{100 * (max(result.rates) - min(result.rates)) / result.median:.0f}%"
            low, high = _format_rate(min(result.rates)), _format_rate(max(result.rates))
        rate_rows.append(
            [
                workload.label,
                workload.actions,
                workload.unit,
                _format_rate(result.median),
                low,
                high,
                spread,
            ]
        )
    ratio_rows = []
    for compared in report.comparisons:
        comparison = compared.comparison
        met = {True: "yes", False: "NO", None: "skipped"}[compared.met]
        ratio = "-" if compared.skipped else f"{compared.ratio:.2f}x"
        ratio_rows.append(
            [
                comparison.label,
                comparison.baseline_label,
                _format_rate(compared.ours_rate),
                _format_rate(compared.baseline_rate),
                ratio,
                f">= {comparison.min_ratio:g}x",
                met,
            ]
        )
    return "\n".join(
        [
            f"Machine: {report.machine}",
            f"Method: {config.repeats} timed rounds of {config.seconds:g} s per workload after "
            f"{config.warmup_seconds:g} s of warm-up; medians; seed {config.seed}.",
            "",
            _format_table(
                ["workload", "actions", "unit", "median", "min", "max", "spread"], rate_rows
            ),
            "",
            "Ratios (median over rounds of ours / baseline, timed side by side):",
            "",
            _format_table(
                ["comparison", "baseline", "ours", "baseline rate", "ratio", "aim", "met"],
                ratio_rows,
            ),
        ]
    )


@dataclass
class EnvsBenchArgs:
    """Arguments of ``python -m bench.envs``: every field is a ``--flag``."""

    quick: bool = field(
        default=False, metadata={"help": "a few seconds in all (tiny rounds; for tests)"}
    )
    repeats: int | None = field(
        default=None, metadata={"help": "timed rounds per workload (none: the config's)"}
    )
    seconds: float | None = field(
        default=None, metadata={"help": "seconds per timed round (none: the config's)"}
    )
    seed: int = field(default=0, metadata={"help": "seed of envs and random actions"})
    device: str = field(
        default="auto",
        metadata={
            "help": "accepted for a uniform CLI; environments run on the CPU",
            "choices": DEVICE_CHOICES,
        },
    )


def main(argv: Sequence[str] | None = None) -> BenchReport:
    """Run the benchmark from command-line arguments and print its tables.

    :param argv: arguments without the program name (None: ``sys.argv[1:]``).
    :return: the report that was printed.
    """
    args = parse_args(
        EnvsBenchArgs,
        argv,
        "Env steps per second and puzzle generation rates, with ratios to peers.",
    )
    base = QUICK_CONFIG if args.quick else BenchConfig()
    config = BenchConfig(
        repeats=base.repeats if args.repeats is None else args.repeats,
        seconds=base.seconds if args.seconds is None else args.seconds,
        warmup_seconds=base.warmup_seconds,
        seed=args.seed,
    )
    report = run_benchmarks(config)
    print(format_report(report))
    return report


if __name__ == "__main__":
    main()
