"""What the model benchmarks (``bench/reasoner.py``, ``bench/halting.py``, ``bench/training.py``)
share: the device and autocast, interleaved timing with medians, planner loading, and a report of
tables that ends with the table of ratios, their aims and whether each aim is met.

Method, as in ``bench/envs.py``: every workload is warmed up, then the workloads compared with
each other take turns, round after round (the order reversed every other round, a garbage
collection before each turn), so load that comes and goes hits both sides of a ratio alike. A
reported time is the median over rounds; a ratio is the median over rounds of the ratio taken
within one round.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from fpr_agents.device import DEVICE_CHOICES, resolve_device

__all__ = [
    "DEFAULT_CHECKPOINT",
    "DEVICE_CHOICES",
    "BenchReport",
    "LoadedPlanner",
    "RatioRow",
    "Table",
    "aim_at_least",
    "aim_at_most",
    "autocast",
    "format_report",
    "format_seconds",
    "format_table",
    "load_planner_or_random",
    "machine_description",
    "maze_reasoner_fields",
    "paired_ratio",
    "resolve_bench_device",
    "synchronize",
    "time_call",
    "time_in_turns",
    "torch_threads",
]

DEFAULT_CHECKPOINT = "fpr_agents/checkpoints/maze.safetensors"


# ------------------------------------------------------------------------------------------------
# Device.
# ------------------------------------------------------------------------------------------------


def resolve_bench_device(name: str) -> torch.device:
    """The device of a bench: ``auto`` (CUDA when present, else CPU), ``cpu`` or ``cuda``.

    :param name: one of ``auto``, ``cpu``, ``cuda``.
    :return: the torch device.
    """
    if name not in DEVICE_CHOICES:
        raise ValueError(f"--device must be one of {DEVICE_CHOICES}, got {name!r}")
    return resolve_device(name)


def autocast(device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast on CUDA; nothing on the CPU (CPU results are float32).

    :param device: the bench's device.
    :return: a context manager.
    """
    if device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA kernels run asynchronously).

    :param device: the bench's device.
    """
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ------------------------------------------------------------------------------------------------
# Timing.
# ------------------------------------------------------------------------------------------------


def time_call(call: Callable[[], object], device: torch.device, min_seconds: float = 0.0) -> float:
    """Seconds per call of ``call``: run it once, then again until ``min_seconds`` have passed.

    :param call: the work to time.
    :param device: synchronised before the clock starts and after each call.
    :param min_seconds: least total time to run for (0: exactly one call).
    :return: mean seconds per call over this measurement.
    """
    synchronize(device)
    count = 0
    start = time.perf_counter()
    now = start
    while count == 0 or now - start < min_seconds:
        call()
        synchronize(device)
        count += 1
        now = time.perf_counter()
    return (now - start) / count


def time_in_turns(
    calls: Mapping[str, Callable[[], object]],
    device: torch.device,
    rounds: int,
    min_seconds: float = 0.0,
    warmup: Mapping[str, Callable[[], object]] | None = None,
) -> dict[str, list[float]]:
    """Warm up every call, then time them in turns: ``rounds`` rounds, the order reversed every
    other round, a garbage collection before each turn.

    :param calls: name -> the work to time.
    :param device: where the work runs.
    :param rounds: timed rounds (at least 1).
    :param min_seconds: least time of one turn (see :func:`time_call`).
    :param warmup: name -> a cheaper call that warms the same code (default: the call itself).
    :return: name -> seconds per call in each round.
    """
    if rounds < 1:
        raise ValueError(f"time_in_turns: rounds must be at least 1, got {rounds}")
    warmup = warmup or {}
    for name, call in calls.items():
        warmup.get(name, call)()
    synchronize(device)
    times: dict[str, list[float]] = {name: [] for name in calls}
    order = list(calls)
    for round_index in range(rounds):
        for name in order if round_index % 2 == 0 else order[::-1]:
            gc.collect()
            times[name].append(time_call(calls[name], device, min_seconds))
    return times


def paired_ratio(numerators: Sequence[float], denominators: Sequence[float]) -> float:
    """Median over rounds of ``numerator / denominator`` of the same round.

    :param numerators: one value per round.
    :param denominators: one value per round, same length.
    :return: the median ratio.
    """
    if len(numerators) != len(denominators) or not numerators:
        raise ValueError(
            f"paired_ratio: need two equally long, non-empty series, got {len(numerators)} "
            f"and {len(denominators)}"
        )
    return statistics.median(a / b for a, b in zip(numerators, denominators, strict=True))


# ------------------------------------------------------------------------------------------------
# Planners.
# ------------------------------------------------------------------------------------------------


def maze_reasoner_fields() -> dict[str, Any]:
    """The maze planner's architecture as ``train/configs/maze.yaml`` sets it for pretraining
    (what the shipped maze checkpoint is trained with), for the random-weight fallback.

    :return: ReasonerConfig fields.
    """
    from fpr_agents.reasoner import ReasonerConfig
    from train.common import CONFIG_DIR, load_yaml_section

    section = load_yaml_section("maze.yaml", "pretrain", CONFIG_DIR)
    names = {f.name for f in dataclasses.fields(ReasonerConfig)}
    return {key: value for key, value in section.items() if key in names}


@dataclass
class LoadedPlanner:
    """A planner for a bench, and where its weights came from.

    :param planner: the planner network, on the bench's device, in eval mode.
    :param trained: whether the weights come from a checkpoint.
    :param origin: one line for the report (the checkpoint, or why the weights are random).
    """

    planner: Any
    trained: bool
    origin: str


def load_planner_or_random(
    checkpoint: str | None,
    device: torch.device,
    fallback_env: str,
    fallback_reasoner: Mapping[str, Any],
    seed: int = 0,
) -> LoadedPlanner:
    """Load a trained planner, or build a randomly initialised one when there is no checkpoint.

    :param checkpoint: a ``.safetensors`` planner checkpoint (of ``train.pretrain`` or
        ``train.ppo --policy planner``); None or a missing file gives random weights.
    :param device: where to put the planner.
    :param fallback_env: env id whose task description the random planner is built for.
    :param fallback_reasoner: ReasonerConfig fields of the random planner.
    :param seed: seed of the random weights.
    :return: the planner and its origin.
    """
    from fpr_agents.policy.planner import PlannerNetwork
    from train.common import load_planner

    if checkpoint and Path(checkpoint).exists():
        planner = load_planner(checkpoint, device)
        return LoadedPlanner(planner, True, f"trained planner from {checkpoint}")
    import gymnasium as gym

    import envs  # noqa: F401  (registers the FPR ids)

    env = gym.make(fallback_env)
    unwrapped: Any = env.unwrapped  # the FPR env, with its task_description
    task = unwrapped.task_description
    env.close()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        planner = PlannerNetwork(task, dict(fallback_reasoner))
    why = "no checkpoint given" if not checkpoint else f"{checkpoint} does not exist"
    origin = (
        f"RANDOM WEIGHTS ({why}): a planner built for {fallback_env}, seed {seed}; "
        "accuracies and successes mean nothing, costs and ratios still do"
    )
    return LoadedPlanner(planner.to(device).eval(), False, origin)


# ------------------------------------------------------------------------------------------------
# Reports.
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RatioRow:
    """One row of the final table: a measured ratio (or share) against its baseline and aim.

    :param label: what is compared.
    :param baseline: what it is compared against.
    :param ours: our side, formatted.
    :param theirs: the baseline's side, formatted.
    :param value: the ratio (or share), a finite number when measured.
    :param shown: the value as printed (``"0.42x"``, ``"100.0%"``).
    :param aim: the aim as printed (``"<= 0.5x"``), or ``"-"`` when the issue sets none.
    :param met: whether the aim is met; None when there is no aim.
    """

    label: str
    baseline: str
    ours: str
    theirs: str
    value: float
    shown: str
    aim: str = "-"
    met: bool | None = None


def given_options(args: Any, names: Sequence[str]) -> dict[str, Any]:
    """The command-line options among ``names`` that were given (not None), by name: the
    overrides of a bench's config.

    :param args: a bench's parsed argument dataclass (its overriding fields default to None).
    :param names: option names, equal to the config fields they override.
    :return: name -> value.
    """
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def aim_at_least(value: float, threshold: float) -> bool:
    """Whether a measured value meets an aim of the form ``>= threshold``.

    :param value: the measured value.
    :param threshold: the aim.
    :return: True when met (False for NaN).
    """
    return bool(value >= threshold)


def aim_at_most(value: float, threshold: float) -> bool:
    """Whether a measured value meets an aim of the form ``<= threshold``.

    :param value: the measured value.
    :param threshold: the aim.
    :return: True when met (False for NaN).
    """
    return bool(value <= threshold)


@dataclass
class Table:
    """A titled table of formatted cells.

    :param title: printed above the table.
    :param header: column names.
    :param rows: rows of cells, each as long as the header.
    """

    title: str
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for row in self.rows:
            if len(row) != len(self.header):
                raise ValueError(
                    f"table {self.title!r}: row {row} has {len(row)} cells, the header "
                    f"{len(self.header)}"
                )


@dataclass
class BenchReport:
    """What one run of a bench measured.

    :param name: the bench (``"reasoner"``, ``"halting"``, ``"training"``).
    :param machine: one line describing the machine.
    :param method: one line on how it was measured.
    :param notes: lines printed before the tables (what the weights are, what was skipped).
    :param tables: the tables of measurements.
    :param ratios: the final table's rows.
    :param values: every measured number by key (for tests and scripts).
    """

    name: str
    machine: str
    method: str
    notes: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    ratios: list[RatioRow] = field(default_factory=list)
    values: dict[str, float] = field(default_factory=dict)

    def ratio(self, label: str) -> RatioRow:
        """The ratio row with this label.

        :param label: the row's label.
        :return: the row.
        """
        for row in self.ratios:
            if row.label == label:
                return row
        raise ValueError(f"no ratio row {label!r} in the {self.name} report")


def _cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what ``platform`` says."""
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine_description(device: torch.device) -> str:
    """One line: the device, CPU, cores, load, torch threads and versions.

    :param device: the bench's device.
    :return: the description.
    """
    if device.type == "cuda":
        where = f"{torch.cuda.get_device_name(device)} (bf16 autocast), host {_cpu_model()}"
    else:
        where = f"CPU {_cpu_model()} (float32)"
    load = f", load average {os.getloadavg()[0]:.1f} at start" if hasattr(os, "getloadavg") else ""
    return (
        f"{where}; {os.cpu_count()} CPU cores{load}; torch {torch.__version__} with "
        f"{torch.get_num_threads()} thread(s); Python {platform.python_version()}"
    )


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table with padded columns (readable as plain text too).

    :param header: column names.
    :param rows: rows of cells.
    :return: the table's lines joined.
    """
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


RATIO_HEADER = ["comparison", "baseline", "ours", "baseline value", "ratio", "aim", "met"]


def format_report(report: BenchReport) -> str:
    """The notes and tables, then, last, the ratios with their aims.

    :param report: a finished run.
    :return: the text to print.
    """
    parts = [f"Machine: {report.machine}", f"Method: {report.method}"]
    parts += [f"Note: {note}" for note in report.notes]
    for table in report.tables:
        parts += ["", f"{table.title}:", "", format_table(table.header, table.rows)]
    ratio_rows = [
        [
            row.label,
            row.baseline,
            row.ours,
            row.theirs,
            row.shown,
            row.aim,
            {True: "yes", False: "NO", None: "-"}[row.met],
        ]
        for row in report.ratios
    ]
    parts += [
        "",
        "Ratios (medians over rounds of ratios taken within a round; the aim each bench sets):",
        "",
        format_table(RATIO_HEADER, ratio_rows),
    ]
    return "\n".join(parts)


def format_seconds(seconds: float) -> str:
    """A duration with a unit that keeps three significant digits.

    :param seconds: the duration.
    :return: e.g. ``"12.3 ms"``, ``"1.42 s"``.
    """
    if not math.isfinite(seconds):
        return "-"
    if seconds >= 1.0:
        return f"{seconds:.3g} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} us"


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run with ``threads`` torch CPU threads, then restore the previous count.

    :param threads: threads to use (at least 1).
    :return: a context manager.
    """
    if threads < 1:
        raise ValueError(f"--threads must be at least 1, got {threads}")
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
