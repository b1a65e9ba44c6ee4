"""A reasoner trained briefly on the chain toy task reaches fixed points, and spends more
iterations on longer chains (the information has to travel further).

Measured with seeds 0-3 (300 steps, about 20 s on one core): converged 0.94-1.00, solved 1.00,
mean iterations hard / easy 1.2-2.0.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fpr_agents.reasoner import ReasonerConfig
from fpr_agents.reasoner.toy import make_chain_batch, pad_batches
from fpr_agents.reasoner.toy_model import ChainTraining, grid_accuracy, train_chain_model


@pytest.mark.slow
def test_trained_reasoner_converges_and_iterations_grow_with_chain_length() -> None:
    config = ReasonerConfig(d_model=32, n_heads=2, attention=False, max_iters=100)
    training = ChainTraining(
        steps=300, batch_size=16, sizes=(6, 7), max_length=12, lr=6e-3, max_no_grad=10
    )
    device = torch.device("cpu")
    model = train_chain_model(config, training, seed=0, device=device)

    rng = np.random.default_rng(123)
    easy = make_chain_batch(rng, 24, 6, 6, n_chains=2, min_length=2, max_length=4)
    hard = make_chain_batch(rng, 24, 7, 7, n_chains=1, min_length=11, max_length=12)
    batch, valid = pad_batches([easy, hard])
    mask = torch.as_tensor(valid)
    with torch.no_grad():
        result = model.reasoner.solve(model.embed(batch, device), mask)
        solved = grid_accuracy(model, result.z, torch.as_tensor(batch.labels), mask)
    iterations = result.iterations.float()
    easy_iterations, hard_iterations = iterations[:24], iterations[24:]
    print(
        f"converged {result.converged.float().mean():.2f}, solved {solved.float().mean():.2f}, "
        f"iterations easy {easy_iterations.mean():.1f} hard {hard_iterations.mean():.1f}"
    )
    assert result.converged.float().mean() >= 0.8
    assert (result.residual[result.converged] < config.tol).all()
    assert solved[:24].float().mean() >= 0.9 and solved.float().mean() >= 0.7
    assert hard_iterations.mean() > 1.1 * easy_iterations.mean()
    assert hard_iterations.median() > easy_iterations.median()
