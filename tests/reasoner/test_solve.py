"""solve: per-sample halting with compaction, batch independence, warm start, FPOPT damping,
divergence guards, halting modes, initial-state modes, autocast."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fpr_agents.reasoner import (
    FixedPointReasoner,
    SolverConfig,
    relative_residual,
    solve_fixed_point,
)
from fpr_agents.reasoner.solve import measure_cells, measure_step
from tests.reasoner.factories import small_config, small_reasoner

SIZES = [(3, 4), (5, 5), (4, 6), (2, 3), (5, 2)]


def _grids(seed: int = 0, dim: int = 16) -> list[torch.Tensor]:
    """Inputs of several sizes and scales, so samples need different iteration counts."""
    generator = torch.Generator().manual_seed(seed)
    scales = [0.3, 1.0, 3.0, 0.1, 10.0]
    return [
        torch.randn(h, w, dim, generator=generator) * scale
        for (h, w), scale in zip(SIZES, scales, strict=True)
    ]


def _pad(grids: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad grids (top-left aligned) into one batch and its validity mask."""
    height = max(g.shape[0] for g in grids)
    width = max(g.shape[1] for g in grids)
    x = torch.zeros(len(grids), height, width, grids[0].shape[-1])
    mask = torch.zeros(len(grids), height, width, dtype=torch.bool)
    for i, grid in enumerate(grids):
        x[i, : grid.shape[0], : grid.shape[1]] = grid
        mask[i, : grid.shape[0], : grid.shape[1]] = True
    return x, mask


@pytest.mark.parametrize("attention", [True, False])
def test_each_sample_alone_equals_sample_in_any_batch(attention: bool) -> None:
    reasoner = small_reasoner(attention=attention, z0_mode="random", tol=1e-6, max_iters=200)
    grids = _grids()
    seeds = [11, 22, 33, 44, 55]
    alone = [
        reasoner.solve(grid[None], z0_seeds=[seed]) for grid, seed in zip(grids, seeds, strict=True)
    ]
    alone_iterations = [int(result.iterations[0]) for result in alone]
    assert len(set(alone_iterations)) > 1, "samples should need different iteration counts"
    for order in ([0, 1, 2, 3, 4], [4, 2, 0, 3, 1], [1, 3], [2, 2, 0]):
        x, mask = _pad([grids[i] for i in order])
        result = reasoner.solve(x, mask, z0_seeds=[seeds[i] for i in order])
        for row, i in enumerate(order):
            h, w = grids[i].shape[:2]
            assert int(result.iterations[row]) == alone_iterations[i]
            assert bool(result.converged[row]) and bool(alone[i].converged[0])
            assert torch.allclose(result.z[row, :h, :w], alone[i].z[0], atol=1e-5)
            assert torch.equal(
                result.z[row][~mask[row]], torch.zeros_like(result.z[row][~mask[row]])
            )


def test_solve_is_deterministic_and_converges() -> None:
    reasoner = small_reasoner(tol=1e-5)
    x, mask = _pad(_grids(seed=1))
    first, second = reasoner.solve(x, mask), reasoner.solve(x, mask)
    assert torch.equal(first.z, second.z) and torch.equal(first.iterations, second.iterations)
    assert first.converged.all() and (first.residual < 1e-5).all()
    assert not first.diverged.any()
    # The returned latent is (numerically) a fixed point.
    with torch.no_grad():
        f_z = reasoner.step(first.z, x, mask)
    assert (relative_residual(f_z, first.z) < 1e-4).all()


def test_warm_start_from_fixed_point_halts_at_once() -> None:
    reasoner = small_reasoner(tol=1e-4)
    x, mask = _pad(_grids(seed=2))
    cold = reasoner.solve(x, mask)
    warm = reasoner.solve(x, mask, z0=cold.z)
    assert (cold.iterations > 2).all()
    assert (warm.iterations <= 2).all() and warm.converged.all()
    scale = cold.z.abs().amax()
    assert (warm.z - cold.z).abs().amax() <= 1e-3 * scale


def test_trace_records_every_iteration() -> None:
    reasoner = small_reasoner(tol=1e-5)
    x, mask = _pad(_grids(seed=3))
    result = reasoner.solve(x, mask, return_trace=True)
    assert result.trace is not None
    for i, residuals in enumerate(result.trace):
        assert len(residuals) == int(result.iterations[i])
        assert residuals[-1] == pytest.approx(float(result.residual[i]))
        assert residuals[-1] < 1e-5 <= min(residuals[:-1], default=1.0)
    assert reasoner.solve(x, mask).trace is None


class TwoCycleReasoner(FixedPointReasoner):
    """A reasoner whose map is ``f(z) = -z + x``: a 2-cycle under plain iteration, with the fixed
    point x / 2 that FPOPT damping finds."""

    def step(
        self, z: torch.Tensor, x: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """:param z: latent. :param x: input. :param mask: validity mask. :return: -z + x."""
        out = -z + x
        return out if mask is None else out * mask.unsqueeze(-1)


def test_fpopt_damping_converges_where_plain_iteration_oscillates() -> None:
    reasoner = TwoCycleReasoner(small_config(patience=3, gamma=0.5, max_iters=50))
    x = torch.randn(3, 4, 4, 16, generator=torch.Generator().manual_seed(0))
    plain = reasoner.solve(x, halting="fixed_depth", max_iters=50, return_trace=True)
    assert not plain.converged.any()
    assert plain.trace is not None and min(plain.trace[0]) > 0.5  # never settles
    damped = reasoner.solve(x, return_trace=True)
    assert damped.converged.all() and not damped.diverged.any()
    assert (damped.iterations < 20).all()
    assert torch.allclose(damped.z, x / 2, atol=1e-4)
    # Without damping (eta never reduced: patience beyond max_iters) the 2-cycle persists.
    undamped = TwoCycleReasoner(small_config(patience=100, max_iters=50)).solve(x)
    assert not undamped.converged.any() and (undamped.iterations == 50).all()
    # A large eta_min stops at the first reduction, unconverged: eta 1 -> 0.5 < eta_min = 0.6
    # after the first iteration (the best so far) and `patience` iterations without improvement.
    stopped = TwoCycleReasoner(small_config(patience=3, eta_min=0.6)).solve(x)
    assert not stopped.converged.any() and (stopped.iterations == 1 + 3).all()


def test_non_finite_and_exploding_samples_are_isolated() -> None:
    reasoner = small_reasoner(tol=1e-5, divergence_limit=1e3)
    x, mask = _pad(_grids(seed=4)[:3])
    reference = reasoner.solve(x, mask)
    z0 = torch.zeros_like(x)
    z0[1, 0, 0, 0] = float("nan")
    x_bad = x.clone()
    x_bad[2] *= 1e6  # f(z) ~ b2 * x is far beyond the divergence limit
    result = reasoner.solve(x_bad, mask, z0=z0)
    assert result.diverged.tolist() == [False, True, True]
    assert result.converged.tolist() == [True, False, False]
    assert torch.isinf(result.residual[1:]).all()
    assert (result.iterations[1:] == 1).all()
    assert torch.isfinite(result.z[2]).all()  # keeps the last good latent
    assert int(result.iterations[0]) == int(reference.iterations[0])
    assert torch.allclose(result.z[0], reference.z[0], atol=1e-6)


def test_fixed_depth_measures_the_residual_only_where_it_is_read() -> None:
    # A fixed depth without a trace skips the residual of its inner iterations; with a trace it
    # measures every one. Both must give the same result, diverged samples included.
    reasoner = small_reasoner(divergence_limit=1e3)
    x, mask = _pad(_grids(seed=4)[:3])
    z0 = torch.zeros_like(x)
    z0[1, 0, 0, 0] = float("nan")
    x[2] *= 1e6  # beyond the divergence limit
    lean = reasoner.solve(x, mask, z0=z0, halting="fixed_depth", max_iters=6)
    traced = reasoner.solve(x, mask, z0=z0, halting="fixed_depth", max_iters=6, return_trace=True)
    assert lean.diverged.tolist() == [False, True, True]
    for field in ("iterations", "residual", "converged", "diverged", "stalled", "z"):
        # exact; the NaN start of sample 1 stays in its kept latent
        torch.testing.assert_close(
            getattr(lean, field), getattr(traced, field), rtol=0, atol=0, equal_nan=True
        )


def test_fixed_depth_runs_exactly_the_depth() -> None:
    reasoner = small_reasoner(halting="fixed_depth", fixed_depth=7)
    x, mask = _pad(_grids(seed=5))
    assert (reasoner.solve(x, mask).iterations == 7).all()
    assert (reasoner.solve(x, mask, max_iters=3).iterations == 3).all()
    converging = small_reasoner(tol=1e-5)
    assert (converging.solve(x, mask, halting="fixed_depth").iterations == 16).all()


def test_learned_halting_follows_the_head() -> None:
    reasoner = small_reasoner(halting="learned", max_iters=9)
    x, mask = _pad(_grids(seed=6))
    with torch.no_grad():
        reasoner.halt_head.weight.zero_()
        reasoner.halt_head.bias.fill_(5.0)
    assert (reasoner.solve(x, mask).iterations == 1).all()
    with torch.no_grad():
        reasoner.halt_head.bias.fill_(-5.0)
    never = reasoner.solve(x, mask)
    assert (never.iterations == 9).all()
    # Per sample: the head sees the pooled latent; a sample with a large first channel halts first.
    with torch.no_grad():
        reasoner.halt_head.weight.zero_()
        reasoner.halt_head.weight[0, 0] = 1.0
        reasoner.halt_head.bias.fill_(0.0)
    pooled_first = torch.stack([never.z[i][mask[i]][:, 0].mean() for i in range(len(x))])
    mixed = reasoner.solve(x, mask)
    assert (mixed.iterations[pooled_first > 0.2] == 1).all()
    assert (mixed.iterations[pooled_first < -0.2] == 9).all()


def test_initial_state_modes() -> None:
    x, mask = _pad(_grids(seed=7))
    zeros = small_reasoner(halting="fixed_depth", fixed_depth=1)
    random = small_reasoner(halting="fixed_depth", fixed_depth=1, z0_mode="random", z0_std=2.0)
    given = small_reasoner(halting="fixed_depth", fixed_depth=1, z0_mode="given")
    with torch.no_grad():
        expected_zeros = zeros.step(torch.zeros_like(x), x, mask)
    assert torch.allclose(zeros.solve(x, mask).z, expected_zeros)
    a = random.solve(x, mask, z0_seeds=[1, 2, 3, 4, 5])
    b = random.solve(x, mask, z0_seeds=[1, 2, 3, 4, 5])
    c = random.solve(x, mask, z0_seeds=[9, 2, 3, 4, 5])
    assert torch.equal(a.z, b.z)
    assert not torch.allclose(a.z[0], c.z[0]) and torch.equal(a.z[1:], c.z[1:])
    assert not torch.allclose(a.z, expected_zeros)
    with pytest.raises(ValueError, match="z0_mode is 'given'"):
        given.solve(x, mask)
    z0 = torch.randn_like(x)
    with torch.no_grad():
        expected_given = given.step(z0 * mask.unsqueeze(-1), x, mask)
    assert torch.allclose(given.solve(x, mask, z0=z0).z, expected_given)
    with pytest.raises(ValueError, match="z0_seeds must hold 5"):
        random.solve(x, mask, z0_seeds=[1, 2])


def test_bf16_autocast_runs_with_float32_residuals() -> None:
    reasoner = small_reasoner(tol=2e-2)
    x, mask = _pad(_grids(seed=8))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        result = reasoner.solve(x, mask)
    assert result.z.dtype == torch.float32 and result.residual.dtype == torch.float32
    assert torch.isfinite(result.z).all() and result.converged.all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"x": torch.zeros(2, 3, 3, 8)}, r"x must have shape \(B, H, W, 16\)"),
        ({"x": torch.zeros(2, 3, 3, 16, dtype=torch.long)}, "floating-point"),
        ({"mask": torch.ones(2, 3, 4, dtype=torch.bool)}, "mask must have shape"),
        ({"mask": torch.zeros(2, 3, 3, dtype=torch.bool)}, r"no valid cell in samples \[0, 1\]"),
        ({"z0": torch.zeros(2, 3, 3, 8)}, "z0 must have the shape of x"),
        ({"max_iters": 0}, "max_iters must be an integer >= 1"),
        ({"tol": -1.0}, "tol must be >= 0"),
        ({"halting": "act"}, "halting must be one of"),
    ],
)
def test_bad_solve_arguments_raise(kwargs: dict[str, object], message: str) -> None:
    reasoner = small_reasoner()
    arguments: dict[str, object] = {"x": torch.zeros(2, 3, 3, 16)}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        reasoner.solve(**arguments)  # type: ignore[arg-type]


class _HalvingMap:
    """A step function with a solver's settings and nothing of a model: f(z) = z / 2 + x."""

    def __init__(self, config: SolverConfig) -> None:
        self.config = config

    def step(
        self, z: torch.Tensor, x: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        return 0.5 * z + x

    def halt_logit(self, z: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return torch.zeros(z.shape[0])


def test_solver_needs_only_a_step_function_and_its_settings() -> None:
    x, mask = _pad([torch.full((2, 3, 5), 1.0), torch.full((3, 2, 5), 4.0)])
    result = solve_fixed_point(_HalvingMap(SolverConfig(tol=1e-5, max_iters=100)), x, mask)
    assert result.converged.all()
    assert torch.allclose(result.z, 2 * x, atol=1e-3)  # the fixed point z = 2x, any width
    capped = solve_fixed_point(_HalvingMap(SolverConfig(tol=1e-5, max_iters=3)), x, mask)
    assert capped.iterations.tolist() == [3, 3] and not capped.converged.any()


def test_solve_options_are_checked_by_name() -> None:
    reasoner = small_reasoner()
    x = torch.randn(2, 3, 3, reasoner.config.d_model)
    assert reasoner.solve(x, max_iters=2, halting="fixed_depth").iterations.tolist() == [2, 2]
    with pytest.raises(TypeError, match=r"unknown options \['max_iter'\]"):
        reasoner.solve(x, max_iter=2)  # type: ignore[call-arg]


@given(
    seed=st.integers(0, 2**16),
    scale=st.sampled_from([1e-3, 1.0, 1e3, 1e9]),
    spoiled=st.sampled_from([None, float("nan"), float("inf")]),
)
@settings(max_examples=40, deadline=None)
def test_measure_step_is_measure_cells_without_the_cells(
    seed: int, scale: float, spoiled: float | None
) -> None:
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(3, 4, 5, 6, generator=generator) * scale
    f_z = z + torch.randn(3, 4, 5, 6, generator=generator) * scale * 0.01
    if spoiled is not None:
        f_z[1, 2, 3, 4] = spoiled  # a non-finite sample diverges
    config = SolverConfig()
    _, residual, diverged, converged = measure_cells(f_z, z, config, 1e-3)
    lean = measure_step(f_z, z, config, 1e-3)
    assert torch.equal(lean[0], residual)  # bit for bit, inf where diverged
    assert torch.equal(lean[1], diverged) and torch.equal(lean[2], converged)
    assert bool(diverged[1]) == (spoiled is not None or scale == 1e9)  # 1e9: past the limit
