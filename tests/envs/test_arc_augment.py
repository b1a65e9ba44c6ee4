"""ARC augmentation: each transform undone by its inverse, the 8 transforms distinct, the
background kept, composition, and seeded draws."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envs.arc_augment import (
    IDENTITY_COLOURS,
    N_TRANSFORMS,
    TRANSFORM_NAMES,
    Augmentation,
    dihedral_augmentations,
    random_augmentations,
)
from envs.arc_tasks import ArcTask


@st.composite
def grids(draw: st.DrawFn, max_side: int = 7) -> np.ndarray:
    """A (h, w) uint8 grid of colours 0-9."""
    height, width = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    cells = draw(st.lists(st.integers(0, 9), min_size=height * width, max_size=height * width))
    return np.array(cells, dtype=np.uint8).reshape(height, width)


@st.composite
def augmentations(draw: st.DrawFn) -> Augmentation:
    """Any augmentation: a transform and a permutation of 1-9."""
    moved = draw(st.permutations(list(range(1, 10))))
    return Augmentation(draw(st.integers(0, N_TRANSFORMS - 1)), (0, *moved))


@st.composite
def tasks(draw: st.DrawFn) -> ArcTask:
    """A task of 1-3 demo pairs and 1-2 test pairs of random grids."""

    def pairs(n: int) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
        return tuple((draw(grids(5)), draw(grids(5))) for _ in range(n))

    return ArcTask("t", pairs(draw(st.integers(1, 3))), pairs(draw(st.integers(1, 2))))


def _same_task(a: ArcTask, b: ArcTask) -> bool:
    """Equal ids, pair counts, shapes and cells."""
    pairs_a, pairs_b = a.train + a.test, b.train + b.test
    return (
        a.task_id == b.task_id
        and (len(a.train), len(a.test)) == (len(b.train), len(b.test))
        and all(
            np.array_equal(x, y)
            for pa, pb in zip(pairs_a, pairs_b, strict=True)
            for x, y in zip(pa, pb, strict=True)
        )
    )


@settings(max_examples=100, deadline=None)
@given(tasks(), augmentations())
def test_transform_then_inverse_gives_the_task_back(
    task: ArcTask, augmentation: Augmentation
) -> None:
    seen = augmentation.apply_task(task)
    back = augmentation.inverse().apply_task(seen)
    assert _same_task(back, task)
    for (_, out_seen), (_, out) in zip(seen.test, task.test, strict=True):
        assert np.array_equal(augmentation.invert_grid(out_seen), out)  # a predicted answer


@settings(max_examples=100, deadline=None)
@given(tasks(), augmentations())
def test_every_grid_of_every_pair_is_transformed_alike(
    task: ArcTask, augmentation: Augmentation
) -> None:
    seen = augmentation.apply_task(task)
    for pair_seen, pair in zip(seen.train + seen.test, task.train + task.test, strict=True):
        for grid_seen, grid in zip(pair_seen, pair, strict=True):
            assert np.array_equal(grid_seen, augmentation.apply_grid(grid))
            assert grid_seen.dtype == np.uint8


@settings(max_examples=50, deadline=None)
@given(
    st.sampled_from([(2, 2), (2, 3), (3, 2), (3, 3), (2, 4), (2, 5)]), st.permutations(range(10))
)
def test_the_8_transforms_are_distinct_on_an_asymmetric_grid(
    shape: tuple[int, int], cells: list[int]
) -> None:
    # all cells different and both sides at least 2: no symmetry maps the grid to itself
    grid = np.array(cells[: shape[0] * shape[1]], dtype=np.uint8).reshape(shape)
    images = [a.apply_grid(grid) for a in dihedral_augmentations()]
    assert len({(image.shape, image.tobytes()) for image in images}) == N_TRANSFORMS


def test_transforms_are_the_numpy_operations_they_are_named_after() -> None:
    grid = np.arange(6, dtype=np.uint8).reshape(2, 3)
    expected = {
        "identity": grid,
        "rot90": np.rot90(grid),
        "rot180": np.rot90(grid, 2),
        "rot270": np.rot90(grid, 3),
        "flip_lr": np.fliplr(grid),
        "transpose": grid.T,
        "flip_ud": np.flipud(grid),
        "anti_transpose": np.rot90(grid, 2).T,
    }
    assert tuple(expected) == TRANSFORM_NAMES
    for index, name in enumerate(TRANSFORM_NAMES):
        assert np.array_equal(Augmentation(index).apply_grid(grid), expected[name]), name


@settings(max_examples=100, deadline=None)
@given(grids(), augmentations())
def test_the_background_stays_0(grid: np.ndarray, augmentation: Augmentation) -> None:
    image = augmentation.apply_grid(grid)
    geometric = Augmentation(augmentation.transform).apply_grid(grid)
    assert np.array_equal(image == 0, geometric == 0)
    assert augmentation.colours[0] == 0


@settings(max_examples=100, deadline=None)
@given(grids(), augmentations(), augmentations())
def test_composition_is_one_augmentation(
    grid: np.ndarray, first: Augmentation, second: Augmentation
) -> None:
    both = first.then(second)
    assert np.array_equal(both.apply_grid(grid), second.apply_grid(first.apply_grid(grid)))
    assert first.then(first.inverse()) == Augmentation()


def test_the_group_closes_and_inverses_pair_up() -> None:
    transforms = dihedral_augmentations()
    products = {(a.then(b)).transform for a in transforms for b in transforms}
    assert products == set(range(N_TRANSFORMS))
    for augmentation in transforms:
        assert augmentation.then(augmentation.inverse()) == transforms[0]
    assert Augmentation(1, (0, 2, 1, 3, 4, 5, 6, 7, 8, 9)).name == "rot90+colours(1>2,2>1)"
    assert Augmentation().name == "identity"


def test_random_augmentations_are_seeded_different_and_keep_0() -> None:
    first = random_augmentations(np.random.default_rng(3), 16)
    again = random_augmentations(np.random.default_rng(3), 16)
    other = random_augmentations(np.random.default_rng(4), 16)
    assert first == again and first != other
    assert len(set(first)) == 16 and all(a.colours[0] == 0 for a in first)
    assert any(a.colours != IDENTITY_COLOURS for a in first)
    dihedral = random_augmentations(np.random.default_rng(0), 8, permute_colours=False)
    assert sorted(a.transform for a in dihedral) == list(range(8))
    assert all(a.colours == IDENTITY_COLOURS for a in dihedral)
    assert random_augmentations(np.random.default_rng(0), 0) == []
    with pytest.raises(ValueError, match=r"n must be in 0\.\.8"):
        random_augmentations(np.random.default_rng(0), 9, permute_colours=False)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"transform": 8}, "transform must be in 0..7"),
        ({"colours": (1, 0, 2, 3, 4, 5, 6, 7, 8, 9)}, "keeps 0"),
        ({"colours": (0, 1, 1, 3, 4, 5, 6, 7, 8, 9)}, "permutation"),
        ({"colours": (0, 1, 2)}, "permutation"),
    ],
)
def test_bad_augmentations_are_refused(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        Augmentation(**kwargs)  # type: ignore[arg-type]


def test_grids_outside_the_colours_are_refused() -> None:
    with pytest.raises(ValueError, match="colours 0-9"):
        Augmentation(1).apply_grid(np.full((2, 2), 10))
    with pytest.raises(ValueError, match="2-D"):
        Augmentation(1).apply_grid(np.zeros(3, dtype=np.uint8))
