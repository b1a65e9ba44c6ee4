"""Tests of the Sudoku environment (envs/sudoku.py) and its solver (envs/sudoku_solver.py)."""

from __future__ import annotations

import itertools
import json
import pickle
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gymnasium_check_env
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stable_baselines3.common.env_checker import check_env as sb3_check_env
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

import envs
from envs.sudoku import REGISTRATIONS, SudokuEnv, parse_puzzle, render_ansi
from envs.sudoku_solver import (
    BOX_SHAPES,
    Propagation,
    candidate_mask,
    count_solutions,
    describe_contradiction,
    find_solutions,
    generate_graded_puzzle,
    generate_puzzle,
    generate_solved_grid,
    grade_puzzle,
    has_forced_move,
    propagation_rounds,
    search_nodes,
    solve,
)

SIZES = sorted(BOX_SHAPES)
# A well-known hard 9x9 puzzle (unique solution, not solvable by singles alone).
HARD_PUZZLE = "8..........36......7..9.2...5...7.......457.....1...3...1....68..85...1..9....4.."


# ---------------------------------------------------------------- an independent brute force


def brute_force_count(board: np.ndarray, limit: int = 2) -> int:
    """Count solutions up to ``limit`` with plain Python sets (no shared code with the solver)."""
    size = board.shape[0]
    box_rows, box_cols = BOX_SHAPES[size]
    grid = [[int(v) for v in row] for row in board]
    digits = set(range(1, size + 1))

    def allowed(r: int, c: int) -> set[int]:
        seen = set(grid[r]) | {grid[k][c] for k in range(size)}
        r0, c0 = r - r % box_rows, c - c % box_cols
        seen |= {grid[i][j] for i in range(r0, r0 + box_rows) for j in range(c0, c0 + box_cols)}
        return digits - seen

    for r in range(size):  # clashing givens: no solution
        for c in range(size):
            if grid[r][c]:
                value, grid[r][c] = grid[r][c], 0
                ok = value in allowed(r, c)
                grid[r][c] = value
                if not ok:
                    return 0

    def count(wanted: int) -> int:
        options = None
        for r in range(size):
            for c in range(size):
                if not grid[r][c]:
                    here = allowed(r, c)
                    if options is None or len(here) < len(options[2]):
                        options = (r, c, here)
        if options is None:
            return 1
        r, c, here = options
        total = 0
        for digit in sorted(here):
            grid[r][c] = digit
            total += count(wanted - total)
            grid[r][c] = 0
            if total >= wanted:
                break
        return total

    return count(limit)


def is_valid_solution(grid: np.ndarray) -> bool:
    size = grid.shape[0]
    box_rows, box_cols = BOX_SHAPES[size]
    target = set(range(1, size + 1))
    units = [set(grid[r].tolist()) for r in range(size)]
    units += [set(grid[:, c].tolist()) for c in range(size)]
    units += [
        set(grid[r : r + box_rows, c : c + box_cols].ravel().tolist())
        for r in range(0, size, box_rows)
        for c in range(0, size, box_cols)
    ]
    return all(unit == target for unit in units)


def is_minimal(puzzle: np.ndarray) -> bool:
    """No clue can be removed without losing uniqueness."""
    for r, c in np.argwhere(puzzle != 0):
        weaker = puzzle.copy()
        weaker[r, c] = 0
        if brute_force_count(weaker) == 1:
            return False
    return True


def grid(obs: dict, key: str = "board") -> np.ndarray:
    """An observation grid restored to (size, size) from its 1-D row-major Box."""
    size = round(len(obs[key]) ** 0.5)
    return obs[key].reshape(size, size)


def to_text(board: np.ndarray) -> str:
    return "".join(str(int(v)) if v else "." for v in board.ravel())


def board_of(text: str) -> np.ndarray:
    size = round(len(text) ** 0.5)
    return np.array([0 if ch in ".0" else int(ch) for ch in text], dtype=np.uint8).reshape(
        size, size
    )


# ---------------------------------------------------------------- solver and generator


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(size=st.sampled_from(SIZES), seed=st.integers(0, 2**32 - 1), data=st.data())
def test_generated_puzzles_are_unique_with_requested_blanks(size: int, seed: int, data) -> None:
    # Up to every cell for 4x4 and 6x6, so that the minimal-puzzle fallback is exercised too;
    # 9x9 stays where the count is nearly always reached (its minimality check is slow).
    upper = {4: 16, 6: 36, 9: 52}[size]
    n_blanks = data.draw(st.integers(1, upper), label="n_blanks")
    puzzle, solution = generate_puzzle(size, n_blanks, np.random.default_rng(seed))
    assert puzzle.shape == solution.shape == (size, size)
    assert puzzle.dtype == solution.dtype == np.uint8
    assert is_valid_solution(solution)
    clues = puzzle != 0
    assert np.array_equal(puzzle[clues], solution[clues])
    assert brute_force_count(puzzle) == 1
    blanks = int((~clues).sum())
    assert blanks == n_blanks or (blanks < n_blanks and is_minimal(puzzle))


@pytest.mark.parametrize("size", [4, 6])
@pytest.mark.parametrize("seed", range(4))
def test_max_blanks_gives_minimal_unique_puzzles(size: int, seed: int) -> None:
    puzzle, _ = generate_puzzle(size, None, np.random.default_rng(seed))
    assert brute_force_count(puzzle) == 1
    assert is_minimal(puzzle)


def test_max_blanks_9x9_is_minimal_unique_and_well_beyond_45_blanks() -> None:
    puzzle, solution = generate_puzzle(9, None, np.random.default_rng(7))
    assert brute_force_count(puzzle) == 1
    assert is_minimal(puzzle)
    assert int((puzzle == 0).sum()) > 50
    assert np.array_equal(solve(puzzle), solution)


def test_9x9_45_blanks_reached_exactly() -> None:
    rng = np.random.default_rng(11)
    for _ in range(10):
        puzzle, _ = generate_puzzle(9, 45, rng)
        assert int((puzzle == 0).sum()) == 45


def test_blank_range_is_drawn_within_bounds() -> None:
    rng = np.random.default_rng(0)
    counts = {int((generate_puzzle(4, (3, 6), rng)[0] == 0).sum()) for _ in range(40)}
    assert counts == {3, 4, 5, 6}


def test_generation_is_reproducible_from_the_rng() -> None:
    first = generate_puzzle(9, (30, 45), np.random.default_rng(5))
    again = generate_puzzle(9, (30, 45), np.random.default_rng(5))
    other = generate_puzzle(9, (30, 45), np.random.default_rng(6))
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(first[1], other[1])


@pytest.mark.parametrize("size", SIZES)
def test_solved_grids_are_valid_and_varied(size: int) -> None:
    rng = np.random.default_rng(0)
    grids = [generate_solved_grid(size, rng) for _ in range(5)]
    assert all(is_valid_solution(grid) for grid in grids)
    assert len({grid.tobytes() for grid in grids}) == 5


@pytest.mark.parametrize("bad", [0, 82, (0, 5), (5, 3), (40, 82), 2.5, True, (1, 2, 3)])
def test_bad_n_blanks_raise(bad) -> None:
    with pytest.raises(ValueError, match="n_blanks"):
        generate_puzzle(9, bad, np.random.default_rng(0))


def test_unsupported_size_raises() -> None:
    with pytest.raises(ValueError, match="size"):
        generate_puzzle(5, 3, np.random.default_rng(0))


@settings(max_examples=200, deadline=None)
@given(size=st.sampled_from([4, 6]), seed=st.integers(0, 2**32 - 1), data=st.data())
def test_count_solutions_matches_brute_force(size: int, seed: int, data) -> None:
    rng = np.random.default_rng(seed)
    board = generate_solved_grid(size, rng)
    n_blanks = data.draw(st.integers(0, size * size), label="n_blanks")
    board.ravel()[rng.permutation(size * size)[:n_blanks]] = 0
    if data.draw(st.booleans(), label="corrupt"):  # a wrong clue: often no solution
        cell = int(rng.integers(size * size))
        board.ravel()[cell] = int(rng.integers(1, size + 1))
    expected = brute_force_count(board, limit=3)
    assert count_solutions(board, limit=3) == expected
    solutions = find_solutions(board, limit=3)
    assert len(solutions) == expected
    assert len({s.tobytes() for s in solutions}) == expected
    for solution in solutions:
        assert is_valid_solution(solution)
        assert np.array_equal(solution[board != 0], board[board != 0])


def test_empty_4x4_has_288_solutions() -> None:
    assert count_solutions(np.zeros((4, 4), dtype=np.uint8), limit=1000) == 288


def test_hard_puzzle_needs_search() -> None:
    board = board_of(HARD_PUZZLE)
    assert count_solutions(board) == 1
    grade, nodes = grade_puzzle(board)
    assert grade == "search" and nodes > 0
    assert not has_forced_move(board)
    solution = solve(board)
    assert solution is not None and is_valid_solution(solution)


def test_singles_puzzle_needs_no_search() -> None:
    solution = generate_solved_grid(9, np.random.default_rng(2))
    board = solution.copy()
    board[0, :] = 0  # every blank is a naked single
    assert grade_puzzle(board) == ("singles", 0)
    assert has_forced_move(board)


def test_hidden_single_counts_as_forced() -> None:
    # The 1s in column 1, column 2 and column 3 leave digit 1 one place in row 0, at (0, 0),
    # where every digit still fits: a hidden single without any naked single.
    board = board_of(".......1.1....1.")
    cands = candidate_mask(board)
    assert cands[board == 0].sum(axis=-1).min() > 1
    assert has_forced_move(board)
    assert not has_forced_move(np.zeros((4, 4), dtype=np.uint8))


def test_search_nodes_of_unsolvable_boards_raise() -> None:
    with pytest.raises(ValueError, match="no solution"):
        search_nodes(board_of("12....3....4...."))
    with pytest.raises(ValueError, match="no solution"):
        search_nodes(board_of("11.............."))


# ---------------------------------------------------------------- singles propagation rounds


def reference_propagation(board: np.ndarray) -> tuple[int, bool, bool]:
    """Parallel rounds of naked and hidden singles with plain Python sets (slow, independent):
    (rounds that placed digits, board full, contradiction met)."""
    size = board.shape[0]
    box_rows, box_cols = BOX_SHAPES[size]
    grid = [[int(v) for v in row] for row in board]
    digits = set(range(1, size + 1))
    units = [[(r, c) for c in range(size)] for r in range(size)]
    units += [[(r, c) for r in range(size)] for c in range(size)]
    units += [
        [(r, c) for r in range(r0, r0 + box_rows) for c in range(c0, c0 + box_cols)]
        for r0 in range(0, size, box_rows)
        for c0 in range(0, size, box_cols)
    ]
    rounds = 0
    while any(0 in row for row in grid):
        cands = {}
        for r in range(size):
            for c in range(size):
                if not grid[r][c]:
                    seen = {grid[i][j] for unit in units if (r, c) in unit for i, j in unit}
                    cands[r, c] = digits - seen
        if any(not options for options in cands.values()):
            return rounds, False, True
        forced: dict[tuple[int, int], set[int]] = {}
        for cell, options in cands.items():
            if len(options) == 1:
                forced.setdefault(cell, set()).update(options)
        for unit in units:
            present = {grid[r][c] for r, c in unit}
            for digit in digits - present:
                places = [cell for cell in unit if digit in cands.get(cell, ())]
                if not places:
                    return rounds, False, True
                if len(places) == 1:
                    forced.setdefault(places[0], set()).add(digit)
        if not forced:
            break
        if any(len(options) > 1 for options in forced.values()):
            return rounds, False, True
        for unit in units:
            placed_here = [next(iter(forced[cell])) for cell in unit if cell in forced]
            if len(placed_here) != len(set(placed_here)):
                return rounds, False, True
        for (r, c), options in forced.items():
            grid[r][c] = next(iter(options))
        rounds += 1
    return rounds, all(0 not in row for row in grid), False


def random_board(size: int, seed: int, placed_share: float, noise: int) -> np.ndarray:
    """A generated puzzle with a share of its blanks filled from the solution, then ``noise``
    random non-clashing digits written in blanks (which may leave it without a solution)."""
    rng = np.random.default_rng(seed)
    puzzle, solution = generate_puzzle(size, None, rng)
    blanks = np.flatnonzero(puzzle == 0)
    filled = rng.permutation(blanks)[: int(placed_share * len(blanks))]
    puzzle.flat[filled] = solution.flat[filled]
    for _ in range(noise):
        free = np.argwhere(candidate_mask(puzzle))
        if not len(free):
            break
        r, c, d = free[rng.integers(len(free))]
        puzzle[r, c] = d + 1
    return puzzle


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    size=st.sampled_from(SIZES),
    seed=st.integers(0, 2**32 - 1),
    placed_share=st.floats(0.0, 1.0),
    noise=st.sampled_from([0, 0, 1, 2, 5]),
)
def test_propagation_rounds_match_a_slow_reference(
    size: int, seed: int, placed_share: float, noise: int
) -> None:
    board = random_board(size, seed, placed_share, noise)
    result = propagation_rounds(board)
    assert (result.rounds, result.solved, result.contradiction) == reference_propagation(board)
    assert not (result.solved and result.contradiction)
    if not result.contradiction and (board == 0).any():
        assert (result.rounds > 0) == has_forced_move(board)
    if noise == 0:  # a board with a solution: singles solve it exactly when search needs no guess
        assert not result.contradiction
        assert result.solved == (search_nodes(board) == 0)
        assert result.grade == ("singles" if result.solved else "search")


def test_propagation_rounds_of_known_boards() -> None:
    solution = generate_solved_grid(9, np.random.default_rng(2))
    assert propagation_rounds(solution) == Propagation(0, True)
    board = solution.copy()
    board[0, :] = 0  # every blank is a naked single: one round
    assert propagation_rounds(board) == Propagation(1, True)
    hard = propagation_rounds(board_of(HARD_PUZZLE))  # no single anywhere
    assert hard == Propagation(0, False) and hard.grade == "search"
    assert propagation_rounds(board_of(".......1.1....1.")).rounds >= 1  # a hidden single
    assert propagation_rounds(board_of("12....3....4....")).contradiction


def test_rounds_never_grow_as_the_oracle_fills_a_singles_puzzle() -> None:
    # A correct digit only adds to what each round can fill, so the rounds left never grow.
    env = gym.make("FPR/Sudoku-9x9-Singles-v0")
    _, info = env.reset(seed=3)
    assert info["grade"] == "singles" and 1 <= info["propagation_rounds"] <= info["blanks_left"]
    rounds = [info["propagation_rounds"]]
    terminated = False
    while not terminated:
        _, _, terminated, _, info = env.step(env.unwrapped.oracle_action())
        rounds.append(info["propagation_rounds"])
        assert info["grade"] == "singles" and not info["propagation_stuck"]
    assert rounds[-1] == 0
    assert all(later <= earlier for earlier, later in itertools.pairwise(rounds))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(grade=st.sampled_from(["singles", "search"]), seed=st.integers(0, 2**32 - 1))
def test_graded_puzzles_have_the_grade_asked_for(grade: str, seed: int) -> None:
    puzzle, solution = generate_graded_puzzle(9, None, np.random.default_rng(seed), grade)
    assert propagation_rounds(puzzle).grade == grade
    assert grade_puzzle(puzzle)[0] == grade
    assert count_solutions(puzzle) == 1 and is_valid_solution(solution)
    again, _ = generate_graded_puzzle(9, None, np.random.default_rng(seed), grade)
    assert np.array_equal(puzzle, again)


def test_graded_generation_gives_up_and_checks_its_arguments() -> None:
    with pytest.raises(RuntimeError, match="no search-grade 4x4 puzzle"):
        generate_graded_puzzle(4, None, np.random.default_rng(0), "search", max_draws=5)
    with pytest.raises(ValueError, match="grade"):
        generate_graded_puzzle(9, None, np.random.default_rng(0), "hard")
    with pytest.raises(ValueError, match="max_draws"):
        generate_graded_puzzle(9, None, np.random.default_rng(0), None, max_draws=0)
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    assert np.array_equal(generate_graded_puzzle(6, 20, rng_a)[0], generate_puzzle(6, 20, rng_b)[0])


def test_candidate_mask_matches_definition() -> None:
    rng = np.random.default_rng(3)
    for size in SIZES:
        board = generate_puzzle(size, size * size // 2, rng)[0]
        mask = candidate_mask(board)
        box_rows, box_cols = BOX_SHAPES[size]
        for r in range(size):
            for c in range(size):
                r0, c0 = r - r % box_rows, c - c % box_cols
                seen = set(board[r].tolist()) | set(board[:, c].tolist())
                seen |= set(board[r0 : r0 + box_rows, c0 : c0 + box_cols].ravel().tolist())
                expected = (
                    set() if board[r, c] else {d for d in range(1, size + 1) if d not in seen}
                )
                assert set((np.flatnonzero(mask[r, c]) + 1).tolist()) == expected


def test_describe_contradiction_names_the_blocked_place() -> None:
    # (0, 3) sees 1, 2 in its row, 3 in its box and 4 in its column.
    assert "cell (row 0, col 3)" in describe_contradiction(board_of("12....3....4...."))
    # Digit 1 has no place in row 0 (its box holds a 1), though both blanks there can take a 2.
    text = "..341..........."
    assert "digit 1 has no place left in row 0" in describe_contradiction(board_of(text))


# ---------------------------------------------------------------- puzzle strings


def test_parse_valid_puzzle() -> None:
    parsed = parse_puzzle(HARD_PUZZLE)
    assert parsed.unique
    assert parsed.board.shape == (9, 9)
    assert to_text(parsed.board) == HARD_PUZZLE
    assert is_valid_solution(parsed.solution)
    spaced = "\n".join(HARD_PUZZLE[i : i + 9] for i in range(0, 81, 9)).replace(".", "0")
    assert np.array_equal(parse_puzzle(spaced).board, parsed.board)


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("1234", r"16, 36 or 81 cells .* got 4"),
        (HARD_PUZZLE + ".", r"got 82"),
        ("12....x.........", r"bad character 'x' at cell \(row 1, col 2\)"),
        ("12.............5", r"bad character '5' at cell \(row 3, col 3\)"),
        ("1..1............", r"digit 1 appears twice in row 0"),
        ("2.......2.......", r"digit 2 appears twice in column 0"),
        ("3....3..........", r"digit 3 appears twice in box \(0, 0\)"),
        ("12....3....4....", r"no solution"),
        ("................", r"more than one solution.* cell \(row \d, col \d\)"),
        ("1234341221434321", r"no blank"),
    ],
)
def test_bad_puzzles_raise_naming_the_place(text: str, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        parse_puzzle(text)


def test_unsolvable_puzzle_message_names_a_cell_or_unit() -> None:
    with pytest.raises(ValueError, match=r"no solution: .*(row \d, col \d|in (row|column|box))"):
        parse_puzzle("12....3....4....")


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), cell=st.integers(0, 80), char=st.sampled_from("xA-*"))
def test_bad_character_anywhere_is_named(seed: int, cell: int, char: str) -> None:
    puzzle, _ = generate_puzzle(9, 40, np.random.default_rng(seed))
    text = to_text(puzzle)
    text = text[:cell] + char + text[cell + 1 :]
    row, col = divmod(cell, 9)
    with pytest.raises(ValueError, match=rf"cell \(row {row}, col {col}\)"):
        parse_puzzle(text)


@settings(max_examples=30, deadline=None)
@given(size=st.sampled_from(SIZES), seed=st.integers(0, 2**32 - 1))
def test_repeated_digit_in_a_row_is_named(size: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    puzzle, _ = generate_puzzle(size, size * size // 2, rng)
    rows_with_both = [r for r in range(size) if (puzzle[r] == 0).any() and (puzzle[r] != 0).any()]
    row = rows_with_both[int(rng.integers(len(rows_with_both)))]
    clue_col = int(np.flatnonzero(puzzle[row])[0])
    blank_col = int(np.flatnonzero(puzzle[row] == 0)[0])
    puzzle[row, blank_col] = puzzle[row, clue_col]
    with pytest.raises(ValueError, match=rf"appears twice in row {row}\b"):
        parse_puzzle(to_text(puzzle))


def test_multiple_solutions_allowed_on_request() -> None:
    text = "12..34.........."
    with pytest.raises(ValueError, match="allow_multiple"):
        parse_puzzle(text)
    parsed = parse_puzzle(text, allow_multiple=True)
    assert not parsed.unique
    assert is_valid_solution(parsed.solution)


# ---------------------------------------------------------------- the environment


def play_oracle(env: gym.Env, seed: int) -> tuple[float, dict, int]:
    _, info = env.reset(seed=seed)
    total, steps = 0.0, 0
    while True:
        action = env.unwrapped.oracle_action()
        assert env.unwrapped.action_masks()[action]
        _, reward, terminated, truncated, info = env.step(action)
        total += float(reward)
        steps += 1
        assert info["placement"] == "correct"
        if terminated or truncated:
            return total, info, steps


def test_registrations() -> None:
    ids = {spec["id"] for spec in REGISTRATIONS}
    assert ids == {
        "FPR/Sudoku-v0",
        "FPR/Sudoku-4x4-v0",
        "FPR/Sudoku-6x6-v0",
        "FPR/Sudoku-9x9-v0",
        "FPR/Sudoku-9x9-Hard-v0",
        "FPR/Sudoku-9x9-Singles-v0",
        "FPR/Sudoku-9x9-Search-v0",
    }
    assert ids <= set(envs.registered_ids())
    for spec in REGISTRATIONS:
        size = spec["kwargs"]["size"]
        assert spec["max_episode_steps"] == 2 * size * size
        assert gym.spec(spec["id"]).max_episode_steps == 2 * size * size


@pytest.mark.parametrize(
    "env_id", ["FPR/Sudoku-4x4-v0", "FPR/Sudoku-6x6-v0", "FPR/Sudoku-v0", "FPR/Sudoku-9x9-Hard-v0"]
)
def test_oracle_solves_every_size(env_id: str) -> None:
    env = gym.make(env_id)
    for seed in range(2):
        _, reset_info = env.reset(seed=seed)
        blanks = reset_info["blanks_left"]
        total, info, steps = play_oracle(env, seed)
        assert info["is_success"] and info["blanks_left"] == 0 and info["difficulty"] == 0.0
        assert steps == blanks
        assert total == pytest.approx(0.1 * blanks + 1.0)
        assert np.array_equal(env.unwrapped.board, env.unwrapped.solution)


def test_spaces_and_observation() -> None:
    env = gym.make("FPR/Sudoku-6x6-v0")
    obs, info = env.reset(seed=0)
    assert env.action_space == gym.spaces.Discrete(216)
    assert obs["board"].shape == obs["given"].shape == (36,)  # 1-D, row-major
    assert obs["board"].dtype == obs["given"].dtype == np.uint8
    assert env.observation_space.contains(obs)
    assert np.array_equal(grid(obs, "given"), (grid(obs) != 0).astype(np.uint8))
    assert info["blanks_left"] == int((grid(obs) == 0).sum())
    assert 12 <= info["blanks_left"] <= 22


def test_task_description() -> None:
    env = gym.make("FPR/Sudoku-6x6-v0")
    description = env.unwrapped.task_description
    assert json.loads(json.dumps(description)) == description
    assert description == {
        "family": "sudoku",
        "grid_shape": [6, 6],
        "grid_keys": {"board": 7, "given": 2},
        "valid_key": None,
        "action_layout": "symbol_per_cell",
        "n_symbols": 6,
        "symbol_offset": 1,
        "global_actions": [],
        "box_shape": [2, 3],
    }


def test_action_layout_writes_the_named_digit() -> None:
    env = gym.make("FPR/Sudoku-9x9-v0")
    env.reset(seed=4)
    solution = env.unwrapped.solution
    board = env.unwrapped.board
    row, col = (int(x) for x in np.argwhere(board == 0)[-1])
    digit = int(solution[row, col])
    obs, reward, *_ = env.step((row * 9 + col) * 9 + digit - 1)
    assert grid(obs)[row, col] == digit and grid(obs, "given")[row, col] == 0
    assert reward == pytest.approx(0.1)


def test_masks_without_and_with_conflicts() -> None:
    for mask_conflicts in (False, True):
        env = gym.make("FPR/Sudoku-9x9-v0", mask_conflicts=mask_conflicts)
        obs, _ = env.reset(seed=8)
        masks = env.unwrapped.action_masks()
        assert masks.dtype == bool and masks.shape == (729,)
        per_cell = masks.reshape(9, 9, 9)
        empty = grid(obs) == 0
        assert not per_cell[~empty].any()
        if mask_conflicts:
            assert np.array_equal(per_cell, candidate_mask(grid(obs)))
            solution = env.unwrapped.solution
            rows, cols = np.nonzero(empty)
            assert per_cell[rows, cols, solution[rows, cols] - 1].all()
            assert per_cell[empty].sum() < empty.sum() * 9
        else:
            assert per_cell[empty].all()


def test_wrong_and_filled_moves() -> None:
    env = gym.make("FPR/Sudoku-4x4-v0")
    obs, _ = env.reset(seed=1)
    solution = env.unwrapped.solution
    row, col = (int(x) for x in np.argwhere(grid(obs) == 0)[0])
    wrong = int(solution[row, col]) % 4 + 1
    after, reward, terminated, truncated, info = env.step((row * 4 + col) * 4 + wrong - 1)
    assert reward == pytest.approx(-0.1) and not terminated and not truncated
    assert info["placement"] == "wrong" and not info["is_success"]
    assert np.array_equal(grid(after), grid(obs))  # a wrong digit is not written
    r, c = (int(x) for x in np.argwhere(grid(obs, "given") == 1)[0])
    after, reward, terminated, _, info = env.step((r * 4 + c) * 4 + 0)
    assert reward == pytest.approx(-0.1) and info["placement"] == "filled" and not terminated
    assert np.array_equal(grid(after), grid(obs))


def test_wrong_move_can_end_the_episode_and_rewards_are_configurable() -> None:
    env = gym.make(
        "FPR/Sudoku-4x4-v0",
        wrong_ends_episode=True,
        correct_reward=0.5,
        wrong_reward=-2.0,
        solve_reward=10.0,
    )
    obs, _ = env.reset(seed=2)
    solution = env.unwrapped.solution
    row, col = (int(x) for x in np.argwhere(grid(obs) == 0)[0])
    right = int(solution[row, col])
    _, reward, terminated, _, _ = env.step((row * 4 + col) * 4 + right - 1)
    assert reward == pytest.approx(0.5) and not terminated
    row, col = (int(x) for x in np.argwhere(env.unwrapped.board == 0)[0])
    wrong = int(solution[row, col]) % 4 + 1
    _, reward, terminated, _, info = env.step((row * 4 + col) * 4 + wrong - 1)
    assert reward == pytest.approx(-2.0) and terminated and not info["is_success"]
    total, info, steps = play_oracle(env, seed=3)
    assert info["is_success"]
    assert total == pytest.approx(0.5 * steps + 10.0)


def test_difficulty_info_is_situational() -> None:
    env = gym.make("FPR/Sudoku-9x9-v0", puzzle=HARD_PUZZLE)
    _, info = env.reset(seed=0)
    assert info["grade"] == info["puzzle_grade"] == "search" and info["puzzle_search_nodes"] > 0
    assert not info["forced_move"] and info["propagation_rounds"] == 0
    assert info["propagation_stuck"] and info["puzzle_propagation_rounds"] == 0
    assert info["search_nodes"] == info["puzzle_search_nodes"]
    assert info["difficulty"] == pytest.approx(info["blanks_left"] + info["search_nodes"])
    difficulties = [info["difficulty"]]
    terminated = False
    while not terminated:
        _, _, terminated, _, info = env.step(env.unwrapped.oracle_action())
        assert info["difficulty"] == pytest.approx(info["blanks_left"] + info["search_nodes"])
        assert info["puzzle_grade"] == "search"
        assert (info["grade"] == "singles") == (info["search_nodes"] == 0)
        assert info["propagation_stuck"] == (info["grade"] == "search")
        difficulties.append(info["difficulty"])
    assert difficulties[-1] == 0.0
    # One placement in the most constrained cell removes many of the solver's guesses: the
    # difficulty falls by more than the one blank it fills.
    assert difficulties[0] - difficulties[1] > 1
    # Near the end only singles remain: no search and a forced move.
    env.reset(seed=0)
    for _ in range(50):
        _, _, _, _, info = env.step(env.unwrapped.oracle_action())
    assert info["search_nodes"] == 0 and info["forced_move"]


def test_user_puzzle_sets_the_size_and_plays_every_episode() -> None:
    text = "1.....2..3.....4"
    parsed = parse_puzzle(text)
    env = gym.make("FPR/Sudoku-v0", puzzle=text)
    assert env.unwrapped.size == 4 and env.action_space.n == 64
    for seed in (0, 1):
        obs, _ = env.reset(seed=seed)
        assert np.array_equal(grid(obs), parsed.board)
    _, info, steps = play_oracle(env, seed=0)
    assert info["is_success"] and steps == 12


@pytest.mark.parametrize("text", ["1..1............", "1234", "................"])
def test_gym_make_rejects_bad_puzzles(text: str) -> None:
    with pytest.raises(ValueError):
        gym.make("FPR/Sudoku-v0", puzzle=text)


def test_puzzle_given_in_reset_options() -> None:
    env = gym.make("FPR/Sudoku-9x9-v0")
    obs, info = env.reset(seed=0, options={"puzzle": HARD_PUZZLE})
    assert to_text(grid(obs)) == HARD_PUZZLE and info["grade"] == "search"
    with pytest.raises(ValueError, match="9x9"):
        env.reset(options={"puzzle": "1.....2..3.....4"})


def test_multiple_solution_puzzle_accepts_any_consistent_digit() -> None:
    text = "12..34.........."
    env = gym.make("FPR/Sudoku-4x4-v0", puzzle=text, allow_multiple=True)
    obs, _ = env.reset(seed=0)
    first = env.unwrapped.solution
    others = [s for s in find_solutions(grid(obs), limit=10) if not np.array_equal(s, first)]
    row, col = (int(x) for x in np.argwhere(others[0] != first)[0])
    digit = int(others[0][row, col])
    _, reward, _, _, info = env.step((row * 4 + col) * 4 + digit - 1)
    assert info["placement"] == "correct" and reward == pytest.approx(0.1)
    assert env.unwrapped.solution[row, col] == digit
    terminated = False
    while not terminated:
        _, _, terminated, _, info = env.step(env.unwrapped.oracle_action())
    assert info["is_success"]
    assert is_valid_solution(env.unwrapped.board)


def test_invalid_kwargs_and_actions_raise() -> None:
    with pytest.raises(ValueError, match="size"):
        SudokuEnv(size=5)
    with pytest.raises(ValueError, match="n_blanks"):
        SudokuEnv(size=4, n_blanks=17)
    with pytest.raises(ValueError, match="render_mode"):
        SudokuEnv(render_mode="human")
    env = SudokuEnv(size=4, n_blanks=5)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.step(64)


def test_oracle_raises_on_a_full_board() -> None:
    env = gym.make("FPR/Sudoku-4x4-v0")
    play_oracle(env, seed=0)
    with pytest.raises(RuntimeError):
        env.unwrapped.oracle_action()


def test_oracle_picks_the_most_constrained_cell() -> None:
    env = gym.make("FPR/Sudoku-9x9-v0")
    obs, _ = env.reset(seed=5)
    action = env.unwrapped.oracle_action()
    cell, digit_index = divmod(action, 9)
    counts = candidate_mask(grid(obs)).sum(axis=-1)
    counts[grid(obs) != 0] = 99
    assert counts.ravel()[cell] == counts.min()
    assert digit_index + 1 == env.unwrapped.solution.ravel()[cell]


def trajectory(env: gym.Env, seed: int, n_steps: int) -> list:
    obs, info = env.reset(seed=seed)
    record = [(obs["board"].tobytes(), sorted(info.items()))]
    action_rng = np.random.default_rng(99)
    for _ in range(n_steps):
        action = int(action_rng.choice(np.flatnonzero(env.unwrapped.action_masks())))
        obs, reward, terminated, truncated, info = env.step(action)
        record.append((obs["board"].tobytes(), reward, terminated, truncated, sorted(info.items())))
        if terminated or truncated:
            obs, info = env.reset()
            record.append((obs["board"].tobytes(), sorted(info.items())))
    return record


def test_seeded_determinism() -> None:
    first = trajectory(gym.make("FPR/Sudoku-4x4-v0"), seed=42, n_steps=60)
    second = trajectory(gym.make("FPR/Sudoku-4x4-v0"), seed=42, n_steps=60)
    other = trajectory(gym.make("FPR/Sudoku-4x4-v0"), seed=43, n_steps=60)
    assert first == second
    assert first != other


@pytest.mark.parametrize("grade", ["singles", "search"])
def test_graded_ids_draw_minimal_puzzles_of_their_grade(grade: str) -> None:
    env = gym.make(f"FPR/Sudoku-9x9-{grade.capitalize()}-v0")
    assert env.unwrapped.config.grade == grade and env.unwrapped.config.n_blanks is None
    for seed in range(3):
        _, info = env.reset(seed=seed)
        assert info["grade"] == info["puzzle_grade"] == grade
        assert info["propagation_stuck"] == (grade == "search")
        assert info["propagation_rounds"] == info["puzzle_propagation_rounds"]
        assert (info["puzzle_search_nodes"] > 0) == (grade == "search")
        assert info["blanks_left"] > 45
    first = trajectory(gym.make(f"FPR/Sudoku-9x9-{grade.capitalize()}-v0"), seed=7, n_steps=5)
    assert first == trajectory(env, seed=7, n_steps=5)


def test_grade_kwarg_is_checked_and_ignored_for_a_given_puzzle() -> None:
    with pytest.raises(ValueError, match="grade"):
        gym.make("FPR/Sudoku-v0", grade="hard")
    env = gym.make("FPR/Sudoku-v0", puzzle=HARD_PUZZLE, grade="singles")
    _, info = env.reset(seed=0)
    assert info["grade"] == "search"
    _, info = gym.make("FPR/Sudoku-6x6-v0", n_blanks=None, grade="search").reset(seed=0)
    assert info["grade"] == "search"


def test_renders() -> None:
    env = gym.make("FPR/Sudoku-6x6-v0", render_mode="rgb_array")
    obs, _ = env.reset(seed=0)
    image = env.render()
    assert image.dtype == np.uint8 and image.shape == (193, 193, 3)
    env.step(env.unwrapped.oracle_action())
    assert not np.array_equal(env.render(), image)
    text_env = gym.make("FPR/Sudoku-6x6-v0", render_mode="ansi")
    obs, _ = text_env.reset(seed=0)
    text = text_env.render()
    lines = text.splitlines()
    assert len(lines) == 6 + 2  # six rows, two box separators
    digits = [ch for line in lines if "-" not in line for ch in line if ch not in " |"]
    assert "".join(digits) == to_text(grid(obs))
    assert render_ansi(grid(obs), (2, 3)) == text
    silent_env = SudokuEnv(size=4, n_blanks=4)
    silent_env.reset(seed=0)
    assert silent_env.render() is None


def test_gymnasium_checker_without_warnings() -> None:
    for render_mode in ("rgb_array", "ansi"):
        env = gym.make("FPR/Sudoku-4x4-v0", render_mode=render_mode)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            gymnasium_check_env(env.unwrapped)


def test_sb3_checker_without_warnings() -> None:
    env = gym.make("FPR/Sudoku-4x4-v0")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sb3_check_env(env)


def test_pickle_round_trip_keeps_the_state() -> None:
    env = gym.make("FPR/Sudoku-6x6-v0")
    env.reset(seed=3)
    env.step(env.unwrapped.oracle_action())
    copy = pickle.loads(pickle.dumps(env))
    assert np.array_equal(copy.unwrapped.board, env.unwrapped.board)
    action = env.unwrapped.oracle_action()
    assert copy.unwrapped.oracle_action() == action
    assert copy.step(action)[1] == env.step(action)[1]
    assert np.array_equal(copy.reset(seed=9)[0]["board"], env.reset(seed=9)[0]["board"])


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_gymnasium_vector_envs(mode: str) -> None:
    vec = gym.make_vec("FPR/Sudoku-4x4-v0", num_envs=2, vectorization_mode=mode)
    try:
        obs, info = vec.reset(seed=0)
        assert obs["board"].shape == (2, 16)
        for _ in range(5):
            obs, reward, _, _, info = vec.step(vec.action_space.sample())
        assert reward.shape == (2,) and "difficulty" in info
    finally:
        vec.close()


@pytest.mark.parametrize("vec_cls", [DummyVecEnv, SubprocVecEnv])
def test_sb3_vector_envs(vec_cls) -> None:
    makers = [lambda: gym.make("FPR/Sudoku-4x4-v0") for _ in range(2)]
    vec = vec_cls(makers) if vec_cls is DummyVecEnv else vec_cls(makers, start_method="fork")
    try:
        vec.seed(0)
        obs = vec.reset()
        assert obs["board"].shape == (2, 16)
        masks = np.stack(vec.env_method("action_masks"))
        actions = np.array([int(np.flatnonzero(m)[0]) for m in masks])
        obs, rewards, _, infos = vec.step(actions)
        assert rewards.shape == (2,) and "difficulty" in infos[0]
    finally:
        vec.close()


def test_maskable_ppo_trains_a_few_steps() -> None:
    torch = pytest.importorskip("torch")
    from sb3_contrib import MaskablePPO

    torch.set_num_threads(1)
    env = gym.make("FPR/Sudoku-4x4-v0", mask_conflicts=True)
    model = MaskablePPO("MultiInputPolicy", env, n_steps=32, batch_size=16, n_epochs=1, seed=0)
    model.learn(total_timesteps=64)
    obs, _ = env.reset(seed=0)
    masks = env.unwrapped.action_masks()
    action, _ = model.predict(obs, action_masks=masks, deterministic=True)
    assert masks[int(action)]
