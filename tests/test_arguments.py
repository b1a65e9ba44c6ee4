"""The one typed way to configure an entry point: nested groups with flat, unique flags, lists
and choices parsed by the type, recipes flat or grouped, stages, and errors that name the flag."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fpr_agents.arguments import (
    UserError,
    build,
    build_parser,
    flat_values,
    flatten_recipe,
    leaves,
    parse_args,
    recipe_stages,
)

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class _Optim:
    """Optimiser settings."""

    learning_rate: float = field(default=0.1, metadata={"help": "step size"})
    sizes: tuple[int, ...] = field(default=(3, 5), metadata={"help": "sides"})

    def __post_init__(self) -> None:
        if not self.learning_rate > 0:
            raise ValueError(f"--learning-rate must be > 0, got {self.learning_rate}")


@dataclass
class _Loss:
    """Loss settings."""

    objective: str = field(default="set", metadata={"help": "x", "choices": ("set", "wave")})
    names: tuple[str, ...] = field(default=(), metadata={"help": "y", "choices": ("a", "b")})
    weight: float | None = field(default=None, metadata={"help": "w"})
    on: bool = field(default=False, metadata={"help": "switch"})


@dataclass
class _Args:
    config_section = "job"

    env: str = field(default="E", metadata={"help": "env"})
    optim: _Optim = field(default_factory=_Optim)
    loss: _Loss = field(default_factory=_Loss)


def test_nested_fields_are_flat_flags_shown_by_group() -> None:
    assert [leaf.flag for leaf in leaves(_Args)] == [
        "--env", "--learning-rate", "--sizes", "--objective", "--names", "--weight", "--on",
    ]  # fmt: skip
    help_text = build_parser(_Args, "d").format_help()
    assert "optim:\n  Optimiser settings." in help_text
    assert "loss:\n  Loss settings." in help_text
    assert help_text.index("--learning-rate") < help_text.index("loss:")
    args = parse_args(_Args, ["--learning-rate", "0.5", "--objective", "wave", "--on"], "d")
    assert args.optim.learning_rate == 0.5 and args.loss.objective == "wave" and args.loss.on


def test_lists_choices_and_optionals_parse_by_type() -> None:
    args = parse_args(_Args, ["--sizes", "9,15,33", "--names", "a,b", "--weight", "2"], "d")
    assert args.optim.sizes == (9, 15, 33) and args.loss.names == ("a", "b")
    assert args.loss.weight == 2.0
    assert parse_args(_Args, ["--sizes", ""], "d").optim.sizes == ()
    assert parse_args(_Args, ["--weight", "none"], "d").loss.weight is None
    for bad in (["--sizes", "9,x"], ["--names", "a,c"], ["--objective", "maybe"],
                ["--learning-rate", "-1"], ["--on", "perhaps"], ["--learning-r", "1"]):  # fmt: skip
        with pytest.raises(SystemExit):
            parse_args(_Args, bad, "d")


def test_a_bad_value_names_its_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(_Args, ["--learning-rate", "-1"], "d")
    assert "--learning-rate must be > 0, got -1.0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_args(_Args, ["--names", "a,c"], "d")
    assert "argument --names: invalid choice 'c'" in capsys.readouterr().err


def test_recipes_flat_or_grouped_with_lists_and_stages(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "job:\n  env: F\n  optim: {learning_rate: 0.2, sizes: [7, 9]}\n  objective: wave\n"
        "  stages:\n    - {}\n    - optim: {sizes: '11'}\n      names: [b]\nother: {x: 1}\n"
    )
    assert recipe_stages(_Args, ["--config", str(recipe)]) == 2
    assert recipe_stages(_Args, []) == 0
    first = parse_args(_Args, ["--config", str(recipe)], "d", stage=0)
    assert (first.env, first.optim.learning_rate, first.optim.sizes) == ("F", 0.2, (7, 9))
    last = parse_args(_Args, ["--config", str(recipe), "--learning-rate", "0.3"], "d")
    assert last.optim.sizes == (11,) and last.loss.names == ("b",)
    assert last.optim.learning_rate == 0.3  # the command line over the recipe
    assert last.loss.objective == "wave"


def test_recipe_mistakes_name_the_file_and_key(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"r\.yaml: unknown key 'nope'"):
        flatten_recipe({"nope": 1}, _Args, "r.yaml")
    with pytest.raises(UserError, match=r"r\.yaml: unknown key optim\.objective"):
        flatten_recipe({"optim": {"objective": "set"}}, _Args, "r.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("job:\n  optim: {sizes: [1, x]}\n")
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from tests.test_arguments import _Args;"
         "from fpr_agents.arguments import parse_args; parse_args(_Args, sys.argv[1:], 'd')",
         "--config", str(bad)],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip
    assert done.returncode == 2 and "bad.yaml: sizes: bad list item" in done.stderr


def test_two_groups_may_not_define_one_flag() -> None:
    @dataclass
    class _Twice:
        a: _Optim = field(default_factory=_Optim)
        b: _Optim = field(default_factory=_Optim)

    with pytest.raises(TypeError, match="learning_rate"):
        leaves(_Twice)


@given(
    rate=st.floats(min_value=1e-6, max_value=10, allow_nan=False),
    sizes=st.lists(st.integers(min_value=1, max_value=99), max_size=4),
    names=st.lists(st.sampled_from(["a", "b"]), max_size=3),
    on=st.booleans(),
)
def test_command_line_round_trip(rate: float, sizes: list[int], names: list[str], on: bool) -> None:
    argv = ["--learning-rate", repr(rate), "--sizes", ",".join(map(str, sizes)),
            "--names", ",".join(names), "--on" if on else "--no-on"]  # fmt: skip
    args = parse_args(_Args, argv, "d")
    values = flat_values(args)
    assert values["learning_rate"] == rate and values["sizes"] == tuple(sizes)
    assert values["names"] == tuple(names) and values["on"] is on
    assert build(_Args, values) == args
