"""Training helpers: truncated back-propagation, deep supervision, halting loss."""

from __future__ import annotations

import pytest
import torch

from fpr_agents.reasoner import halting_loss, truncated_unroll
from tests.reasoner.factories import small_reasoner


def _inputs() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(3, 4, 5, 16, generator=generator)
    mask = torch.ones(3, 4, 5, dtype=torch.bool)
    mask[1, 3:] = False
    return x, mask


@pytest.mark.parametrize("attention", [True, False])
@pytest.mark.parametrize("block_style", ["gated", "prenorm", "postnorm"])
def test_truncated_unroll_gives_finite_gradients_on_every_parameter(
    attention: bool, block_style: str
) -> None:
    reasoner = small_reasoner(attention=attention, block_style=block_style).train()
    x, mask = _inputs()
    z = truncated_unroll(reasoner, x, mask, torch.zeros_like(x), n_no_grad=5, k_grad=2)
    target = torch.randn_like(z)
    loss = (z - target).pow(2).mean() + halting_loss(
        reasoner, z, mask, torch.tensor([True, False, True])
    )
    loss.backward()
    for name, parameter in reasoner.named_parameters():
        assert parameter.grad is not None, name
        assert torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().sum() > 0, name


def test_truncated_unroll_equals_plain_iteration() -> None:
    reasoner = small_reasoner()
    x, mask = _inputs()
    z = torch.zeros_like(x)
    with torch.no_grad():
        expected = z
        for _ in range(6):
            expected = reasoner.step(expected, x, mask)
    out = truncated_unroll(reasoner, x, mask, z, n_no_grad=4, k_grad=2)
    assert torch.allclose(out, expected, atol=1e-6)
    assert out.requires_grad


def test_truncated_unroll_noise_perturbs_real_cells_reproducibly() -> None:
    reasoner = small_reasoner()
    x, mask = _inputs()
    z = torch.zeros_like(x)

    def unroll(noise: float, seed: int | None) -> torch.Tensor:
        generator = None if seed is None else torch.Generator().manual_seed(seed)
        with torch.no_grad():
            return truncated_unroll(reasoner, x, mask, z, 3, 1, noise=noise, generator=generator)

    clean = unroll(0.0, None)
    noisy = unroll(0.2, 7)
    assert torch.equal(noisy, unroll(0.2, 7))  # same generator seed, same noise
    assert not torch.equal(noisy, unroll(0.2, 8))
    real = mask.unsqueeze(-1).expand_as(x)
    gap = (noisy - clean)[real]
    assert gap.abs().mean() > 0.01
    # the noise is relative to the latent's size: its spread is of the order of noise * rms
    rms = clean[real].pow(2).mean().sqrt()
    assert 0.02 * rms < gap.std() < 2.0 * rms
    assert (noisy[~real] == 0).all()  # padded cells stay zero
    # unmasked inputs take noise everywhere
    with torch.no_grad():
        everywhere = truncated_unroll(reasoner, x, None, z, 0, 1, noise=0.5)
    assert (everywhere != reasoner.step(z, x, None)).all()


def _saved_for_backward(n_no_grad: int, k_grad: int) -> tuple[int, int]:
    """Number and total bytes of the tensors autograd saves for backward in one truncated unroll."""
    reasoner = small_reasoner().train()
    x, mask = _inputs()
    count, size = 0, 0

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal count, size
        count += 1
        size += tensor.numel() * tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        out = truncated_unroll(reasoner, x, mask, torch.zeros_like(x), n_no_grad, k_grad)
    out.sum().backward()
    return count, size


def test_graph_memory_does_not_grow_with_the_no_grad_prefix() -> None:
    short, long = _saved_for_backward(1, 2), _saved_for_backward(40, 2)
    assert short == long and short[0] > 0
    # ...while it grows by the same amount with each step under gradient (so it measures the graph).
    two, four, six = short, _saved_for_backward(1, 4), _saved_for_backward(1, 6)
    assert four[0] - two[0] == six[0] - four[0] > 0
    assert four[1] - two[1] == six[1] - four[1] > 0


def test_halting_loss_targets_correctness() -> None:
    reasoner = small_reasoner()
    x, mask = _inputs()
    with torch.no_grad():
        reasoner.halt_head.weight.zero_()
        reasoner.halt_head.bias.fill_(4.0)  # confident "halt"
    right = halting_loss(reasoner, x, mask, torch.tensor([True, True, True]))
    wrong = halting_loss(reasoner, x, mask, torch.tensor([0, 0, 0]))
    assert right < 0.05 < 3.0 < wrong
    with pytest.raises(ValueError, match=r"is_correct must have shape \(3,\)"):
        halting_loss(reasoner, x, mask, torch.ones(2))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_no_grad": -1}, "n_no_grad must be an integer >= 0"),
        ({"k_grad": 0}, "k_grad must be an integer >= 1"),
        ({"z": torch.zeros(3, 4, 4, 16)}, "z must have the shape of x"),
        ({"noise": -0.1}, "noise must be a number >= 0"),
        ({"noise": float("nan")}, "noise must be a number >= 0"),
    ],
)
def test_truncated_unroll_rejects_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    reasoner = small_reasoner()
    x, mask = _inputs()
    arguments: dict[str, object] = {"z": torch.zeros_like(x), "n_no_grad": 1, "k_grad": 1}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        truncated_unroll(reasoner, x, mask, **arguments)  # type: ignore[arg-type]


def test_truncated_unroll_holds_parameter_values_without_gradient_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reasoner = small_reasoner()
    x, mask = _inputs()
    z = torch.zeros_like(x)
    reference = truncated_unroll(reasoner, x, mask, z, n_no_grad=5, k_grad=2)
    calls = {"kernel": 0}
    kernel = reasoner.local_mixing.kernel

    def counted() -> torch.Tensor:
        calls["kernel"] += 1
        return kernel()

    monkeypatch.setattr(reasoner.local_mixing, "kernel", counted)
    out = truncated_unroll(reasoner, x, mask, z, n_no_grad=5, k_grad=2)
    assert torch.equal(out, reference)  # the same iterates
    assert calls["kernel"] == 1 + 2  # once for the 5 without gradient, then at each of the 2
    out.sum().backward()
    assert reasoner.local_mixing.weight.grad is not None  # the gradient still reaches it
