"""Training helpers: truncated back-propagation through the loop, latent noise, and the loss of
the learned halting head.

Gradients flow only through the last ``k_grad`` applications of f, started from a detached
latent, so training memory does not grow with the number of iterations before them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fpr_agents.reasoner.core import FixedPointReasoner
from fpr_agents.reasoner.solve import check_grid_inputs


def check_count(name: str, value: int, minimum: int) -> None:
    """Raise ValueError unless ``value`` is an integer >= ``minimum``.

    :param name: argument name for the message.
    :param value: the value to check.
    :param minimum: smallest allowed value.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def truncated_unroll(
    reasoner: FixedPointReasoner,
    x: torch.Tensor,
    mask: torch.Tensor | None,
    z: torch.Tensor,
    n_no_grad: int,
    k_grad: int,
    noise: float = 0.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Apply f ``n_no_grad`` times without gradient from ``z.detach()``, then ``k_grad`` times
    with gradient.

    With ``noise > 0`` each application's output is perturbed by Gaussian noise whose standard
    deviation is ``noise`` times the root mean square of that output (over the real cells, without
    gradient): a training regulariser that asks the fixed point to be an attractor which each
    iteration restores, so that what the latent carries must survive small errors at every step.

    :param reasoner: the reasoner whose ``step`` is f.
    :param x: input embedding, (B, H, W, d); may carry gradient (e.g. from an embedding).
    :param mask: (B, H, W) bool, True on real cells, or None.
    :param z: starting latent, (B, H, W, d); it is detached.
    :param n_no_grad: iterations without gradient (>= 0).
    :param k_grad: iterations with gradient (>= 1).
    :param noise: relative standard deviation of the noise added after every application (>= 0;
        0 adds none and draws no random numbers).
    :param generator: random generator of the noise (None: torch's global one).
    :return: the latent after ``n_no_grad + k_grad`` iterations, (B, H, W, d), whose graph spans
        only the last ``k_grad`` iterations (and x).
    """
    check_count("truncated_unroll: n_no_grad", n_no_grad, 0)
    check_count("truncated_unroll: k_grad", k_grad, 1)
    mask = check_grid_inputs(x, mask, reasoner.config.d_model, "truncated_unroll")
    if tuple(z.shape) != tuple(x.shape):
        raise ValueError(
            f"truncated_unroll: z must have the shape of x {tuple(x.shape)}, got {tuple(z.shape)}"
        )
    if isinstance(noise, bool) or not isinstance(noise, int | float) or not noise >= 0:
        raise ValueError(f"truncated_unroll: noise must be a number >= 0, got {noise!r}")
    z = z.detach()
    # without gradient the gates and mixing kernel are computed once for the whole phase
    with torch.no_grad(), reasoner.parameters_held():
        for _ in range(n_no_grad):
            z = _perturb(reasoner.step(z, x, mask), mask, noise, generator)
    for _ in range(k_grad):
        z = _perturb(reasoner.step(z, x, mask), mask, noise, generator)
    return z


def _perturb(
    z: torch.Tensor, mask: torch.Tensor | None, noise: float, generator: torch.Generator | None
) -> torch.Tensor:
    """Add Gaussian noise of standard deviation ``noise * rms(z)`` on the real cells.

    :param z: latent, (B, H, W, d).
    :param mask: (B, H, W) bool, True on real cells, or None (all real).
    :param noise: relative standard deviation; 0 returns ``z`` unchanged.
    :param generator: random generator of the noise, or None.
    :return: the perturbed latent, (B, H, W, d), still zero on padded cells.
    """
    if noise == 0:
        return z
    if mask is None:
        valid = torch.ones((*z.shape[:-1], 1), dtype=z.dtype, device=z.device)  # (B, H, W, 1)
    else:
        valid = mask.unsqueeze(-1).to(z.dtype)  # (B, H, W, 1)
    with torch.no_grad():
        cells = valid.sum().clamp_min(1.0) * z.shape[-1]
        rms = (z.pow(2) * valid).sum().div(cells).sqrt()
        eps = torch.randn(z.shape, generator=generator, dtype=z.dtype, device=z.device)
    return z + noise * rms * eps * valid


def halting_loss(
    reasoner: FixedPointReasoner,
    z: torch.Tensor,
    mask: torch.Tensor | None,
    is_correct: torch.Tensor,
) -> torch.Tensor:
    """Loss of the learned halting head (TRM's Q-halt): binary cross-entropy of its logit against
    whether the current readout is already correct.

    :param reasoner: the reasoner whose ``halt_logit`` is trained.
    :param z: latent, (B, H, W, d) (usually the output of :func:`truncated_unroll`).
    :param mask: (B, H, W) bool or None.
    :param is_correct: whether each sample's readout of ``z`` is correct, (B,) bool or 0/1.
    :return: scalar loss.
    """
    if tuple(is_correct.shape) != (z.shape[0],):
        raise ValueError(
            f"halting_loss: is_correct must have shape ({z.shape[0]},), "
            f"got {tuple(is_correct.shape)}"
        )
    logits = reasoner.halt_logit(z, mask)  # (B,)
    return F.binary_cross_entropy_with_logits(logits.float(), is_correct.float())
