"""Pretraining batches from real ARC tasks read only the demonstrations, each held out in turn."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from train.arc_data import ArcTaskOracle

ENV = "FPR/ARC-Concepts-v0"


def _write_task(folder: Path, name: str, n_demos: int) -> None:
    rng = np.random.default_rng(len(name))
    demos = [
        {
            "input": rng.integers(0, 3, (3, 3)).tolist(),
            "output": rng.integers(0, 3, (3, 3)).tolist(),
        }
        for _ in range(n_demos)
    ]
    # The test pair alone has a 4x7 answer: a batch cell count of 28 would mean it was read.
    test = [{"input": [[1] * 7] * 4, "output": [[2] * 7] * 4}]
    (folder / f"{name}.json").write_text(json.dumps({"train": demos, "test": test}))


def test_batches_hold_demonstrations_only(tmp_path: Path) -> None:
    _write_task(tmp_path, "three", 3)
    _write_task(tmp_path, "lonely", 1)  # one demonstration: nothing to hold out, left out
    source = ArcTaskOracle(ENV, (str(tmp_path),), concept_share=0.0)
    assert [task.task_id for task in source.tasks] == ["three"]
    batch = source.sample(16, np.random.default_rng(0), 0.5)
    assert batch.cells.shape[0] == 16
    assert batch.cells.flatten(1).sum(-1).tolist() == [9] * 16  # 3x3 demo answers, never 4x7
    # The demonstrations a sample shows are the task's other demos (two of them here).
    k = source.n_demos
    shapes = batch.obs["shapes"].numpy().reshape(16, 2 * k + 2, 2)  # demo ins, outs, test, canvas
    assert (shapes[:, :2] == 3).all() and (shapes[:, 2:k] == 0).all()
    assert (shapes[:, k : k + 2] == 3).all() and (shapes[:, k + 2 : 2 * k] == 0).all()


def test_concept_share_and_seeds(tmp_path: Path) -> None:
    _write_task(tmp_path, "three", 3)
    source = ArcTaskOracle(ENV, (str(tmp_path),), concept_share=1.0)
    batch = source.sample(8, np.random.default_rng(0), 0.5)
    assert (batch.cells.flatten(1).sum(-1) != 9).any()  # generated concept tasks, other sizes
    mixed = ArcTaskOracle(ENV, (str(tmp_path),), concept_share=0.5)
    first = mixed.sample(8, np.random.default_rng(3), 0.5)
    again = mixed.sample(8, np.random.default_rng(3), 0.5)
    assert all(np.array_equal(first.obs[k], again.obs[k]) for k in first.obs)


def test_bad_settings_are_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="concept_share must be in"):
        ArcTaskOracle(ENV, ("arc-agi-1/training",), concept_share=1.5)
    with pytest.raises(ValueError, match="at least one task split"):
        ArcTaskOracle(ENV, ())
    _write_task(tmp_path, "lonely", 1)
    with pytest.raises(ValueError, match="has 2 demonstrations"):
        ArcTaskOracle(ENV, (str(tmp_path),))


def test_pretrain_trains_on_real_tasks_when_asked(tmp_path: Path) -> None:
    from fpr_agents.arguments import UserError, parse_args
    from train.pretrain import PretrainArgs, make_source

    _write_task(tmp_path, "three", 3)
    given = ["--env", ENV, "--arc-tasks", str(tmp_path), "--concept-share", "0"]
    source = make_source(parse_args(PretrainArgs, given, ""))
    assert isinstance(source, ArcTaskOracle) and len(source.tasks) == 1
    with pytest.raises(UserError, match=f"--arc-tasks {tmp_path / 'nope'}: "):
        make_source(
            parse_args(PretrainArgs, ["--env", ENV, "--arc-tasks", str(tmp_path / "nope")], "")
        )
