"""Independent checkers of maze geometry for the env tests: scipy's graph routines on the free
squares, never the env's own BFS."""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import shortest_path


def free_graph(grid: np.ndarray) -> tuple[csr_matrix, np.ndarray]:
    """4-neighbour graph of the free squares: (adjacency, node index of each square, -1 at
    walls)."""
    free = np.asarray(grid) != 0
    height, width = free.shape
    node_of = -np.ones(free.shape, dtype=np.int64)
    node_of[free] = np.arange(free.sum())
    rows, cols = [], []
    for r in range(height):
        for c in range(width):
            if not free[r, c]:
                continue
            for nr, nc in ((r + 1, c), (r, c + 1)):
                if nr < height and nc < width and free[nr, nc]:
                    rows += [node_of[r, c], node_of[nr, nc]]
                    cols += [node_of[nr, nc], node_of[r, c]]
    n = int(free.sum())
    adjacency = csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    return adjacency, node_of


def scipy_distances(grid: np.ndarray, source: tuple[int, int]) -> np.ndarray:
    """Distances from ``source`` by scipy's unweighted shortest paths; -1 at walls and where
    unreachable."""
    adjacency, node_of = free_graph(grid)
    from_source = shortest_path(adjacency, unweighted=True, indices=node_of[source])
    out = -np.ones(node_of.shape, dtype=np.int64)
    free = node_of >= 0
    values = from_source[node_of[free]]
    out[free] = np.where(np.isinf(values), -1, values).astype(np.int64)
    return out
