"""train.evaluate --env-kwargs: keyword arguments reach the env the episodes are played in."""

from __future__ import annotations

import pytest
import torch

from train import evaluate


def test_env_kwargs_must_be_a_json_object() -> None:
    assert evaluate.EvaluateArgs(env_kwargs='{"max_depth": 1}').env_options == {"max_depth": 1}
    assert evaluate.EvaluateArgs().env_options == {}
    with pytest.raises(ValueError, match="not JSON"):
        evaluate.EvaluateArgs(env_kwargs="{max_depth: 1}")
    with pytest.raises(ValueError, match="JSON object"):
        evaluate.EvaluateArgs(env_kwargs="[1]")


@pytest.mark.slow
def test_arc_episodes_on_chosen_families(tmp_path) -> None:
    torch.set_num_threads(1)
    report = evaluate.main(
        [
            "--env", "FPR/ARC-Concepts-v0", "--checkpoint", "arc_concepts",
            "--env-kwargs", '{"families": ["denoise"], "max_depth": 1}', "--episodes", "4",
            "--parallel", "4", "--caps", "", "--sizes", "", "--no-cold", "--no-progress",
            "--threads", "1", "--out", str(tmp_path),
        ]
    )  # fmt: skip
    assert report is not None and (tmp_path / "report.json").exists()
