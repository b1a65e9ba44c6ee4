"""The optional compiled step: same results as the eager step, a clean fallback when compiling
fails, and nothing of it in a checkpoint."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch

from fpr_agents.reasoner.compiled import CompiledStep
from fpr_agents.reasoner.training import truncated_unroll
from tests.reasoner.factories import small_reasoner

# Conv-only with a 3x3 MLP (the shipped maze planners' kind) and attention with a token-wise MLP
# (the Sudoku planners' kind), both small.
ARCHITECTURES: dict[str, dict[str, Any]] = {
    "conv": {"attention": False, "mlp_kernel": 3},
    "attention": {"attention": True, "mlp_kernel": 1},
}
ATOL = 1e-5


class NoCompilerError(RuntimeError):
    """What the failing backend raises."""


def failing_backend(graph: torch.fx.GraphModule, example_inputs: list[Any]) -> Any:
    """A torch.compile backend that always fails, as inductor does without a C compiler."""
    raise NoCompilerError("no C compiler on this machine")


def _inputs(
    generator: torch.Generator, batch: int, side: int, d: int, padded: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    x = torch.randn(batch, side, side, d, generator=generator)  # (B, H, W, d)
    z = torch.randn(batch, side, side, d, generator=generator)  # (B, H, W, d)
    mask = None
    if padded:
        mask = torch.ones(batch, side, side, dtype=torch.bool)
        mask[0, -2:, :] = False  # the first sample is a smaller grid
        mask[-1, :, -1] = False
        z = z * mask.unsqueeze(-1)
    return x, z, mask


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(ARCHITECTURES))
def test_compiled_step_and_solve_match_eager(kind: str, generator: torch.Generator) -> None:
    reasoner = small_reasoner(**ARCHITECTURES[kind])
    d = reasoner.config.d_model
    handle = reasoner.compile_step()
    assert handle is not None and reasoner.compiled_step is handle
    with torch.no_grad():
        for batch, padded in ((4, False), (3, False), (4, True)):
            x, z, mask = _inputs(generator, batch, 6, d, padded)
            torch.testing.assert_close(
                reasoner.step(z, x, mask), reasoner.eager_step(z, x, mask), atol=ATOL, rtol=ATOL
            )
    # Batches 4 and 3 of one grid size share a graph; the mask makes another.
    assert handle.graphs == 2 and handle.failure is None and handle.compile_seconds > 0

    x, _, mask = _inputs(generator, 5, 6, d, True)
    compiled = reasoner.solve(x, mask, max_iters=40, tol=1e-4)
    reasoner.compile_step(False)
    assert reasoner.compiled_step is None
    eager = reasoner.solve(x, mask, max_iters=40, tol=1e-4)
    # Samples halt at different iterations, so the compiled batch shrank as in the eager one.
    assert torch.equal(compiled.iterations, eager.iterations)
    assert torch.equal(compiled.converged, eager.converged)
    torch.testing.assert_close(compiled.residual, eager.residual, atol=1e-5, rtol=1e-2)
    torch.testing.assert_close(compiled.z, eager.z, atol=1e-4, rtol=1e-4)


@pytest.mark.slow
def test_compiled_unroll_gives_the_eager_gradients(generator: torch.Generator) -> None:
    reasoner = small_reasoner(**ARCHITECTURES["conv"]).train()
    d = reasoner.config.d_model
    x, z, mask = _inputs(generator, 4, 6, d, True)

    def gradients() -> list[torch.Tensor]:
        reasoner.zero_grad(set_to_none=True)
        out = truncated_unroll(reasoner, x, mask, z, n_no_grad=2, k_grad=2)
        out.square().mean().backward()
        return [p.grad.clone() for p in reasoner.parameters() if p.grad is not None]

    eager = gradients()
    handle = reasoner.compile_step()
    compiled = gradients()
    # Graphs: the iterations without gradient, the first with it (from the detached latent), the
    # later ones (from a latent that carries gradient).
    assert handle is not None and handle.failure is None and handle.graphs == 3
    assert len(compiled) == len(eager)
    for ours, theirs in zip(compiled, eager, strict=True):
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-4)


def test_a_failing_compiler_warns_once_and_runs_eagerly(generator: torch.Generator) -> None:
    reasoner = small_reasoner(**ARCHITECTURES["conv"])
    handle = reasoner.compile_step(backend=failing_backend)
    assert handle is not None
    x, z, mask = _inputs(generator, 3, 5, reasoner.config.d_model, True)
    with torch.no_grad():
        with pytest.warns(RuntimeWarning, match="torch.compile failed.*no C compiler"):
            first = reasoner.step(z, x, mask)
        assert torch.equal(first, reasoner.eager_step(z, x, mask))
        assert handle.failure is not None and "no C compiler" in handle.failure
        assert not handle.active
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no second warning
            again = reasoner.step(z, x, None)
            result = reasoner.solve(x, mask, max_iters=5)
    assert torch.equal(again, reasoner.eager_step(z, x, None))
    assert int(result.iterations.max()) <= 5


NO_COMPILER_SCRIPT = """
import torch
from tests.reasoner.factories import small_reasoner
reasoner = small_reasoner(attention=False, mlp_kernel=3)
handle = reasoner.compile_step()
z = torch.randn(2, 4, 4, 16)
with torch.no_grad():
    assert torch.equal(reasoner.step(z, z), reasoner.eager_step(z, z))
print(handle.failure)
"""


@pytest.mark.slow
def test_no_cxx_compiler_falls_back(tmp_path: Path) -> None:
    # Inductor without a working C++ compiler, in a fresh process with an empty kernel cache.
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, CXX=str(tmp_path / "no-such-g++"))
    env.update(TORCHINDUCTOR_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=str(root))
    done = subprocess.run(
        [sys.executable, "-c", NO_COMPILER_SCRIPT],
        cwd=root, env=env, capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    assert "C++ compiler" in done.stdout
    assert "torch.compile failed" in done.stderr and "RuntimeWarning" in done.stderr


def test_bad_input_raises_the_eager_error_and_keeps_the_compiled_step() -> None:
    reasoner = small_reasoner(**ARCHITECTURES["conv"])
    handle = reasoner.compile_step(backend="eager")  # dynamo's own backend: quick to compile
    assert handle is not None
    wrong_width = torch.zeros(2, 4, 4, reasoner.config.d_model + 1)
    with torch.no_grad(), pytest.raises(RuntimeError):
        reasoner.step(wrong_width, wrong_width)
    assert handle.failure is None and handle.active


def test_compiling_changes_no_checkpoint_and_survives_a_copy(generator: torch.Generator) -> None:
    reasoner = small_reasoner(**ARCHITECTURES["conv"])
    before = {k: v.clone() for k, v in reasoner.state_dict().items()}
    config = copy.deepcopy(reasoner.config)
    handle = reasoner.compile_step(backend="eager")
    x, z, _ = _inputs(generator, 2, 4, reasoner.config.d_model, False)
    with torch.no_grad():
        reasoner.step(z, x)
    assert handle is not None and handle.graphs == 1
    assert reasoner.state_dict().keys() == before.keys()
    assert all(torch.equal(reasoner.state_dict()[k], v) for k, v in before.items())
    assert reasoner.config == config  # no configuration field records it
    clone = copy.deepcopy(reasoner)
    assert clone.compiled_step is not None and clone.compiled_step.graphs == 0
    with torch.no_grad():
        torch.testing.assert_close(clone.step(z, x), reasoner.eager_step(z, x))
    # The same options keep the handle (and its graphs); other options make a new one.
    assert reasoner.compile_step(backend="eager") is handle
    assert reasoner.compile_step(backend="eager", max_graphs=4) is not handle


def test_disabled_handle_runs_eagerly(generator: torch.Generator) -> None:
    reasoner = small_reasoner(**ARCHITECTURES["conv"])
    handle = reasoner.compile_step(backend=failing_backend)
    assert handle is not None
    handle.enabled = False
    x, z, _ = _inputs(generator, 2, 4, reasoner.config.d_model, False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with torch.no_grad():
            reasoner.step(z, x)
    assert handle.failure is None and handle.graphs == 0


@pytest.mark.parametrize(
    "options, message",
    [({"mode": "fastest"}, "mode must be one of"), ({"max_graphs": 0}, "max_graphs must be")],
)
def test_bad_options_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        small_reasoner().compile_step(**options)
    with pytest.raises(ValueError, match=message):
        CompiledStep(lambda owner, z, x, mask: z, **options)
