"""Maze generators: perfect mazes carved on a lattice of cells, plus optional extra openings.

A maze of side ``size`` (odd, at least 5) is a ``(size, size)`` uint8 array, ``0`` for a wall and
``1`` for floor. The ``k = (size - 1) // 2`` cells per side sit at odd coordinates
``(2 * i + 1, 2 * j + 1)``; the square between two neighbouring cells is a wall unless the generator
carved a passage through it. The outer border is always wall.

Three ways to carve a perfect maze (a spanning tree of the cells, so exactly one route between any
two squares):

- ``"backtracker"``: depth-first search with backtracking; long winding corridors, few branches.
- ``"kruskal"``: Kruskal's algorithm on the cell walls in random order; many short branches.
- ``"prim"``: randomized Prim's algorithm growing from one cell; many short dead ends.

``extra_openings`` then removes a fraction of the cell walls that are still standing, which adds
loops (several routes). Every random draw comes from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["MAZE_GENERATORS", "generate_maze", "validate_maze_size"]

MAZE_GENERATORS: tuple[str, ...] = ("backtracker", "kruskal", "prim")

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
    :param generator: ``"backtracker"``, ``"kruskal"`` or ``"prim"``.
    :param extra_openings: fraction in [0, 1] of the cell walls left standing by the perfect maze
        that are then knocked out (0 keeps the maze perfect).
    :return: ``(size, size)`` uint8 array, 0 for wall and 1 for floor.
    """
    validate_maze_size(size)
    if generator not in MAZE_GENERATORS:
        raise ValueError(f"unknown maze generator {generator!r}; expected one of {MAZE_GENERATORS}")
    if not 0.0 <= extra_openings <= 1.0:
        raise ValueError(f"extra_openings must be in [0, 1], got {extra_openings}")
    cells_per_side = (size - 1) // 2
    if generator == "backtracker":
        edges = _carve_backtracker(cells_per_side, rng)
    elif generator == "kruskal":
        edges = _carve_kruskal(cells_per_side, rng)
    else:
        edges = _carve_prim(cells_per_side, rng)
    maze = _edges_to_grid(size, cells_per_side, edges)
    if extra_openings > 0.0:
        _knock_out_walls(maze, extra_openings, rng)
    return maze


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


def _carve_kruskal(cells_per_side: int, rng: np.random.Generator) -> list[_Edge]:
    """Kruskal's algorithm: walls in random order, opened when they join two separate regions."""
    n_cells = cells_per_side * cells_per_side
    candidates = _all_edges(cells_per_side)
    order = rng.permutation(len(candidates)).tolist()
    parent = list(range(n_cells))

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
            if len(edges) == n_cells - 1:
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


def _knock_out_walls(maze: np.ndarray, fraction: float, rng: np.random.Generator) -> None:
    """Open ``round(fraction * n)`` of the ``n`` walls left between two cells, in place."""
    between = np.zeros(maze.shape, dtype=bool)  # (H, W): squares that separate two cells
    between[1:-1:2, 2:-1:2] = True  # between horizontal neighbours
    between[2:-1:2, 1:-1:2] = True  # between vertical neighbours
    rows, cols = np.nonzero(between & (maze == 0))
    n_open = round(fraction * len(rows))
    if n_open > 0:
        chosen = rng.choice(len(rows), size=n_open, replace=False)
        maze[rows[chosen], cols[chosen]] = 1
