"""The ARC action rule: from the planner's readout and the shape head to one action per state.

The planner reads an answer (each cell's most likely colour) and the shape head an answer size;
an agent must also bring the canvas to that size, paint it, and decide when to submit. The rule,
per observation:

1. **Size.** When the canvas's shape is not the target shape, resize to it, or copy the test
   input when the target is the test input's shape and the copy leaves no more cells to paint
   than the resize (cells whose colour differs from the readout).
2. **Paint.** Otherwise, when some cell of the canvas differs from the readout, paint the one
   whose readout is most confident with its readout colour.
3. **Submit** when the canvas is the readout.

After a wrong submission (the observation counts submissions: ``task_description
["submissions_key"]``) the second attempt changes the answer where the planner was least sure:
if the shape head gives its second most likely shape at least ``second_shape_share``, that shape
becomes the target and the rule runs as before; otherwise the least confident cell is repainted
with its second most likely colour, and the canvas is submitted once it differs from the readout
in that one cell only. The target does not depend on what was painted, so the rule needs no
memory beyond the observation.

The rule's action becomes the planner's action logits (0 for it, ``-REJECTED`` for every other
action), so that greedy rollouts, SB3's ``predict`` (deterministic or not) and action masks all
give it without knowing the rule. It is always a valid action: a paint changes a cell's colour,
a resize changes the size.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from fpr_agents.policy.arc_shape import top_shapes

REJECTED = 30.0  # the logit gap between the rule's action and every other action


@dataclass(frozen=True)
class ArcActionLayout:
    """Where an ARC task's actions sit in its discrete action space.

    :param height: padded grid rows H.
    :param width: padded grid columns W.
    :param n_symbols: colours a cell can take (paint action ``(r * W + c) * n_symbols + s``).
    :param resize: (H * W,) long: the action resizing to ``(h, w)`` at ``(h - 1) * W + w - 1``.
    :param copy_input: the action that copies the test input onto the canvas.
    :param submit: the action that submits the canvas.
    :param n_actions: the size of the action space.
    """

    height: int
    width: int
    n_symbols: int
    resize: tuple[int, ...]
    copy_input: int
    submit: int
    n_actions: int

    @classmethod
    def from_task(cls, task: Mapping[str, Any]) -> ArcActionLayout | None:
        """The layout of a task description whose global actions resize (``resize_<h>x<w>`` for
        every size), copy the input (``copy_input``) and submit (``submit``).

        :param task: the env's task description.
        :return: the layout, or None when the task has no such actions.
        """
        names: Sequence[str] = task.get("global_actions") or ()
        if task.get("action_layout") != "symbol_per_cell" or not {"copy_input", "submit"} <= set(
            names
        ):
            return None
        height, width = (int(v) for v in task["grid_shape"])
        n_symbols = int(task["n_symbols"])
        first = height * width * n_symbols
        where = {name: first + k for k, name in enumerate(names)}
        sizes = [f"resize_{h}x{w}" for h in range(1, height + 1) for w in range(1, width + 1)]
        if not all(name in where for name in sizes):
            return None
        return cls(
            height=height,
            width=width,
            n_symbols=n_symbols,
            resize=tuple(where[name] for name in sizes),
            copy_input=where["copy_input"],
            submit=where["submit"],
            n_actions=first + len(names),
        )


@dataclass
class ArcState:
    """What the rule reads from one batch of observations.

    :param cell_logp: (B, H, W, S) each cell's colour log-probabilities (the planner's readout).
    :param shape_logp: (B, 2, G) the shape head's side log-probabilities.
    :param canvas: (B, H, W) long, the canvas.
    :param canvas_shape: (B, 2) long.
    :param test_input: (B, H, W) long.
    :param input_shape: (B, 2) long.
    :param submissions: (B,) long, submissions already made.
    """

    cell_logp: torch.Tensor
    shape_logp: torch.Tensor
    canvas: torch.Tensor
    canvas_shape: torch.Tensor
    test_input: torch.Tensor
    input_shape: torch.Tensor
    submissions: torch.Tensor


def _inside(shape: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(B, H, W) bool: the cells inside each (h, w) of ``shape`` (B, 2)."""
    rows = torch.arange(height, device=shape.device)[None, :, None]
    cols = torch.arange(width, device=shape.device)[None, None, :]
    return (rows < shape[:, 0, None, None]) & (cols < shape[:, 1, None, None])


def rule_actions(
    state: ArcState, layout: ArcActionLayout, second_shape_share: float = 0.25
) -> torch.Tensor:
    """The rule's action for every observation (module docstring).

    :param state: the batch's readout, shape prediction, canvas and counts.
    :param layout: the task's action layout.
    :param second_shape_share: after a wrong submission, the probability the second most likely
        shape needs for the second attempt to try it (otherwise the attempt changes one cell).
    :return: (B,) long actions.
    """
    height, width = state.canvas.shape[-2:]
    n_symbols = layout.n_symbols
    device = state.canvas.device
    batch = state.canvas.shape[0]
    rows = torch.arange(batch, device=device)

    shapes, probs = top_shapes(state.shape_logp)  # (B, 2, 2), (B, 2)
    retry = state.submissions >= 1
    other_shape = retry & (probs[:, 1] >= second_shape_share)
    target = torch.where(other_shape[:, None], shapes[:, 1], shapes[:, 0])  # (B, 2)
    target = torch.minimum(target, torch.tensor([height, width], device=device))
    change_one_cell = retry & ~other_shape

    readout_probs = state.cell_logp.float().exp()
    ranked = readout_probs.topk(2, dim=-1)  # values, indices: (B, H, W, 2)
    readout = ranked.indices[..., 0]  # (B, H, W)
    confidence = ranked.values[..., 0]
    inside = _inside(target, height, width)

    # 1. size: the resize keeps the overlap and fills new cells with 0
    kept = _inside(torch.minimum(state.canvas_shape, target), height, width)
    resized = torch.where(kept, state.canvas, torch.zeros_like(state.canvas))
    resize_cost = ((resized != readout) & inside).flatten(1).sum(-1)
    copy_cost = ((state.test_input != readout) & inside).flatten(1).sum(-1)
    is_input_shape = (target == state.input_shape).all(-1)
    copy = is_input_shape & (copy_cost <= resize_cost)
    resize_action = torch.tensor(layout.resize, device=device)[
        (target[:, 0] - 1) * width + target[:, 1] - 1
    ]
    size_action = torch.where(
        copy, torch.full_like(resize_action, layout.copy_input), resize_action
    )
    wrong_shape = (state.canvas_shape != target).any(-1)

    # 2. paint the most confident cell whose canvas colour differs from the readout
    wrong = (state.canvas != readout) & inside  # (B, H, W)
    n_wrong = wrong.flatten(1).sum(-1)
    best = confidence.masked_fill(~wrong, -1.0).flatten(1).argmax(-1)  # (B,) cell index
    paint = best * n_symbols + readout.flatten(1)[rows, best]

    # the second attempt's cell: the least confident one, with its second choice
    doubt = confidence.masked_fill(~inside, 2.0).flatten(1).argmin(-1)
    second = ranked.indices[..., 1].flatten(1)[rows, doubt]
    repaint = doubt * n_symbols + second

    submit = torch.full_like(paint, layout.submit)
    first_attempt = torch.where(n_wrong > 0, paint, submit)
    second_attempt = torch.where(n_wrong == 0, repaint, torch.where(n_wrong == 1, submit, paint))
    cells_action = torch.where(change_one_cell, second_attempt, first_attempt)
    # (the paint index counts cells over the padded grid: row-major over H x W, as the env's)
    return torch.where(wrong_shape, size_action, cells_action).long()


def rule_logits(actions: torch.Tensor, n_actions: int, dtype: torch.dtype) -> torch.Tensor:
    """Action logits that make ``actions`` the policy's choice.

    :param actions: (B,) long.
    :param n_actions: the size of the action space.
    :param dtype: the logits' dtype.
    :return: (B, n_actions): 0 at each action, ``-REJECTED`` elsewhere.
    """
    logits = torch.full(
        (actions.shape[0], n_actions), -REJECTED, dtype=dtype, device=actions.device
    )
    return logits.scatter(1, actions[:, None], 0.0)
