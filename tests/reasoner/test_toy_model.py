"""The toy model's deep-supervision loop: segments of truncated unrolls, each with its loss and
backward pass, the latent carried from one to the next."""

from __future__ import annotations

import pytest
import torch

from fpr_agents.reasoner import GridEmbedding
from fpr_agents.reasoner.toy_model import DeepSupervision
from tests.reasoner.factories import small_reasoner


def test_deep_supervision_trains_and_carries_the_state() -> None:
    torch.manual_seed(0)
    reasoner = small_reasoner().train()
    embedding = GridEmbedding({"grid": 3}, 16)
    readout = torch.nn.Linear(16, 3)
    grid = torch.randint(0, 3, (4, 4, 4), generator=torch.Generator().manual_seed(1))
    labels = (grid + 1) % 3  # a per-cell relabelling
    parameters = [*reasoner.parameters(), *embedding.parameters(), *readout.parameters()]
    optimizer = torch.optim.Adam(parameters, lr=1e-2)
    supervision = DeepSupervision(segments=3, n_no_grad=2, k_grad=1, clip_grad_norm=1.0)

    def loss_fn(z: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(readout(z).reshape(-1, 3), labels.reshape(-1))

    first = supervision.run(
        reasoner, lambda: embedding({"grid": grid}), loss_fn, optimizer=optimizer
    )
    assert len(first.losses) == 3 and not first.z.requires_grad
    for _ in range(8):
        last = supervision.run(
            reasoner, lambda: embedding({"grid": grid}), loss_fn, optimizer=optimizer
        )
    assert last.losses[-1] < 0.5 * first.losses[0]
    # Without an optimiser the gradients of all segments accumulate for the caller.
    optimizer.zero_grad()
    supervision.run(reasoner, lambda: embedding({"grid": grid}), loss_fn)
    assert all(p.grad is not None for p in readout.parameters())


def test_deep_supervision_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match=r"DeepSupervision\.segments"):
        DeepSupervision(segments=0)
    with pytest.raises(ValueError, match=r"DeepSupervision\.clip_grad_norm"):
        DeepSupervision(clip_grad_norm=0.0)
