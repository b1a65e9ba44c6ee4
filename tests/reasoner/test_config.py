"""ReasonerConfig and its two parts, ArchitectureConfig and SolverConfig: defaults are valid, every
bad value raises ValueError naming its field (in the part that owns it), and the flat fields split
into the parts exactly once and join back unchanged."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fpr_agents.reasoner import ArchitectureConfig, ReasonerConfig, SolverConfig
from fpr_agents.reasoner.config import ARCHITECTURE_FIELDS, READOUT_SIGNALS, SOLVER_FIELDS

BAD_VALUES: list[tuple[str, Any]] = [
    ("d_model", 0),
    ("d_model", 2.5),
    ("n_heads", 0),
    ("n_heads", 3),  # does not divide 64
    ("n_heads", 8),  # head width 8 is fine; see below for an odd width
    ("n_layers", 0),
    ("mlp_ratio", 0.0),
    ("mlp_ratio", -1.0),
    ("attention", "yes"),
    ("conv_kernel", 0),
    ("conv_kernel", 4),
    ("mlp_kernel", 0),
    ("mlp_kernel", 2),
    ("position_embedding", -1),
    ("position_embedding", 2.5),
    ("edge_embedding", -1),
    ("edge_embedding", 1.5),
    ("mirror_views", 1),
    ("gate_init_layer", 0.0),
    ("gate_init_layer", 1.0),
    ("gate_init_iter", 1.5),
    ("gate_init_iter", -0.1),
    ("block_style", "residual"),
    ("tol", -1e-3),
    ("tol", float("nan")),
    ("max_iters", 0),
    ("max_iters", True),
    ("halting", "act"),
    ("fixed_depth", 0),
    ("readout_tol", -0.1),
    ("readout_patience", 0),
    ("readout_decided", 1.5),
    ("readout_fresh_tol", float("inf")),
    ("readout_warm_check", 1),
    ("readout_signal", "logits"),
    ("hold_decided", 1.5),
    ("stall_patience", -1),
    ("eta0", 0.0),
    ("eta0", 1.5),
    ("patience", 0),
    ("gamma", 1.0),
    ("gamma", 0.0),
    ("eta_min", 0.0),
    ("eta_min", 2.0),
    ("z0_mode", "ones"),
    ("z0_std", 0.0),
    ("z0_seed", -1),
    ("divergence_limit", -5.0),
    ("rope_base", 1.0),
    ("eps", 0.0),
    ("residual_eps", -1e-6),
]


def test_defaults_are_valid() -> None:
    config = ReasonerConfig()
    assert config.head_dim == 16
    assert config.mlp_hidden == 128


@pytest.mark.parametrize(("field", "value"), BAD_VALUES)
def test_bad_value_raises_naming_the_field(field: str, value: Any) -> None:
    if field == "n_heads" and value == 8:
        # 64 / 8 = 8 is a multiple of 4: valid; an odd head width is not.
        ReasonerConfig(n_heads=8)
        with pytest.raises(ValueError, match="n_heads"):
            ReasonerConfig(d_model=24, n_heads=4)  # head width 6, not a multiple of 4
        return
    with pytest.raises(ValueError, match=f"ReasonerConfig.{field}"):
        ReasonerConfig(**{field: value})


@pytest.mark.parametrize("signal", READOUT_SIGNALS)
def test_every_readout_signal_is_a_valid_solver_setting(signal: str) -> None:
    assert "plan" in READOUT_SIGNALS
    config = ReasonerConfig().with_solver(readout_signal=signal)
    assert config.readout_signal == signal
    assert SolverConfig(readout_signal=signal).readout_signal == signal


def test_head_width_not_checked_without_attention() -> None:
    config = ReasonerConfig(d_model=24, n_heads=4, attention=False)
    assert config.d_model == 24


@settings(max_examples=60, deadline=None)
@given(
    field=st.sampled_from([f.name for f in dataclasses.fields(ReasonerConfig)]),
    value=st.one_of(
        st.integers(-5, 200),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from(["gated", "learned", "random", "bogus", None]),
        st.booleans(),
    ),
)
def test_any_value_is_accepted_or_rejected_by_name(field: str, value: Any) -> None:
    try:
        config = ReasonerConfig(**{field: value})
    except ValueError as error:
        message = str(error)
        assert message.startswith("ReasonerConfig.")
        named = message.split()[0].removeprefix("ReasonerConfig.")
        # The field itself, or the field it conflicts with (n_heads vs d_model, eta_min vs eta0).
        assert named in {field, "n_heads", "eta_min"}
    except TypeError as error:  # comparisons of None with numbers
        pytest.fail(f"{field}={value!r} raised TypeError instead of ValueError: {error}")
    else:
        assert getattr(config, field) == value  # fails for an accepted NaN, as it should


FLAT_FIELDS = [f.name for f in dataclasses.fields(ReasonerConfig)]
# Not the defaults, so that a part that dropped or swapped a field would show.
CHANGED: dict[str, Any] = {
    "d_model": 32,
    "n_heads": 2,
    "n_layers": 2,
    "mlp_ratio": 3.0,
    "attention": False,
    "conv_kernel": 5,
    "mlp_kernel": 3,
    "position_embedding": 9,
    "edge_embedding": 7,
    "mirror_views": True,
    "gate_init_layer": 0.6,
    "gate_init_iter": 0.4,
    "block_style": "prenorm",
    "rope_base": 50.0,
    "eps": 1e-5,
    "tol": 2e-3,
    "max_iters": 99,
    "halting": "readout",
    "fixed_depth": 7,
    "readout_tol": 0.02,
    "readout_patience": 3,
    "readout_decided": 0.6,
    "readout_fresh_tol": 0.1,
    "readout_warm_check": True,
    "readout_signal": "choices",
    "hold_decided": 0.9,
    "stall_patience": 32,
    "eta0": 0.9,
    "patience": 5,
    "gamma": 0.25,
    "eta_min": 0.01,
    "z0_mode": "random",
    "z0_std": 0.5,
    "z0_seed": 3,
    "divergence_limit": 1e3,
    "residual_eps": 1e-7,
}


def test_changed_values_change_every_field() -> None:
    default = ReasonerConfig()
    assert sorted(CHANGED) == sorted(FLAT_FIELDS)
    assert all(getattr(default, name) != value for name, value in CHANGED.items())


def test_split_covers_every_field_exactly_once() -> None:
    architecture = [f.name for f in dataclasses.fields(ArchitectureConfig)]
    solver = [f.name for f in dataclasses.fields(SolverConfig)]
    assert tuple(architecture) == ARCHITECTURE_FIELDS and tuple(solver) == SOLVER_FIELDS
    assert not set(architecture) & set(solver)
    assert sorted(architecture + solver) == sorted(FLAT_FIELDS)
    assert "eps" in architecture  # RMSNorm's: the weights were trained with it
    assert {"tol", "max_iters", "halting", "residual_eps"} <= set(solver)


@pytest.mark.parametrize(("field", "value"), BAD_VALUES)
def test_each_part_validates_its_own_fields(field: str, value: Any) -> None:
    if field == "n_heads" and value == 8:
        return  # valid at d_model=64 (see above)
    part, other = (
        (ArchitectureConfig, SolverConfig)
        if field in ARCHITECTURE_FIELDS
        else (SolverConfig, ArchitectureConfig)
    )
    with pytest.raises(ValueError, match=rf"^{part.__name__}\.{field} "):
        part(**{field: value})
    with pytest.raises(TypeError, match=field):
        other(**{field: value})  # the field is not the other part's


def test_every_field_has_a_bad_value() -> None:
    assert {field for field, _ in BAD_VALUES} == set(FLAT_FIELDS)


def test_cross_field_checks_stay_within_a_part() -> None:
    with pytest.raises(ValueError, match=r"^ArchitectureConfig\.n_heads must divide d_model=30"):
        ArchitectureConfig(d_model=30, n_heads=4)
    with pytest.raises(ValueError, match=r"^SolverConfig\.eta_min must be <= eta0=0.5"):
        SolverConfig(eta0=0.5, eta_min=0.75)


def test_flat_config_is_both_parts() -> None:
    config = ReasonerConfig(d_model=32, tol=1e-3)
    assert isinstance(config, ArchitectureConfig) and isinstance(config, SolverConfig)
    assert config.d_model == 32 and config.tol == 1e-3 and config.head_dim == 8
    assert config.architecture == ArchitectureConfig(d_model=32)
    assert config.solver == SolverConfig(tol=1e-3)
    assert type(config.architecture) is ArchitectureConfig
    assert type(config.solver) is SolverConfig
    assert dataclasses.replace(config, max_iters=5).max_iters == 5


def test_flat_dict_to_parts_and_back() -> None:
    flat = dataclasses.asdict(ReasonerConfig(**CHANGED))  # type: ignore[arg-type]
    architecture = ArchitectureConfig(**{k: flat[k] for k in ARCHITECTURE_FIELDS})
    solver = SolverConfig(**{k: flat[k] for k in SOLVER_FIELDS})
    joined = ReasonerConfig.from_parts(architecture, solver)
    assert dataclasses.asdict(joined) == flat
    assert list(dataclasses.asdict(joined)) == FLAT_FIELDS
    config = ReasonerConfig(**flat)
    assert ReasonerConfig.from_parts(config.architecture, config.solver) == config
    assert dataclasses.asdict(config.architecture) == {k: flat[k] for k in ARCHITECTURE_FIELDS}
    assert dataclasses.asdict(config.solver) == {k: flat[k] for k in SOLVER_FIELDS}


def test_from_parts_reads_each_part_only() -> None:
    first = ReasonerConfig(**CHANGED)
    second = ReasonerConfig()
    joined = ReasonerConfig.from_parts(first, second)  # first's architecture, second's solver
    assert joined.architecture == first.architecture and joined.solver == second.solver


def test_differences_compare_the_architecture_only() -> None:
    stored = ReasonerConfig(d_model=32)
    assert stored.differences(dataclasses.replace(stored, tol=0.5, max_iters=3)) == {}
    other = dataclasses.replace(stored, d_model=64, eps=1e-5, tol=0.5)
    assert stored.differences(other) == {"d_model": (32, 64), "eps": (1e-6, 1e-5)}
    assert stored.architecture.differences(other) == stored.differences(other)


def test_with_solver_changes_the_solver_only() -> None:
    config = ReasonerConfig(d_model=32)
    changed = config.with_solver(max_iters=7, halting="readout")
    assert changed.max_iters == 7 and changed.halting == "readout"
    assert changed.architecture == config.architecture and config.max_iters == 64
    with pytest.raises(ValueError, match=r"\['d_model'\] shape the weights"):
        config.with_solver(d_model=32)  # named, even when the value would not change
    with pytest.raises(ValueError, match=r"\['max_iter'\] are no solver fields"):
        config.with_solver(max_iter=7)
    with pytest.raises(ValueError, match=r"SolverConfig\.patience"):
        config.with_solver(patience=0)


def test_residual_and_rmsnorm_epsilons_are_separate() -> None:
    config = ReasonerConfig(eps=1e-4)
    assert config.residual_eps == 1e-6 and math.isclose(config.architecture.eps, 1e-4)
