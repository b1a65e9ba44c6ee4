"""ARC task augmentation: the 8 symmetries of the square and colour permutations that keep the
background, each with its inverse.

An ``Augmentation`` changes every grid of a task the same way: first a dihedral transform
(``TRANSFORM_NAMES``), then a colour permutation that keeps colour 0 (the background) fixed. A
solver trained or voting on augmented copies of a task maps each predicted answer back with
``invert_grid``::

    augmentations = random_augmentations(np.random.default_rng(0), 8)
    for augmentation in augmentations:
        seen = augmentation.apply_task(task)           # train or predict on this copy
        answer = augmentation.invert_grid(predict(seen))  # back in the task's own frame

The two parts commute (one moves cells, the other renames colours), so ``a.then(b)`` is again
one ``Augmentation``. Grids are unpadded (h, w) arrays of colours 0-9, as in ``ArcTask``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from envs.arc_tasks import N_COLOURS, ArcTask, GridPair

# Transform index -> name. 0-3 turn the grid counter-clockwise by 0, 90, 180 and 270 degrees
# (``np.rot90(grid, k)``); 4-7 mirror it left-right first (``np.rot90(np.fliplr(grid), k - 4)``):
# 5 is the transpose, 6 the up-down mirror, 7 the anti-transpose.
TRANSFORM_NAMES = (
    "identity",
    "rot90",
    "rot180",
    "rot270",
    "flip_lr",
    "transpose",
    "flip_ud",
    "anti_transpose",
)
N_TRANSFORMS = len(TRANSFORM_NAMES)
IDENTITY_COLOURS = tuple(range(N_COLOURS))


def _dihedral(grid: np.ndarray, transform: int) -> np.ndarray:
    """One of the 8 symmetries of the square.

    :param grid: (h, w).
    :param transform: the index in ``TRANSFORM_NAMES``.
    :return: (h, w) for 0, 2, 4, 6, else (w, h); a new contiguous array.
    """
    if transform >= 4:
        grid = np.fliplr(grid)
    return np.ascontiguousarray(np.rot90(grid, transform % 4))


def _compose_table() -> tuple[tuple[int, ...], ...]:
    """``table[a][b]``: the transform equal to applying ``a`` then ``b``, read off an asymmetric
    grid."""
    probe = np.arange(6).reshape(2, 3)
    images = [_dihedral(probe, t) for t in range(N_TRANSFORMS)]
    table = []
    for first in range(N_TRANSFORMS):
        row = []
        for second in range(N_TRANSFORMS):
            both = _dihedral(images[first], second)
            row.append(
                next(
                    t
                    for t, image in enumerate(images)
                    if image.shape == both.shape and np.array_equal(image, both)
                )
            )
        table.append(tuple(row))
    return tuple(table)


_COMPOSE = _compose_table()
# Turns undo by the opposite turn; the four mirrors undo themselves.
_INVERSE_TRANSFORM = (0, 3, 2, 1, 4, 5, 6, 7)


@dataclass(frozen=True)
class Augmentation:
    """A dihedral transform followed by a colour permutation that keeps colour 0.

    :param transform: index in ``TRANSFORM_NAMES`` (0-7; 0 keeps the grid as it is).
    :param colours: ``colours[c]`` is what colour ``c`` becomes; a permutation of 0-9 with
        ``colours[0] == 0``.
    """

    transform: int = 0
    colours: tuple[int, ...] = field(default=IDENTITY_COLOURS)

    def __post_init__(self) -> None:
        if not 0 <= self.transform < N_TRANSFORMS:
            raise ValueError(
                f"Augmentation: transform must be in 0..{N_TRANSFORMS - 1}, got {self.transform}"
            )
        colours = tuple(int(c) for c in self.colours)
        if sorted(colours) != list(IDENTITY_COLOURS) or colours[0] != 0:
            raise ValueError(
                "Augmentation: colours must be a permutation of 0-9 that keeps 0 (the "
                f"background), got {self.colours}"
            )
        object.__setattr__(self, "colours", colours)

    @property
    def name(self) -> str:
        """The transform's name, with the colour changes, e.g. ``"rot90+colours(1>3,3>1)"``.

        :return: the name.
        """
        moved = [f"{c}>{d}" for c, d in enumerate(self.colours) if c != d]
        return TRANSFORM_NAMES[self.transform] + (f"+colours({','.join(moved)})" if moved else "")

    def apply_grid(self, grid: np.ndarray | Sequence[Sequence[int]]) -> np.ndarray:
        """Transform one grid.

        :param grid: (h, w) colours 0-9.
        :return: (h, w) or (w, h) uint8, a new array.
        """
        cells = np.asarray(grid)
        if cells.ndim != 2 or cells.size == 0 or cells.min() < 0 or cells.max() >= N_COLOURS:
            raise ValueError(
                f"Augmentation.apply_grid: expected a non-empty 2-D grid of colours 0-9, "
                f"got shape {cells.shape}"
            )
        lookup = np.array(self.colours, dtype=np.uint8)
        return lookup[_dihedral(cells, self.transform)]

    def inverse(self) -> Augmentation:
        """The augmentation that undoes this one.

        :return: ``inv`` with ``inv.apply_grid(self.apply_grid(g)) == g`` for every grid g.
        """
        colours = [0] * N_COLOURS
        for colour, image in enumerate(self.colours):
            colours[image] = colour
        return Augmentation(_INVERSE_TRANSFORM[self.transform], tuple(colours))

    def invert_grid(self, grid: np.ndarray | Sequence[Sequence[int]]) -> np.ndarray:
        """Map a grid of the augmented task (a predicted answer) back to the original task.

        :param grid: (h, w) colours 0-9.
        :return: uint8, a new array.
        """
        return self.inverse().apply_grid(grid)

    def then(self, other: Augmentation) -> Augmentation:
        """This augmentation followed by ``other``, as one.

        :param other: applied second.
        :return: ``c`` with ``c.apply_grid(g) == other.apply_grid(self.apply_grid(g))``.
        """
        colours = tuple(other.colours[c] for c in self.colours)
        return Augmentation(_COMPOSE[self.transform][other.transform], colours)

    def apply_task(self, task: ArcTask) -> ArcTask:
        """Transform every grid of every pair (demos and tests) the same way.

        :param task: the task.
        :return: a task with the same id and pair count.
        """

        def pairs(grids: tuple[GridPair, ...]) -> tuple[GridPair, ...]:
            return tuple((self.apply_grid(a), self.apply_grid(b)) for a, b in grids)

        return ArcTask(task_id=task.task_id, train=pairs(task.train), test=pairs(task.test))


def dihedral_augmentations() -> tuple[Augmentation, ...]:
    """The 8 dihedral transforms, colours unchanged, the identity first.

    :return: ``Augmentation(k)`` for k in 0..7.
    """
    return tuple(Augmentation(transform) for transform in range(N_TRANSFORMS))


def random_augmentations(
    rng: np.random.Generator, n: int, permute_colours: bool = True
) -> list[Augmentation]:
    """Draw ``n`` different augmentations: a uniform transform and, with ``permute_colours``, a
    uniform permutation of the colours 1-9 (0 stays).

    :param rng: the generator; the same seed gives the same list.
    :param n: how many (at most 8 without colour permutations, 8 * 9! with).
    :param permute_colours: whether to permute the colours 1-9 as well.
    :return: the augmentations, all different (the identity may be among them).
    """
    most = N_TRANSFORMS * (math.factorial(N_COLOURS - 1) if permute_colours else 1)
    if not 0 <= n <= most:
        raise ValueError(
            f"random_augmentations: n must be in 0..{most} (permute_colours={permute_colours}), "
            f"got {n}"
        )
    drawn: list[Augmentation] = []
    seen: set[Augmentation] = set()
    while len(drawn) < n:
        transform = int(rng.integers(N_TRANSFORMS))
        colours = IDENTITY_COLOURS
        if permute_colours:
            colours = (0, *(int(c) + 1 for c in rng.permutation(N_COLOURS - 1)))
        augmentation = Augmentation(transform, colours)
        if augmentation not in seen:
            seen.add(augmentation)
            drawn.append(augmentation)
    return drawn
