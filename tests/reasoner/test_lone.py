"""A lone sample's bookkeeping on Python numbers gives the batched loop's result bit for bit,
for a solve of one sample and for the last sample of a batch, under every halting rule."""

from __future__ import annotations

import pytest
import torch

from fpr_agents.reasoner.lone import as_float32
from fpr_agents.reasoner.solve import SolveResult, _iterate, check_grid_inputs, initial_latent
from tests.reasoner.factories import small_reasoner


def corner_readout(z: torch.Tensor, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The decision reads cell (0, 0): a four-way choice from its first four channels."""
    probs = torch.softmax(4.0 * z[:, 0, 0, :4].float(), dim=-1)  # (A, 4)
    return probs, probs.amax(dim=-1) >= 0.4


# (halting, solver fields): each sends samples through a different exit of the loop
CASES = [
    ("fixed_point", {"tol": 0.0, "patience": 3, "eta_min": 0.1, "stall_patience": 0}),  # eta_min
    ("fixed_point", {"tol": 0.0, "stall_patience": 3}),  # the stall guard
    ("readout", {"readout_tol": 0.05, "readout_patience": 2, "stall_patience": 20}),
    ("readout", {"readout_warm_check": True, "readout_fresh_tol": 0.3}),
    ("learned", {"stall_patience": 5}),
    ("fixed_depth", {"fixed_depth": 2}),  # capped before it converges
]


def _solve(halting: str, solver: dict[str, object], batch: int, lone: bool) -> SolveResult:
    reasoner = small_reasoner(seed=3, attention=False, max_iters=40, **solver)
    generator = torch.Generator().manual_seed(11)
    x = torch.randn(batch, 5, 5, 16, generator=generator)
    z0 = torch.randn(batch, 5, 5, 16, generator=generator)
    mask = torch.ones(batch, 5, 5, dtype=torch.bool)
    for sample in range(batch):  # grids of sides 5, 4, 3, ... padded top-left
        side = 5 - sample % 3
        mask[sample, side:] = False
        mask[sample, :, side:] = False
    valid = check_grid_inputs(x, mask, None, "test")
    start = initial_latent(reasoner.config, x, valid, z0, None)
    max_iters = reasoner.config.fixed_depth if halting == "fixed_depth" else 40
    with torch.no_grad():
        return _iterate(
            reasoner, x, valid, start, max_iters=max_iters, tol=reasoner.config.tol,
            halting=halting, return_trace=True,
            readout=corner_readout if halting == "readout" else None, lone=lone,
        )  # fmt: skip


@pytest.mark.parametrize("batch", [1, 5])
@pytest.mark.parametrize(("halting", "solver"), CASES)
def test_lone_bookkeeping_matches_the_batched_loop(
    halting: str, solver: dict[str, object], batch: int
) -> None:
    lone = _solve(halting, solver, batch, lone=True)
    batched = _solve(halting, solver, batch, lone=False)
    for name in ("z", "iterations", "residual", "converged", "diverged", "stalled"):
        assert torch.equal(getattr(lone, name), getattr(batched, name)), name
    assert lone.readout_stable is not None and batched.readout_stable is not None
    assert torch.equal(lone.readout_stable, batched.readout_stable)
    assert lone.trace == batched.trace
    if batch > 1 and halting != "fixed_depth":
        # samples halt at different iterations, so the last one is handed over mid-solve
        assert len(set(lone.iterations.tolist())) > 1


def test_the_cases_reach_every_exit() -> None:
    seen: set[str] = set()
    for halting, solver in CASES:
        result = _solve(halting, solver, 5, lone=True)
        for name in ("converged", "stalled", "readout_stable", "capped"):
            flag = getattr(result, name)
            if flag is not None and bool(flag.any()):
                seen.add(name)
    assert seen == {"converged", "stalled", "readout_stable", "capped"}


def test_thresholds_are_compared_in_float32_as_torch_compares() -> None:
    value = torch.tensor([0.7])  # float32 0.7 lies below the double 0.7
    assert not bool(value < 0.7)
    assert not value.item() < as_float32(0.7)
    assert value.item() < 0.7  # the comparison a plain Python number would make
