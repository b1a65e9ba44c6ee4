"""Maze generators: perfect mazes carved on a lattice of cells, open rooms, caves, plus optional
extra openings.

A maze of side ``size`` (odd, at least 5) is a ``(size, size)`` uint8 array, ``0`` for a wall and
``1`` for floor. The ``k = (size - 1) // 2`` cells per side sit at odd coordinates
``(2 * i + 1, 2 * j + 1)``; the square between two neighbouring cells is a wall unless the generator
carved a passage through it. The outer border is always wall.

Three ways to carve a perfect maze (a spanning tree of the cells, so exactly one route between any
two squares):

- ``"backtracker"``: depth-first search with backtracking; long winding corridors, few branches.
- ``"kruskal"``: Kruskal's algorithm on the cell walls in random order; many short branches.
- ``"prim"``: randomized Prim's algorithm growing from one cell; many short dead ends.

Two that are not perfect (several routes between squares; ties between equally short moves):

- ``"rooms"``: rectangular open rooms, 2 to 4 cells a side (3 to 7 squares), on the same lattice;
  the cells outside the rooms are carved into corridors by Kruskal's algorithm with each room as
  one region, so every room gets at least one doorway and the maze is connected; then a share of
  the walls still closed along the rooms' sides is opened as extra doorways: more than one route
  between some rooms (loops through the rooms, not only inside them).
- ``"caves"``: no lattice: every interior square is floor with a probability drawn per maze in
  ``CAVE_DENSITY``, the grid then smoothed once by a 3x3 majority vote or not (a fair coin). Open
  areas, many loops, and pockets: floor squares not connected to the rest. A draw is kept only when
  its largest connected component holds at least ``CAVE_MIN_SHARE`` of the floor (and at least two
  squares); otherwise the cave is drawn again from the same generator.

``extra_openings`` then removes a fraction of the cell walls that are still standing (for
``"caves"``: of the interior walls), which adds loops (several routes). Every random draw comes
from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = [
    "CAVE_DENSITY",
    "CAVE_MIN_SHARE",
    "MAZE_GENERATORS",
    "PERFECT_MAZE_GENERATORS",
    "component_labels",
    "generate_maze",
    "largest_component",
    "validate_maze_size",
]

# Spanning trees of the cell lattice: exactly one route between two squares (before openings).
PERFECT_MAZE_GENERATORS: tuple[str, ...] = ("backtracker", "kruskal", "prim")
# Every generator ``generate_maze`` knows.
MAZE_GENERATORS: tuple[str, ...] = (*PERFECT_MAZE_GENERATORS, "rooms", "caves")
# "caves": the range the floor density is drawn from (site percolation on the square lattice
# sets in near 0.593, so some caves are one open area and some fall apart into pockets).
CAVE_DENSITY: tuple[float, float] = (0.55, 0.65)
# "caves": the least share of the floor its largest connected component must hold.
CAVE_MIN_SHARE = 0.5
# "rooms": the range of the share of closed room-side walls opened as extra doorways.
_EXTRA_DOORWAYS: tuple[float, float] = (0.1, 0.3)

# A cell edge is (cell_a, cell_b) with cell ids r * k + c and cell_a < cell_b.
_Edge = tuple[int, int]


def validate_maze_size(size: int) -> None:
    """Raise a ``ValueError`` unless ``size`` is an odd integer of at least 5.

    :param size: side of the maze grid, walls included.
    """
    if isinstance(size, bool) or not isinstance(size, int | np.integer):
        raise ValueError(f"maze size must be an odd integer >= 5, got {size!r}")
    if size < 5 or size % 2 == 0:
        raise ValueError(f"maze size must be an odd integer >= 5, got {size}")


def generate_maze(
    size: int,
    rng: np.random.Generator,
    generator: str = "backtracker",
    extra_openings: float = 0.0,
) -> np.ndarray:
    """Generate a random maze.

    :param size: side of the square grid, walls included; odd, at least 5.
    :param rng: source of every random draw.
    :param generator: one of ``MAZE_GENERATORS``: ``"backtracker"``, ``"kruskal"``, ``"prim"``
        (perfect mazes), ``"rooms"`` or ``"caves"``.
    :param extra_openings: fraction in [0, 1] of the cell walls left standing by the generator
        that are then knocked out (0 keeps a perfect maze perfect; for ``"caves"``, of the
        interior walls).
    :return: ``(size, size)`` uint8 array, 0 for wall and 1 for floor.
    """
    validate_maze_size(size)
    if generator not in MAZE_GENERATORS:
        raise ValueError(f"unknown maze generator {generator!r}; expected one of {MAZE_GENERATORS}")
    if not 0.0 <= extra_openings <= 1.0:
        raise ValueError(f"extra_openings must be in [0, 1], got {extra_openings}")
    if generator == "caves":
        maze = _draw_cave(size, rng)
        if extra_openings > 0.0:
            _knock_out_walls(maze, extra_openings, rng, _interior(maze.shape))
        return maze
    cells_per_side = (size - 1) // 2
    if generator == "rooms":
        maze = _draw_rooms(size, cells_per_side, rng)
    else:
        if generator == "backtracker":
            edges = _carve_backtracker(cells_per_side, rng)
        elif generator == "kruskal":
            edges = _carve_kruskal(cells_per_side, rng)
        else:
            edges = _carve_prim(cells_per_side, rng)
        maze = _edges_to_grid(size, cells_per_side, edges)
    if extra_openings > 0.0:
        _knock_out_walls(maze, extra_openings, rng, _cell_walls(maze.shape))
    return maze


def component_labels(free: np.ndarray) -> np.ndarray:
    """The 4-connected components of the free squares of a grid.

    :param free: ``(H, W)`` array; 0 is a wall, any other value is free.
    :return: ``(H, W)`` int64 array: 0 on walls, components numbered 1, 2, ... in the row-major
        order of their first square.
    """
    free = np.asarray(free) != 0  # (H, W)
    if free.ndim != 2:
        raise ValueError(f"grid must be 2-D, got shape {free.shape}")
    height, width = free.shape
    padded_width = width + 2
    padded = np.zeros((height + 2, padded_width), dtype=bool)  # wall border: no bounds checks
    padded[1:-1, 1:-1] = free
    is_free = padded.ravel().tolist()
    labels = [0] * len(is_free)
    offsets = (-padded_width, 1, padded_width, -1)
    count = 0
    for square in np.flatnonzero(padded).tolist():
        if labels[square]:
            continue
        count += 1
        labels[square] = count
        stack = [square]
        while stack:
            current = stack.pop()
            for offset in offsets:
                neighbour = current + offset
                if is_free[neighbour] and not labels[neighbour]:
                    labels[neighbour] = count
                    stack.append(neighbour)
    return np.asarray(labels, dtype=np.int64).reshape(height + 2, padded_width)[1:-1, 1:-1]


def largest_component(free: np.ndarray) -> np.ndarray:
    """The free squares of the largest 4-connected component (ties: the first in row-major order).

    :param free: ``(H, W)`` array; 0 is a wall, any other value is free.
    :return: ``(H, W)`` bool array (all False on a grid without free squares).
    """
    labels = component_labels(free)
    sizes = np.bincount(labels.ravel())
    if len(sizes) < 2:
        return np.zeros(labels.shape, dtype=bool)
    return labels == int(sizes[1:].argmax()) + 1


@lru_cache(maxsize=64)
def _neighbour_table(cells_per_side: int) -> tuple[tuple[int, ...], ...]:
    """For each cell id, the ids of its 4-neighbours inside the lattice (up, right, down, left)."""
    k = cells_per_side
    table = []
    for r in range(k):
        for c in range(k):
            cell = r * k + c
            neighbours = []
            if r > 0:
                neighbours.append(cell - k)
            if c < k - 1:
                neighbours.append(cell + 1)
            if r < k - 1:
                neighbours.append(cell + k)
            if c > 0:
                neighbours.append(cell - 1)
            table.append(tuple(neighbours))
    return tuple(table)


def _all_edges(cells_per_side: int) -> list[_Edge]:
    """Every pair of neighbouring cells, as ``(smaller id, larger id)``."""
    k = cells_per_side
    edges = [(r * k + c, r * k + c + 1) for r in range(k) for c in range(k - 1)]
    edges += [(r * k + c, (r + 1) * k + c) for r in range(k - 1) for c in range(k)]
    return edges


def _carve_backtracker(cells_per_side: int, rng: np.random.Generator) -> list[_Edge]:
    """Recursive backtracker (iterative depth-first search) from a random cell."""
    n_cells = cells_per_side * cells_per_side
    neighbours = _neighbour_table(cells_per_side)
    uniforms = rng.random(n_cells).tolist()  # one draw for the root, one per carved edge
    visited = [False] * n_cells
    root = int(uniforms[0] * n_cells)
    visited[root] = True
    stack = [root]
    edges: list[_Edge] = []
    draw = 1
    while stack:
        cell = stack[-1]
        unvisited = [n for n in neighbours[cell] if not visited[n]]
        if not unvisited:
            stack.pop()
            continue
        nxt = unvisited[int(uniforms[draw] * len(unvisited))]
        draw += 1
        visited[nxt] = True
        edges.append((cell, nxt) if cell < nxt else (nxt, cell))
        stack.append(nxt)
    return edges


def _carve_kruskal(
    cells_per_side: int, rng: np.random.Generator, regions: tuple[list[int], ...] = ()
) -> list[_Edge]:
    """Kruskal's algorithm: walls in random order, opened when they join two separate regions.

    :param cells_per_side: cells per side of the lattice.
    :param rng: source of the wall order.
    :param regions: groups of cell ids that start as one region each (rooms), so that the carved
        walls form a spanning tree of the regions.
    :return: the carved cell edges.
    """
    n_cells = cells_per_side * cells_per_side
    candidates = _all_edges(cells_per_side)
    order = rng.permutation(len(candidates)).tolist()
    parent = list(range(n_cells))
    for region in regions:
        for cell in region[1:]:
            parent[cell] = region[0]
    n_edges = n_cells - 1 - sum(len(region) - 1 for region in regions)

    def find(cell: int) -> int:
        while parent[cell] != cell:
            parent[cell] = parent[parent[cell]]  # path halving
            cell = parent[cell]
        return cell

    edges: list[_Edge] = []
    for index in order:
        a, b = candidates[index]
        root_a, root_b = find(a), find(b)
        if root_a != root_b:
            parent[root_a] = root_b
            edges.append((a, b))
            if len(edges) == n_edges:
                break
    return edges


def _carve_prim(cells_per_side: int, rng: np.random.Generator) -> list[_Edge]:
    """Randomized Prim's algorithm: grow from a random cell through random frontier walls."""
    n_cells = cells_per_side * cells_per_side
    neighbours = _neighbour_table(cells_per_side)
    # Each wall enters the frontier at most once, so one draw per edge (plus the root) suffices.
    uniforms = rng.random(2 * n_cells).tolist()
    visited = [False] * n_cells
    root = int(uniforms[0] * n_cells)
    visited[root] = True
    frontier: list[_Edge] = [(root, n) for n in neighbours[root]]  # (inside cell, outside cell)
    edges: list[_Edge] = []
    draw = 1
    while frontier:
        index = int(uniforms[draw] * len(frontier))
        draw += 1
        frontier[index], frontier[-1] = frontier[-1], frontier[index]
        inside, outside = frontier.pop()
        if visited[outside]:
            continue
        visited[outside] = True
        edges.append((inside, outside) if inside < outside else (outside, inside))
        frontier.extend((outside, n) for n in neighbours[outside] if not visited[n])
    return edges


def _edges_to_grid(size: int, cells_per_side: int, edges: list[_Edge]) -> np.ndarray:
    """Draw the cells and the carved passages between them on a wall-filled grid."""
    maze = np.zeros((size, size), dtype=np.uint8)  # (H, W)
    maze[1:-1:2, 1:-1:2] = 1
    if edges:
        pairs = np.asarray(edges, dtype=np.int64)  # (E, 2)
        rows_a, cols_a = np.divmod(pairs[:, 0], cells_per_side)
        rows_b, cols_b = np.divmod(pairs[:, 1], cells_per_side)
        maze[rows_a + rows_b + 1, cols_a + cols_b + 1] = 1  # the square between the two cells
    return maze


def _cell_walls(shape: tuple[int, ...]) -> np.ndarray:
    """``(H, W)`` bool: the squares of an odd grid that separate two neighbouring cells."""
    between = np.zeros(shape, dtype=bool)
    between[1:-1:2, 2:-1:2] = True  # between horizontal neighbours
    between[2:-1:2, 1:-1:2] = True  # between vertical neighbours
    return between


def _interior(shape: tuple[int, ...]) -> np.ndarray:
    """``(H, W)`` bool: every square but the border."""
    inside = np.zeros(shape, dtype=bool)
    inside[1:-1, 1:-1] = True
    return inside


def _knock_out_walls(
    maze: np.ndarray, fraction: float, rng: np.random.Generator, where: np.ndarray
) -> None:
    """Open ``round(fraction * n)`` of the ``n`` walls left on the squares ``where``, in place.

    :param maze: ``(H, W)`` uint8 grid, changed in place.
    :param fraction: share of the walls to open.
    :param rng: source of the choice.
    :param where: ``(H, W)`` bool, the squares that may be opened.
    """
    rows, cols = np.nonzero(where & (maze == 0))
    n_open = round(fraction * len(rows))
    if n_open > 0:
        chosen = rng.choice(len(rows), size=n_open, replace=False)
        maze[rows[chosen], cols[chosen]] = 1


# ---- rooms ---------------------------------------------------------------------------------

_Room = tuple[int, int, int, int]  # (top row, left column, height, width) in cells


def _place_rooms(cells_per_side: int, rng: np.random.Generator) -> list[_Room]:
    """Drop rectangles of 2 to 4 cells a side (at most half the lattice's side) at random places,
    keeping those that overlap no room kept before; the first always fits."""
    k = cells_per_side
    largest = max(2, min(4, k // 2))
    n_tries = max(1, k * k // 4)
    sides = rng.integers(2, largest + 1, size=(n_tries, 2)).tolist()
    corners = rng.random((n_tries, 2)).tolist()
    taken = np.zeros((k, k), dtype=bool)
    rooms: list[_Room] = []
    for (height, width), (u, v) in zip(sides, corners, strict=True):
        top, left = int(u * (k - height + 1)), int(v * (k - width + 1))
        if not taken[top : top + height, left : left + width].any():
            taken[top : top + height, left : left + width] = True
            rooms.append((top, left, height, width))
    return rooms


def _room_cells(room: _Room, cells_per_side: int) -> list[int]:
    """The cell ids inside a room."""
    top, left, height, width = room
    return [
        r * cells_per_side + c for r in range(top, top + height) for c in range(left, left + width)
    ]


def _draw_rooms(size: int, cells_per_side: int, rng: np.random.Generator) -> np.ndarray:
    """Rooms, the corridors that join them (one spanning tree of rooms and cells), then extra
    doorways on the rooms' sides."""
    rooms = _place_rooms(cells_per_side, rng)
    regions = tuple(_room_cells(room, cells_per_side) for room in rooms)
    edges = _carve_kruskal(cells_per_side, rng, regions)
    maze = _edges_to_grid(size, cells_per_side, edges)
    in_room = np.zeros(maze.shape, dtype=bool)  # (H, W): room squares, walls inside them too
    for top, left, height, width in rooms:
        in_room[2 * top + 1 : 2 * (top + height), 2 * left + 1 : 2 * (left + width)] = True
    maze[in_room] = 1
    _open_doorways(maze, in_room, rng)
    return maze


def _open_doorways(maze: np.ndarray, in_room: np.ndarray, rng: np.random.Generator) -> None:
    """Open a share (drawn in ``_EXTRA_DOORWAYS``, at least one) of the closed cell walls on the
    rooms' sides, or of any closed cell walls where the rooms' sides are all open; in place."""
    padded = np.pad(in_room, 1)
    beside_room = padded[:-2, 1:-1] | padded[2:, 1:-1] | padded[1:-1, :-2] | padded[1:-1, 2:]
    closed = _cell_walls(maze.shape) & (maze == 0)
    pool = closed & beside_room
    if not pool.any():
        pool = closed
    rows, cols = np.nonzero(pool)
    share = float(rng.uniform(*_EXTRA_DOORWAYS))
    n_open = min(len(rows), max(1, round(share * len(rows))))
    chosen = rng.choice(len(rows), size=n_open, replace=False)
    maze[rows[chosen], cols[chosen]] = 1


# ---- caves ---------------------------------------------------------------------------------


def _draw_cave(size: int, rng: np.random.Generator) -> np.ndarray:
    """Random floor at a density drawn in ``CAVE_DENSITY``, smoothed or not, drawn again until
    its largest component holds ``CAVE_MIN_SHARE`` of the floor."""
    while True:
        density = float(rng.uniform(*CAVE_DENSITY))
        floor = rng.random((size - 2, size - 2)) < density  # (H - 2, W - 2)
        if rng.random() < 0.5:
            floor = _majority_smooth(floor)
        maze = np.zeros((size, size), dtype=np.uint8)  # (H, W)
        maze[1:-1, 1:-1] = floor
        n_main = int(largest_component(maze).sum())
        if n_main >= 2 and n_main >= CAVE_MIN_SHARE * int(floor.sum()):
            return maze


def _majority_smooth(floor: np.ndarray) -> np.ndarray:
    """One step of the 3x3 majority vote (squares outside count as wall): a square is floor when
    at least 5 of the 9 squares around it, itself included, are."""
    height, width = floor.shape
    padded = np.pad(floor, 1).astype(np.int8)
    votes = np.sum(
        [padded[dr : dr + height, dc : dc + width] for dr in range(3) for dc in range(3)], axis=0
    )  # (H, W)
    return votes >= 5
