"""The demo entry point: arguments, device choice, and a very short end-to-end run."""

from __future__ import annotations

import pytest
import torch

from fpr_agents.reasoner.__main__ import main, parse_args, resolve_device


def test_resolve_device() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


def test_parse_args_defaults_and_choices() -> None:
    args = parse_args([])
    assert (args.device, args.seed, args.steps, args.attention) == ("auto", 0, 300, False)
    with pytest.raises(SystemExit):
        parse_args(["--device", "tpu"])


@pytest.mark.parametrize("extra", [[], ["--attention"]])
def test_demo_runs_and_prints_the_table(
    extra: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    main(["--steps", "3", "--device", "cpu", "--threads", "1", *extra])
    output = capsys.readouterr().out
    assert "chain length  iterations  residual  converged" in output
    assert output.count("6x6") == 6 and output.count("8x8") == 6
    assert "mean iterations: easy (short chains)" in output
