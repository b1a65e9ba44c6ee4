"""The planner network: embed the grid, solve for the fixed point, read actions and value."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from fpr_agents.policy.arc_actions import ArcActionLayout, ArcState, rule_actions, rule_logits
from fpr_agents.policy.arc_shape import ShapeHead
from fpr_agents.policy.heads import CellsRead, CellSymbolHead, MoveHead, ValueHead
from fpr_agents.reasoner import FixedPointReasoner, GridEmbedding, ReasonerConfig
from fpr_agents.reasoner.stepped import Readout
from fpr_agents.reasoner.training import truncated_unroll

ACTION_LAYOUTS = ("move_at_agent", "symbol_per_cell")
# The grids an ARC task lists extents for, which the shape head and the action rule read.
ARC_GRIDS = ("demo_inputs", "demo_outputs", "test_input", "canvas")
_Read = tuple[torch.Tensor, torch.Tensor]  # a readout's probabilities (A, K) and decided (A,)
# Task-description fields the planner's weights depend on (the grid size is not among them).
ARCHITECTURE_FIELDS = (
    "family",
    "grid_keys",
    "action_layout",
    "moves",
    "n_symbols",
    "global_actions",
)


def check_task_description(task: Mapping[str, Any]) -> None:
    """Raise a ValueError naming the first missing or malformed field of a task description.

    :param task: the env's ``task_description`` (see docs/interfaces.md).
    """
    for field in ("grid_shape", "grid_keys", "action_layout"):
        if field not in task:
            raise ValueError(f"task_description: missing field '{field}'")
    layout = task["action_layout"]
    if layout not in ACTION_LAYOUTS:
        raise ValueError(
            f"task_description.action_layout: expected one of {ACTION_LAYOUTS}, got {layout!r}"
        )
    needed = ("moves", "agent_key") if layout == "move_at_agent" else ("n_symbols",)
    for field in needed:
        if field not in task:
            raise ValueError(f"task_description: layout {layout!r} needs field '{field}'")
    if not task["grid_keys"]:
        raise ValueError("task_description.grid_keys: must name at least one grid observation")


def grid_extents(
    shapes: torch.Tensor, sides: tuple[int, int], order: Sequence[tuple[str, int]]
) -> dict[str, torch.Tensor]:
    """The observation's list of grid extents, split by grid key and checked.

    :param shapes: (B, 2 * n) or (B, n, 2) each grid's (height, width), n grids listed in
        ``order`` (ARC's ``shapes``).
    :param sides: the padded grid's (H, W); no extent may exceed it.
    :param order: (grid key, stacked grids K) in the order the list holds them
        (the task's ``shapes_grids``).
    :return: grid key -> (B, K, 2) long.
    """
    extents = shapes.reshape(shapes.shape[0], -1, 2)
    n_grids = sum(depth for _, depth in order)
    if extents.shape[1] != n_grids:
        raise ValueError(
            f"grid extents: the observation lists {extents.shape[1]} (h, w) pairs for "
            f"{n_grids} grids"
        )
    extents = (extents.round() if extents.is_floating_point() else extents).long()
    limits = torch.tensor(sides, device=extents.device)
    if extents.numel() > 0 and (bool((extents < 0).any()) or bool((extents > limits).any())):
        raise ValueError(
            f"grid extents must lie within the padded grid {sides[0]}x{sides[1]}: got min "
            f"{int(extents.min())}, max {int(extents.max())}"
        )
    by_key, first = {}, 0
    for key, depth in order:
        by_key[key] = extents[:, first : first + depth]
        first += depth
    return by_key


def mirror_grid(grid: torch.Tensor, lengths: torch.Tensor, dim: int) -> torch.Tensor:
    """Mirror each grid along one axis inside its own extent; cells outside stay as they are.

    :param grid: (B, K, H, W) symbols (any dtype).
    :param lengths: (B, K) each grid's extent along ``dim`` (its height for -2, width for -1).
    :param dim: -1 mirrors left-right (columns), -2 top-bottom (rows).
    :return: (B, K, H, W): cell (r, c) holds (r, w - 1 - c) for ``dim=-1`` (c < w).
    """
    size = grid.shape[dim]
    positions = torch.arange(size, device=grid.device)
    source = lengths[..., None] - 1 - positions  # (B, K, size)
    source = torch.where(source >= 0, source, positions)
    index = source[:, :, None, :] if dim == -1 else source[:, :, :, None]
    return grid.gather(dim, index.expand_as(grid))


@dataclass
class PlannerOutput:
    """What one pass of the planner gives.

    :param logits: action logits, (B, n_actions).
    :param values: state values, (B, 1).
    :param z: the fixed point reached, (B, H, W, d) (detached).
    :param iterations: iterations each sample used, (B,).
    :param residual: final relative residual of each sample, (B,).
    :param converged: whether each sample reached the tolerance, (B,).
    :param diverged: whether each sample's latent blew up (non-finite or past the limit), (B,).
    :param stalled: halted by the stall guard, (B,).
    :param readout_stable: halted because its readout was stable and decided, (B,).
    :param held: decided without iterating: the world changed only as the last action said it
        would, and the kept plan's readout was decided for this decision (0 iterations), (B,).
    """

    logits: torch.Tensor
    values: torch.Tensor
    z: torch.Tensor
    iterations: torch.Tensor
    residual: torch.Tensor
    converged: torch.Tensor
    diverged: torch.Tensor | None = None
    stalled: torch.Tensor | None = None
    readout_stable: torch.Tensor | None = None
    held: torch.Tensor | None = None

    @property
    def capped(self) -> torch.Tensor:
        """Decisions that ran to the iteration cap with no other reason to halt, (B,) bool."""
        other = self.settled
        for flag in (self.diverged, self.stalled):
            if flag is not None:
                other = other | flag
        return ~other

    @property
    def settled(self) -> torch.Tensor:
        """Decisions whose plan ended well (converged, readout-stable or held), the plans that
        may be held at the next decision; not those that diverged, stalled or hit the cap.
        (B,) bool."""
        settled = self.converged.clone()
        for flag in (self.readout_stable, self.held):
            if flag is not None:
                settled = settled | flag
        return settled


def _cell_choices(
    cells: torch.Tensor,
    open_cells: torch.Tensor | None,
    index: torch.Tensor,
    sides: tuple[int, int],
    threshold: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The "choices" readout of a symbol layout: each open cell's most likely symbol, one-hot.

    :param cells: per-cell symbol probabilities of the active samples, (A, h, w, S).
    :param open_cells: (B, H, W) bool, the cells with an allowed placement (None: every cell).
    :param index: the active samples' rows in the batch, (A,).
    :param sides: the batch's padded grid (H, W).
    :param threshold: ``readout_decided``.
    :return: the one-hot choices padded to (A, H * W * S), and decided (A,): every open cell's
        most likely symbol at least ``threshold`` likely.
    """
    height, width = sides
    own = None if open_cells is None else open_cells[index][:, : cells.shape[1], : cells.shape[2]]
    onehot = torch.nn.functional.one_hot(cells.argmax(-1), cells.shape[-1]).to(cells.dtype)
    top = cells.amax(-1)  # (A, h, w)
    if own is not None:
        onehot = onehot * own.unsqueeze(-1)
        top = top.masked_fill(~own, 1.0)  # a filled cell is no open question
    padded = torch.nn.functional.pad(
        onehot, (0, 0, 0, width - cells.shape[2], 0, height - cells.shape[1])
    )  # (A, H, W, S)
    return padded.flatten(1), top.flatten(1).amin(dim=-1) >= threshold


def _plan_readout(
    move_head: MoveHead,
    free: torch.Tensor,
    position: torch.Tensor,
    sides: tuple[int, int],
    threshold: float,
) -> Readout:
    """The "plan" readout of a move layout: the most likely move of every free cell whose move
    is decided (one-hot; zeros where it is not: a cell the plan has not reached, a pocket, a
    tie between equally short moves), so the rule waits until no free cell's move changes any
    more; decided when the agent's own move is. Walls are left out: no training target asks
    anything of their moves, so they may flip at any iteration.

    :param move_head: the planner's move head.
    :param free: (B, H, W) bool, the real cells the agent could stand on.
    :param position: (B, 2) long, the agent's [row, col].
    :param sides: the batch's padded grid (H, W).
    :param threshold: ``readout_decided``.
    :return: the readout function ``(z, index) -> (one-hot moves (A, H * W * n_moves),
        decided (A,))``.
    """
    height, width = sides

    def read_plan(z: torch.Tensor, index: torch.Tensor) -> _Read:
        probs = torch.softmax(move_head.forward_all(z).float(), dim=-1)  # (A, h, w, n_moves)
        top = probs.amax(dim=-1)  # (A, h, w)
        plan = torch.nn.functional.one_hot(probs.argmax(-1), probs.shape[-1]).float()
        plan = plan * (top >= threshold).unsqueeze(-1).float()
        plan = plan * free[index][:, : z.shape[1], : z.shape[2]].unsqueeze(-1).float()
        padded = torch.nn.functional.pad(
            plan, (0, 0, 0, width - z.shape[2], 0, height - z.shape[1])
        )  # (A, H, W, n_moves)
        rows = torch.arange(z.shape[0], device=z.device)
        agent = position[index]  # (A, 2)
        decided = top[rows, agent[:, 0], agent[:, 1]] >= threshold
        return padded.flatten(1), decided

    return read_plan


class PlannerNetwork(nn.Module):
    """Grid embedding + :class:`FixedPointReasoner` + readout heads chosen by the action layout.

    :param task_description: the env's task description (docs/interfaces.md).
    :param reasoner: the reasoner's configuration (a ReasonerConfig or its fields as a dict).
    :param head_hidden: hidden width of the move and value heads.
    :param stack_sizes: grid key -> K for keys whose grids stack K grids, (B, K, H, W).
    :param value_at_agent: the value head also reads the latent at the agent's cell; None: yes
        for the move-at-agent layout (checkpoints written before this option hold False).
    """

    def __init__(
        self,
        task_description: Mapping[str, Any],
        reasoner: ReasonerConfig | Mapping[str, Any] | None = None,
        head_hidden: int = 64,
        stack_sizes: Mapping[str, int] | None = None,
        value_at_agent: bool | None = None,
    ) -> None:
        super().__init__()
        check_task_description(task_description)
        self.task = dict(task_description)
        self.config = (
            reasoner if isinstance(reasoner, ReasonerConfig) else ReasonerConfig(**(reasoner or {}))
        )
        d_model = self.config.d_model
        self.grid_keys = dict(self.task["grid_keys"])
        self.valid_key = self.task.get("valid_key")
        self.stack_sizes = {k: int(v) for k, v in (stack_sizes or {}).items()}
        self.embedding = GridEmbedding(
            self.grid_keys,
            d_model,
            self.stack_sizes or None,
            max_positions=self.config.position_embedding,
            edge_positions=self.config.edge_embedding,
        )
        self.shapes_key: str | None = self.task.get("shapes_key")
        for option in ("edge_embedding", "mirror_views"):
            if getattr(self.config, option) and not (
                self.shapes_key and self.task.get("shapes_grids")
            ):
                raise ValueError(
                    f"ReasonerConfig.{option} needs a task whose observation lists its grids' "
                    "extents (task_description.shapes_key and shapes_grids); this task has none"
                )
        if self.shapes_key and self.task.get("shapes_grids"):
            unknown = sorted(set(self.task["shapes_grids"]) - set(self.grid_keys))
            if unknown:
                raise ValueError(f"task_description.shapes_grids names unknown grids {unknown}")
        self.mirror_embedding: GridEmbedding | None = None
        if self.config.mirror_views:
            listed = self.task["shapes_grids"]
            views = {f"{key}_{axis}": key for key in listed for axis in ("lr", "tb")}
            self.mirror_embedding = GridEmbedding(
                {view: self.grid_keys[key] for view, key in views.items()},
                d_model,
                {view: self.stack_sizes[key] for view, key in views.items()
                 if key in self.stack_sizes} or None,
            )  # fmt: skip
        self.reasoner = FixedPointReasoner(self.config)
        self.layout = self.task["action_layout"]
        if self.layout == "move_at_agent":
            self.move_head: MoveHead | None = MoveHead(d_model, self.task["moves"], head_hidden)
            self.cell_head: CellSymbolHead | None = None
        else:
            self.move_head = None
            n_global = len(self.task.get("global_actions", []))
            self.cell_head = CellSymbolHead(d_model, int(self.task["n_symbols"]), n_global)
        # ARC: the answer's shape and the action rule that resizes, paints and submits
        # (fpr_agents.policy.arc_actions); None for tasks without those actions
        self.arc_actions = self._arc_layout(self.task)
        self.shape_head: ShapeHead | None = None
        if self.arc_actions is not None:
            self.shape_head = ShapeHead(max(int(v) for v in self.task["grid_shape"]))
        # whether the actions come from the ARC action rule; None: when the shape head is trained
        # (otherwise the heads' logits, the shape head's log-probabilities added to the resize
        # actions': a policy that learns to resize and submit, e.g. by PPO)
        self.rule_actions: bool | None = None
        if value_at_agent is None:
            value_at_agent = self.layout == "move_at_agent"
        if value_at_agent and self.layout != "move_at_agent":
            raise ValueError(
                f"value_at_agent needs the move_at_agent layout, not {self.layout!r} (no agent)"
            )
        self.value_at_agent = bool(value_at_agent)
        self.value_head = ValueHead(d_model, head_hidden, at_agent=self.value_at_agent)

    def config_dict(self) -> dict[str, Any]:
        """The reasoner configuration as plain values (for checkpoints).

        :return: the ReasonerConfig fields.
        """
        return asdict(self.config)

    def set_solver(self, **fields: Any) -> None:
        """Change solver settings (halting, tolerance, FPOPT, iteration cap) in place; the
        architecture, which the weights fix, stays (:meth:`ReasonerConfig.with_solver`).

        :param fields: SolverConfig fields, e.g. ``patience``.
        :raises ValueError: naming an architecture field, an unknown field or a bad value.
        """
        self.config = self.config.with_solver(**fields)
        self.reasoner.config = self.config

    def adapt_to(self, task_description: Mapping[str, Any]) -> None:
        """Act on another grid size of the same task (the weights do not depend on the size).

        :param task_description: the other env's task description.
        """
        check_task_description(task_description)
        for key in ARCHITECTURE_FIELDS:
            if key == "global_actions" and self.layout == "move_at_agent":
                continue
            if self.task.get(key) != task_description.get(key):
                raise ValueError(
                    f"task_description.{key} differs: the planner was built for "
                    f"{self.task.get(key)!r}, the env has {task_description.get(key)!r}"
                )
        self.task["grid_shape"] = list(task_description["grid_shape"])
        if "submissions_key" in task_description:
            self.task["submissions_key"] = task_description["submissions_key"]
        if self.arc_actions is not None:
            self.arc_actions = self._arc_layout(self.task)

    def _arc_layout(self, task: Mapping[str, Any]) -> ArcActionLayout | None:
        """The action layout of an ARC task (resize, copy, submit, and its grids' extents), or
        None for any other task.

        :param task: a task description.
        :return: the layout or None.
        """
        if not (self.shapes_key and set(ARC_GRIDS) <= set(task.get("shapes_grids") or ())):
            return None
        return ArcActionLayout.from_task(task)

    def parameter_groups(self) -> list[dict[str, Any]]:
        """Optimizer parameter groups: everything decayed but the reasoner's gates.

        :return: two groups; the second sets ``weight_decay`` to 0.
        """
        no_decay = {id(p) for p in self.no_weight_decay_parameters()}
        return [
            {"params": [p for p in self.parameters() if id(p) not in no_decay]},
            {"params": [p for p in self.parameters() if id(p) in no_decay], "weight_decay": 0.0},
        ]

    def no_weight_decay_parameters(self) -> list[nn.Parameter]:
        """Parameters AdamW must not decay (the reasoner's gates).

        :return: the gate parameters.
        """
        return self.reasoner.no_weight_decay_parameters()

    def grids(self, obs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The grid observations as grids: flat (B, K * H * W) rows, as envs emit them, become
        (B, H, W) or (B, K, H, W) with the task's ``grid_shape``; shaped grids pass through (the
        pretraining data pads mazes of several sizes into one batch).

        :param obs: observation tensors by key.
        :return: grid key -> (B, H, W) or (B, K, H, W).
        """
        height, width = (int(v) for v in self.task["grid_shape"])
        shaped = {}
        for key in self.grid_keys:
            grid = obs[key]
            if grid.dim() == 2:
                depth = self.stack_sizes.get(key, 1)
                if grid.shape[1] != depth * height * width:
                    raise ValueError(
                        f"observation '{key}' has {grid.shape[1]} entries, expected "
                        f"{depth} x {height} x {width} (task grid_shape)"
                    )
                shape = (height, width) if key not in self.stack_sizes else (depth, height, width)
                grid = grid.reshape(grid.shape[0], *shape)
            shaped[key] = grid
        return shaped

    def free_cells(
        self, obs: Mapping[str, torch.Tensor], mask: torch.Tensor | None, sides: tuple[int, int]
    ) -> torch.Tensor:
        """The cells of a move layout the agent could stand on: real cells whose symbol in the
        first grid is not the task's ``wall_symbol`` (0 when the task names none, as the mazes
        of ``envs`` write walls).

        :param obs: the observation batch.
        :param mask: (B, H, W) bool of real cells, or None.
        :param sides: the batch's padded grid (H, W).
        :return: (B, H, W) bool.
        """
        grid = next(iter(self.grids(obs).values())).round().long()  # (B, h, w)
        height, width = sides
        free = grid != int(self.task.get("wall_symbol", 0))
        free = torch.nn.functional.pad(
            free, (0, width - free.shape[2], 0, height - free.shape[1])
        )  # (B, H, W)
        return free if mask is None else free & mask.bool()

    def embed(self, obs: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Embed the grid observations.

        :param obs: observation tensors by key (symbol ids, any numeric dtype; flat or shaped).
        :return: input x, (B, H, W, d), and the valid-cell mask (B, H, W) or None.
        """
        grids = self.grids(obs)
        extents = None
        if self.config.edge_embedding > 0 or self.mirror_embedding is not None:
            if self.shapes_key is None or self.shapes_key not in obs:
                raise ValueError(
                    f"the planner reads grid extents from observation '{self.shapes_key}', "
                    f"which is missing (keys: {sorted(obs)})"
                )
            order = [(key, self.stack_sizes.get(key, 1)) for key in self.task["shapes_grids"]]
            height, width = next(iter(grids.values())).shape[-2:]
            sides = (int(height), int(width))
            extents = grid_extents(obs[self.shapes_key], sides, order)  # key -> (B, K, 2)
        x = self.embedding(grids, extents if self.config.edge_embedding > 0 else None)
        if self.mirror_embedding is not None:
            assert extents is not None
            x = x + self.mirror_embedding(self._mirror_views(grids, extents))  # (B, H, W, d)
        mask = None
        if self.valid_key is not None:
            mask = obs[self.valid_key].reshape(x.shape[:3]) > 0.5
        return x, mask

    def _mirror_views(
        self, grids: Mapping[str, torch.Tensor], extents: Mapping[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """Every grid with an extent mirrored left-right (``<key>_lr``) and top-bottom
        (``<key>_tb``) inside that extent.

        :param grids: grid key -> (B, H, W) or (B, K, H, W).
        :param extents: grid key -> (B, K, 2) each listed grid's (height, width).
        :return: view name -> a grid of the key's shape.
        """
        views = {}
        for key in extents:
            grid = grids[key]
            stacked = grid if key in self.stack_sizes else grid.unsqueeze(1)  # (B, K, H, W)
            own = extents[key]  # (B, K, 2)
            for axis, dim, lengths in (("lr", -1, own[..., 1]), ("tb", -2, own[..., 0])):
                mirrored = mirror_grid(stacked, lengths, dim)
                views[f"{key}_{axis}"] = mirrored if key in self.stack_sizes else mirrored[:, 0]
        return views

    def agent_position(
        self, obs: Mapping[str, torch.Tensor], sides: tuple[int, int]
    ) -> torch.Tensor:
        """The agent's cell from a move layout's observation, checked.

        :param obs: the observation batch.
        :param sides: the grid's (H, W).
        :return: (B, 2) long, [row, col].
        :raises ValueError: the key is missing, or a position is not a whole cell inside the grid
            (naming the observation key, the sample, the value and the grid), instead of
            wrapping around or failing later with a bare ``IndexError``.
        """
        key = self.task["agent_key"]
        if key not in obs:
            raise ValueError(f"the planner reads the agent from observation '{key}', missing")
        raw = obs[key].reshape(obs[key].shape[0], -1).float()  # (B, 2)
        if raw.shape[1] != 2:
            raise ValueError(f"observation '{key}' must hold [row, col], got {raw.shape[1]} values")
        height, width = sides
        cell = raw.round()
        limits = torch.tensor([height, width], dtype=raw.dtype, device=raw.device)
        # a whole cell on the grid; NaN and infinities fail every comparison
        inside = ((raw - cell).abs() <= 1e-3) & (cell >= 0) & (cell < limits)  # (B, 2)
        if not bool(inside.all()):
            sample = int((~inside.all(dim=-1)).nonzero()[0, 0])
            raise ValueError(
                f"observation '{key}' of sample {sample} is {raw[sample].tolist()}: not a cell "
                f"of the {height} x {width} grid"
            )
        return cell.long()

    def readout(
        self, z: torch.Tensor, obs: Mapping[str, torch.Tensor], mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Action logits and value from a latent.

        :param z: latent, (B, H, W, d).
        :param obs: the observation (the agent's position for move layouts).
        :param mask: (B, H, W) bool or None.
        :return: logits (B, n_actions) and values (B, 1).
        """
        if self.move_head is not None:
            position = self.agent_position(obs, (z.shape[1], z.shape[2]))  # (B, 2)
            # one gather for the move head and the value head's agent cell
            cells = self.move_head.gather(
                z, self.move_head.cells_read(position, (z.shape[1], z.shape[2]))
            )  # (B, 1 + n_moves, d)
            values = self.value_head(z, mask, position, at_cell=cells[:, 0])
            return self.move_head.logits(cells), values
        assert self.cell_head is not None
        logits = self.cell_head(z, mask)
        if self.arc_actions is not None:
            logits = self._arc_logits(logits, obs, (z.shape[1], z.shape[2]))
        return logits, self.value_head(z, mask)

    def _arc_inputs(
        self, obs: Mapping[str, torch.Tensor], sides: tuple[int, int]
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """An ARC observation's grids, each (B, K, H, W), and their extents, (B, K, 2)."""
        grids = {
            key: (grid if key in self.stack_sizes else grid.unsqueeze(1)).round().long()
            for key, grid in self.grids(obs).items()
        }
        order = [(key, self.stack_sizes.get(key, 1)) for key in self.task["shapes_grids"]]
        assert self.shapes_key is not None
        return grids, grid_extents(obs[self.shapes_key], sides, order)

    def shape_logits(self, obs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The shape head's answer size for ARC observations (the canvas is not read).

        :param obs: the observation batch.
        :return: (B, 2, G): log p(height = n) at [b, 0, n - 1], of the width at [b, 1, n - 1].
        """
        if self.shape_head is None:
            raise ValueError("shape_logits: this planner's task has no ARC shape head")
        height, width = (int(v) for v in self.task["grid_shape"])
        grids, extents = self._arc_inputs(obs, (height, width))
        demos = (extents["demo_inputs"], extents["demo_outputs"])
        test = extents["test_input"][:, 0]
        return self.shape_head(grids["demo_inputs"], demos, grids["test_input"][:, 0], test)

    def shape_loss(
        self, obs: Mapping[str, torch.Tensor], answer_shape: torch.Tensor
    ) -> torch.Tensor:
        """The shape head's training loss (:meth:`ShapeHead.loss`) on ARC observations.

        :param obs: the observation batch.
        :param answer_shape: (B, 2) the answers' (height, width).
        :return: the scalar loss.
        """
        if self.shape_head is None:
            raise ValueError("shape_loss: this planner's task has no ARC shape head")
        height, width = (int(v) for v in self.task["grid_shape"])
        grids, extents = self._arc_inputs(obs, (height, width))
        demos = (extents["demo_inputs"], extents["demo_outputs"])
        return self.shape_head.loss(
            grids["demo_inputs"], demos, grids["test_input"][:, 0],
            extents["test_input"][:, 0], answer_shape,
        )  # fmt: skip

    @property
    def acts_by_rule(self) -> bool:
        """Whether the action logits are the ARC action rule's choice (``rule_actions``, or by
        default whether the shape head is trained)."""
        if self.shape_head is None or self.arc_actions is None:
            return False
        if self.rule_actions is not None:
            return self.rule_actions
        return bool(self.shape_head.trained)

    def _arc_logits(
        self, logits: torch.Tensor, obs: Mapping[str, torch.Tensor], sides: tuple[int, int]
    ) -> torch.Tensor:
        """The action logits of an ARC task: the action rule's choice
        (``fpr_agents.policy.arc_actions``) when :attr:`acts_by_rule`, otherwise the heads'
        logits with the shape head's log p(h, w) added to each resize action's.

        :param logits: the cell head's logits, (B, H * W * S + n_global).
        :param obs: the observation batch.
        :param sides: the latent's (H, W).
        :return: (B, n_actions).
        """
        assert self.arc_actions is not None and self.cell_head is not None
        shape_logp = self.shape_logits(obs)  # (B, 2, G)
        if not self.acts_by_rule:
            joint = shape_logp[:, 0, :, None] + shape_logp[:, 1, None, :]  # (B, G, G)
            resize = torch.tensor(self.arc_actions.resize, device=logits.device)
            prior = torch.zeros_like(logits)
            prior[:, resize] = (
                joint[:, : self.arc_actions.height, : self.arc_actions.width]
                .flatten(1)
                .to(logits.dtype)
            )
            return logits + prior
        grids, extents = self._arc_inputs(obs, sides)
        batch, n_symbols = logits.shape[0], self.cell_head.n_symbols
        key = self.task.get("submissions_key")
        submissions = torch.zeros(batch, dtype=torch.long, device=logits.device)
        if key is not None and key in obs:
            submissions = obs[key].reshape(batch, -1)[:, 0].round().long().to(logits.device)
        state = ArcState(
            cell_logp=logits[:, : sides[0] * sides[1] * n_symbols].reshape(batch, *sides, -1),
            shape_logp=shape_logp,
            canvas=grids["canvas"][:, 0],
            canvas_shape=extents["canvas"][:, 0],
            test_input=grids["test_input"][:, 0],
            input_shape=extents["test_input"][:, 0],
            submissions=submissions,
        )
        actions = rule_actions(state, self.arc_actions)
        return rule_logits(actions, logits.shape[1], logits.dtype)

    def decision_readout(
        self,
        obs: Mapping[str, torch.Tensor],
        mask: torch.Tensor | None,
        sides: tuple[int, int],
        action_mask: torch.Tensor | None = None,
    ) -> Readout:
        """What a decision reads from the latent, for the solver's "readout" halting rule.

        With ``readout_signal="probabilities"``, move layouts read the move distribution at the
        agent's cell, decided when its most likely move has probability ``readout_decided``;
        symbol layouts read every cell's symbol distribution (and the global actions'
        distribution), decided when the placement the policy would take (the most likely
        action) is that likely within its cell. With ``"choices"`` they read only which choice
        is most likely (one-hot: the move, or each open cell's symbol), decided when the move,
        or every open cell's symbol, is that likely; open cells are those with an allowed
        action in ``action_mask`` (every cell without one). With ``"plan"`` move layouts read
        the most likely move of every cell (:func:`_plan_readout`), decided when the agent's
        move is; symbol layouts read as with ``"choices"``.

        :param obs: the observation batch (the agent's position for move layouts).
        :param mask: (B, H, W) bool of real cells, or None.
        :param sides: the batch's padded grid (H, W): the solver crops the latent to the padding
            its active samples need, and cell readouts are padded back so their length is fixed.
        :param action_mask: (B, n_actions) bool of the allowed actions, or None.
        :return: the readout function ``(z, index) -> (probabilities (A, K), decided (A,))``.
        """
        threshold = self.config.readout_decided
        choices = self.config.readout_signal in ("choices", "plan")
        move_head = self.move_head
        if move_head is not None:
            position = self.agent_position(obs, sides)  # (B, 2)
            if self.config.readout_signal == "plan":
                return _plan_readout(move_head, self.free_cells(obs, mask, sides), position,
                                     sides, threshold)  # fmt: skip

            # the cells read stay the same until the solver compacts or crops its batch
            where: list[tuple[torch.Tensor, tuple[int, int], CellsRead]] = []

            def read_move(z: torch.Tensor, index: torch.Tensor) -> _Read:
                sides_now = (z.shape[1], z.shape[2])
                if not where or where[0][0] is not index or where[0][1] != sides_now:
                    cells = move_head.cells_read(position[index], sides_now)
                    where[:] = [(index, sides_now, cells)]
                logits = move_head.read(z, where[0][2])  # (A, n_moves)
                probs = torch.softmax(logits.float(), dim=-1)  # (A, n_moves)
                if choices:
                    onehot = torch.nn.functional.one_hot(probs.argmax(-1), probs.shape[-1])
                    return onehot.float(), probs.amax(dim=-1) >= threshold
                return probs, probs.amax(dim=-1) >= threshold

            return read_move
        head = self.cell_head
        assert head is not None
        height, width = sides
        open_cells = None  # (B, H, W): cells with an allowed placement
        if choices and action_mask is not None:
            n_cells = height * width * head.n_symbols
            placements = action_mask[:, :n_cells].reshape(-1, height, width, head.n_symbols)
            open_cells = placements.any(-1)

        def read_cells(z: torch.Tensor, index: torch.Tensor) -> _Read:
            own_mask = None if mask is None else mask[index][:, : z.shape[1], : z.shape[2]]
            scores = head(z, own_mask).float()  # (A, h * w * S + n_global)
            n_cells = z.shape[1] * z.shape[2] * head.n_symbols
            cells = scores[:, :n_cells].exp().view(z.shape[0], z.shape[1], z.shape[2], -1)
            if own_mask is not None:
                cells = cells * own_mask.unsqueeze(-1)  # padding reads nothing
            if choices:
                return _cell_choices(cells, open_cells, index, (height, width), threshold)
            padded = torch.nn.functional.pad(
                cells, (0, 0, 0, width - z.shape[2], 0, height - z.shape[1])
            )  # (A, H, W, S)
            parts = [padded.flatten(1)]
            chosen = cells.flatten(1).amax(dim=-1)  # the most likely placement's probability
            if scores.shape[1] > n_cells:
                global_probs = torch.softmax(scores[:, n_cells:], dim=-1)
                parts.append(global_probs)
                top_cell = scores[:, :n_cells].amax(dim=-1)
                top_global = scores[:, n_cells:].amax(dim=-1)
                chosen = torch.where(top_global > top_cell, global_probs.amax(dim=-1), chosen)
            return torch.cat(parts, dim=-1), chosen >= threshold

        return read_cells

    def forward(
        self,
        obs: Mapping[str, torch.Tensor],
        z0: torch.Tensor | None = None,
        grad_iters: int = 0,
        max_iters: int | None = None,
        halting: str | None = None,
        embedded: tuple[torch.Tensor, torch.Tensor | None] | None = None,
        hold: torch.Tensor | None = None,
        action_mask: torch.Tensor | None = None,
        solve: bool = True,
    ) -> PlannerOutput:
        """Plan: solve to the fixed point without gradient, then optionally a few steps with it.

        :param obs: observation tensors by key.
        :param z0: warm start, (B, H, W, d), or None for the configured initial latent.
        :param grad_iters: iterations with gradient after the fixed point (truncated
            back-propagation); 0 for inference.
        :param max_iters: overrides the reasoner's iteration cap.
        :param halting: overrides the reasoner's halting mode.
        :param embedded: ``self.embed(obs)`` when the caller has already computed it (with
            gradient, if ``grad_iters > 0``).
        :param hold: (B,) bool, the samples whose observation is the one their last action was
            expected to give (``PlanningState.holds``): where ``z0``'s readout is decided for
            this decision, the decision is read from ``z0`` with no iteration (``held``); the
            others are solved. Needs ``z0``; ignored with gradient or under "fixed_depth".
        :param action_mask: (B, n_actions) bool of the allowed actions, for the hold's test of
            the action the policy would take (None: every action).
        :param solve: with ``grad_iters > 0`` and a ``z0``, False skips the solve without
            gradient and unrolls the ``grad_iters`` from ``z0`` itself (PPO's update starting
            from the rollout's fixed points, which the weights of the update's first steps
            still hold); with the reasoner and the embedding frozen (no parameter of theirs
            requires a gradient) the heads read ``z0`` as it is.
        :return: logits, values, the fixed point and the solve statistics.
        """
        mode = self.config.halting if halting is None else halting
        if hold is not None and z0 is not None and grad_iters == 0 and mode != "fixed_depth":
            embedded = embedded if embedded is not None else self.embed(obs)
            kept = self.readout(z0, obs, embedded[1])  # what the kept plan says: logits, values
            held = self._decided(kept[0], hold.to(z0.device), action_mask)
            if bool(held.any()):
                return self._hold(obs, z0, kept, held, max_iters, halting, embedded, action_mask)
        x, mask = embedded if embedded is not None else self.embed(obs)
        if not solve and z0 is not None and grad_iters > 0:
            # The update of a policy whose rollouts reached these fixed points: start from them.
            # A frozen reasoner and embedding (nothing the unroll could train) would only
            # repeat their own fixed point, so the heads read z0 itself: the rollout's
            # decision, at no iteration's cost.
            if x.requires_grad or any(p.requires_grad for p in self.reasoner.parameters()):
                z = truncated_unroll(
                    self.reasoner, x, mask, z0.detach(), n_no_grad=0, k_grad=grad_iters
                )
            else:
                z = z0.detach()
            logits, values = self.readout(z, obs, mask)
            none = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
            return PlannerOutput(
                logits=logits, values=values, z=z.detach(),
                iterations=torch.zeros(x.shape[0], dtype=torch.long, device=x.device),
                residual=torch.full((x.shape[0],), float("nan"), device=x.device),
                converged=none, diverged=none, stalled=none, readout_stable=none, held=none,
            )  # fmt: skip
        readout = None
        if mode == "readout":
            readout = self.decision_readout(obs, mask, (x.shape[1], x.shape[2]), action_mask)
        result = self.reasoner.solve(
            x.detach(), mask, z0, max_iters=max_iters, halting=halting, readout=readout
        )
        z = result.z
        if grad_iters > 0:
            z = truncated_unroll(self.reasoner, x, mask, z.detach(), n_no_grad=0, k_grad=grad_iters)
        logits, values = self.readout(z, obs, mask)
        return PlannerOutput(
            logits=logits,
            values=values,
            z=result.z.detach(),
            iterations=result.iterations,
            residual=result.residual,
            converged=result.converged,
            diverged=result.diverged,
            stalled=result.stalled,
            readout_stable=result.readout_stable,
            held=torch.zeros_like(result.converged),
        )

    def _decided(
        self, logits: torch.Tensor, hold: torch.Tensor, action_mask: torch.Tensor | None
    ) -> torch.Tensor:
        """Among the samples asked to hold, those whose kept latent is decided about the action
        the policy would take now: that action (the most likely, among the allowed ones when
        ``action_mask`` is given) at least ``hold_decided`` likely, within its cell for
        symbol layouts. A plan that had not reached this decision yet is solved further.

        :param logits: the kept latent's action logits, (B, n_actions).
        :param hold: (B,) bool, the samples asked to hold.
        :param action_mask: (B, n_actions) bool of the allowed actions, or None.
        :return: (B,) bool.
        """
        if action_mask is not None:
            logits = logits.masked_fill(~action_mask.to(logits.device), float("-inf"))
        if self.move_head is not None:
            top = torch.softmax(logits.float(), dim=-1).amax(dim=-1)
        else:
            # per-cell log-probabilities: the chosen placement's probability within its cell
            top = logits.float().amax(dim=-1).exp()
        return hold & (top >= self.config.hold_decided)

    def _hold(
        self,
        obs: Mapping[str, torch.Tensor],
        z0: torch.Tensor,
        kept: tuple[torch.Tensor, torch.Tensor],
        held: torch.Tensor,
        max_iters: int | None,
        halting: str | None,
        embedded: tuple[torch.Tensor, torch.Tensor | None],
        action_mask: torch.Tensor | None,
    ) -> PlannerOutput:
        """Read the held samples from ``z0`` (0 iterations) and solve the others.

        :param kept: ``readout(z0)``: logits (B, n_actions) and values (B, 1).
        :return: the batch's output, held samples flagged.
        """
        x, mask = embedded
        logits, values = kept
        flags = torch.zeros_like(held)
        out = PlannerOutput(
            logits=logits, values=values, z=z0.detach().clone(),
            iterations=torch.zeros(held.shape, dtype=torch.long, device=z0.device),
            residual=torch.full(held.shape, float("nan"), device=z0.device),
            converged=flags.clone(), diverged=flags.clone(), stalled=flags.clone(),
            readout_stable=flags.clone(), held=held.clone(),
        )  # fmt: skip
        think = (~held).nonzero().flatten()
        if think.numel() == 0:
            return out
        rows = think.tolist()
        part = self(
            {k: v[think] for k, v in obs.items()}, z0=z0[think], max_iters=max_iters,
            halting=halting, embedded=(x[think], None if mask is None else mask[think]),
            action_mask=None if action_mask is None else action_mask[think],
        )  # fmt: skip
        out.logits[think] = part.logits.to(out.logits.dtype)
        out.values[think] = part.values.to(out.values.dtype)
        out.z[think] = part.z
        out.iterations[think] = part.iterations.to(out.iterations.dtype)
        out.residual[think] = part.residual.to(out.residual.dtype)
        for name in ("converged", "diverged", "stalled", "readout_stable"):
            flag = getattr(part, name)
            if flag is not None:
                getattr(out, name)[rows] = flag
        return out

    def expected_observation(
        self, obs: Mapping[str, torch.Tensor], actions: torch.Tensor
    ) -> dict[str, torch.Tensor] | None:
        """The observation each action leads to if it has its intended effect and nothing else
        in the world changes: the agent one cell along its move (move layouts), the chosen
        symbol written into the chosen cell of the first grid (symbol layouts without global
        actions). A decision whose next observation is this one may be taken from the kept
        plan without iterating (``forward(hold=...)``); any other change (a door closing, a
        rejected placement) makes the planner think again.

        :param obs: the batch's observations (what the actions were chosen on).
        :param actions: (B,) long.
        :return: key -> (B, ...) tensors, or None where the layout has no such expectation
            (global actions such as ARC's resize and submit).
        """
        expected = {k: v.clone() for k, v in obs.items()}
        actions = actions.to(torch.long).reshape(-1)
        if self.layout == "move_at_agent":
            key = self.task["agent_key"]
            moves = torch.as_tensor(self.task["moves"], device=obs[key].device)  # (4, 2)
            agent = obs[key].reshape(actions.shape[0], 2)
            expected[key] = (agent + moves[actions].to(agent.dtype)).reshape(obs[key].shape)
            return expected
        if self.task.get("global_actions"):
            return None
        key = next(iter(self.task["grid_keys"]))
        n_symbols = int(self.task["n_symbols"])
        cell, symbol = actions // n_symbols, actions % n_symbols
        flat = expected[key].reshape(actions.shape[0], -1)
        rows = torch.arange(actions.shape[0], device=flat.device)
        offset = int(self.task.get("symbol_offset", 0))
        flat[rows, cell.to(flat.device)] = (symbol.to(flat.device) + offset).to(flat.dtype)
        expected[key] = flat.reshape(obs[key].shape)
        return expected
