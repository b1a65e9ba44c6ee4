"""Procedural ARC-style concept tasks: one transformation (or a composition of two or three) shown
on a few demo pairs and asked on a test input.

A task is made of ``n_demos`` train pairs and one test pair; every pair is the SAME
transformation, with the SAME parameters, applied to a different random input grid. Colours are
0-9 and 0 is the background. The families (``CONCEPT_FAMILIES``):

- ``flip``: mirror left-right (``axis="h"``) or top-bottom (``axis="v"``);
- ``rotate``: turn clockwise by ``quarter_turns`` (1, 2 or 3 quarter turns);
- ``recolour``: replace colours through ``mapping`` (a table of 10 colours, ``mapping[c]`` is the
  new colour of ``c``);
- ``translate``: shift by ``(drow, dcol)``; with ``wrap=True`` cells leaving one side re-enter on
  the other, otherwise the vacated cells become background;
- ``gravity``: every non-background cell falls towards ``direction`` ("down", "up", "left",
  "right") until it rests on the border or another cell; cells keep their order along the line;
- ``fill_enclosed``: background cells that cannot reach the border through background cells
  (4-connectivity) take ``colour``;
- ``scale_up``: every cell becomes a ``factor`` x ``factor`` block (``factor`` 2 or 3);
- ``extend_lines``: every non-background cell of the input shoots rays towards ``direction``
  ("up", "down", "left", "right", "horizontal" = left and right, "vertical" = up and down) over
  background cells until the border or the first non-background cell of the input; where rays
  cross, the ray of the earlier seed in row-major order keeps the cell;
- ``crop``: cut the grid down to the bounding box of its non-background cells (the single
  object of the input);
- ``denoise``: non-background cells with no non-background neighbour (8-connectivity) become
  background.

A task whose answer the demos do not determine is drawn again: with ``recolour``, every colour
of the test input appears in some demo input.

Difficulty of a task = (cells of the test input) x (composition depth), see
``concept_difficulty``. A task is a function of the random generator alone, so a seed names a
task: ``generate_concept_task(np.random.default_rng(123), config)`` is the same task every time
(the environment calls it ``"concept:123"``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

BACKGROUND = 0
N_COLOURS = 10

# Families that move or recolour cells without caring what the cells form; a composition's input
# grids are drawn for its first family that is not one of these.
_GEOMETRIC_FAMILIES = ("flip", "rotate", "recolour", "translate", "scale_up")

CONCEPT_FAMILIES: tuple[str, ...] = (
    "flip",
    "rotate",
    "recolour",
    "translate",
    "gravity",
    "fill_enclosed",
    "scale_up",
    "extend_lines",
    "crop",
    "denoise",
)

_MAX_INPUT_ATTEMPTS = 30
_MAX_TASK_ATTEMPTS = 200


class ConceptNotApplicableError(ValueError):
    """A transformation has nothing to act on in a given grid (e.g. ``crop`` of an empty grid)."""


@dataclass(frozen=True)
class ConceptConfig:
    """What concept tasks to generate.

    :param min_size: smallest side of a random input grid (at least 3).
    :param max_size: largest side of a random input grid (at most ``max_grid``).
    :param max_grid: largest side any grid of a task may have (outputs of ``scale_up`` included).
    :param families: the transformation families to draw from (names in ``CONCEPT_FAMILIES``).
    :param max_depth: largest number of transformations composed in one task (1 to 3); the depth
        of each task is drawn uniformly from 1 to ``max_depth``.
    :param n_demos: number of demonstration (train) pairs per task.
    """

    min_size: int = 3
    max_size: int = 10
    max_grid: int = 30
    families: tuple[str, ...] = CONCEPT_FAMILIES
    max_depth: int = 3
    n_demos: int = 3

    def __post_init__(self) -> None:
        if not 3 <= self.min_size <= self.max_size <= self.max_grid:
            raise ValueError(
                "ConceptConfig: need 3 <= min_size <= max_size <= max_grid, got "
                f"min_size={self.min_size}, max_size={self.max_size}, max_grid={self.max_grid}"
            )
        families = tuple(self.families)
        object.__setattr__(self, "families", families)
        if not families:
            raise ValueError(
                "ConceptConfig: families is empty; choose from " + str(CONCEPT_FAMILIES)
            )
        unknown = [name for name in families if name not in CONCEPT_FAMILIES]
        if unknown:
            raise ValueError(
                f"ConceptConfig: unknown families {unknown}; known families: {CONCEPT_FAMILIES}"
            )
        if len(set(families)) != len(families):
            raise ValueError(f"ConceptConfig: families has duplicates: {families}")
        if not self.usable_families:
            raise ValueError(
                f"ConceptConfig: no family fits: scale_up needs 2 * min_size <= max_grid, got "
                f"min_size={self.min_size}, max_grid={self.max_grid}"
            )
        if not 1 <= self.max_depth <= 3:
            raise ValueError(f"ConceptConfig: max_depth must be 1, 2 or 3, got {self.max_depth}")
        if self.n_demos < 1:
            raise ValueError(f"ConceptConfig: n_demos must be at least 1, got {self.n_demos}")

    @property
    def scale_factors(self) -> tuple[int, ...]:
        """Scale-up factors whose output of the smallest input still fits in ``max_grid``.

        :return: a subset of ``(2, 3)``.
        """
        return tuple(f for f in (2, 3) if self.min_size * f <= self.max_grid)

    @property
    def usable_families(self) -> tuple[str, ...]:
        """The configured families that can produce a task under the size limits.

        :return: ``families`` without ``scale_up`` when no factor fits.
        """
        return tuple(f for f in self.families if f != "scale_up" or self.scale_factors)


# ----------------------------------------------------------------------------------------------
# The transformations: pure functions of a grid (h, w) and parameters.
# ----------------------------------------------------------------------------------------------


def flip(grid: np.ndarray, axis: str) -> np.ndarray:
    """Mirror a grid.

    :param grid: (h, w) colours.
    :param axis: ``"h"`` mirrors left-right, ``"v"`` mirrors top-bottom.
    :return: the mirrored grid (h, w).
    """
    if axis == "h":
        return grid[:, ::-1].copy()
    if axis == "v":
        return grid[::-1, :].copy()
    raise ValueError(f"flip: axis must be 'h' or 'v', got {axis!r}")


def rotate(grid: np.ndarray, quarter_turns: int) -> np.ndarray:
    """Turn a grid clockwise.

    :param grid: (h, w) colours.
    :param quarter_turns: 1, 2 or 3 clockwise quarter turns.
    :return: the turned grid, (w, h) for odd turns.
    """
    if quarter_turns not in (1, 2, 3):
        raise ValueError(f"rotate: quarter_turns must be 1, 2 or 3, got {quarter_turns}")
    return np.rot90(grid, -quarter_turns).copy()


def recolour(grid: np.ndarray, mapping: Sequence[int]) -> np.ndarray:
    """Replace every colour ``c`` by ``mapping[c]``.

    :param grid: (h, w) colours.
    :param mapping: 10 colours.
    :return: the recoloured grid (h, w).
    """
    table = np.asarray(mapping, dtype=grid.dtype)
    if table.shape != (N_COLOURS,):
        raise ValueError(f"recolour: mapping must hold {N_COLOURS} colours, got {len(mapping)}")
    return table[grid]


def translate(grid: np.ndarray, drow: int, dcol: int, wrap: bool) -> np.ndarray:
    """Shift a grid by ``(drow, dcol)`` cells.

    :param grid: (h, w) colours.
    :param drow: rows to move down (negative: up).
    :param dcol: columns to move right (negative: left).
    :param wrap: whether cells leaving one side re-enter on the other; otherwise the vacated
        cells become background.
    :return: the shifted grid (h, w).
    """
    if wrap:
        return np.roll(grid, (drow, dcol), axis=(0, 1))
    height, width = grid.shape
    shifted = np.full_like(grid, BACKGROUND)
    src_rows = slice(max(0, -drow), min(height, height - drow))
    dst_rows = slice(max(0, drow), min(height, height + drow))
    src_cols = slice(max(0, -dcol), min(width, width - dcol))
    dst_cols = slice(max(0, dcol), min(width, width + dcol))
    if abs(drow) < height and abs(dcol) < width:
        shifted[dst_rows, dst_cols] = grid[src_rows, src_cols]
    return shifted


_TURNS_TO_FALL_DOWN = {"down": 0, "left": 1, "up": 2, "right": 3}


def gravity(grid: np.ndarray, direction: str) -> np.ndarray:
    """Let every non-background cell fall towards ``direction``, keeping the order along each line.

    :param grid: (h, w) colours.
    :param direction: ``"down"``, ``"up"``, ``"left"`` or ``"right"``.
    :return: the settled grid (h, w).
    """
    if direction not in _TURNS_TO_FALL_DOWN:
        raise ValueError(f"gravity: direction must be one of {list(_TURNS_TO_FALL_DOWN)}")
    turns = _TURNS_TO_FALL_DOWN[direction]
    # Turn the grid so that the fall is downwards: np.rot90 counter-clockwise by `turns`.
    turned = np.rot90(grid, turns)
    # A stable sort on "is filled" puts background first and keeps filled cells in order.
    order = np.argsort(turned != BACKGROUND, axis=0, kind="stable")
    settled = np.take_along_axis(turned, order, axis=0)
    return np.rot90(settled, -turns).copy()


def _reachable_from_border(open_cells: np.ndarray) -> np.ndarray:
    """Cells of ``open_cells`` joined to the border through ``open_cells`` (4-connectivity).

    :param open_cells: (h, w) bool.
    :return: (h, w) bool.
    """
    reached = np.zeros_like(open_cells)
    reached[0, :] = open_cells[0, :]
    reached[-1, :] = open_cells[-1, :]
    reached[:, 0] |= open_cells[:, 0]
    reached[:, -1] |= open_cells[:, -1]
    while True:
        grown = reached.copy()
        grown[1:, :] |= reached[:-1, :]
        grown[:-1, :] |= reached[1:, :]
        grown[:, 1:] |= reached[:, :-1]
        grown[:, :-1] |= reached[:, 1:]
        grown &= open_cells
        if np.array_equal(grown, reached):
            return reached
        reached = grown


def fill_enclosed(grid: np.ndarray, colour: int) -> np.ndarray:
    """Give ``colour`` to background cells that cannot reach the border through background.

    :param grid: (h, w) colours.
    :param colour: the fill colour, 0-9.
    :return: the filled grid (h, w).
    """
    background = grid == BACKGROUND
    enclosed = background & ~_reachable_from_border(background)
    filled = grid.copy()
    filled[enclosed] = colour
    return filled


def scale_up(grid: np.ndarray, factor: int) -> np.ndarray:
    """Turn every cell into a ``factor`` x ``factor`` block.

    :param grid: (h, w) colours.
    :param factor: 2 or 3.
    :return: (h * factor, w * factor) colours.
    """
    if factor < 1:
        raise ValueError(f"scale_up: factor must be positive, got {factor}")
    return np.repeat(np.repeat(grid, factor, axis=0), factor, axis=1)


_RAY_STEPS = {
    "up": ((-1, 0),),
    "down": ((1, 0),),
    "left": ((0, -1),),
    "right": ((0, 1),),
    "horizontal": ((0, -1), (0, 1)),
    "vertical": ((-1, 0), (1, 0)),
}


def extend_lines(grid: np.ndarray, direction: str) -> np.ndarray:
    """Shoot a ray of its colour from every non-background cell towards ``direction``.

    A ray covers background cells of the input up to the border or the first non-background cell
    of the input; seeds are taken in row-major order and an earlier ray keeps a cell it covered.

    :param grid: (h, w) colours.
    :param direction: a key of ``_RAY_STEPS`` ("up", "down", "left", "right", "horizontal",
        "vertical").
    :return: the grid with its rays (h, w).
    """
    if direction not in _RAY_STEPS:
        raise ValueError(f"extend_lines: direction must be one of {list(_RAY_STEPS)}")
    height, width = grid.shape
    extended = grid.copy()
    for row, col in zip(*np.nonzero(grid != BACKGROUND), strict=True):
        colour = grid[row, col]
        for drow, dcol in _RAY_STEPS[direction]:
            r, c = row + drow, col + dcol
            while 0 <= r < height and 0 <= c < width and grid[r, c] == BACKGROUND:
                if extended[r, c] == BACKGROUND:
                    extended[r, c] = colour
                r, c = r + drow, c + dcol
    return extended


def crop(grid: np.ndarray) -> np.ndarray:
    """Cut a grid down to the bounding box of its non-background cells.

    :param grid: (h, w) colours with at least one non-background cell.
    :return: (h', w') colours.
    :raises ConceptNotApplicableError: when the grid is all background.
    """
    rows = np.flatnonzero((grid != BACKGROUND).any(axis=1))
    cols = np.flatnonzero((grid != BACKGROUND).any(axis=0))
    if rows.size == 0:
        raise ConceptNotApplicableError("crop: the grid has no non-background cell")
    return grid[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].copy()


def _filled_neighbour_counts(filled: np.ndarray) -> np.ndarray:
    """Number of filled cells among the 8 neighbours of every cell.

    :param filled: (h, w) bool.
    :return: (h, w) int.
    """
    padded = np.pad(filled.astype(np.int16), 1)
    height, width = filled.shape
    counts = np.zeros((height, width), dtype=np.int16)
    for drow in (-1, 0, 1):
        for dcol in (-1, 0, 1):
            if drow or dcol:
                counts += padded[1 + drow : 1 + drow + height, 1 + dcol : 1 + dcol + width]
    return counts


def denoise(grid: np.ndarray) -> np.ndarray:
    """Clear the non-background cells that have no non-background neighbour (8-connectivity).

    :param grid: (h, w) colours.
    :return: the cleaned grid (h, w).
    """
    filled = grid != BACKGROUND
    isolated = filled & (_filled_neighbour_counts(filled) == 0)
    cleaned = grid.copy()
    cleaned[isolated] = BACKGROUND
    return cleaned


_APPLY: dict[str, Callable[..., np.ndarray]] = {
    "flip": flip,
    "rotate": rotate,
    "recolour": recolour,
    "translate": translate,
    "gravity": gravity,
    "fill_enclosed": fill_enclosed,
    "scale_up": scale_up,
    "extend_lines": extend_lines,
    "crop": crop,
    "denoise": denoise,
}


def apply_transformations(
    grid: np.ndarray, transformations: Sequence[dict[str, Any]]
) -> np.ndarray:
    """Apply recorded transformations in order.

    :param grid: (h, w) colours.
    :param transformations: records such as ``{"family": "flip", "axis": "h"}``: the family name
        and the keyword parameters of its function (as stored in a concept task).
    :return: the transformed grid.
    """
    for record in transformations:
        params = dict(record)
        family = params.pop("family")
        if family not in _APPLY:
            raise ValueError(f"unknown concept family {family!r}; known: {CONCEPT_FAMILIES}")
        grid = _APPLY[family](grid, **params)
    return grid


# ----------------------------------------------------------------------------------------------
# Parameters and input grids.
# ----------------------------------------------------------------------------------------------


def _sample_params(
    family: str, rng: np.random.Generator, palette: np.ndarray, config: ConceptConfig
) -> dict[str, Any]:
    """Draw the parameters of one family for a whole task.

    :param family: a name in ``CONCEPT_FAMILIES``.
    :param rng: the task's generator.
    :param palette: the task's input colours (1-9).
    :param config: the generation settings (for the allowed scale factors).
    :return: keyword parameters of the family's function.
    """
    if family == "flip":
        return {"axis": str(rng.choice(["h", "v"]))}
    if family == "rotate":
        return {"quarter_turns": int(rng.integers(1, 4))}
    if family == "recolour":
        mapping = list(range(N_COLOURS))
        n_changed = int(rng.integers(1, len(palette) + 1))
        for source in rng.choice(palette, size=n_changed, replace=False):
            targets = [c for c in range(1, N_COLOURS) if c != source]
            mapping[int(source)] = int(rng.choice(targets))
        return {"mapping": mapping}
    if family == "translate":
        drow, dcol = 0, 0
        while drow == 0 and dcol == 0:
            drow, dcol = (int(v) for v in rng.integers(-2, 3, size=2))
        return {"drow": drow, "dcol": dcol, "wrap": bool(rng.integers(2))}
    if family == "gravity":
        return {"direction": str(rng.choice(list(_TURNS_TO_FALL_DOWN)))}
    if family == "fill_enclosed":
        unused = [c for c in range(1, N_COLOURS) if c not in palette]
        return {"colour": int(rng.choice(unused))}
    if family == "scale_up":
        return {"factor": int(rng.choice(config.scale_factors))}
    if family == "extend_lines":
        return {"direction": str(rng.choice(list(_RAY_STEPS)))}
    return {}  # crop, denoise


def _random_rectangle(
    rng: np.random.Generator, height: int, width: int, min_side: int
) -> tuple[int, int, int, int]:
    """A random rectangle inside an (height, width) grid.

    :return: (top, left, rect_height, rect_width).
    """
    rect_height = int(rng.integers(min_side, max(min_side, height // 2 + 1) + 1))
    rect_width = int(rng.integers(min_side, max(min_side, width // 2 + 1) + 1))
    rect_height, rect_width = min(rect_height, height), min(rect_width, width)
    top = int(rng.integers(0, height - rect_height + 1))
    left = int(rng.integers(0, width - rect_width + 1))
    return top, left, rect_height, rect_width


def _draw_objects(
    rng: np.random.Generator, grid: np.ndarray, palette: np.ndarray, min_side: int
) -> None:
    """Paint 1 to 3 solid rectangles (sides at least ``min_side``) on ``grid`` in place."""
    height, width = grid.shape
    for _ in range(int(rng.integers(1, 4))):
        top, left, rect_h, rect_w = _random_rectangle(rng, height, width, min_side)
        grid[top : top + rect_h, left : left + rect_w] = rng.choice(palette)


def _draw_blob(rng: np.random.Generator, grid: np.ndarray, palette: np.ndarray) -> None:
    """Paint one 8-connected random shape, smaller than the grid, in place."""
    height, width = grid.shape
    box_h = int(rng.integers(1, height))
    box_w = int(rng.integers(1, width))
    top = int(rng.integers(0, height - box_h + 1))
    left = int(rng.integers(0, width - box_w + 1))
    colours = rng.choice(
        palette, size=int(rng.integers(1, min(2, len(palette)) + 1)), replace=False
    )
    row, col = int(rng.integers(box_h)), int(rng.integers(box_w))
    for _ in range(int(rng.integers(1, box_h * box_w + 1))):
        grid[top + row, left + col] = rng.choice(colours)
        row = int(np.clip(row + rng.integers(-1, 2), 0, box_h - 1))
        col = int(np.clip(col + rng.integers(-1, 2), 0, box_w - 1))


def _draw_isolated_pixels(rng: np.random.Generator, grid: np.ndarray, palette: np.ndarray) -> None:
    """Add 1 to 4 pixels that touch no other filled cell (8-connectivity), in place."""
    for _ in range(int(rng.integers(1, 5))):
        filled = grid != BACKGROUND
        free = ~filled & (_filled_neighbour_counts(filled) == 0)
        candidates = np.flatnonzero(free)
        if candidates.size == 0:
            return
        grid.flat[int(rng.choice(candidates))] = rng.choice(palette)


def _draw_enclosures(rng: np.random.Generator, grid: np.ndarray, palette: np.ndarray) -> None:
    """Draw 1 to 3 hollow rectangles (at least 3 x 3) in place."""
    height, width = grid.shape
    for _ in range(int(rng.integers(1, 4))):
        top, left, rect_h, rect_w = _random_rectangle(rng, height, width, 3)
        colour = rng.choice(palette)
        bottom, right = top + rect_h - 1, left + rect_w - 1
        grid[top, left : right + 1] = colour
        grid[bottom, left : right + 1] = colour
        grid[top : bottom + 1, left] = colour
        grid[top : bottom + 1, right] = colour


def _draw_seeds(rng: np.random.Generator, grid: np.ndarray, palette: np.ndarray) -> None:
    """Place 1 to 3 single pixels in distinct rows and columns, in place."""
    height, width = grid.shape
    n_seeds = int(rng.integers(1, min(3, height, width) + 1))
    rows = rng.choice(height, size=n_seeds, replace=False)
    cols = rng.choice(width, size=n_seeds, replace=False)
    grid[rows, cols] = rng.choice(palette, size=n_seeds)


def _draw_scatter(rng: np.random.Generator, grid: np.ndarray, palette: np.ndarray) -> None:
    """Fill a random 10-40% of the cells with palette colours, in place."""
    density = rng.uniform(0.1, 0.4)
    filled = rng.random(grid.shape) < density
    grid[filled] = rng.choice(palette, size=int(filled.sum()))


def _input_style(families: Sequence[str]) -> str:
    """The input kind of a composition: the first family that is not geometric decides it.

    :param families: the composition, in application order.
    :return: a family name, or ``"objects"`` for geometric-only compositions.
    """
    for family in families:
        if family not in _GEOMETRIC_FAMILIES:
            return family
    return "objects"


def random_input_grid(
    rng: np.random.Generator, height: int, width: int, palette: np.ndarray, style: str
) -> np.ndarray:
    """Draw an input grid suited to a transformation family.

    :param rng: the random generator.
    :param height: rows.
    :param width: columns.
    :param palette: colours (1-9) to paint with.
    :param style: ``"objects"`` or a non-geometric family name (``"gravity"``, ``"fill_enclosed"``,
        ``"extend_lines"``, ``"crop"``, ``"denoise"``).
    :return: (height, width) uint8 colours.
    """
    grid = np.zeros((height, width), dtype=np.uint8)
    if style == "objects":
        _draw_objects(rng, grid, palette, min_side=1)
    elif style == "gravity":
        _draw_scatter(rng, grid, palette)
    elif style == "fill_enclosed":
        _draw_enclosures(rng, grid, palette)
    elif style == "extend_lines":
        _draw_seeds(rng, grid, palette)
    elif style == "crop":
        _draw_blob(rng, grid, palette)
    elif style == "denoise":
        _draw_objects(rng, grid, palette, min_side=2)
        _draw_isolated_pixels(rng, grid, palette)
    else:
        raise ValueError(f"random_input_grid: unknown style {style!r}")
    return grid


# ----------------------------------------------------------------------------------------------
# Tasks.
# ----------------------------------------------------------------------------------------------


def concept_difficulty(test_input_shape: tuple[int, int], depth: int) -> int:
    """Difficulty of a concept task: grid size times composition depth.

    :param test_input_shape: (h, w) of the test input.
    :param depth: number of composed transformations.
    :return: ``h * w * depth``.
    """
    return int(test_input_shape[0] * test_input_shape[1] * depth)


@dataclass
class _Composition:
    """Families of one draw, their parameters and the input side limit they allow."""

    records: list[dict[str, Any]] = field(default_factory=list)
    max_side: int = 0


def _draw_composition(
    rng: np.random.Generator, config: ConceptConfig, palette: np.ndarray
) -> _Composition:
    """Draw the depth, the families (all different) and their parameters.

    :return: the composition and the largest input side for which every output fits.
    """
    families = config.usable_families
    depth = int(rng.integers(1, min(config.max_depth, len(families)) + 1))
    chosen = [str(f) for f in rng.choice(families, size=depth, replace=False)]
    records = [{"family": f, **_sample_params(f, rng, palette, config)} for f in chosen]
    factor = next((r["factor"] for r in records if r["family"] == "scale_up"), 1)
    return _Composition(records, min(config.max_size, config.max_grid // factor))


def _make_pair(
    rng: np.random.Generator,
    composition: _Composition,
    config: ConceptConfig,
    palette: np.ndarray,
    style: str,
) -> dict[str, np.ndarray] | None:
    """Draw an input the composition changes and fits, and its output; None after many misses."""
    for _ in range(_MAX_INPUT_ATTEMPTS):
        height, width = (int(v) for v in rng.integers(config.min_size, composition.max_side + 1, 2))
        grid = random_input_grid(rng, height, width, palette, style)
        try:
            output = apply_transformations(grid, composition.records)
        except ConceptNotApplicableError:
            continue
        changed = output.shape != grid.shape or not np.array_equal(output, grid)
        if changed and max(output.shape) <= config.max_grid:
            return {"input": grid, "output": output}
    return None


def _answer_is_determined(
    pairs: list[dict[str, np.ndarray]], records: list[dict[str, Any]]
) -> bool:
    """Whether the demos show everything the test answer depends on: with ``recolour``, every
    colour of the test input must appear in some demo input (a colour the demos never show could
    be mapped anywhere).

    :param pairs: the demo pairs, then the test pair.
    :param records: the composition's transformations.
    :return: False when the test pair cannot be inferred from the demos.
    """
    if not any(record["family"] == "recolour" for record in records):
        return True
    shown = set(np.unique(np.concatenate([p["input"].ravel() for p in pairs[:-1]])).tolist())
    return set(np.unique(pairs[-1]["input"]).tolist()) <= shown


def generate_concept_task(
    rng: np.random.Generator, config: ConceptConfig | None = None
) -> dict[str, Any]:
    """Generate one concept task.

    :param rng: the random generator; the task depends on it alone (and on ``config``).
    :param config: generation settings; ``ConceptConfig()`` when None.
    :return: a task in the ARC layout with numpy grids: ``{"train": [{"input": (h, w) uint8,
        "output": (h', w') uint8}, ...], "test": [one pair], "transformations": [records for
        ``apply_transformations``], "difficulty": int (``concept_difficulty``)}``.
    """
    config = config or ConceptConfig()
    for _ in range(_MAX_TASK_ATTEMPTS):
        n_colours = int(rng.integers(2, 5))
        palette = rng.choice(np.arange(1, N_COLOURS, dtype=np.uint8), size=n_colours, replace=False)
        composition = _draw_composition(rng, config, palette)
        if composition.max_side < config.min_size:
            continue
        style = _input_style([r["family"] for r in composition.records])
        pairs = []
        for _ in range(config.n_demos + 1):
            pair = _make_pair(rng, composition, config, palette, style)
            if pair is None:
                break
            pairs.append(pair)
        else:
            if not _answer_is_determined(pairs, composition.records):
                continue
            test_pair = pairs[-1]
            return {
                "train": pairs[:-1],
                "test": [test_pair],
                "transformations": composition.records,
                "difficulty": concept_difficulty(
                    test_pair["input"].shape, len(composition.records)
                ),
            }
    raise RuntimeError(
        f"generate_concept_task: no task found in {_MAX_TASK_ATTEMPTS} draws ({config})"
    )
