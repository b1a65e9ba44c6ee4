"""The Sudoku environment: fill a 4x4, 6x6 or 9x9 board one digit at a time.

Puzzles come from :func:`envs.sudoku_solver.generate_graded_puzzle` (seeded by
``reset(seed=...)``) or from a string the user gives (:func:`parse_puzzle`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.sudoku_solver import (
    BOX_SHAPES,
    box_shape,
    candidate_mask,
    check_grade,
    check_n_blanks,
    describe_contradiction,
    find_solutions,
    generate_graded_puzzle,
    geometry,
    propagation_rounds,
    search_nodes,
    solve,
)

__all__ = [
    "REGISTRATIONS",
    "ParsedPuzzle",
    "SudokuConfig",
    "SudokuEnv",
    "parse_puzzle",
    "render_ansi",
    "render_rgb",
]

_SIZE_OF_LENGTH = {size * size: size for size in BOX_SHAPES}
_BLANK_CHARS = ".0"

PLACEMENT_CORRECT = "correct"
PLACEMENT_WRONG = "wrong"
PLACEMENT_FILLED = "filled"


@dataclass(frozen=True)
class ParsedPuzzle:
    """A checked puzzle given by the user.

    :param board: uint8 (size, size), 0 for a blank.
    :param solution: uint8 (size, size): the unique solution, or the solver's first one when
        several exist and they were allowed.
    :param unique: whether the solution is unique.
    """

    board: np.ndarray
    solution: np.ndarray
    unique: bool


def parse_puzzle(text: str, allow_multiple: bool = False) -> ParsedPuzzle:
    """Read and check a puzzle string.

    The string lists the cells row by row: '.' or '0' for a blank, digits 1..size; whitespace
    is ignored, so a board may be written on several lines. The size follows from the length:
    16, 36 or 81 cells for 4x4, 6x6 or 9x9. Rows and columns in messages count from 0.

    :param text: the puzzle.
    :param allow_multiple: accept a puzzle with more than one solution.
    :return: the board and its solution.
    :raises ValueError: wrong length, a bad character, a digit repeated in a row, column or
        box, no solution, or (unless allowed) more than one solution.
    """
    if not isinstance(text, str):
        raise ValueError(f"a Sudoku puzzle must be a string, got {type(text).__name__}")
    cells = "".join(text.split())
    if len(cells) not in _SIZE_OF_LENGTH:
        raise ValueError(
            f"a Sudoku puzzle must have 16, 36 or 81 cells (4x4, 6x6 or 9x9), got {len(cells)}"
        )
    size = _SIZE_OF_LENGTH[len(cells)]
    digits = "".join(str(d) for d in range(1, size + 1))
    board = np.zeros((size, size), dtype=np.uint8)
    for index, char in enumerate(cells):
        row, col = divmod(index, size)
        if char in _BLANK_CHARS:
            continue
        if char not in digits:
            raise ValueError(
                f"bad character {char!r} at cell (row {row}, col {col}) of a {size}x{size} "
                f"puzzle; use '.' or '0' for a blank and digits 1..{size}"
            )
        board[row, col] = int(char)
    _check_repeats(board)
    solutions = find_solutions(board, limit=2)
    if not solutions:
        raise ValueError(f"the puzzle has no solution: {describe_contradiction(board)}")
    if len(solutions) > 1 and not allow_multiple:
        row, col = (int(x) for x in np.argwhere(solutions[0] != solutions[1])[0])
        raise ValueError(
            "the puzzle has more than one solution; two of them differ at cell "
            f"(row {row}, col {col}) ({solutions[0][row, col]} or {solutions[1][row, col]}); "
            "pass allow_multiple=True to accept it"
        )
    if not (board == 0).any():
        raise ValueError("the puzzle has no blank cell: there is nothing to play")
    return ParsedPuzzle(board=board, solution=solutions[0], unique=len(solutions) == 1)


def _check_repeats(board: np.ndarray) -> None:
    """Raise ValueError naming the first unit that holds a digit twice."""
    size = board.shape[0]
    geo = geometry(size)
    flat = board.ravel()
    for unit, cells in enumerate(geo.units):
        first_cell: dict[int, int] = {}
        for cell in cells:
            digit = int(flat[cell])
            if not digit:
                continue
            if digit in first_cell:
                a, b = first_cell[digit], cell
                raise ValueError(
                    f"digit {digit} appears twice in {geo.unit_name(unit)}: cells "
                    f"(row {a // size}, col {a % size}) and (row {b // size}, col {b % size})"
                )
            first_cell[digit] = cell


@dataclass(frozen=True)
class SudokuConfig:
    """Settings of a :class:`SudokuEnv`; the env's keyword arguments (see its docstring).

    :param size: board side, 4, 6 or 9 (ignored when ``puzzle`` is given).
    :param n_blanks: blanks of a generated puzzle: an int, a (low, high) range drawn each
        episode (both ends included), or None for as many as uniqueness allows.
    :param grade: generated puzzles are redrawn until singles propagation solves them
        ("singles") or does not ("search"); None takes the first drawn.
    :param puzzle: a puzzle string played every episode instead of generated ones.
    :param allow_multiple: accept a given puzzle with several solutions.
    :param mask_conflicts: the action mask also drops digits already in the cell's row, column
        or box.
    :param wrong_ends_episode: a wrong placement ends the episode.
    :param correct_reward: reward of a correct placement.
    :param wrong_reward: reward of a wrong placement (or of a move on a filled cell).
    :param solve_reward: extra reward of the placement that completes the board.
    """

    size: int = 9
    n_blanks: int | tuple[int, int] | None = (30, 45)
    grade: str | None = None
    puzzle: str | None = None
    allow_multiple: bool = False
    mask_conflicts: bool = False
    wrong_ends_episode: bool = False
    correct_reward: float = 0.1
    wrong_reward: float = -0.1
    solve_reward: float = 1.0

    def __post_init__(self) -> None:
        if self.puzzle is None:
            box_shape(self.size)
            check_n_blanks(self.n_blanks, self.size)
            check_grade(self.grade)


class SudokuEnv(gym.Env):
    """Sudoku: place digits until the board is full.

    ## Description
    A board of size x size cells (4x4 with 2x2 boxes, 6x6 with boxes of 2 rows x 3 columns,
    9x9 with 3x3 boxes) must be filled so that every row, column and box holds each digit
    1..size once. Each episode draws a puzzle with a unique solution: a random solved grid
    with cells blanked while the solution stays unique (``n_blanks`` of them, or as many as
    uniqueness allows), redrawn until it has the ``grade`` asked for, or plays the puzzle
    given as ``puzzle``.

    ## Observation
    A ``Dict`` of two uint8 ``Box`` grids, each flattened row-major to shape (size * size,)
    (1-D, as docs/interfaces.md asks; ``obs["board"].reshape(size, size)`` restores the grid):
    - ``"board"``: 0 for a blank, else the digit (symbol id = digit);
    - ``"given"``: 1 on the puzzle's clues, 0 elsewhere.

    ## Actions
    ``Discrete(size**3)``: action ``(row * size + col) * size + (digit - 1)`` writes ``digit``
    at (row, col). ``action_masks()`` allows every digit on the empty cells; with
    ``mask_conflicts=True`` only the digits that do not repeat one in the cell's row, column
    or box. ``oracle_action()`` gives the solution's digit at the most constrained empty cell.

    ## Rewards
    A placement is correct when it equals the solution's digit there (for an allowed puzzle with
    several solutions: when the board still has a solution). A correct placement is written and
    earns ``correct_reward`` (0.1), plus ``solve_reward`` (1.0) when it completes the board. A
    wrong placement, or any action on a filled cell, is NOT written and earns ``wrong_reward``
    (-0.1); the board so never holds a wrong digit.

    ## Termination
    Terminated when the board is full (``info["is_success"]``) or, with
    ``wrong_ends_episode=True``, at the first wrong placement. Truncated by the registered
    ``max_episode_steps`` (2 * size * size).

    ## Info
    Reset and step infos hold, for the board now: ``is_success``; ``blanks_left``;
    ``search_nodes`` (guesses a solver propagating naked and hidden singles makes to finish
    the board from here, 0 when singles suffice); ``propagation_rounds`` (parallel rounds of
    naked and hidden singles that solve the board from here, or that are made before no cell
    is forced); ``propagation_stuck`` (singles stop short of a full board); ``grade``
    ("singles" or "search": what finishing the board from here needs); ``forced_move``
    (whether a naked or hidden single exists now); ``difficulty`` =
    ``blanks_left + search_nodes`` (float, situational). For the episode's puzzle:
    ``puzzle_grade``, ``puzzle_search_nodes``, ``puzzle_propagation_rounds``. Step infos add
    ``placement``: "correct", "wrong" or "filled".

    ## Registered ids
    - ``FPR/Sudoku-v0``: 9x9, ``n_blanks=(30, 45)``, 162 steps.
    - ``FPR/Sudoku-4x4-v0``: 4x4, ``n_blanks=(4, 10)``, 32 steps.
    - ``FPR/Sudoku-6x6-v0``: 6x6, ``n_blanks=(12, 22)``, 72 steps.
    - ``FPR/Sudoku-9x9-v0``: 9x9, ``n_blanks=(30, 45)``, 162 steps (the sized name of v0).
    - ``FPR/Sudoku-9x9-Hard-v0``: 9x9, ``n_blanks=None`` (minimal puzzles, about 56 blanks),
      162 steps.
    - ``FPR/Sudoku-9x9-Singles-v0``: minimal 9x9 puzzles that singles alone solve
      (``n_blanks=None, grade="singles"``), 162 steps.
    - ``FPR/Sudoku-9x9-Search-v0``: minimal 9x9 puzzles that need search
      (``n_blanks=None, grade="search"``), 162 steps.
    Every id takes the keyword arguments below through ``gym.make``.

    :param size: board side, 4, 6 or 9; ignored when ``puzzle`` is given.
    :param n_blanks: blanks of a generated puzzle: an int, a (low, high) range drawn each
        episode, or None for as many as uniqueness allows.
    :param grade: "singles" or "search": generated puzzles are redrawn until singles
        propagation solves them, or until it does not; None (default) plays the first drawn.
        Ignored when ``puzzle`` is given.
    :param puzzle: a puzzle string (see :func:`parse_puzzle`) played every episode; its length
        sets the size.
    :param allow_multiple: accept a given puzzle with several solutions.
    :param mask_conflicts: mask digits that clash with the cell's row, column or box.
    :param wrong_ends_episode: end the episode at the first wrong placement.
    :param correct_reward: reward of a correct placement.
    :param wrong_reward: reward of a wrong placement or of a move on a filled cell.
    :param solve_reward: extra reward when the board is completed.
    :param render_mode: None, "rgb_array" or "ansi".
    """

    metadata = {"render_modes": ["rgb_array", "ansi"], "render_fps": 4}  # noqa: RUF012
    action_space: spaces.Discrete

    def __init__(
        self,
        size: int = 9,
        n_blanks: int | tuple[int, int] | None = (30, 45),
        grade: str | None = None,
        puzzle: str | None = None,
        allow_multiple: bool = False,
        mask_conflicts: bool = False,
        wrong_ends_episode: bool = False,
        correct_reward: float = 0.1,
        wrong_reward: float = -0.1,
        solve_reward: float = 1.0,
        render_mode: str | None = None,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be None or one of {self.metadata['render_modes']}, "
                f"got {render_mode!r}"
            )
        self.config = SudokuConfig(
            size=size,
            n_blanks=tuple(n_blanks) if isinstance(n_blanks, list) else n_blanks,
            grade=grade,
            puzzle=puzzle,
            allow_multiple=allow_multiple,
            mask_conflicts=mask_conflicts,
            wrong_ends_episode=wrong_ends_episode,
            correct_reward=correct_reward,
            wrong_reward=wrong_reward,
            solve_reward=solve_reward,
        )
        self._given_puzzle = None if puzzle is None else parse_puzzle(puzzle, allow_multiple)
        self.size = size if self._given_puzzle is None else self._given_puzzle.board.shape[0]
        self.box_shape = box_shape(self.size)
        self.render_mode = render_mode
        grid = (self.size, self.size)
        flat_grid = (self.size * self.size,)  # 1-D, row-major (docs/interfaces.md)
        self.observation_space = spaces.Dict(
            {
                "board": spaces.Box(0, self.size, flat_grid, dtype=np.uint8),
                "given": spaces.Box(0, 1, flat_grid, dtype=np.uint8),
            }
        )
        self.action_space = spaces.Discrete(self.size**3)
        self._board = np.zeros(grid, dtype=np.uint8)  # (H, W), 0 = blank
        self._given = np.zeros(grid, dtype=np.uint8)  # (H, W), 1 = clue
        self._solution = np.zeros(grid, dtype=np.uint8)  # (H, W)
        self._unique = True
        self._puzzle_grade = ""
        self._puzzle_search_nodes = 0
        self._puzzle_propagation_rounds = 0
        self._last_move: tuple[int, int, int, str] | None = None  # row, col, digit, placement

    @property
    def task_description(self) -> dict[str, Any]:
        """What the policy needs to know about this task (docs/interfaces.md, section 1)."""
        return {
            "family": "sudoku",
            "grid_shape": [self.size, self.size],
            "grid_keys": {"board": self.size + 1, "given": 2},
            "valid_key": None,
            "action_layout": "symbol_per_cell",
            "n_symbols": self.size,
            "symbol_offset": 1,
            "global_actions": [],
            "box_shape": list(self.box_shape),
        }

    @property
    def board(self) -> np.ndarray:
        """A copy of the current board, uint8 (size, size), 0 for a blank."""
        return self._board.copy()

    @property
    def solution(self) -> np.ndarray:
        """A copy of the solution the episode is checked against, uint8 (size, size)."""
        return self._solution.copy()

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Start an episode on a new puzzle.

        :param seed: seeds ``self.np_random``, the source of every random choice.
        :param options: ``{"puzzle": str}`` plays that puzzle (same size as the env) this
            episode; ``allow_multiple`` follows the env's setting.
        :return: (observation, info).
        """
        super().reset(seed=seed)
        puzzle_text = (options or {}).get("puzzle")
        parsed: ParsedPuzzle | None
        if puzzle_text is not None:
            parsed = parse_puzzle(puzzle_text, self.config.allow_multiple)
            if parsed.board.shape[0] != self.size:
                raise ValueError(
                    f"options['puzzle'] is {parsed.board.shape[0]}x{parsed.board.shape[0]} but "
                    f"this env plays {self.size}x{self.size} boards"
                )
        else:
            parsed = self._given_puzzle
        if parsed is not None:
            board, solution, unique = parsed.board, parsed.solution, parsed.unique
        else:
            board, solution = generate_graded_puzzle(
                self.size, self.config.n_blanks, self.np_random, self.config.grade
            )
            unique = True
        self._board = board.copy()
        self._given = (board != 0).astype(np.uint8)
        self._solution = solution.copy()
        self._unique = unique
        self._last_move = None
        info = self._info()
        self._puzzle_grade = info["puzzle_grade"] = info["grade"]
        self._puzzle_search_nodes = info["puzzle_search_nodes"] = info["search_nodes"]
        rounds = info["propagation_rounds"]
        self._puzzle_propagation_rounds = info["puzzle_propagation_rounds"] = rounds
        return self._observation(), info

    def step(
        self, action: int | np.integer
    ) -> tuple[dict[str, np.ndarray], SupportsFloat, bool, bool, dict[str, Any]]:
        """Try to write one digit.

        :param action: ``(row * size + col) * size + (digit - 1)``.
        :return: (observation, reward, terminated, truncated, info).
        """
        if not self.action_space.contains(action):
            raise ValueError(
                f"action must be an int in 0..{self.action_space.n - 1}, got {action!r}"
            )
        cell, digit_index = divmod(int(action), self.size)
        row, col = divmod(cell, self.size)
        digit = digit_index + 1
        placement = self._judge(row, col, digit)
        config = self.config
        reward = 0.0
        terminated = False
        if placement == PLACEMENT_CORRECT:
            self._board[row, col] = digit
            reward = config.correct_reward
            if not (self._board == 0).any():
                reward += config.solve_reward
                terminated = True
        else:
            reward = config.wrong_reward
            terminated = config.wrong_ends_episode
        self._last_move = (row, col, digit, placement)
        info = self._info()
        info["placement"] = placement
        return self._observation(), float(reward), terminated, False, info

    def _judge(self, row: int, col: int, digit: int) -> str:
        """Whether writing ``digit`` at (row, col) is correct, wrong, or on a filled cell."""
        if self._board[row, col]:
            return PLACEMENT_FILLED
        if digit == self._solution[row, col]:
            return PLACEMENT_CORRECT
        if not self._unique:
            trial = self._board.copy()
            trial[row, col] = digit
            other_solution = solve(trial)  # None also when the digit clashes
            if other_solution is not None:
                self._solution = other_solution
                return PLACEMENT_CORRECT
        return PLACEMENT_WRONG

    def action_masks(self) -> np.ndarray:
        """Which actions are allowed now (sb3-contrib's MaskablePPO convention).

        :return: bool array (size**3,): the empty cells' digits, or with ``mask_conflicts`` only
            the digits that fit them.
        """
        if self.config.mask_conflicts:
            allowed = candidate_mask(self._board)  # (H, W, size)
        else:
            allowed = np.broadcast_to((self._board == 0)[:, :, None], (self.size,) * 3)
        return np.ascontiguousarray(allowed).reshape(-1)

    def oracle_action(self) -> int:
        """The expert's move: the solution's digit at the empty cell with the fewest candidates
        (the first such cell in row-major order).

        :return: the action.
        :raises RuntimeError: when the board is already full.
        """
        empty = self._board == 0  # (H, W)
        if not empty.any():
            raise RuntimeError("the board is full: there is no move left")
        n_candidates = candidate_mask(self._board).sum(axis=-1)  # (H, W)
        n_candidates[~empty] = self.size + 1
        cell = int(np.argmin(n_candidates))
        row, col = divmod(cell, self.size)
        return cell * self.size + int(self._solution[row, col]) - 1

    def render(self) -> np.ndarray | str | None:
        """Draw the board.

        :return: an RGB uint8 image (H, W, 3) for "rgb_array", a string for "ansi", else None.
        """
        if self.render_mode == "rgb_array":
            return render_rgb(self._board, self._given, self.box_shape, self._last_move)
        if self.render_mode == "ansi":
            return render_ansi(self._board, self.box_shape)
        return None

    def _observation(self) -> dict[str, np.ndarray]:
        return {"board": self._board.flatten(), "given": self._given.flatten()}  # (H * W,) copies

    def _info(self) -> dict[str, Any]:
        blanks_left = int((self._board == 0).sum())
        nodes = search_nodes(self._board) if blanks_left else 0
        propagation = propagation_rounds(self._board)  # 0 rounds, solved, on a full board
        return {
            "is_success": blanks_left == 0,
            "difficulty": float(blanks_left + nodes),
            "blanks_left": blanks_left,
            "search_nodes": nodes,
            "propagation_rounds": propagation.rounds,
            "propagation_stuck": not propagation.solved,
            "grade": propagation.grade,
            # The board never holds a wrong digit, so the first round places a digit exactly
            # when a naked or hidden single exists.
            "forced_move": propagation.rounds > 0,
            "puzzle_grade": self._puzzle_grade,
            "puzzle_search_nodes": self._puzzle_search_nodes,
            "puzzle_propagation_rounds": self._puzzle_propagation_rounds,
        }


# Digit glyphs for rgb rendering, 5 columns x 7 rows, '#' = ink.
_GLYPHS: dict[int, tuple[str, ...]] = {
    1: ("..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."),
    2: (".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"),
    3: ("####.", "....#", "....#", ".###.", "....#", "....#", "####."),
    4: ("...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."),
    5: ("#####", "#....", "####.", "....#", "....#", "#...#", ".###."),
    6: ("..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."),
    7: ("#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."),
    8: (".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."),
    9: (".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."),
}
_CELL_PIXELS = 32
_GLYPH_SCALE = 3
_GIVEN_INK = (0, 0, 0)
_PLACED_INK = (30, 70, 200)
_WRONG_INK = (200, 30, 30)
_CORRECT_TINT = (210, 245, 210)
_WRONG_TINT = (250, 210, 210)


def _glyph_mask(digit: int) -> np.ndarray:
    """Bool image (7 * scale, 5 * scale) of a digit."""
    rows = _GLYPHS[digit]
    small = np.array([[char == "#" for char in line] for line in rows], dtype=bool)  # (7, 5)
    return np.kron(small, np.ones((_GLYPH_SCALE, _GLYPH_SCALE), dtype=bool))


def render_rgb(
    board: np.ndarray,
    given: np.ndarray,
    box: tuple[int, int],
    last_move: tuple[int, int, int, str] | None = None,
) -> np.ndarray:
    """Draw a board as an RGB image: clues in black, placed digits in blue, thick box lines; the
    last move's cell is tinted green (correct) or red (wrong, with the refused digit in red).

    :param board: uint8 (size, size), 0 for a blank.
    :param given: uint8 (size, size), 1 on clues.
    :param box: (box rows, box columns).
    :param last_move: (row, col, digit, placement) of the last step, or None.
    :return: uint8 image (size * 32 + 1, size * 32 + 1, 3).
    """
    size = board.shape[0]
    cell = _CELL_PIXELS
    side = size * cell + 1
    image = np.full((side, side, 3), 255, dtype=np.uint8)  # (H, W, 3)
    wrong_digit = None
    if last_move is not None:
        row, col, digit, placement = last_move
        tint = _CORRECT_TINT if placement == PLACEMENT_CORRECT else _WRONG_TINT
        image[row * cell : (row + 1) * cell, col * cell : (col + 1) * cell] = tint
        if placement == PLACEMENT_WRONG:
            wrong_digit = (row, col, digit)
    glyph_h, glyph_w = 7 * _GLYPH_SCALE, 5 * _GLYPH_SCALE
    top, left = (cell - glyph_h) // 2 + 1, (cell - glyph_w) // 2 + 1
    inks = [
        (r, c, int(board[r, c]), _GIVEN_INK if given[r, c] else _PLACED_INK)
        for r in range(size)
        for c in range(size)
        if board[r, c]
    ]
    if wrong_digit is not None:
        inks.append((*wrong_digit, _WRONG_INK))
    for r, c, digit, ink in inks:
        y, x = r * cell + top, c * cell + left
        patch = image[y : y + glyph_h, x : x + glyph_w]
        patch[_glyph_mask(digit)] = ink
    box_rows, box_cols = box
    for k in range(size + 1):
        thick_h = k % box_rows == 0
        thick_v = k % box_cols == 0
        pos = k * cell
        h_span = slice(max(pos - 1, 0), pos + 2) if thick_h else slice(pos, pos + 1)
        v_span = slice(max(pos - 1, 0), pos + 2) if thick_v else slice(pos, pos + 1)
        image[h_span, :] = 0 if thick_h else 160
        image[:, v_span] = 0 if thick_v else 160
    return image


def render_ansi(board: np.ndarray, box: tuple[int, int]) -> str:
    """Draw a board as text: '.' for a blank, '|' and '-' between boxes.

    :param board: uint8 (size, size), 0 for a blank.
    :param box: (box rows, box columns).
    :return: the text, one line per board row plus separator lines, ending in a newline.
    """
    size = board.shape[0]
    box_rows, box_cols = box
    lines = []
    for r in range(size):
        if r and r % box_rows == 0:
            lines.append("+".join(["-" * (2 * box_cols + 1)] * (size // box_cols))[1:-1])
        groups = [
            " ".join(str(int(d)) if d else "." for d in board[r, c : c + box_cols])
            for c in range(0, size, box_cols)
        ]
        lines.append(" | ".join(groups))
    return "\n".join(lines) + "\n"


def _registration(
    env_id: str, size: int, n_blanks: int | tuple[int, int] | None, grade: str | None = None
) -> dict:
    kwargs: dict[str, Any] = {"size": size, "n_blanks": n_blanks}
    if grade is not None:
        kwargs["grade"] = grade
    return {
        "id": env_id,
        "entry_point": "envs.sudoku:SudokuEnv",
        "kwargs": kwargs,
        "max_episode_steps": 2 * size * size,
    }


REGISTRATIONS: list[dict] = [
    _registration("FPR/Sudoku-v0", 9, (30, 45)),
    _registration("FPR/Sudoku-4x4-v0", 4, (4, 10)),
    _registration("FPR/Sudoku-6x6-v0", 6, (12, 22)),
    _registration("FPR/Sudoku-9x9-v0", 9, (30, 45)),
    _registration("FPR/Sudoku-9x9-Hard-v0", 9, None),
    _registration("FPR/Sudoku-9x9-Singles-v0", 9, None, "singles"),
    _registration("FPR/Sudoku-9x9-Search-v0", 9, None, "search"),
]
