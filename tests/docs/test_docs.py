"""The user docs stay true to the code: the README's size and opening, links, the documented
``python -m`` commands and their flags, the environment reference against the registry and the
env classes' signatures, and the README's Python snippets."""

from __future__ import annotations

import ast
import functools
import importlib.util
import inspect
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest

import envs  # noqa: F401  (registers the FPR ids)
from envs.arc import ArcEnv
from envs.maze import MazeEnv
from envs.maze_dynamic import DynamicMazeEnv
from envs.sudoku import SudokuEnv

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
ENVS_DOC = ROOT / "docs" / "envs.md"
DOC_FILES = [README, *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_BYTES = 12_000

FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```[ \t]*$", re.M | re.S)
INLINE = re.compile(r"(?<!`)`([^`]+)`(?!`)")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
COMMAND = re.compile(r"(?:^|[\s;&|(])(?:python3?|torchrun(?:\s+--?\S+)*)\s+-m\s+([\w.<>-]+)")
PLACEHOLDER = re.compile(r"<[^>]*>")
COMMAND_END = re.compile(r"&&|\|\||[;|]")
ENV_ID = re.compile(r"\bFPR/[A-Za-z0-9-]+-v\d+\b")
# How the project was made is not part of the product.
BANNED = re.compile(
    r"\bissues? #?\d+|\(issue\b|\bsessions?\b|DESIGN\.md|shared/|steering", re.IGNORECASE
)


# --- extraction helpers ----------------------------------------------------------------------


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """The fenced code blocks of a markdown text.

    :param text: markdown.
    :return: (info string, body) per block, in order.
    """
    return [(m.group(1).strip(), m.group(2)) for m in FENCE.finditer(text)]


def without_fences(text: str) -> str:
    """The markdown text with its fenced code blocks blanked out.

    :param text: markdown.
    :return: the prose (and inline code) only.
    """
    return FENCE.sub("\n", text)


def code_snippets(text: str) -> Iterator[str]:
    """Every piece of code in a markdown text: each logical line of a fenced block (backslash
    continuations joined, ``#`` comments cut) and each inline code span (line breaks as spaces).

    :param text: markdown.
    :return: code strings.
    """
    for _, body in fenced_blocks(text):
        for line in body.replace("\\\n", " ").splitlines():
            yield re.split(r"(?:^|\s)#", line, maxsplit=1)[0]
    for match in INLINE.finditer(without_fences(text)):
        span = match.group(1)
        if "\n\n" not in span:
            yield span.replace("\n", " ")


def documented_commands(text: str) -> list[tuple[str, list[str]]]:
    """The ``python -m <module> ...`` (and ``torchrun ... -m <module>``) commands in a text;
    a command whose module is a placeholder (``python -m train.<name>``) is left out.

    :param text: markdown.
    :return: (module, argument tokens) per command.
    """
    commands = []
    for code in code_snippets(text):
        for match in COMMAND.finditer(code):
            if PLACEHOLDER.search(match.group(1)):
                continue
            rest = COMMAND_END.split(code[match.end() :], maxsplit=1)[0]
            try:
                tokens = shlex.split(rest)
            except ValueError:
                tokens = rest.split()
            commands.append((match.group(1), tokens))
    return commands


def flags_of(tokens: list[str]) -> list[str]:
    """The long options among a command's tokens (``--name=value`` gives ``--name``).

    :param tokens: argument tokens.
    :return: option names.
    """
    return [t.split("=", 1)[0] for t in tokens if re.match(r"^--[A-Za-z][\w-]*", t)]


def is_runnable_module(module: str) -> bool:
    """Whether ``python -m module`` finds something to run (a module, or a package with
    ``__main__``).

    :param module: dotted name.
    :return: True when importable.
    """
    try:
        spec = importlib.util.find_spec(module)
        if spec is None:
            return False
        if spec.submodule_search_locations is not None:
            return importlib.util.find_spec(module + ".__main__") is not None
        return True
    except (ImportError, ValueError):
        return False


def options_in_help(help_text: str) -> set[str]:
    """The option names an argparse ``--help`` text lists (its ``  -x, --name VALUE`` lines).

    :param help_text: the help output.
    :return: option names such as ``--config``.
    """
    options: set[str] = set()
    for line in help_text.splitlines():
        if not re.match(r"^ {1,4}-", line):
            continue
        invocation = re.split(r"\s{2,}", line.strip(), maxsplit=1)[0]
        for part in invocation.split(", "):
            options.add(part.split()[0].split("=", 1)[0])
    return options


@functools.cache
def module_options(module: str) -> frozenset[str]:
    """The options of ``python -m module`` from its ``--help`` (one subprocess per module).

    :param module: dotted name.
    :return: option names.
    """
    result = subprocess.run(
        [sys.executable, "-m", module, "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, f"python -m {module} --help failed:\n{result.stderr[-2000:]}"
    return frozenset(options_in_help(result.stdout))


def relative_links(text: str) -> list[str]:
    """The relative link targets of a markdown text (outside code blocks; anchors dropped).

    :param text: markdown.
    :return: paths as written.
    """
    targets = []
    for match in LINK.finditer(without_fences(text)):
        target = match.group(1)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue
        targets.append(target.split("#", 1)[0])
    return targets


def broken_links(path: Path, text: str) -> list[str]:
    """The relative links of ``text`` (the contents of ``path``) that name no file of the
    repository.

    :param path: where the text lives (links resolve from its folder).
    :param text: markdown.
    :return: the broken targets.
    """
    broken = []
    for target in relative_links(text):
        resolved = (path.parent / target).resolve()
        if not resolved.exists() or ROOT.resolve() not in (resolved, *resolved.parents):
            broken.append(target)
    return broken


def section(text: str, title_word: str) -> str:
    """The ``## `` section of a markdown text whose heading contains ``title_word``.

    :param text: markdown.
    :param title_word: a word of the heading.
    :return: the section, heading included.
    """
    parts = re.split(r"^(?=## )", text, flags=re.M)
    found = [p for p in parts if p.startswith("## ") and title_word in p.splitlines()[0]]
    assert len(found) == 1, f"expected one '## ' section about {title_word}, found {len(found)}"
    return found[0]


def table_rows(text: str) -> list[list[str]]:
    """The body rows of every markdown table in a text, as stripped cells.

    :param text: markdown.
    :return: rows (header and separator rows left out).
    """
    rows: list[list[str]] = []
    table: list[str] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            table.append(line)
            continue
        if len(table) > 2 and re.fullmatch(r"\|[\s:|-]+\|", table[1]):
            rows += [[c.strip() for c in row.strip().strip("|").split("|")] for row in table[2:]]
        table = []
    return rows


def code_of(cell: str) -> str | None:
    """The code inside a table cell that is one inline code span, else None.

    :param cell: the cell text.
    :return: the code, or None.
    """
    match = re.fullmatch(r"`([^`]*)`", cell)
    return match.group(1) if match else None


def documented_kwargs(text: str) -> dict[str, str]:
    """The keyword-argument table of an env section: rows ``| `name` | `default` | meaning |``.

    :param text: an env section of docs/envs.md.
    :return: name -> the default as written.
    """
    kwargs = {}
    for row in table_rows(text):
        name = code_of(row[0])
        if name is not None and re.fullmatch(r"[a-z_]+", name) and len(row) == 3:
            kwargs[name] = code_of(row[1]) or row[1]
    return kwargs


def parse_kwargs(source: str) -> dict[str, Any]:
    """``size=9, generator="backtracker"`` as a dict of literals.

    :param source: keyword arguments as written in a call.
    :return: name -> value.
    """
    if not source:
        return {}
    call = ast.parse(f"f({source})", mode="eval").body
    assert isinstance(call, ast.Call) and not call.args, source
    return {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords if kw.arg}


def normalise(value: Any) -> Any:
    """Tuples and lists compare alike.

    :param value: a literal.
    :return: the value with tuples as lists.
    """
    if isinstance(value, (tuple, list)):
        return [normalise(v) for v in value]
    return value


def fpr_specs() -> dict[str, gym.envs.registration.EnvSpec]:
    """Every spec registered under the ``FPR/`` namespace.

    :return: id -> spec.
    """
    return {key: spec for key, spec in gym.registry.items() if key.startswith("FPR/")}


# --- the README -------------------------------------------------------------------------------


def test_readme_is_short() -> None:
    size = README.stat().st_size
    assert size < README_MAX_BYTES, f"README.md is {size} bytes; keep it under {README_MAX_BYTES}"


def opening_commands(text: str) -> list[str]:
    """The commands the README opens with: the first fenced block's command lines (venv set-up
    left out), provided only the title and intro paragraphs precede it.

    :param text: the README.
    :return: command lines, or [] when something else comes first.
    """
    first = FENCE.search(text)
    if first is None:
        return []
    before = text[: first.start()]
    headings = [line for line in before.splitlines() if line.startswith("#")]
    if len(headings) != 1 or not before.startswith("# "):
        return []
    lines = [re.split(r"\s#", line, maxsplit=1)[0].strip() for line in first.group(2).splitlines()]
    return [
        line
        for line in lines
        if line and not line.startswith(("python -m venv", "source ", "python3 -m venv"))
    ]


def test_readme_opens_with_the_two_make_commands() -> None:
    commands = opening_commands(README.read_text())
    assert commands[:2] == ["make demo", "make test"], commands


def test_opening_check_can_fail() -> None:
    heading_first = "# t\n\nintro\n\n## Set-up\n\n```bash\nmake demo\nmake test\n```\n"
    assert opening_commands(heading_first) == []
    assert opening_commands("# t\n\nintro\n\n```bash\nmake test\nmake demo\n```\n")[:2] != [
        "make demo",
        "make test",
    ]


# --- every doc page ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", DOC_FILES, ids=lambda p: p.name)
def test_relative_links_point_to_files(path: Path) -> None:
    assert broken_links(path, path.read_text()) == []


def test_link_check_can_fail() -> None:
    text = "[ok](docs/envs.md) [gone](docs/no_such_page.md) [web](https://example.org) [a](#x)"
    assert broken_links(README, text) == ["docs/no_such_page.md"]
    assert broken_links(README, "[outside](../../etc/passwd)") == ["../../etc/passwd"]


@pytest.mark.parametrize("path", DOC_FILES, ids=lambda p: p.name)
def test_docs_speak_of_the_project_alone(path: Path) -> None:
    hits = [m.group(0) for m in BANNED.finditer(path.read_text())]
    assert hits == [], f"{path.name} mentions how the project was made: {hits}"


def test_banned_phrases_can_be_found() -> None:
    text = "Targets (issue 4); measured this session; see shared/DESIGN.md"
    assert len(BANNED.findall(text)) == 4


def all_commands() -> list[tuple[str, str, list[str]]]:
    """Every documented command of README.md and docs/*.md.

    :return: (file name, module, tokens) per command.
    """
    return [
        (path.name, module, tokens)
        for path in DOC_FILES
        for module, tokens in documented_commands(path.read_text())
    ]


def test_commands_are_found() -> None:
    modules = {module for _, module, _ in all_commands()}
    assert {"train.pretrain", "train.ppo", "train.evaluate", "train.ship"} <= modules, modules
    assert len(all_commands()) >= 20


def test_documented_modules_are_importable() -> None:
    missing = sorted({(f, m) for f, m, _ in all_commands() if not is_runnable_module(m)})
    assert missing == [], f"python -m names a module that does not exist: {missing}"


@pytest.mark.slow
def test_documented_flags_are_accepted() -> None:
    unknown = set()
    for file_name, module, tokens in all_commands():
        flags = flags_of(tokens)
        if not flags or not is_runnable_module(module):
            continue  # a missing module is reported by test_documented_modules_are_importable
        options = module_options(module)
        unknown |= {f"{file_name}: python -m {module} {f}" for f in flags if f not in options}
    assert not unknown, "documented flags the entry point does not accept:\n" + "\n".join(
        sorted(unknown)
    )


ENTRY_POINT_ARGS = {
    "train.pretrain": "PretrainArgs", "train.ppo": "PPOArgs", "train.evaluate": "EvaluateArgs",
    "train.ship": "ShipArgs", "train.enjoy": "EnjoyArgs", "train.imitate": "ImitateArgs",
    "train.arc_shape": "ArcShapeArgs",
}  # fmt: skip
CHECKPOINTS_README = ROOT / "fpr_agents" / "checkpoints" / "README.md"


def parse_failures(commands: list[tuple[str, str, list[str]]]) -> list[str]:
    """The documented entry-point commands whose arguments the entry point's own parser refuses
    (a value, a recipe, a component parameter without its component); placeholders such as
    ``<run>`` and ``$C`` stand for a path.

    :param commands: (file name, module, tokens) per command.
    :return: one line per refused command, with the parser's message.
    """
    import contextlib
    import importlib
    import io

    from fpr_agents.arguments import parse_args

    failures = []
    for file_name, module, tokens in commands:
        if module not in ENTRY_POINT_ARGS:
            continue
        if not tokens:
            continue  # the module named in prose
        args_cls = getattr(importlib.import_module(module), ENTRY_POINT_ARGS[module])
        joined = " ".join(shlex.quote(t) for t in tokens)
        argv = shlex.split(PLACEHOLDER.sub("x", joined).replace("$C", "x.safetensors"))
        errors = io.StringIO()
        try:
            with contextlib.redirect_stderr(errors):
                parse_args(args_cls, argv, "doc")
        except SystemExit:
            message = errors.getvalue().strip().splitlines()[-1:]
            failures.append(f"{file_name}: python -m {module} {' '.join(tokens)}: {message}")
    return failures


def test_documented_training_commands_parse() -> None:
    commands = all_commands() + [
        ("fpr_agents/checkpoints/README.md", module, tokens)
        for module, tokens in documented_commands(CHECKPOINTS_README.read_text())
    ]
    assert len([c for c in commands if c[1] in ENTRY_POINT_ARGS]) >= 20
    failures = parse_failures(commands)
    assert not failures, "documented commands the entry point refuses:\n" + "\n".join(failures)


def test_parse_check_can_fail() -> None:
    refused = parse_failures(
        [
            ("x.md", "train.pretrain", ["--wave-speeds", "1,3"]),  # its component not selected
            ("x.md", "train.ppo", ["--n-envs", "0"]),
            ("x.md", "train.pretrain", ["--config", "planners/maze.yaml", "--out", "<run>"]),
        ]
    )
    assert len(refused) == 2 and "--objective wavefront" in refused[0]


@pytest.mark.slow
def test_flag_check_can_fail() -> None:
    commands = documented_commands(
        'Run `python -m train.evaluate --episodes 4 --no-such-flag 1 --caps ""`, not '
        "`python -m train.<name> --x`.\n\n"
        "```bash\npython -m train.pretrain --config maze.yaml \\\n"
        "    --total-steps 10  # --x\n```\n"
    )
    assert commands == [
        ("train.pretrain", ["--config", "maze.yaml", "--total-steps", "10"]),
        ("train.evaluate", ["--episodes", "4", "--no-such-flag", "1", "--caps", ""]),
    ]
    options = module_options("train.evaluate")
    assert "--episodes" in options and "--config" in options
    assert "--no-such-flag" not in options
    assert not is_runnable_module("train.no_such_entry_point")


def test_help_parsing() -> None:
    help_text = (
        "usage: x [-h] [--alpha ALPHA]\n\noptions:\n  -h, --help            show this\n"
        "  --alpha ALPHA         the alpha; see\n                        --not-an-option here\n"
        "  --long-option-name LONG_OPTION_NAME\n                        help\n"
    )
    assert options_in_help(help_text) == {"-h", "--help", "--alpha", "--long-option-name"}


# --- the environment reference ----------------------------------------------------------------


def test_every_registered_id_is_documented() -> None:
    text = ENVS_DOC.read_text()
    missing = sorted(key for key in fpr_specs() if f"`{key}`" not in text)
    assert missing == [], f"registered ids missing from docs/envs.md: {missing}"


def test_every_documented_id_is_registered() -> None:
    registered = set(fpr_specs())
    named = {(p.name, m) for p in DOC_FILES for m in ENV_ID.findall(p.read_text())}
    stale = sorted((f, m) for f, m in named if m not in registered)
    assert stale == [], f"ids named in the docs but not registered: {stale}"


def registered_id_rows() -> dict[str, list[str]]:
    """The rows of docs/envs.md's id tables: ``| `id` | `kwargs` | max_episode_steps |``.

    :return: id -> cells.
    """
    rows = {}
    for row in table_rows(ENVS_DOC.read_text()):
        code = code_of(row[0])
        if code is not None and code.startswith("FPR/"):
            rows[code] = row
    return rows


def test_id_tables_match_the_registry() -> None:
    rows = registered_id_rows()
    wrong = []
    for key, spec in fpr_specs().items():
        if key not in rows:
            wrong.append(f"{key}: no table row")
            continue
        kwargs_cell, steps_cell = rows[key][1], rows[key][-1]
        documented = parse_kwargs(code_of(kwargs_cell) or "")
        if normalise(documented) != normalise(dict(spec.kwargs)):
            wrong.append(f"{key}: kwargs {documented} != registered {spec.kwargs}")
        if steps_cell.replace(",", "") != str(spec.max_episode_steps):
            wrong.append(f"{key}: max_episode_steps {steps_cell} != {spec.max_episode_steps}")
    assert wrong == [], "\n".join(wrong)


@pytest.mark.parametrize(
    ("env_cls", "title_word"),
    [(MazeEnv, "Maze"), (DynamicMazeEnv, "Dynamic"), (SudokuEnv, "Sudoku"), (ArcEnv, "ARC")],
)
def test_env_kwargs_are_documented(env_cls: type, title_word: str) -> None:
    parameters = {
        name: p
        for name, p in inspect.signature(env_cls.__init__).parameters.items()
        if name != "self" and p.kind is p.POSITIONAL_OR_KEYWORD
    }
    text = section(ENVS_DOC.read_text(), title_word)
    documented = documented_kwargs(text)
    assert sorted(documented) == sorted(parameters), (
        f"{env_cls.__name__}: documented {sorted(documented)}, signature {sorted(parameters)}"
    )
    for name, parameter in parameters.items():
        assert normalise(ast.literal_eval(documented[name])) == normalise(parameter.default), (
            f"{env_cls.__name__}({name}=...): documented default {documented[name]}, "
            f"signature {parameter.default!r}"
        )


def test_kwargs_table_parsing() -> None:
    text = "| kwarg | default | meaning |\n|---|---|---|\n| `size` | `9` | side |\n"
    assert documented_kwargs(text) == {"size": "9"}
    assert parse_kwargs('size=9, generator="kruskal"') == {"size": 9, "generator": "kruskal"}


# --- the snippets -----------------------------------------------------------------------------


def python_blocks(path: Path) -> list[str]:
    """The ``python`` fenced blocks of a doc page.

    :param path: the page.
    :return: their sources.
    """
    return [body for info, body in fenced_blocks(path.read_text()) if info == "python"]


@pytest.mark.slow
@pytest.mark.parametrize("path", [README, ENVS_DOC], ids=lambda p: p.name)
def test_python_snippets_run(path: Path, tmp_path: Path) -> None:
    blocks = python_blocks(path)
    assert blocks, f"{path.name} has no python snippet"
    for index, source in enumerate(blocks):
        script = tmp_path / f"snippet_{index}.py"
        script.write_text(source)
        result = subprocess.run(
            [sys.executable, str(script)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert result.returncode == 0, (
            f"{path.name} snippet {index} failed:\n{source}\n{result.stderr[-3000:]}"
        )
