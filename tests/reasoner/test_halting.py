"""Halting rules and the stall guard on constructed maps: a contraction, a 2-cycle, a slow drift,
a map whose readout settles while far cells never do, one whose readout stays undecided, and
one whose decision goes undecided for one iteration while far cells never settle."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fpr_agents.reasoner import ReasonerConfig
from fpr_agents.reasoner.solve import solve_fixed_point

CONTRACTION, CYCLE, DRIFT, FAR_CYCLE, UNDECIDED, FLICKER = range(6)


class MapReasoner(nn.Module):
    """A 'reasoner' whose step is a known map, chosen per sample by the input's first channel:

    - CONTRACTION: ``f(z) = z / 2 + 1`` (fixed point 2 everywhere);
    - CYCLE: ``f(z) = 1 - z`` (from zeros: 0, 1, 0, 1, ... a 2-cycle);
    - DRIFT: ``f(z) = z + 0.01`` (every cell creeps on for ever);
    - FAR_CYCLE: cell (0, 0) contracts, every other cell cycles;
    - UNDECIDED: cell (0, 0) holds still at 0, every other cell cycles;
    - FLICKER: cell (0, 0) counts its first two iterations in channel 1 and reads 0
      (undecided) at the first, 3 (decided) after it; every other cell cycles.
    """

    def __init__(self, **solver: object) -> None:
        super().__init__()
        self.config = ReasonerConfig(d_model=4, attention=False, **solver)  # type: ignore[arg-type]

    def step(self, z: torch.Tensor, x: torch.Tensor, mask: torch.Tensor | None = None):
        kind = x[..., :1].round()  # (B, H, W, 1)
        contract, cycle, drift = z / 2 + 1, 1 - z, z + 0.01
        corner = torch.zeros_like(z, dtype=torch.bool)
        corner[:, 0, 0] = True
        far_cycle = torch.where(corner, contract, cycle)
        undecided = torch.where(corner, torch.zeros_like(z), cycle)
        f = torch.where(kind == CONTRACTION, contract, cycle)
        f = torch.where(kind == DRIFT, drift, f)
        f = torch.where(kind == FAR_CYCLE, far_cycle, f)
        f = torch.where(kind == UNDECIDED, undecided, f)
        count = (z[:, 0, 0, 1] + 1).clamp(max=2)  # (B,): 1 at the first iteration, then 2
        flicker = cycle.clone()
        flicker[:, 0, 0, 0] = torch.where(count == 1, 0.0, 3.0)
        flicker[:, 0, 0, 1] = count
        f = torch.where(kind == FLICKER, flicker, f)
        if mask is not None:
            f = f * mask.unsqueeze(-1).to(f.dtype)
        return f

    def halt_logit(self, z: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return torch.full((z.shape[0],), -10.0)  # the learned head never says halt


def corner_readout(z: torch.Tensor, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The decision reads cell (0, 0): a two-way choice from its first channel."""
    logits = torch.stack([z[:, 0, 0, 0], torch.zeros_like(z[:, 0, 0, 0])], dim=-1)
    probs = torch.softmax(logits, dim=-1)  # (A, 2)
    return probs, probs.amax(dim=-1) >= 0.6


def _inputs(kinds: list[int], side: int = 3) -> torch.Tensor:
    x = torch.zeros(len(kinds), side, side, 4)
    for row, kind in enumerate(kinds):
        x[row, ..., 0] = kind
    return x


def _solve(kinds: list[int], halting: str, **solver: object):
    reasoner = MapReasoner(**{"stall_patience": 16, "max_iters": 200, **solver})
    readout = corner_readout if halting == "readout" else None
    return solve_fixed_point(reasoner, _inputs(kinds), halting=halting, readout=readout)


@pytest.mark.parametrize("halting", ["fixed_point", "readout", "learned"])
def test_contraction_converges(halting: str) -> None:
    result = _solve([CONTRACTION], halting, tol=1e-4)
    assert bool(result.converged[0]) or bool(result.readout_stable[0])
    assert not bool(result.stalled[0])
    if halting != "readout":
        assert bool(result.converged[0])
        torch.testing.assert_close(result.z[0], torch.full((3, 3, 4), 2.0), atol=1e-3, rtol=0)


@pytest.mark.parametrize("halting", ["fixed_point", "readout", "learned"])
@pytest.mark.parametrize("kind", [CYCLE, DRIFT])
def test_stall_guard_stops_cycles_and_drifts(halting: str, kind: int) -> None:
    result = _solve([kind], halting)
    assert int(result.iterations[0]) < 200
    assert not bool(result.capped[0]) and not bool(result.converged[0])
    if halting == "readout" and kind == DRIFT:
        # The read corner creeps by less than readout_tol per iteration and becomes decided:
        # the rule takes a readout that slow for a settled one.
        assert bool(result.readout_stable[0])
    else:
        assert bool(result.stalled[0]) and not bool(result.readout_stable[0])


def test_stall_guard_off_runs_to_the_cap() -> None:
    result = _solve([CYCLE], "readout", stall_patience=0, max_iters=50)
    assert int(result.iterations[0]) == 50
    assert bool(result.capped[0]) and not bool(result.stalled[0])


def test_fixed_depth_has_no_stall_guard() -> None:
    result = _solve([CYCLE], "fixed_depth", fixed_depth=40)
    assert int(result.iterations[0]) == 40 and not bool(result.stalled[0])


def test_readout_halts_when_the_decision_is_made_though_far_cells_cycle() -> None:
    readout = _solve([FAR_CYCLE], "readout")
    whole = _solve([FAR_CYCLE], "fixed_point")
    assert bool(readout.readout_stable[0]) and not bool(readout.converged[0])
    assert int(readout.iterations[0]) < int(whole.iterations[0])
    assert bool(whole.stalled[0])  # the whole-latent residual never falls
    assert readout.z[0, 0, 0, 0] > 1.9  # the corner has reached its value


def test_readout_that_stays_undecided_does_not_halt() -> None:
    result = _solve([UNDECIDED], "readout", stall_patience=0, max_iters=30)
    assert not bool(result.readout_stable[0])
    assert int(result.iterations[0]) == 30


def test_readout_patience_counts_consecutive_stable_iterations() -> None:
    short = _solve([FAR_CYCLE], "readout", readout_patience=1)
    long = _solve([FAR_CYCLE], "readout", readout_patience=5)
    assert int(long.iterations[0]) == int(short.iterations[0]) + 4


def test_readout_halts_at_once_from_a_settled_warm_start() -> None:
    first = _solve([CONTRACTION], "fixed_point", tol=1e-7)
    reasoner = MapReasoner(stall_patience=16, max_iters=200, readout_patience=1)
    again = solve_fixed_point(
        reasoner, _inputs([CONTRACTION]), z0=first.z, halting="readout", readout=corner_readout
    )
    assert int(again.iterations[0]) == 1


def test_a_decision_held_since_a_warm_start_waits_for_the_rest_to_settle() -> None:
    # From its own readout-stable state the corner is decided at once, but the far cells still
    # cycle: news from them could still change the decision, so the rule does not trust it.
    first = _solve([FAR_CYCLE], "readout", readout_patience=1)
    reasoner = MapReasoner(stall_patience=16, max_iters=200, readout_patience=1)
    again = solve_fixed_point(
        reasoner, _inputs([FAR_CYCLE]), z0=first.z, halting="readout", readout=corner_readout
    )
    assert not bool(again.readout_stable[0]) and bool(again.stalled[0])
    loose = MapReasoner(stall_patience=16, max_iters=200, readout_patience=1, readout_fresh_tol=2.0)
    trusting = solve_fixed_point(
        loose, _inputs([FAR_CYCLE]), z0=first.z, halting="readout", readout=corner_readout
    )
    assert int(trusting.iterations[0]) == 1 and bool(trusting.readout_stable[0])


def test_warm_check_waits_for_the_rest_after_a_decision_comes_back() -> None:
    # A warm start decided at the start goes undecided for one iteration, then decides again
    # while the far cells still cycle: by default its decision "arrived" and is trusted; with
    # the warm check it is not (the news that unsettled it may still be travelling).
    z0 = torch.zeros(1, 3, 3, 4)
    z0[:, 0, 0, 0] = 3.0  # decided: softmax(3, 0) > 0.6
    runs = {}
    for check in (False, True):
        reasoner = MapReasoner(
            stall_patience=16, max_iters=200, readout_patience=1, readout_warm_check=check
        )
        runs[check] = solve_fixed_point(
            reasoner, _inputs([FLICKER]), z0=z0, halting="readout", readout=corner_readout
        )
    assert int(runs[False].iterations[0]) == 3 and bool(runs[False].readout_stable[0])
    assert not bool(runs[True].readout_stable[0]) and bool(runs[True].stalled[0])


@pytest.mark.parametrize("kind", [CONTRACTION, FAR_CYCLE, FLICKER])
def test_warm_check_leaves_cold_solves_alone(kind: int) -> None:
    plain = _solve([kind], "readout")
    checked = _solve([kind], "readout", readout_warm_check=True)
    assert int(checked.iterations[0]) == int(plain.iterations[0])
    assert bool(checked.readout_stable[0]) == bool(plain.readout_stable[0])


@pytest.mark.parametrize("halting", ["fixed_point", "readout", "fixed_depth", "learned"])
def test_batch_mates_do_not_change_a_result(halting: str) -> None:
    kinds = [CONTRACTION, CYCLE, DRIFT, FAR_CYCLE, UNDECIDED, FLICKER]
    alone = [_solve([kind], halting, max_iters=120) for kind in kinds]
    for order in (kinds, list(reversed(kinds)), [FAR_CYCLE, FAR_CYCLE, CYCLE]):
        batch = _solve(order, halting, max_iters=120)
        for row, kind in enumerate(order):
            single = alone[kinds.index(kind)]
            assert int(batch.iterations[row]) == int(single.iterations[0])
            for flag in ("converged", "stalled", "readout_stable", "diverged"):
                assert bool(getattr(batch, flag)[row]) == bool(getattr(single, flag)[0]), flag
            torch.testing.assert_close(batch.z[row], single.z[0])


def test_readout_mode_needs_a_readout() -> None:
    with pytest.raises(ValueError, match="needs a readout function"):
        solve_fixed_point(MapReasoner(), _inputs([CONTRACTION]), halting="readout")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("readout_tol", -0.1),
        ("readout_patience", 0),
        ("readout_decided", 1.5),
        ("stall_patience", -1),
    ],
)
def test_bad_halting_settings_name_the_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"ReasonerConfig.{field}"):
        ReasonerConfig(**{field: value})  # type: ignore[arg-type]
