"""bench.common helpers shared by the benches."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

import pytest

from bench.common import given_options
from fpr_agents.arguments import parse_args


@dataclass
class _Args:
    rounds: int | None = None
    side: int | None = None
    env: str | None = None
    sizes: tuple[int, ...] | None = None


def test_given_options_keeps_only_the_options_given() -> None:
    args = parse_args(_Args, ["--rounds", "3", "--env", "FPR/Maze-9x9-v0"], "")
    assert given_options(args, ("rounds", "side", "env")) == {
        "rounds": 3,
        "env": "FPR/Maze-9x9-v0",
    }
    assert given_options(args, ()) == {}


def test_a_list_option_parses_by_type_and_a_bad_item_exits_2() -> None:
    args = parse_args(_Args, ["--sizes", "9, 15"], "")
    assert given_options(args, ("sizes", "side")) == {"sizes": (9, 15)}
    assert given_options(parse_args(_Args, ["--sizes", ""], ""), ("sizes",)) == {"sizes": ()}
    with pytest.raises(SystemExit) as refused, contextlib.redirect_stderr(io.StringIO()):
        parse_args(_Args, ["--sizes", "9,x"], "")
    assert refused.value.code == 2
