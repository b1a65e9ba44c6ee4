"""A small model for the chain toy task (embedding -> reasoner -> per-cell readout) and its
training loop with deep supervision and truncated back-propagation."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fpr_agents.reasoner.config import ReasonerConfig
from fpr_agents.reasoner.core import FixedPointReasoner
from fpr_agents.reasoner.layers import GridEmbedding
from fpr_agents.reasoner.toy import ChainBatch, make_chain_batch
from fpr_agents.reasoner.training import check_count, truncated_unroll


@dataclass
class SupervisionResult:
    """What :meth:`DeepSupervision.run` returns.

    :param losses: each segment's loss value.
    :param z: the latent after the last segment, detached, (B, H, W, d).
    """

    losses: list[float]
    z: torch.Tensor


@dataclass
class DeepSupervision:
    """Deep supervision: ``segments`` truncated unrolls in a row, each followed by a loss and a
    backward pass; the latent is detached and carried from one segment to the next.

    :param segments: number of supervised segments.
    :param n_no_grad: iterations without gradient at the start of each segment.
    :param k_grad: iterations with gradient at the end of each segment.
    :param clip_grad_norm: if set, the gradient norm of the optimiser's parameters is clipped to
        it before each optimiser step.
    """

    segments: int = 4
    """Number of supervised segments per call."""
    n_no_grad: int = 8
    """Iterations without gradient at the start of each segment."""
    k_grad: int = 2
    """Iterations with gradient at the end of each segment."""
    clip_grad_norm: float | None = None
    """Clip the gradient norm to this before each optimiser step (None: no clipping)."""

    def __post_init__(self) -> None:
        """Validate the settings."""
        check_count("DeepSupervision.segments", self.segments, 1)
        check_count("DeepSupervision.n_no_grad", self.n_no_grad, 0)
        check_count("DeepSupervision.k_grad", self.k_grad, 1)
        if self.clip_grad_norm is not None and not self.clip_grad_norm > 0:
            raise ValueError(
                f"DeepSupervision.clip_grad_norm must be > 0 or None, got {self.clip_grad_norm!r}"
            )

    def run(
        self,
        reasoner: FixedPointReasoner,
        embed: Callable[[], torch.Tensor],
        loss_fn: Callable[[torch.Tensor], torch.Tensor],
        mask: torch.Tensor | None = None,
        z0: torch.Tensor | None = None,
        optimizer: torch.optim.Optimizer | None = None,
    ) -> SupervisionResult:
        """Run the segments, back-propagating after each one.

        :param reasoner: the reasoner to train.
        :param embed: returns the input embedding x (B, H, W, d); called once per segment so that
            each segment's backward pass has its own graph through the embedding.
        :param loss_fn: maps the segment's final latent (B, H, W, d) to a scalar loss (the user's
            readout and loss).
        :param mask: (B, H, W) bool, True on real cells, or None.
        :param z0: starting latent, or None for zeros.
        :param optimizer: if given, stepped (and its gradients zeroed) after every segment, as in
            TRM; if None, gradients of all segments accumulate for the caller to use.
        :return: the segment losses and the final latent.
        """
        losses: list[float] = []
        z = z0
        for _ in range(self.segments):
            x = embed()  # (B, H, W, d)
            if z is None:
                z = torch.zeros_like(x)
            z_out = truncated_unroll(reasoner, x, mask, z, self.n_no_grad, self.k_grad)
            loss = loss_fn(z_out)
            if loss.dim() != 0:
                raise ValueError(
                    f"DeepSupervision.run: loss_fn must return a scalar, got {tuple(loss.shape)}"
                )
            loss.backward()
            if optimizer is not None:
                if self.clip_grad_norm is not None:
                    parameters = [p for group in optimizer.param_groups for p in group["params"]]
                    torch.nn.utils.clip_grad_norm_(parameters, self.clip_grad_norm)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            losses.append(float(loss.detach()))
            z = z_out.detach()
        assert z is not None
        return SupervisionResult(losses=losses, z=z)


class ChainModel(nn.Module):
    """Embedding of the chain grids, a :class:`FixedPointReasoner`, and a per-cell linear readout.

    :param config: the reasoner configuration.
    :param n_values: number of chain values (the readout predicts 0..n_values).
    """

    def __init__(self, config: ReasonerConfig, n_values: int) -> None:
        super().__init__()
        self.n_values = n_values
        self.embedding = GridEmbedding({"cell": 3, "value": n_values + 1}, config.d_model)
        self.reasoner = FixedPointReasoner(config)
        self.readout = nn.Linear(config.d_model, n_values + 1)

    def embed(self, batch: ChainBatch, device: torch.device) -> torch.Tensor:
        """The reasoner input of a batch.

        :param batch: chain puzzles.
        :param device: device to place the tensors on.
        :return: x, (B, H, W, d).
        """
        grids = {
            "cell": torch.as_tensor(batch.cell_type, device=device),
            "value": torch.as_tensor(batch.value, device=device),
        }
        return self.embedding(grids)

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        """Per-cell label logits.

        :param z: latent, (B, H, W, d).
        :return: (B, H, W, n_values + 1).
        """
        return self.readout(z)

    def loss(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of the per-cell labels.

        :param z: latent, (B, H, W, d).
        :param labels: (B, H, W) long.
        :return: scalar loss.
        """
        logits = self.logits(z)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))


def grid_accuracy(
    model: ChainModel,
    z: torch.Tensor,
    labels: torch.Tensor,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Whether every (valid) cell of each grid is labelled correctly.

    :param model: the chain model.
    :param z: latent, (B, H, W, d).
    :param labels: (B, H, W) long.
    :param mask: (B, H, W) bool, True on real cells; padded cells are not judged. None: all real.
    :return: (B,) bool.
    """
    correct = model.logits(z).argmax(dim=-1) == labels  # (B, H, W)
    if mask is not None:
        correct = correct | ~mask
    return correct.flatten(1).all(dim=1)


@dataclass
class ChainTraining:
    """Settings of :func:`train_chain_model`.

    :param steps: optimiser steps (each one deep-supervision segment).
    :param batch_size: grids per batch.
    :param sizes: grid sides drawn for each batch (square grids).
    :param n_chains: chains per grid.
    :param max_length: longest chain.
    :param n_values: chain values.
    :param segments: deep-supervision segments per batch.
    :param max_no_grad: no-gradient iterations per segment are drawn from 0..max_no_grad.
    :param k_grad: iterations with gradient per segment.
    :param lr: AdamW learning rate.
    :param weight_decay: AdamW weight decay (not applied to the gates).
    :param clip_grad_norm: gradient-norm clipping of every optimiser step.
    """

    steps: int = 300
    """Batches to train on."""
    batch_size: int = 32
    """Grids per batch."""
    sizes: tuple[int, ...] = field(default=(6, 7, 8))
    """Square grid sides drawn per batch."""
    n_chains: int = 2
    """Chains per grid."""
    max_length: int = 16
    """Longest chain, in cells."""
    n_values: int = 4
    """Distinct chain values."""
    segments: int = 3
    """Deep-supervision segments per batch."""
    max_no_grad: int = 6
    """No-gradient iterations per segment are drawn from 0..max_no_grad."""
    k_grad: int = 3
    """Iterations with gradient per segment."""
    lr: float = 3e-3
    """AdamW learning rate."""
    weight_decay: float = 0.01
    """AdamW weight decay, gates excluded."""
    clip_grad_norm: float = 1.0
    """Gradient-norm clipping of every optimiser step."""


def train_chain_model(
    config: ReasonerConfig,
    training: ChainTraining,
    seed: int,
    device: torch.device,
    log_every: int = 0,
) -> ChainModel:
    """Train a :class:`ChainModel` on freshly drawn chain batches.

    :param config: reasoner configuration.
    :param training: training settings.
    :param seed: seeds numpy (data) and torch (weights).
    :param device: device to train on.
    :param log_every: print the loss every this many steps (0: never).
    :return: the trained model, in eval mode.
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = ChainModel(config, training.n_values).to(device)
    no_decay = {id(p) for p in model.reasoner.no_weight_decay_parameters()}
    decayed = [p for p in model.parameters() if id(p) not in no_decay]
    optimizer = torch.optim.AdamW(
        [
            {"params": decayed, "weight_decay": training.weight_decay},
            {"params": model.reasoner.no_weight_decay_parameters(), "weight_decay": 0.0},
        ],
        lr=training.lr,
    )
    total_updates = training.steps * training.segments
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda update: 0.5 * (1.0 + math.cos(math.pi * update / total_updates))
    )
    model.train()
    for step in range(training.steps):
        side = int(rng.choice(training.sizes))
        batch = make_chain_batch(
            rng,
            training.batch_size,
            side,
            side,
            n_chains=training.n_chains,
            max_length=training.max_length,
            n_values=training.n_values,
        )
        labels = torch.as_tensor(batch.labels, device=device)
        supervision = DeepSupervision(
            segments=training.segments,
            n_no_grad=int(rng.integers(0, training.max_no_grad + 1)),
            k_grad=training.k_grad,
            clip_grad_norm=training.clip_grad_norm,
        )
        result = supervision.run(
            model.reasoner,
            embed=partial(model.embed, batch, device),  # bound now, not at the loop's end
            loss_fn=partial(model.loss, labels=labels),
            optimizer=optimizer,
        )
        for _ in range(training.segments):
            schedule.step()
        if log_every and (step + 1) % log_every == 0:
            print(f"step {step + 1:4d}  loss {result.losses[-1]:.4f}")
    return model.eval()
