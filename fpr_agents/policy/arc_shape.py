"""The shape head of ARC planners: the size of the answer's canvas, from the demos and the test
input.

An ARC answer's size follows a rule the demonstrations show: the same as the input, k times the
input, the input's sides swapped, the bounding box of its object, one size for every demo. The
head scores such rules. Each *hypothesis* says how one side (rows or columns) of an output comes
from its input: a multiple (1, 2 or 3) of one of the input's features (its height, its width, the
height or width of the bounding box of its non-background cells), or a constant (the first demo
output's side). Each hypothesis is tested on the demo pairs; a small network scores it from
its identity and how well the demos bear it out (share of demos it explains, whether it explains
all, whether its value on the test input fits the grid), and the side's distribution is the
softmax over hypotheses, summed by the value each gives on the test input. Training
(``train.arc_shape``) is supervised on generated concept tasks of every family: the loss is
``-log`` of the total probability of the hypotheses that give the true side.

Why a submodule of the planner (``PlannerNetwork.shape_head``) rather than a file beside it: the
ARC action rule (``fpr_agents.policy.arc_actions``) needs the predicted shape where the planner
builds its action logits, and every consumer (evaluation rollouts, SB3's ``predict``, PPO) gets
those logits from the planner alone; a planner that carries its head is one object to load, save
and hand to SB3, with no second file to find. Planners written before the head load as before:
when a state dict holds no ``shape_head`` weights, the head keeps its initial weights, a prior
that spreads the probability evenly over the hypotheses every demo bears out (a head can then be
trained alone and added to the file). The head reads the grids and their listed extents but
never the canvas, so what the agent has painted does not move the target.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

FEATURES = ("height", "width", "object_height", "object_width")
MULTIPLIERS = (1, 2, 3)
# hypotheses: (feature, multiplier) for every pair, then the constant
N_HYPOTHESES = len(FEATURES) * len(MULTIPLIERS) + 1
# per hypothesis and side: its identity (one-hot), the side (one-hot), the share of demos it
# explains, whether it explains them all, whether its test value fits the grid
N_INPUTS = N_HYPOTHESES + 2 + 3
_CONSISTENT = N_HYPOTHESES + 2 + 1  # the index of "explains every demo" among the inputs


def object_extents(grids: torch.Tensor, extents: torch.Tensor, background: int = 0) -> torch.Tensor:
    """Sides of the bounding box of each grid's non-background cells inside its extent.

    :param grids: (B, K, H, W) symbols; cells outside a grid's extent are ignored.
    :param extents: (B, K, 2) each grid's (height, width).
    :param background: the background colour.
    :return: (B, K, 2) long: (rows, columns) of the bounding box; 0 for a grid with no object.
    """
    height, width = grids.shape[-2:]
    rows = torch.arange(height, device=grids.device)
    cols = torch.arange(width, device=grids.device)
    inside = (rows[:, None] < extents[..., 0, None, None]) & (
        cols[None, :] < extents[..., 1, None, None]
    )  # (B, K, H, W)
    filled = inside & (grids.long() != background)
    sides = []
    for lines, index, size in ((filled.any(-1), rows, height), (filled.any(-2), cols, width)):
        first = torch.where(lines, index, size).amin(-1)
        last = torch.where(lines, index, -1).amax(-1)
        sides.append((last - first + 1).clamp_min(0))
    return torch.stack(sides, dim=-1)


def grid_features(grids: torch.Tensor, extents: torch.Tensor) -> torch.Tensor:
    """The features hypotheses multiply: height, width, object height, object width.

    :param grids: (B, K, H, W) symbols.
    :param extents: (B, K, 2) long.
    :return: (B, K, 4) long, in the order of ``FEATURES``.
    """
    return torch.cat([extents.long(), object_extents(grids, extents)], dim=-1)


def hypothesis_values(features: torch.Tensor, constant: torch.Tensor) -> torch.Tensor:
    """What every hypothesis says a side is.

    :param features: (B, K, 4) input features (``grid_features``).
    :param constant: (B,) the constant hypothesis's value (the first demo output's side).
    :return: (B, K, N_HYPOTHESES) long.
    """
    multipliers = torch.tensor(MULTIPLIERS, device=features.device)
    scaled = (features[..., :, None] * multipliers).flatten(-2)  # (B, K, 12)
    fixed = constant[:, None, None].expand(*features.shape[:2], 1)
    return torch.cat([scaled, fixed.to(scaled.dtype)], dim=-1)


class ShapeHead(nn.Module):
    """Distributions over the answer's height and width (module docstring).

    :param max_side: the largest side a grid may have (the planner's grid side, G).
    :param hidden: width of the scoring network's hidden layer.
    """

    def __init__(self, max_side: int, hidden: int = 32) -> None:
        super().__init__()
        if max_side < 1:
            raise ValueError(f"ShapeHead: max_side must be >= 1, got {max_side}")
        self.max_side = int(max_side)
        self.prior = nn.Linear(N_INPUTS, 1)
        last = nn.Linear(hidden, 1)
        self.net = nn.Sequential(nn.Linear(N_INPUTS, hidden), nn.SiLU(), last)
        with torch.no_grad():  # untrained: every hypothesis the demos bear out, equally
            self.prior.weight.zero_()
            self.prior.weight[0, _CONSISTENT] = 8.0
            self.prior.bias.zero_()
            last.weight.zero_()
            last.bias.zero_()
        # whether the head has been trained (train.arc_shape sets it); the planner acts by the
        # ARC action rule only with a trained head
        self.trained: torch.Tensor
        self.register_buffer("trained", torch.zeros((), dtype=torch.bool))
        self.register_load_state_dict_pre_hook(self._keep_initial_weights)

    @staticmethod
    def _keep_initial_weights(
        module: nn.Module, state_dict: dict[str, Any], prefix: str, *args: Any
    ) -> None:
        """A state dict with no ``shape_head`` weights (a planner written before the head)
        leaves the head's initial weights in place (a load-state-dict pre-hook)."""
        if any(key.startswith(prefix) for key in state_dict):
            return
        for name, tensor in module.state_dict().items():
            state_dict[prefix + name] = tensor

    def hypothesis_logits(
        self,
        demo_inputs: torch.Tensor,
        demo_extents: tuple[torch.Tensor, torch.Tensor],
        test_input: torch.Tensor,
        test_extent: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Every hypothesis's log-probability and its value on the test input, per side.

        :param demo_inputs: (B, K, H, W) the demo inputs.
        :param demo_extents: the demo inputs' and outputs' extents, (B, K, 2) each; a missing
            demo is (0, 0).
        :param test_input: (B, H, W).
        :param test_extent: (B, 2).
        :return: log-probabilities (B, 2, N_HYPOTHESES) (-inf for a hypothesis whose test value
            does not fit the grid) and test values (B, 2, N_HYPOTHESES) long; side 0 is the
            height, 1 the width.
        """
        in_extents, out_extents = (e.long() for e in demo_extents)
        present = (in_extents > 0).all(-1) & (out_extents > 0).all(-1)  # (B, K)
        n_present = present.sum(-1).clamp_min(1)  # (B,)
        demo_features = grid_features(demo_inputs, in_extents)  # (B, K, 4)
        test_features = grid_features(test_input[:, None], test_extent[:, None].long())
        logits, values = [], []
        eye = torch.eye(N_HYPOTHESES, device=demo_inputs.device)
        for side in (0, 1):
            constant = out_extents[:, 0, side]  # (B,) the first demo's output side
            demo_values = hypothesis_values(demo_features, constant)  # (B, K, N)
            target = out_extents[..., side]  # (B, K)
            explained = (demo_values == target[..., None]) & present[..., None]
            share = explained.sum(1).float() / n_present[:, None]  # (B, N)
            test_values = hypothesis_values(test_features, constant)[:, 0]  # (B, N)
            fits = (test_values >= 1) & (test_values <= self.max_side)
            side_hot = torch.zeros(2, device=eye.device)
            side_hot[side] = 1.0
            batch = share.shape[0]
            inputs = torch.cat(
                [
                    eye.expand(batch, -1, -1),
                    side_hot.expand(batch, N_HYPOTHESES, 2),
                    share[..., None],
                    (share >= 1.0).float()[..., None],
                    fits.float()[..., None],
                ],
                dim=-1,
            )  # (B, N, N_INPUTS)
            scores = (self.prior(inputs) + self.net(inputs)).squeeze(-1)  # (B, N)
            scores = scores.masked_fill(~fits, float("-inf"))
            # a test input with no fitting hypothesis (cannot happen: its own side fits) stays
            # finite through the log-softmax
            scores = torch.where(fits.any(-1, keepdim=True), scores, torch.zeros_like(scores))
            logits.append(torch.log_softmax(scores, dim=-1))
            values.append(test_values)
        return torch.stack(logits, 1), torch.stack(values, 1)

    def forward(
        self,
        demo_inputs: torch.Tensor,
        demo_extents: tuple[torch.Tensor, torch.Tensor],
        test_input: torch.Tensor,
        test_extent: torch.Tensor,
    ) -> torch.Tensor:
        """Log-probabilities of each side's length.

        :param demo_inputs: (B, K, H, W) the demo inputs.
        :param demo_extents: the demo inputs' and outputs' extents, (B, K, 2) each.
        :param test_input: (B, H, W).
        :param test_extent: (B, 2).
        :return: (B, 2, max_side): entry [b, s, n - 1] is log p(side s has length n).
        """
        logits, values = self.hypothesis_logits(demo_inputs, demo_extents, test_input, test_extent)
        probs = logits.exp()
        index = (values.clamp(1, self.max_side) - 1).long()
        sides = torch.zeros(*probs.shape[:2], self.max_side, device=probs.device)
        sides = sides.scatter_add(-1, index, probs.float())
        return sides.clamp_min(1e-12).log()

    def loss(
        self,
        demo_inputs: torch.Tensor,
        demo_extents: tuple[torch.Tensor, torch.Tensor],
        test_input: torch.Tensor,
        test_extent: torch.Tensor,
        answer_shape: torch.Tensor,
    ) -> torch.Tensor:
        """``-log`` of the probability of the hypotheses that give each true side, averaged over
        the sides some hypothesis gets right (the others carry no signal).

        :param answer_shape: (B, 2) the true (height, width).
        :return: the scalar loss.
        """
        logits, values = self.hypothesis_logits(demo_inputs, demo_extents, test_input, test_extent)
        right = values == answer_shape.long()[..., None]  # (B, 2, N)
        right &= torch.isfinite(logits)
        learnable = right.any(-1)  # (B, 2)
        picked = logits.masked_fill(~right, float("-inf")).logsumexp(-1)  # (B, 2)
        if not bool(learnable.any()):
            return logits.sum() * 0.0
        return -(picked[learnable]).mean()


def top_shapes(side_logits: torch.Tensor, k: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """The k most likely shapes, sides taken as independent.

    :param side_logits: (B, 2, G) from :meth:`ShapeHead.forward`.
    :param k: how many shapes.
    :return: shapes (B, k, 2) long (1-based sides) and their probabilities (B, k).
    """
    side = side_logits.shape[-1]
    joint = side_logits[:, 0, :, None] + side_logits[:, 1, None, :]  # (B, G, G)
    best = joint.flatten(1).topk(k, dim=-1)
    shapes = torch.stack([best.indices // side + 1, best.indices % side + 1], dim=-1)
    return shapes, best.values.exp()
