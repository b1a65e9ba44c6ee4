"""bench.common helpers shared by the benches."""

from __future__ import annotations

import argparse

from bench.common import given_options


def test_given_options_keeps_only_the_options_given() -> None:
    args = argparse.Namespace(rounds=3, side=None, env="FPR/Maze-9x9-v0")
    assert given_options(args, ("rounds", "side", "env")) == {
        "rounds": 3,
        "env": "FPR/Maze-9x9-v0",
    }
    assert given_options(args, ()) == {}
