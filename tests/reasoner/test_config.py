"""ReasonerConfig: defaults are valid and every bad value raises ValueError naming its field."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fpr_agents.reasoner import ReasonerConfig

BAD_VALUES: list[tuple[str, object]] = [
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
]


def test_defaults_are_valid() -> None:
    config = ReasonerConfig()
    assert config.head_dim == 16
    assert config.mlp_hidden == 128


@pytest.mark.parametrize(("field", "value"), BAD_VALUES)
def test_bad_value_raises_naming_the_field(field: str, value: object) -> None:
    if field == "n_heads" and value == 8:
        # 64 / 8 = 8 is a multiple of 4: valid; an odd head width is not.
        ReasonerConfig(n_heads=8)
        with pytest.raises(ValueError, match="n_heads"):
            ReasonerConfig(d_model=24, n_heads=4)  # head width 6, not a multiple of 4
        return
    with pytest.raises(ValueError, match=f"ReasonerConfig.{field}"):
        ReasonerConfig(**{field: value})


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
def test_any_value_is_accepted_or_rejected_by_name(field: str, value: object) -> None:
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
