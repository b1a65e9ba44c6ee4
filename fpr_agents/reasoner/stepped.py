"""What the solver iterates and what a decision reads: the two interfaces a solve is given."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch

from fpr_agents.reasoner.config import SolverConfig


class SteppedMap(Protocol):
    """What the solver iterates: a configured map ``z -> f(z; x)``. The solver knows nothing else
    of the model (:class:`~fpr_agents.reasoner.core.FixedPointReasoner` is one).

    ``config`` gives the solver's settings (a :class:`SolverConfig`; a ``ReasonerConfig`` is
    one); ``step(z, x, mask)`` is one application of f on (A, H, W, d) latents;
    ``halt_logit(z, mask)`` is the learned halting head's (A,) logits (used by the "learned" rule
    only).
    """

    @property
    def config(self) -> SolverConfig: ...

    def step(
        self, z: torch.Tensor, x: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor: ...

    def halt_logit(self, z: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor: ...


Readout = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
"""What a decision reads from a latent, for the "readout" halting rule.

Called as ``readout(z, index)`` with the active samples' latents z, (A, H', W', d) (cropped to
the padding they need), and their indices in the solve's batch, (A,) long. Returns the readout's
probabilities, (A, K) with K fixed for the solve (e.g. the move distribution at the agent's cell),
and whether each is decided, (A,) bool. A readout must depend on its own sample only.
"""
