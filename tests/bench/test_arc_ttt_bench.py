"""bench.arc_ttt answers real tasks with and without a fine-tune and reports time per task."""

from __future__ import annotations

import pytest

from bench import arc_ttt
from fpr_agents.arguments import UserError


@pytest.mark.slow
def test_arc_ttt_table_is_complete() -> None:
    results = arc_ttt.main(["--quick", "--votes", "2", "--batch-size", "2"])
    assert set(results) == {"vote only", "fine-tuned, 2 steps"}
    for row in results.values():
        assert row["tasks"] == 2 and row["seconds_per_task"] > 0
        assert 0.0 <= row["pass@1"] <= row["pass@2"] <= 1.0
        assert 0.0 <= row["episode success"] <= 1.0  # played from the observation alone


def test_arc_ttt_refuses_a_split_with_nothing_to_answer(tmp_path) -> None:
    with pytest.raises(UserError, match=r"--split .*no \.json task file"):
        arc_ttt.main(["--split", str(tmp_path), "--quick"])


def _concept_folder(folder, n: int) -> None:
    import json

    import numpy as np

    from envs.arc_concepts import generate_concept_task
    from train.oracle_data import ArcConceptOracle

    config = ArcConceptOracle("FPR/ARC-Concepts-v0", ("denoise",)).config
    rng = np.random.default_rng(1)
    for index in range(n):
        task = generate_concept_task(rng, config)
        keys = ("input", "output")
        pairs = {
            split: [{k: np.asarray(p[k]).tolist() for k in keys} for p in task[split]]
            for split in ("train", "test")
        }
        (folder / f"t{index}.json").write_text(json.dumps(pairs))


@pytest.mark.slow
def test_voted_episodes_submit_the_voted_answers(tmp_path) -> None:
    import numpy as np

    from envs.arc_tasks import open_task_source
    from fpr_agents.checkpoints import shipped_checkpoint
    from train.arc_ttt import TaskAnswer, vote
    from train.common import load_planner
    from train.oracle_data import ArcConceptOracle

    _concept_folder(tmp_path, 4)
    planner = load_planner(shipped_checkpoint("arc_concepts"))
    source = ArcConceptOracle("FPR/ARC-Concepts-v0", ("denoise",))
    tasks = open_task_source(str(tmp_path), max_grid=source.side)
    right = played = 0
    for task_id in tasks.task_ids:
        task = tasks.get(task_id)
        attempts, _ = vote(planner, source, task, 4, np.random.default_rng(0))
        right += TaskAnswer(attempts, (), 0.0).solves(task.test[0][1])
        played += arc_ttt.play_voted(
            planner, source, "FPR/ARC-Concepts-v0", str(tmp_path), task, 4,
            np.random.default_rng(0),
        )  # fmt: skip
    # denoise keeps the input's size, which the shape head gets right: the episode submits
    # exactly the voted answers, so it succeeds where they hold the answer
    assert played == right >= 1
