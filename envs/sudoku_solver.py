"""Sudoku solving, grading and generation for boards of 4x4, 6x6 and 9x9.

Boards are integer arrays of shape (size, size) with 0 for a blank and digits 1..size.
Inside, a board is a flat list of cells and three lists of bitmasks (digits used in each row,
column and box; bit ``d - 1`` stands for digit ``d``), so the candidates of a cell are one
expression of bit operations.

The solver propagates naked singles (a cell with one candidate) and hidden singles (a digit with
one place in a row, column or box), then branches on the most constrained cell. Its
``search_nodes`` count the guesses it makes: 0 means singles alone solve the board.

The generator draws a random solved grid, then blanks cells in a random order, keeping a blank
only while the puzzle keeps a unique solution. A blank at a cell whose digit is ``d`` keeps the
solution unique exactly when no solution has another digit there, so the test is one search for
a solution with ``d`` forbidden at that cell (usually a quick contradiction), not a count.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "BOX_SHAPES",
    "GRADES",
    "GRADE_SEARCH",
    "GRADE_SINGLES",
    "Propagation",
    "SudokuGeometry",
    "box_shape",
    "candidate_mask",
    "check_grade",
    "check_n_blanks",
    "count_solutions",
    "describe_contradiction",
    "find_solutions",
    "generate_graded_puzzle",
    "generate_puzzle",
    "generate_solved_grid",
    "geometry",
    "grade_puzzle",
    "has_forced_move",
    "propagation_rounds",
    "search_nodes",
    "solve",
]

BOX_SHAPES: dict[int, tuple[int, int]] = {4: (2, 2), 6: (2, 3), 9: (3, 3)}
"""Board size -> (box rows, box columns)."""

GRADE_SINGLES = "singles"
GRADE_SEARCH = "search"


def box_shape(size: int) -> tuple[int, int]:
    """The box shape of a board size.

    :param size: board side: 4, 6 or 9.
    :return: (box rows, box columns): (2, 2), (2, 3) or (3, 3).
    """
    if size not in BOX_SHAPES:
        raise ValueError(f"Sudoku size must be one of {sorted(BOX_SHAPES)}, got {size!r}")
    return BOX_SHAPES[size]


@dataclass(frozen=True)
class SudokuGeometry:
    """Index tables of one board size, shared by every board of that size.

    :param size: board side.
    :param box_rows: rows of a box.
    :param box_cols: columns of a box.
    :param row_of: row of each flat cell index.
    :param col_of: column of each flat cell index.
    :param box_of: box of each flat cell index (boxes numbered row-major).
    :param units: the cells of every unit: the rows, then the columns, then the boxes.
    :param units_of: the three unit indices (row, column, box) of each cell, into ``units``.
    :param full_mask: bitmask with every digit's bit set.
    """

    size: int
    box_rows: int
    box_cols: int
    row_of: tuple[int, ...]
    col_of: tuple[int, ...]
    box_of: tuple[int, ...]
    units: tuple[tuple[int, ...], ...]
    units_of: tuple[tuple[int, int, int], ...]
    full_mask: int

    @property
    def n_cells(self) -> int:
        """Number of cells, size * size."""
        return self.size * self.size

    def unit_name(self, unit: int) -> str:
        """A readable name of a unit, such as ``"row 3"`` or ``"box (1, 2)"`` (0-based).

        :param unit: index into ``units``.
        :return: the name.
        """
        size = self.size
        if unit < size:
            return f"row {unit}"
        if unit < 2 * size:
            return f"column {unit - size}"
        box = unit - 2 * size
        boxes_per_band = size // self.box_cols
        return f"box ({box // boxes_per_band}, {box % boxes_per_band})"


@functools.cache
def geometry(size: int) -> SudokuGeometry:
    """The index tables of a board size (cached).

    :param size: board side: 4, 6 or 9.
    :return: the geometry.
    """
    box_rows, box_cols = box_shape(size)
    boxes_per_band = size // box_cols
    cells = range(size * size)
    row_of = tuple(i // size for i in cells)
    col_of = tuple(i % size for i in cells)
    box_of = tuple((row_of[i] // box_rows) * boxes_per_band + col_of[i] // box_cols for i in cells)
    rows = [tuple(i for i in cells if row_of[i] == k) for k in range(size)]
    cols = [tuple(i for i in cells if col_of[i] == k) for k in range(size)]
    boxes = [tuple(i for i in cells if box_of[i] == k) for k in range(size)]
    units_of = tuple((row_of[i], size + col_of[i], 2 * size + box_of[i]) for i in cells)
    return SudokuGeometry(
        size=size,
        box_rows=box_rows,
        box_cols=box_cols,
        row_of=row_of,
        col_of=col_of,
        box_of=box_of,
        units=tuple(rows + cols + boxes),
        units_of=units_of,
        full_mask=(1 << size) - 1,
    )


class _BoardState:
    """A mutable board: flat cell values plus the digit bitmasks used in each unit.

    :param geo: the board's geometry.
    """

    __slots__ = ("boxes", "cols", "geo", "rows", "values")

    def __init__(self, geo: SudokuGeometry) -> None:
        self.geo = geo
        self.values = [0] * geo.n_cells
        self.rows = [0] * geo.size
        self.cols = [0] * geo.size
        self.boxes = [0] * geo.size

    def candidates(self, cell: int) -> int:
        """Bitmask of the digits that fit an empty cell.

        :param cell: flat index.
        :return: the bitmask.
        """
        geo = self.geo
        used = self.rows[geo.row_of[cell]] | self.cols[geo.col_of[cell]]
        return geo.full_mask & ~(used | self.boxes[geo.box_of[cell]])

    def place(self, cell: int, digit: int) -> None:
        """Write a digit into an empty cell (no check).

        :param cell: flat index.
        :param digit: 1..size.
        """
        geo = self.geo
        bit = 1 << (digit - 1)
        self.values[cell] = digit
        self.rows[geo.row_of[cell]] |= bit
        self.cols[geo.col_of[cell]] |= bit
        self.boxes[geo.box_of[cell]] |= bit

    def clear(self, cell: int) -> None:
        """Blank a filled cell.

        :param cell: flat index.
        """
        geo = self.geo
        bit = 1 << (self.values[cell] - 1)
        self.values[cell] = 0
        self.rows[geo.row_of[cell]] &= ~bit
        self.cols[geo.col_of[cell]] &= ~bit
        self.boxes[geo.box_of[cell]] &= ~bit

    def to_array(self) -> np.ndarray:
        """The board as an array.

        :return: uint8 array (size, size).
        """
        size = self.geo.size
        return np.array(self.values, dtype=np.uint8).reshape(size, size)


@dataclass
class _SearchRecord:
    """What one search collects: guesses made and the solutions kept.

    :param keep: how many solutions to keep.
    """

    keep: int = 0
    nodes: int = 0
    solutions: list[list[int]] = field(default_factory=list)


def _undo(state: _BoardState, trail: list[int]) -> None:
    for cell in reversed(trail):
        state.clear(cell)


def _propagate(state: _BoardState, trail: list[int]) -> bool:
    """Fill naked and hidden singles until none is left; the cells filled go onto ``trail``.

    :return: False when the board reached a contradiction (a cell without candidates, or a
        digit without a place in a unit).
    """
    geo = state.geo
    values, rows, cols, boxes = state.values, state.rows, state.cols, state.boxes
    row_of, col_of, box_of = geo.row_of, geo.col_of, geo.box_of
    full = geo.full_mask
    size = geo.size
    n_cells = size * size
    units, units_of = geo.units, geo.units_of
    n_units = len(units)
    empties = [i for i in range(n_cells) if not values[i]]
    while True:
        cands = [0] * n_cells
        still_empty = []
        changed = False
        for i in empties:
            if values[i]:  # filled by a hidden single in the previous pass
                continue
            r, c, b = row_of[i], col_of[i], box_of[i]
            m = full & ~(rows[r] | cols[c] | boxes[b])
            if not m:
                return False
            if m & (m - 1):
                cands[i] = m
                still_empty.append(i)
            else:
                values[i] = m.bit_length()
                rows[r] |= m
                cols[c] |= m
                boxes[b] |= m
                trail.append(i)
                changed = True
        empties = still_empty
        if changed:
            continue
        # Hidden singles: per unit, the digits seen in one empty cell's candidates and those
        # seen in two or more. Placements made in this loop leave the counts stale; stale counts
        # only over-approximate, so each placement is re-checked before it is made.
        once = [0] * n_units
        twice = [0] * n_units
        for i in empties:
            m = cands[i]
            u_row, u_col, u_box = units_of[i]
            twice[u_row] |= once[u_row] & m
            once[u_row] |= m
            twice[u_col] |= once[u_col] & m
            once[u_col] |= m
            twice[u_box] |= once[u_box] & m
            once[u_box] |= m
        placed_in_unit = rows + cols + boxes
        for u in range(n_units):
            seen = once[u]
            if (seen | placed_in_unit[u]) != full:
                return False  # a digit has no place left in this unit
            hidden = seen & ~twice[u]
            while hidden:
                bit = hidden & -hidden
                hidden ^= bit
                for i in units[u]:
                    if cands[i] & bit:
                        break
                r, c, b = row_of[i], col_of[i], box_of[i]
                if values[i] or (rows[r] | cols[c] | boxes[b]) & bit:
                    continue
                values[i] = bit.bit_length()
                rows[r] |= bit
                cols[c] |= bit
                boxes[b] |= bit
                trail.append(i)
                changed = True
        if not changed:
            return True


def _search(state: _BoardState, limit: int, record: _SearchRecord) -> int:
    """Count solutions up to ``limit`` by propagation and most-constrained-cell branching.

    The board is left as it was found. Every digit tried at a branching cell adds one to
    ``record.nodes``; the first ``record.keep`` solutions are kept in ``record.solutions``.

    :return: the number of solutions found, at most ``limit``.
    """
    trail: list[int] = []
    if not _propagate(state, trail):
        _undo(state, trail)
        return 0
    geo = state.geo
    values, rows, cols, boxes = state.values, state.rows, state.cols, state.boxes
    row_of, col_of, box_of = geo.row_of, geo.col_of, geo.box_of
    full = geo.full_mask
    best, best_mask, best_count = -1, 0, 99
    for i in range(len(values)):
        if values[i]:
            continue
        m = full & ~(rows[row_of[i]] | cols[col_of[i]] | boxes[box_of[i]])
        count = m.bit_count()
        if count < best_count:
            best, best_mask, best_count = i, m, count
            if count == 2:
                break
    if best < 0:
        if len(record.solutions) < record.keep:
            record.solutions.append(list(values))
        _undo(state, trail)
        return 1
    found = 0
    r, c, b = row_of[best], col_of[best], box_of[best]
    while best_mask and found < limit:
        bit = best_mask & -best_mask
        best_mask ^= bit
        record.nodes += 1
        values[best] = bit.bit_length()
        rows[r] |= bit
        cols[c] |= bit
        boxes[b] |= bit
        found += _search(state, limit - found, record)
        values[best] = 0
        rows[r] ^= bit
        cols[c] ^= bit
        boxes[b] ^= bit
    _undo(state, trail)
    return found


def _check_board(board: np.ndarray) -> np.ndarray:
    array = np.asarray(board)
    if array.ndim != 2 or array.shape[0] != array.shape[1]:
        raise ValueError(f"a Sudoku board must be a square 2-D array, got shape {array.shape}")
    size = array.shape[0]
    box_shape(size)
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"a Sudoku board must hold integers, got dtype {array.dtype}")
    bad = np.argwhere((array < 0) | (array > size))
    if len(bad):
        row, col = (int(x) for x in bad[0])
        raise ValueError(
            f"cell (row {row}, col {col}) holds {int(array[row, col])}; "
            f"expected 0 (blank) or a digit 1..{size}"
        )
    return array


def _state_from_board(board: np.ndarray) -> _BoardState | None:
    """Load a board; None when two equal digits share a unit."""
    array = _check_board(board)
    state = _BoardState(geometry(array.shape[0]))
    for cell, digit in enumerate(array.ravel().tolist()):
        if digit:
            if not state.candidates(cell) & (1 << (digit - 1)):
                return None
            state.place(cell, digit)
    return state


def find_solutions(board: np.ndarray, limit: int = 2) -> list[np.ndarray]:
    """Solutions of a board, at most ``limit`` of them.

    :param board: integer array (size, size), 0 for a blank.
    :param limit: stop after this many solutions.
    :return: the solutions as uint8 arrays (size, size); empty when there is none (including a
        board whose givens already clash).
    """
    state = _state_from_board(board)
    if state is None:
        return []
    record = _SearchRecord(keep=limit)
    _search(state, limit, record)
    size = state.geo.size
    return [np.array(s, dtype=np.uint8).reshape(size, size) for s in record.solutions]


def count_solutions(board: np.ndarray, limit: int = 2) -> int:
    """Count the solutions of a board, stopping at ``limit``.

    :param board: integer array (size, size), 0 for a blank.
    :param limit: the count stops here (2 answers "none, one or several").
    :return: the number of solutions, at most ``limit``.
    """
    state = _state_from_board(board)
    if state is None:
        return 0
    return _search(state, limit, _SearchRecord())


def solve(board: np.ndarray) -> np.ndarray | None:
    """One solution of a board (the solver's first).

    :param board: integer array (size, size), 0 for a blank.
    :return: the solution, uint8 (size, size), or None when there is none.
    """
    solutions = find_solutions(board, limit=1)
    return solutions[0] if solutions else None


def search_nodes(board: np.ndarray) -> int:
    """Guesses the propagating solver makes before it finds a first solution.

    :param board: integer array (size, size), 0 for a blank; must have a solution.
    :return: 0 when naked and hidden singles alone solve the board, else the number of digits
        tried at branching cells.
    """
    state = _state_from_board(board)
    record = _SearchRecord()
    if state is None or _search(state, 1, record) == 0:
        raise ValueError("the board has no solution")
    return record.nodes


def grade_puzzle(board: np.ndarray) -> tuple[str, int]:
    """Grade a puzzle by what the solver needs.

    :param board: integer array (size, size), 0 for a blank; must have a solution.
    :return: (grade, search_nodes): grade "singles" when naked and hidden singles alone solve
        it, else "search"; search_nodes as in :func:`search_nodes`.
    """
    nodes = search_nodes(board)
    return (GRADE_SINGLES if nodes == 0 else GRADE_SEARCH), nodes


def has_forced_move(board: np.ndarray) -> bool:
    """Whether a naked single or a hidden single exists on the board now.

    :param board: integer array (size, size), 0 for a blank; givens must not clash.
    :return: True if some empty cell has one candidate, or some digit has exactly one empty
        cell left to go to in a row, column or box that lacks it.
    """
    state = _state_from_board(board)
    if state is None:
        raise ValueError("the board's digits clash")
    geo = state.geo
    cands = [0 if v else state.candidates(i) for i, v in enumerate(state.values)]
    for m in cands:
        if m and not m & (m - 1):
            return True
    for unit in geo.units:
        once = twice = placed = 0
        for i in unit:
            value = state.values[i]
            if value:
                placed |= 1 << (value - 1)
            m = cands[i]
            twice |= once & m
            once |= m
        if once & ~twice & ~placed:
            return True
    return False


@dataclass(frozen=True)
class Propagation:
    """What rounds of singles propagation do to a board (see :func:`propagation_rounds`).

    :param rounds: rounds that placed at least one digit.
    :param solved: singles filled every blank (the board's grade is "singles").
    :param contradiction: a round met a contradiction (an empty cell without candidates, a
        digit without a place in a unit that lacks it, a cell forced to two digits, or a digit
        forced into two cells of one unit): the board has no solution.
    """

    rounds: int
    solved: bool
    contradiction: bool = False

    @property
    def grade(self) -> str:
        """ "singles" when singles alone solved the board, else "search"."""
        return GRADE_SINGLES if self.solved else GRADE_SEARCH


def propagation_rounds(board: np.ndarray) -> Propagation:
    """Rounds of singles propagation, in parallel, needed to solve a board.

    Each round looks at the board as it stands at the start of the round and fills, all at
    once, every cell that is forced there: a naked single (an empty cell with one candidate)
    or a hidden single (the only cell of a row, column or box that can take a digit the unit
    lacks). Rounds repeat until the board is full or no cell is forced. Candidates are
    bitmasks, as in the solver (about 0.3 ms for a 9x9 minimal puzzle's 8 rounds).

    :param board: integer array (size, size), 0 for a blank; givens must not clash.
    :return: the rounds that placed digits, whether the board got full, and whether a
        contradiction stopped it (only for boards without a solution). A full board takes 0
        rounds.
    """
    array = _check_board(board)
    geo = geometry(array.shape[0])
    full, units, units_of = geo.full_mask, geo.units, geo.units_of
    row_of, col_of, box_of = geo.row_of, geo.col_of, geo.box_of
    n_units = len(units)
    rows, cols, boxes = [0] * geo.size, [0] * geo.size, [0] * geo.size
    for cell, digit in enumerate(array.ravel().tolist()):
        if digit:
            bit = 1 << (digit - 1)
            rows[row_of[cell]] |= bit
            cols[col_of[cell]] |= bit
            boxes[box_of[cell]] |= bit
    empties = [cell for cell, digit in enumerate(array.ravel().tolist()) if not digit]
    rounds = 0
    while empties:
        cands: dict[int, int] = {}
        forced: dict[int, int] = {}  # cell -> the digit bits forced there this round
        once, twice = [0] * n_units, [0] * n_units  # digits seen in one / in two+ cells
        for i in empties:
            m = full & ~(rows[row_of[i]] | cols[col_of[i]] | boxes[box_of[i]])
            if not m:
                return Propagation(rounds, False, True)  # an empty cell without candidates
            cands[i] = m
            if not m & (m - 1):
                forced[i] = m  # naked single
            u_row, u_col, u_box = units_of[i]
            twice[u_row] |= once[u_row] & m
            once[u_row] |= m
            twice[u_col] |= once[u_col] & m
            once[u_col] |= m
            twice[u_box] |= once[u_box] & m
            once[u_box] |= m
        placed = rows + cols + boxes  # per unit, in the order of geo.units
        for u in range(n_units):
            if (once[u] | placed[u]) != full:
                return Propagation(rounds, False, True)  # a digit without a place
            hidden = once[u] & ~twice[u]
            if hidden:
                for i in units[u]:
                    h = cands.get(i, 0) & hidden
                    if h:
                        forced[i] = forced.get(i, 0) | h  # hidden single
        if not forced:
            break
        in_unit = [0] * n_units  # digits forced in each unit this round
        for i, m in forced.items():
            if m & (m - 1):
                return Propagation(rounds, False, True)  # two digits forced into one cell
            for u in units_of[i]:
                if in_unit[u] & m:
                    return Propagation(rounds, False, True)  # one digit forced twice
                in_unit[u] |= m
        for i, m in forced.items():
            rows[row_of[i]] |= m
            cols[col_of[i]] |= m
            boxes[box_of[i]] |= m
        empties = [i for i in empties if i not in forced]
        rounds += 1
    return Propagation(rounds, not empties)


def candidate_mask(board: np.ndarray) -> np.ndarray:
    """Which digits fit each cell given its row, column and box.

    :param board: integer array (size, size), 0 for a blank.
    :return: bool array (size, size, size): [row, col, d - 1] is True when the cell is empty
        and digit d appears in none of its units.
    """
    array = _check_board(board)
    size = array.shape[0]
    box_rows, box_cols = box_shape(size)
    onehot = np.zeros((size + 1, size, size), dtype=bool)  # (digit, H, W)
    onehot[array, np.arange(size)[:, None], np.arange(size)[None, :]] = True
    digits = onehot[1:]  # (size, H, W)
    in_row = np.any(digits, axis=2)  # (size, H)
    in_col = np.any(digits, axis=1)  # (size, W)
    boxes = digits.reshape(size, size // box_rows, box_rows, size // box_cols, box_cols)
    in_box = boxes.any(axis=(2, 4))  # (size, bands, stacks)
    in_box_cells = np.repeat(np.repeat(in_box, box_rows, axis=1), box_cols, axis=2)
    used = in_row[:, :, None] | in_col[:, None, :] | in_box_cells  # (size, H, W)
    free = ~used & (array == 0)[None]
    return np.moveaxis(free, 0, -1)  # (H, W, size)


def _fill_randomly(state: _BoardState, digit_order: list[list[int]]) -> bool:
    """Complete a board by depth-first search on the most constrained cell, trying each cell's
    digits in the order given; the board keeps the filling when True is returned."""
    values = state.values
    best, best_mask, best_count = -1, 0, 99
    for i in range(len(values)):
        if not values[i]:
            m = state.candidates(i)
            count = m.bit_count()
            if count < best_count:
                best, best_mask, best_count = i, m, count
                if count <= 1:
                    break
    if best < 0:
        return True
    for digit in digit_order[best]:
        if best_mask & (1 << (digit - 1)):
            state.place(best, digit)
            if _fill_randomly(state, digit_order):
                return True
            state.clear(best)
    return False


def generate_solved_grid(size: int, rng: np.random.Generator) -> np.ndarray:
    """A random solved grid.

    :param size: board side: 4, 6 or 9.
    :param rng: the source of every random choice.
    :return: uint8 array (size, size).
    """
    geo = geometry(size)
    state = _BoardState(geo)
    # Each cell tries the digits in its own random order.
    digit_order = rng.permuted(np.tile(np.arange(1, size + 1), (geo.n_cells, 1)), axis=1)
    if not _fill_randomly(state, digit_order.tolist()):
        raise RuntimeError("could not fill an empty Sudoku board")  # cannot happen
    return state.to_array()


def _blank_keeps_unique(state: _BoardState, cell: int) -> bool:
    """Blank ``cell`` of a board with a unique solution; keep the blank and return True when
    the solution stays unique, else restore the digit and return False."""
    geo = state.geo
    digit = state.values[cell]
    bit = 1 << (digit - 1)
    state.clear(cell)
    others = state.candidates(cell) & ~bit
    if not others:  # naked single: the cell can only hold its digit
        return True
    values = state.values
    for unit in geo.units_of[cell]:
        if not any(
            j != cell and not values[j] and state.candidates(j) & bit for j in geo.units[unit]
        ):
            return True  # hidden single: the digit has no other place in this unit
    record = _SearchRecord()
    while others:
        other = others & -others
        others ^= other
        state.place(cell, other.bit_length())
        found = _search(state, 1, record)
        state.clear(cell)
        if found:
            state.place(cell, digit)
            return False
    return True


def check_n_blanks(n_blanks: int | tuple[int, int] | None, size: int) -> None:
    """Check a blank count or range for a board size.

    :param n_blanks: an int, a (low, high) range, or None (as many as uniqueness allows).
    :param size: board side.
    :raises ValueError: when it is not an int in 1..size*size or a range within it.
    """
    n_cells = size * size
    if n_blanks is None:
        return
    if isinstance(n_blanks, (tuple, list)):
        if len(n_blanks) != 2 or not 1 <= int(n_blanks[0]) <= int(n_blanks[1]) <= n_cells:
            raise ValueError(
                f"n_blanks range must be (low, high) with 1 <= low <= high <= {n_cells}, "
                f"got {n_blanks!r}"
            )
        return
    if isinstance(n_blanks, bool) or not isinstance(n_blanks, (int, np.integer)):
        raise ValueError(f"n_blanks must be an int, a (low, high) pair or None, got {n_blanks!r}")
    if not 1 <= n_blanks <= n_cells:
        raise ValueError(f"n_blanks must be in 1..{n_cells}, got {n_blanks!r}")


def _draw_blanks(
    n_blanks: int | tuple[int, int] | None, size: int, rng: np.random.Generator
) -> int:
    check_n_blanks(n_blanks, size)
    if n_blanks is None:
        return size * size
    if isinstance(n_blanks, (tuple, list)):
        return int(rng.integers(int(n_blanks[0]), int(n_blanks[1]) + 1))
    return int(n_blanks)


def generate_puzzle(
    size: int,
    n_blanks: int | tuple[int, int] | None,
    rng: np.random.Generator,
    attempts: int = 3,
) -> tuple[np.ndarray, np.ndarray]:
    """A random puzzle with a unique solution, for environments and pretraining data.

    Cells of a random solved grid are blanked in a random order; a blank is kept only while the
    solution stays unique. When one pass ends short of ``n_blanks`` (the puzzle became minimal:
    no clue can go), a fresh grid is tried, up to ``attempts`` grids, and the puzzle with the
    most blanks is returned.

    :param size: board side: 4, 6 or 9.
    :param n_blanks: blanks wanted: an int, a (low, high) range drawn from ``rng`` (both ends
        included), or None for as many as uniqueness allows (one pass, a minimal puzzle).
    :param rng: the source of every random choice.
    :param attempts: grids tried at most when a pass falls short of ``n_blanks``.
    :return: (puzzle, solution): uint8 arrays (size, size), 0 marking a blank in the puzzle.
    """
    geo = geometry(size)
    target = _draw_blanks(n_blanks, size, rng)
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {attempts}")
    best: tuple[np.ndarray, np.ndarray] | None = None
    best_blanks = -1
    for _ in range(1 if target == geo.n_cells else attempts):
        solution = generate_solved_grid(size, rng)
        state = _BoardState(geo)
        for cell, digit in enumerate(solution.ravel().tolist()):
            state.place(cell, digit)
        blanks = 0
        for cell in rng.permutation(geo.n_cells).tolist():
            if blanks == target:
                break
            if _blank_keeps_unique(state, cell):
                blanks += 1
        if blanks > best_blanks:
            best, best_blanks = (state.to_array(), solution), blanks
        if blanks == target:
            break
    assert best is not None
    return best


GRADES: tuple[str, ...] = (GRADE_SINGLES, GRADE_SEARCH)
"""What a puzzle needs: singles alone, or search."""


def check_grade(grade: str | None) -> None:
    """Check a wanted puzzle grade.

    :param grade: "singles", "search" or None (any).
    :raises ValueError: for anything else.
    """
    if grade is not None and grade not in GRADES:
        raise ValueError(f"grade must be None or one of {GRADES}, got {grade!r}")


def generate_graded_puzzle(
    size: int,
    n_blanks: int | tuple[int, int] | None,
    rng: np.random.Generator,
    grade: str | None = None,
    max_draws: int = 1000,
) -> tuple[np.ndarray, np.ndarray]:
    """A random puzzle of a given grade: :func:`generate_puzzle` redrawn from ``rng`` until
    singles propagation solves it ("singles") or does not ("search").

    Of 9x9 minimal puzzles (``n_blanks=None``) about 43% are singles-grade and 57% search-grade
    (1,000 drawn), so either takes about two draws on average; with 45 blanks or fewer nearly
    every 9x9 puzzle is singles-grade (search-grade: about 1 in 500 at 30-45 blanks, 2 of 300
    at 45), and minimal 4x4 puzzles are all singles-grade.

    :param size: board side: 4, 6 or 9.
    :param n_blanks: blanks wanted, as in :func:`generate_puzzle` (drawn anew each draw).
    :param rng: the source of every random choice.
    :param grade: "singles", "search", or None for the first puzzle drawn.
    :param max_draws: puzzles drawn at most.
    :return: (puzzle, solution): uint8 arrays (size, size), 0 marking a blank in the puzzle.
    :raises RuntimeError: when no puzzle of the grade came in ``max_draws`` draws.
    """
    check_grade(grade)
    if max_draws < 1:
        raise ValueError(f"max_draws must be at least 1, got {max_draws}")
    for _ in range(max_draws):
        puzzle, solution = generate_puzzle(size, n_blanks, rng)
        if grade is None or propagation_rounds(puzzle).grade == grade:
            return puzzle, solution
    raise RuntimeError(
        f"no {grade}-grade {size}x{size} puzzle with n_blanks={n_blanks!r} in {max_draws} "
        "draws; search-grade puzzles need many blanks (n_blanks=None draws minimal ones)"
    )


def describe_contradiction(board: np.ndarray) -> str:
    """Say where a board without a solution breaks, for error messages (0-based rows/columns).

    :param board: integer array (size, size), 0 for a blank; givens must not clash.
    :return: a cell with no candidate, a unit where a digit has no place left, or else the most
        constrained cell, every candidate of which leads to a contradiction.
    """
    state = _state_from_board(board)
    if state is None:
        raise ValueError("the board's digits clash")
    geo = state.geo
    cands = [0 if v else state.candidates(i) for i, v in enumerate(state.values)]
    for cell, (value, m) in enumerate(zip(state.values, cands, strict=True)):
        if not value and not m:
            return f"no digit fits cell (row {geo.row_of[cell]}, col {geo.col_of[cell]})"
    for unit, cells in enumerate(geo.units):
        seen = 0
        for i in cells:
            seen |= cands[i] | ((1 << (state.values[i] - 1)) if state.values[i] else 0)
        missing = geo.full_mask & ~seen
        if missing:
            digit = (missing & -missing).bit_length()
            return f"digit {digit} has no place left in {geo.unit_name(unit)}"
    empties = [i for i, v in enumerate(state.values) if not v]
    cell = min(empties, key=lambda i: cands[i].bit_count())
    digits = [d for d in range(1, geo.size + 1) if cands[cell] & (1 << (d - 1))]
    return (
        f"every digit that fits cell (row {geo.row_of[cell]}, col {geo.col_of[cell]}), "
        f"{digits}, leads to a contradiction"
    )
