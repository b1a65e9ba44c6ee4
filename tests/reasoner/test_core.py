"""FixedPointReasoner.step: shapes, masks, batch independence, gates, and bounded iterates."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from tests.reasoner.factories import small_reasoner


def _padded_batch(
    sizes: list[tuple[int, int]], dim: int, generator: torch.Generator
) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
    """Random grids of several sizes, alone and padded into one batch with a mask."""
    grids = [torch.randn(h, w, dim, generator=generator) for h, w in sizes]
    height, width = max(h for h, _ in sizes), max(w for _, w in sizes)
    batch = torch.zeros(len(sizes), height, width, dim)
    mask = torch.zeros(len(sizes), height, width, dtype=torch.bool)
    for i, (h, w) in enumerate(sizes):
        batch[i, :h, :w] = grids[i]
        mask[i, :h, :w] = True
    return grids, batch, mask


@pytest.mark.parametrize(("attention", "mlp_kernel"), [(True, 1), (False, 1), (False, 3)])
@pytest.mark.parametrize("block_style", ["gated", "prenorm", "postnorm"])
def test_step_on_mixed_grid_sizes_matches_each_grid_alone(
    attention: bool, mlp_kernel: int, block_style: str, generator: torch.Generator
) -> None:
    reasoner = small_reasoner(attention=attention, block_style=block_style, mlp_kernel=mlp_kernel)
    sizes = [(3, 5), (6, 4), (2, 2)]
    xs, x, mask = _padded_batch(sizes, 16, generator)
    zs, z, _ = _padded_batch(sizes, 16, generator)
    with torch.no_grad():
        out = reasoner.step(z, x, mask)
        assert out.shape == x.shape
        assert torch.equal(out[~mask], torch.zeros_like(out[~mask]))  # padding stays 0
        for i, (h, w) in enumerate(sizes):
            alone = reasoner.step(zs[i][None], xs[i][None])
            assert torch.allclose(out[i, :h, :w], alone[0], atol=1e-5)


@pytest.mark.parametrize("mlp_kernel", [1, 3])
def test_padded_content_does_not_leak(mlp_kernel: int, generator: torch.Generator) -> None:
    reasoner = small_reasoner(mlp_kernel=mlp_kernel)
    _, x, mask = _padded_batch([(4, 4), (5, 3)], 16, generator)
    _, z, _ = _padded_batch([(4, 4), (5, 3)], 16, generator)
    noisy_x, noisy_z = x.clone(), z.clone()
    noisy_x[~mask] = 50.0
    noisy_z[~mask] = -50.0
    with torch.no_grad():
        clean, noisy = reasoner.step(z, x, mask), reasoner.step(noisy_z, noisy_x, mask)
    assert torch.allclose(clean, noisy, atol=1e-5)


def test_gates_follow_the_tied_formulas() -> None:
    reasoner = small_reasoner(n_layers=2)
    with torch.no_grad():
        reasoner.gate_layer.param.normal_()
        reasoner.gate_iteration.param.normal_()
    gates = reasoner.gates()
    sublayers = 4  # 2 blocks x (attention + MLP)
    a1, a2 = torch.sigmoid(reasoner.gate_layer.param), torch.sigmoid(reasoner.gate_iteration.param)
    assert torch.allclose(gates.layer, a1) and torch.allclose(gates.iteration, a2)
    assert torch.allclose(gates.input_scale, 1 - a2 * a1**sublayers)
    assert torch.allclose(gates.block_scale, gates.input_scale * (1 - a1) / (1 - a1**sublayers))
    # The sub-block weights add up to b2: sum_k a1^k * b1 over the 2L sub-blocks.
    total = sum(a1**k * gates.block_scale for k in range(sublayers))
    assert torch.allclose(total, gates.input_scale)
    assert small_reasoner(attention=False).sublayers_per_step == 1


def test_gate_parameters_are_excluded_from_weight_decay() -> None:
    reasoner = small_reasoner()
    excluded = reasoner.no_weight_decay_parameters()
    assert {id(p) for p in excluded} == {
        id(reasoner.gate_layer.param),
        id(reasoner.gate_iteration.param),
    }
    assert small_reasoner(block_style="prenorm").no_weight_decay_parameters() == []
    with pytest.raises(ValueError, match="no gates"):
        small_reasoner(block_style="postnorm").gates()


def _iterate_norms(
    block_style: str, iterations: int, seed: int, mlp_kernel: int = 1
) -> torch.Tensor:
    """Max-norm of the latent along plain iterations of a randomly weighted reasoner."""
    reasoner = small_reasoner(
        seed=seed, block_style=block_style, d_model=32, n_heads=2, mlp_kernel=mlp_kernel
    )
    with torch.no_grad():
        for gate in (reasoner.gate_layer, reasoner.gate_iteration):
            if gate is not None:
                gate.param.normal_(std=2.0)  # any gate values in (0, 1)
        x = torch.randn(2, 6, 6, 32)
        z = torch.randn(2, 6, 6, 32)
        norms = []
        for _ in range(iterations):
            z = reasoner.step(z, x)
            norms.append(z.abs().amax())
    return torch.stack(norms)


@pytest.mark.slow
def test_gated_iterates_stay_bounded_while_ungated_prenorm_grows() -> None:
    gated = _iterate_norms("gated", 500, seed=3)
    prenorm = _iterate_norms("prenorm", 500, seed=3)
    postnorm = _iterate_norms("postnorm", 500, seed=3)
    assert torch.isfinite(gated).all() and torch.isfinite(postnorm).all()
    # Gated: no growth after the first iterations (FPRM's Theorem 1).
    assert gated[-100:].max() <= 1.5 * gated[:50].max()
    # Ungated pre-norm: the latent keeps growing, far beyond the gated one (here exponentially,
    # through the residual local mixing z + conv(z); an overflow to inf/NaN also counts as growth).
    assert prenorm[99] > 10 * gated[99]
    assert prenorm[99] > 5 * prenorm[49]
    assert not prenorm[-1] <= 10 * gated[-1]
    # Post-norm: every output is normalised, so bounded too.
    assert postnorm.max() <= 1.5 * postnorm[:50].max()


def test_gated_iterates_stay_bounded_with_convolutional_mlp() -> None:
    # The ConvSwiGLU reads normalised neighbours, so its update is bounded like the token-wise one.
    gated = _iterate_norms("gated", 300, seed=5, mlp_kernel=3)
    assert torch.isfinite(gated).all()
    assert gated[-100:].max() <= 1.5 * gated[:50].max()


def test_forward_is_step(generator: torch.Generator) -> None:
    reasoner = small_reasoner()
    x = torch.randn(2, 3, 3, 16, generator=generator)
    z = torch.randn(2, 3, 3, 16, generator=generator)
    with torch.no_grad():
        assert torch.equal(reasoner(z, x), reasoner.step(z, x))


def test_halt_logit_uses_valid_cells_only(generator: torch.Generator) -> None:
    reasoner = small_reasoner()
    z = torch.randn(2, 4, 4, 16, generator=generator)
    mask = torch.ones(2, 4, 4, dtype=torch.bool)
    mask[:, 2:] = False
    with torch.no_grad():
        logits = reasoner.halt_logit(z, mask)
        alone = reasoner.halt_logit(z[:, :2])
    assert logits.shape == (2,)
    assert torch.allclose(logits, alone, atol=1e-6)


@pytest.mark.parametrize("block_style", ["gated", "prenorm"])
def test_a_solve_computes_its_parameter_values_once(
    block_style: str, generator: torch.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    reasoner = small_reasoner(block_style=block_style, mlp_kernel=3)
    _, x, mask = _padded_batch([(4, 4), (5, 3)], 16, generator)
    with torch.no_grad():
        reference = reasoner.solve(x, mask, max_iters=6, halting="fixed_depth").z
    calls = {"gates": 0, "kernel": 0}
    gates, kernel = reasoner.gates, reasoner.local_mixing.kernel

    def counted(name: str, function: Callable[[], object]) -> Callable[[], object]:
        def call() -> object:
            calls[name] += 1
            return function()

        return call

    monkeypatch.setattr(reasoner, "gates", counted("gates", gates))
    monkeypatch.setattr(reasoner.local_mixing, "kernel", counted("kernel", kernel))
    with torch.no_grad():
        held = reasoner.solve(x, mask, max_iters=6, halting="fixed_depth").z
    assert torch.equal(held, reference)  # the same iterates
    assert calls == {"gates": int(block_style == "gated"), "kernel": 1}  # once, not per step
    # a solve called with gradient enabled runs without it, and holds them just the same
    assert torch.is_grad_enabled()
    again = reasoner.solve(x, mask, max_iters=6, halting="fixed_depth").z
    assert torch.equal(again, reference) and not again.requires_grad
    assert calls == {"gates": int(block_style == "gated") * 2, "kernel": 2}
    z = torch.zeros_like(x)
    with reasoner.parameters_held():  # with gradient: nothing held, every step computes them
        reasoner.step(reasoner.step(z, x, mask), x, mask)
    assert calls == {"gates": int(block_style == "gated") * 4, "kernel": 4}
