"""One-shot Sudoku scoring: the whole board read from a planner's fixed point at once.

The planner sees a puzzle (blanks and clues, as ``FPR/Sudoku-9x9-v0`` shows it at reset), solves
to its halting rule once, and each blank cell's most likely digit is read from the fixed point;
a puzzle is exact when every blank is right. Puzzle sets: the env's generator at 30-45 blanks,
minimal puzzles (``FPR/Sudoku-9x9-Hard-v0``), minimal puzzles that singles propagation solves
(``FPR/Sudoku-9x9-Singles-v0``) and minimal puzzles that need search
(``FPR/Sudoku-9x9-Search-v0``), plus famous hard puzzles. Beside exactness: the iterations each
puzzle took and their Spearman correlation with the puzzle's ``propagation_rounds`` (parallel
rounds of naked and hidden singles; for a search-grade puzzle, the rounds made before singles
get stuck) and with its blank count.

    python -m bench.sudoku_oneshot --checkpoint fpr_agents/checkpoints/sudoku9.safetensors
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from bench.common import (
    DEVICE_CHOICES,
    BenchReport,
    RatioRow,
    Table,
    format_table,
    machine_description,
    resolve_bench_device,
)
from envs.sudoku_solver import (
    find_solutions,
    generate_graded_puzzle,
    propagation_rounds,
    search_nodes,
)
from fpr_agents.arguments import parse_args
from fpr_agents.checkpoints import shipped_checkpoint
from fpr_agents.evaluation.metrics import spearman
from fpr_agents.policy.planner import PlannerNetwork
from fpr_agents.reasoner.config import HALTING_MODES
from train.common import load_planner

__all__ = [
    "FAMOUS_PUZZLES",
    "GENERATED_SETS",
    "PuzzleSet",
    "SetScore",
    "famous_set",
    "format_text",
    "generated_set",
    "main",
    "score_set",
]

FAMOUS_PUZZLES: dict[str, str] = {
    # Arto Inkala's "world's hardest Sudoku" (2012).
    "Inkala 2012": (
        "8..........36......7..9.2...5...7.......457.....1...3...1....68..85...1..9....4.."
    ),
    # Easter Monster (2007).
    "Easter Monster": (
        "1.......2.9.4...5...6...7...5.9.3.......7.......85..4.7.....6...3...9.8...2.....1"
    ),
    # Peter Norvig's hard example from "Solving Every Sudoku Puzzle" (the first of its top95
    # set, 17 clues). His "hard1" (".....6....59.....82....8....45........3........6..3.54...
    # 325..6..................") is left out: the project's solver finds more than one solution
    # (the second after 23 s of search).
    "Norvig top95 #1": (
        "4.....8.5.3..........7......2.....6.....8.4......1.......6.3.7.5..2.....1.4......"
    ),
    # A 17-clue puzzle built against brute-force solvers (Wikipedia's Sudoku algorithms page).
    "17 clues, anti brute force": (
        "..............3.85..1.2.......5.7.....4...1...9.......5......73..2.1........4...9"
    ),
}
"""Famous puzzles, 81 characters each, '.' for a blank; each has a unique solution (the bench
checks, and drops any that does not)."""

GENERATED_SETS: dict[str, tuple[int | tuple[int, int] | None, str | None]] = {
    "30-45 blanks": ((30, 45), None),
    "minimal": (None, None),
    "minimal, singles-grade": (None, "singles"),
    "minimal, search-grade": (None, "search"),
}
"""Set name -> (n_blanks, grade) of :func:`envs.sudoku_solver.generate_graded_puzzle`."""


@dataclass
class PuzzleSet:
    """Puzzles to score, with what the env's infos would say of them.

    :param name: the set's name.
    :param boards: uint8 (N, 9, 9), 0 for a blank.
    :param solutions: uint8 (N, 9, 9).
    :param labels: one name per puzzle (famous puzzles), or empty.
    :param rounds: int (N,): propagation rounds (made before getting stuck, if stuck).
    :param stuck: bool (N,): singles alone do not solve the puzzle (search-grade).
    :param nodes: int (N,): the solver's search nodes.
    """

    name: str
    boards: np.ndarray
    solutions: np.ndarray
    labels: list[str]
    rounds: np.ndarray
    stuck: np.ndarray
    nodes: np.ndarray

    @classmethod
    def of(
        cls, name: str, pairs: Sequence[tuple[np.ndarray, np.ndarray]], labels: list[str]
    ) -> PuzzleSet:
        """Build a set from (puzzle, solution) pairs, grading each puzzle.

        :param name: the set's name.
        :param pairs: (puzzle, solution) uint8 arrays (9, 9).
        :param labels: one name per puzzle, or empty.
        :return: the set.
        """
        propagations = [propagation_rounds(board) for board, _ in pairs]
        empty = np.zeros((0, 9, 9), dtype=np.uint8)
        return cls(
            name=name,
            boards=np.stack([board for board, _ in pairs]).astype(np.uint8) if pairs else empty,
            solutions=np.stack([s for _, s in pairs]).astype(np.uint8) if pairs else empty,
            labels=labels,
            rounds=np.array([p.rounds for p in propagations], dtype=int),
            stuck=np.array([not p.solved for p in propagations], dtype=bool),
            nodes=np.array([search_nodes(board) for board, _ in pairs], dtype=int),
        )

    @property
    def blanks(self) -> np.ndarray:
        """Blanks per puzzle, int (N,)."""
        return (self.boards == 0).sum(axis=(1, 2))


def generated_set(
    name: str,
    n_blanks: int | tuple[int, int] | None,
    grade: str | None,
    count: int,
    rng: np.random.Generator,
) -> PuzzleSet:
    """Puzzles from the env's generator.

    :param name: the set's name.
    :param n_blanks: blanks, as the env's ``n_blanks``.
    :param grade: "singles", "search" or None, as the env's ``grade``.
    :param count: puzzles to draw.
    :param rng: the source of the puzzles.
    :return: the set.
    """
    pairs = [generate_graded_puzzle(9, n_blanks, rng, grade) for _ in range(count)]
    return PuzzleSet.of(name, pairs, [])


def _board_of(text: str) -> np.ndarray:
    return np.array([0 if c in ".0" else int(c) for c in text], dtype=np.uint8).reshape(9, 9)


def famous_set(puzzles: dict[str, str]) -> tuple[PuzzleSet, list[str]]:
    """The famous puzzles that have a unique solution.

    :param puzzles: name -> 81-character string.
    :return: the set, and one note per puzzle dropped (why).
    """
    pairs, labels, dropped = [], [], []
    for label, text in puzzles.items():
        board = _board_of(text)
        solutions = find_solutions(board, limit=2)
        if len(solutions) != 1:
            why = "no solution" if not solutions else "more than one solution"
            dropped.append(f"{label} dropped: {why} (the project's solver)")
            continue
        pairs.append((board, solutions[0]))
        labels.append(label)
    return PuzzleSet.of("famous", pairs, labels), dropped


@dataclass
class SetScore:
    """One-shot results of a set, per puzzle.

    :param exact: bool (N,): every blank read right.
    :param cell_accuracy: float (N,): share of the blanks read right.
    :param iterations: int (N,): iterations the solve took.
    :param capped: bool (N,): the solve ran to the iteration cap with no other reason to halt.
    :param seconds: wall time of the solves.
    """

    exact: np.ndarray
    cell_accuracy: np.ndarray
    iterations: np.ndarray
    capped: np.ndarray
    seconds: float


def score_set(
    planner: PlannerNetwork, puzzles: PuzzleSet, device: torch.device, batch_size: int = 128
) -> SetScore:
    """Read every puzzle of a set from the planner's fixed point.

    :param planner: a Sudoku 9x9 planner network (symbol-per-cell layout).
    :param puzzles: the set.
    :param device: where the planner runs.
    :param batch_size: puzzles per solve (a result never depends on its batch-mates).
    :return: the per-puzzle results.
    """
    exact, accuracy, iterations, capped = [np.zeros(0)], [np.zeros(0)], [np.zeros(0)], [np.zeros(0)]
    start = time.perf_counter()
    for low in range(0, len(puzzles.boards), batch_size):
        head = planner.cell_head  # (an empty set needs no planner)
        if head is None:
            family = planner.task.get("family")
            raise ValueError(
                f"score_set needs a Sudoku planner (a symbol per cell), got {family!r}"
            )
        boards = puzzles.boards[low : low + batch_size]
        solutions = torch.from_numpy(puzzles.solutions[low : low + batch_size]).long()
        flat = torch.from_numpy(boards.reshape(len(boards), -1))
        obs = {"board": flat.to(device), "given": (flat > 0).to(torch.uint8).to(device)}
        with torch.no_grad():
            out = planner(obs)
            digits = head.forward_cells(out.z).argmax(dim=-1).cpu() + 1
        blank = torch.from_numpy(boards == 0)  # (B, 9, 9)
        right = (digits == solutions) & blank
        exact.append((right | ~blank).flatten(1).all(dim=1).numpy())
        accuracy.append((right.flatten(1).sum(1) / blank.flatten(1).sum(1)).numpy())
        iterations.append(out.iterations.cpu().numpy())
        capped.append(out.capped.cpu().numpy())
    return SetScore(
        exact=np.concatenate(exact).astype(bool),
        cell_accuracy=np.concatenate(accuracy).astype(float),
        iterations=np.concatenate(iterations).astype(int),
        capped=np.concatenate(capped).astype(bool),
        seconds=time.perf_counter() - start,
    )


def _rho(x: np.ndarray, y: np.ndarray) -> str:
    value = spearman(x, y)
    return "-" if np.isnan(value) else f"{value:+.2f}"


SET_HEADER = [
    "set",
    "puzzles",
    "blanks",
    "rounds",
    "search-grade",
    "exact",
    "cell acc.",
    "iters mean",
    "median",
    "max",
    "capped",
    "rho(iters, rounds)",
    "rho(iters, blanks)",
]


def _set_row(name: str, puzzles: PuzzleSet, score: SetScore) -> list[str]:
    return [
        name,
        str(len(puzzles.boards)),
        f"{puzzles.blanks.mean():.1f}",
        f"{puzzles.rounds.mean():.1f}",
        f"{puzzles.stuck.mean():.0%}",
        f"{score.exact.mean():.1%}",
        f"{score.cell_accuracy.mean():.1%}",
        f"{score.iterations.mean():.1f}",
        f"{np.median(score.iterations):.0f}",
        str(int(score.iterations.max())),
        f"{score.capped.mean():.0%}",
        _rho(score.iterations, puzzles.rounds),
        _rho(score.iterations, puzzles.blanks),
    ]


def _concat(sets: Sequence[PuzzleSet], scores: Sequence[SetScore]) -> tuple[PuzzleSet, SetScore]:
    """Pool several sets and their scores into one."""
    puzzles = PuzzleSet(
        name="all generated",
        boards=np.concatenate([s.boards for s in sets]),
        solutions=np.concatenate([s.solutions for s in sets]),
        labels=[],
        rounds=np.concatenate([s.rounds for s in sets]),
        stuck=np.concatenate([s.stuck for s in sets]),
        nodes=np.concatenate([s.nodes for s in sets]),
    )
    score = SetScore(
        exact=np.concatenate([s.exact for s in scores]),
        cell_accuracy=np.concatenate([s.cell_accuracy for s in scores]),
        iterations=np.concatenate([s.iterations for s in scores]),
        capped=np.concatenate([s.capped for s in scores]),
        seconds=sum(s.seconds for s in scores),
    )
    return puzzles, score


def _share_ratio(label: str, baseline: str, ours: float, theirs: float, percent: bool) -> RatioRow:
    shown = (lambda v: f"{v:.1%}") if percent else (lambda v: f"{v:.1f}")
    value = ours / theirs if theirs else float("nan")
    return RatioRow(label, baseline, shown(ours), shown(theirs), value, f"{value:.2f}x")


@dataclass
class SudokuOneshotArgs:
    """Arguments of ``python -m bench.sudoku_oneshot``: every field is a ``--flag``."""

    checkpoint: str | None = field(
        default=None, metadata={"help": "9x9 Sudoku planner (none: the shipped one)"}
    )
    puzzles: int = field(default=100, metadata={"help": "generated puzzles per set"})
    seed: int = field(default=40_000, metadata={"help": "seed of the generated puzzles"})
    halting: str | None = field(
        default=None,
        metadata={
            "help": "halting rule of the solves (none: the checkpoint's)",
            "choices": HALTING_MODES,
        },
    )
    max_iters: int | None = field(
        default=None, metadata={"help": "iteration cap override (none: the checkpoint's)"}
    )
    batch_size: int = field(default=128, metadata={"help": "puzzles per solve"})
    device: str = field(default="cpu", metadata={"help": "where to run", "choices": DEVICE_CHOICES})
    threads: int = field(default=1, metadata={"help": "torch CPU threads"})
    quick: bool = field(default=False, metadata={"help": "4 puzzles per set (for tests)"})


def main(argv: Sequence[str] | None = None) -> BenchReport:
    """Score the planner one-shot on every set and print the report.

    :param argv: command-line arguments.
    :return: the report (``values`` holds every number by key).
    """
    args = parse_args(SudokuOneshotArgs, argv, (__doc__ or "").splitlines()[0])
    torch.set_num_threads(args.threads)
    device = resolve_bench_device(args.device)
    checkpoint = args.checkpoint or shipped_checkpoint("sudoku9")
    planner = load_planner(checkpoint, device)
    task = planner.task
    if list(task["grid_shape"]) != [9, 9] or task["action_layout"] != "symbol_per_cell":
        raise ValueError(f"{checkpoint} is not a 9x9 Sudoku planner")
    solver = {"halting": args.halting, "max_iters": args.max_iters}
    planner.set_solver(**{key: value for key, value in solver.items() if value is not None})
    count = 4 if args.quick else args.puzzles
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    sets = [
        generated_set(name, n_blanks, grade, count, rng)
        for name, (n_blanks, grade) in GENERATED_SETS.items()
    ]
    famous, dropped = famous_set(FAMOUS_PUZZLES)
    generation = time.perf_counter() - start
    scores = [score_set(planner, s, device, args.batch_size) for s in sets]
    famous_score = score_set(planner, famous, device, args.batch_size)
    config = planner.config
    report = BenchReport(
        name="sudoku_oneshot",
        machine=machine_description(device),
        method=(
            "one solve per puzzle from the clues alone; every blank's most likely digit read at "
            f"the fixed point; halting {config.halting!r}, at most {config.max_iters} iterations; "
            f"puzzles from seed {args.seed}"
        ),
        notes=[
            f"planner {checkpoint}",
            "rounds: parallel rounds of naked and hidden singles (envs.sudoku_solver."
            "propagation_rounds); for a search-grade puzzle, the rounds made before singles "
            "get stuck",
            f"generation {generation:.1f} s, solves {sum(s.seconds for s in scores):.1f} s",
            *dropped,
        ],
    )
    pooled = _concat(sets, scores)
    rows = [_set_row(s.name, s, score) for s, score in zip(sets, scores, strict=True)]
    rows.append(_set_row(pooled[0].name, *pooled))
    report.tables.append(Table("One-shot reading per puzzle set", SET_HEADER, rows))
    famous_rows = [
        [
            label,
            str(int((famous.boards[i] > 0).sum())),
            str(int(famous.rounds[i])) + (" (stuck)" if famous.stuck[i] else ""),
            str(int(famous.nodes[i])),
            "yes" if famous_score.exact[i] else "no",
            f"{famous_score.cell_accuracy[i]:.1%}",
            str(int(famous_score.iterations[i])),
            "yes" if famous_score.capped[i] else "no",
        ]
        for i, label in enumerate(famous.labels)
    ]
    report.tables.append(
        Table(
            "Famous puzzles",
            ["puzzle", "clues", "rounds", "search nodes", "exact", "cell acc.", "iters", "capped"],
            famous_rows,
        )
    )
    for s, score in [*zip(sets, scores, strict=True), (pooled[0], pooled[1])]:
        key = s.name
        report.values[f"{key}/exact"] = float(score.exact.mean())
        report.values[f"{key}/cell_accuracy"] = float(score.cell_accuracy.mean())
        report.values[f"{key}/iterations"] = float(score.iterations.mean())
        report.values[f"{key}/spearman_rounds"] = spearman(score.iterations, s.rounds)
        report.values[f"{key}/spearman_blanks"] = spearman(score.iterations, s.blanks)
        report.values[f"{key}/search_share"] = float(s.stuck.mean())
    for i, label in enumerate(famous.labels):
        report.values[f"famous/{label}/exact"] = float(famous_score.exact[i])
        report.values[f"famous/{label}/iterations"] = float(famous_score.iterations[i])
    base = scores[0]
    for s, score in zip(sets[1:], scores[1:], strict=True):
        report.ratios.append(
            _share_ratio(
                f"exact, {s.name}",
                f"exact, {sets[0].name}",
                float(score.exact.mean()),
                float(base.exact.mean()),
                True,
            )
        )
        report.ratios.append(
            _share_ratio(
                f"iterations, {s.name}",
                f"iterations, {sets[0].name}",
                float(score.iterations.mean()),
                float(base.iterations.mean()),
                False,
            )
        )
    print(format_text(report))
    return report


def format_text(report: BenchReport) -> str:
    """The report as printed: machine, method and notes, the tables, then, last, the sets
    against the 30-45-blank set (no aims are set).

    :param report: a finished run.
    :return: the text.
    """
    parts = [f"Machine: {report.machine}", f"Method: {report.method}"]
    parts += [f"Note: {note}" for note in report.notes]
    for table in report.tables:
        parts += ["", f"{table.title}:", "", format_table(table.header, table.rows)]
    rows = [[r.label, r.baseline, r.ours, r.theirs, r.shown] for r in report.ratios]
    header = ["comparison", "baseline", "ours", "baseline value", "ratio"]
    parts += ["", "Against the 30-45-blank set:", "", format_table(header, rows)]
    return "\n".join(parts)


if __name__ == "__main__":
    main()
