"""Pretraining's named components: built by name with validated parameters, refused where they
do not fit, and each one doing what it says."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from train.objectives import (
    OBJECTIVES,
    REGULARISERS,
    STARTS,
    EventSwitchStart,
    GoalSwitchStart,
    LatentNoise,
    ResidualPenalty,
    SetObjective,
    WavefrontObjective,
    build_components,
)

DEFAULTS = {
    "wave_speeds": (1.5, 3.0), "residual_weight": 0.5, "latent_noise": 0.3, "goal_switch": 0.5,
    "switch_iters": 8, "switch_removes": 0.0, "event_switch": 0.5, "event_iters": 8,
    "event_kinds": ("door",),
}  # fmt: skip


def test_each_name_builds_its_component() -> None:
    built = build_components(
        "wavefront", REGULARISERS, ("event_switch",), **DEFAULTS, family="maze"
    )
    assert isinstance(built.objective, WavefrontObjective)
    assert (built.objective.low, built.objective.high) == (1.5, 3.0)
    kinds = [type(r) for r in built.regularisers]
    assert kinds == [ResidualPenalty, LatentNoise]
    assert built.unroll_noise == 0.3  # only the latent noise acts in the unroll
    assert [type(s) for _, s in built.starts] == [EventSwitchStart]
    plain = build_components("set", (), (), **DEFAULTS)
    assert isinstance(plain.objective, SetObjective) and plain.unroll_noise == 0.0
    assert set(OBJECTIVES) == {"set", "wavefront"} and set(STARTS) == {
        "goal_switch",
        "event_switch",
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"objective": "nope"}, "--objective: unknown 'nope'"),
        ({"regularisers": ("dropout",)}, r"--regularisers: unknown \['dropout'\]"),
        ({"objective": "wavefront", "wave_speeds": (2.0,)}, "two numbers LO,HI"),
        ({"objective": "wavefront", "wave_speeds": (3.0, 1.0)}, "0 < LO <= HI"),
        ({"objective": "wavefront", "wave_speeds": (1.0, float("inf"))}, "finite"),
        ({"regularisers": ("residual",), "residual_weight": float("nan")}, "--residual-weight"),
        ({"regularisers": ("latent_noise",), "latent_noise": -0.1}, "--latent-noise"),
        ({"starts": ("goal_switch",), "goal_switch": 2.0}, r"--goal-switch must be a share"),
        ({"starts": ("goal_switch",), "switch_iters": 0}, "--switch-iters must be >= 1"),
        ({"starts": ("event_switch",), "event_kinds": ("quake",)}, r"unknown kinds \['quake'\]"),
        ({"starts": ("event_switch",), "event_iters": 0}, "--event-iters must be >= 1"),
        ({"objective": "wavefront", "starts": ("goal_switch",)}, "use one or the other"),
        ({"objective": "wavefront", "family": "sudoku"}, "is for maze envs"),
        ({"starts": ("event_switch",), "family": "arc"}, "--starts event_switch is for maze"),
    ],
)
def test_bad_components_are_refused_with_the_flag(change: dict, message: str) -> None:
    kwargs = {"objective": "set", "regularisers": (), "starts": (), **DEFAULTS, **change}
    with pytest.raises(ValueError, match=message):
        build_components(**kwargs)


def test_a_start_takes_its_share_of_batches() -> None:
    class _Counting(GoalSwitchStart):
        calls = 0

        def start(self, planner, source, batch, rng):  # type: ignore[no-untyped-def]
            type(self).calls += 1
            return batch, torch.zeros(1)

    built = build_components("set", (), (), **DEFAULTS)
    built.starts = [("goal_switch", _Counting(0.25, 4, 0.0))]
    rng = np.random.default_rng(0)
    for _ in range(2000):
        built.draw_start(None, None, None, rng)  # type: ignore[arg-type]
    assert 400 < _Counting.calls < 600


def test_wavefront_asks_the_crossed_band_to_move_and_the_rest_to_hold() -> None:
    from train.oracle_data import MazeOracle

    batch = MazeOracle(extra_openings=0.0).batch_from_sizes([9, 9], np.random.default_rng(1))
    logits = torch.zeros(batch.optimal.shape)
    objective = WavefrontObjective(1.0, 2.0)
    loss, still = objective.loss(logits, batch, 3, None)
    distance = batch.extra["distance"]
    assert still is not None and bool(still[distance == 0].all())  # the goal holds still
    band = (distance > 3) & (distance <= 6)
    assert not bool(still[band].any())  # the band the wave is crossing may move
    assert torch.isfinite(loss)
