"""One typed way to configure every entry point: a dataclass of arguments, nested where options
group (model, solver, data, loss, optimisation, logging), read from defaults < a YAML recipe <
command-line flags.

Each leaf field is one flag, ``--field-name``; the names are unique across the groups, so a flag
reads the same in every script and in every recipe, and ``--help`` lists the flags group by
group. Types drive parsing: ``bool`` gives ``--flag/--no-flag`` (a value such as ``true`` is
also accepted), ``tuple[float, ...]`` takes a comma-separated list (``--wave-speeds 1.5,3``;
an empty string is the empty list), ``Literal[...]`` or ``metadata["choices"]`` restricts the
values, ``X | None`` accepts ``none``. A YAML recipe holds the same names, flat or under their
group's name, and lists as YAML lists or comma-separated strings; an argument dataclass may name
the folder where a bare recipe name is looked up (``config_dir``) and its section of a recipe
file (``config_section``).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

ArgsT = TypeVar("ArgsT")
# The entry points' sections of a recipe file (each reads its own).
RECIPE_SECTIONS: tuple[str, ...] = ("pretrain", "ppo", "ship", "evaluate", "enjoy")


class UserError(ValueError):
    """A mistake in how a command was run (an unknown env id, a missing file, a device this
    machine lacks): the entry points print it as one line and exit with status 2."""


@dataclasses.dataclass(frozen=True)
class Leaf:
    """One flag of an argument tree.

    :param name: the field name (``--`` + name with dashes is the flag).
    :param path: the group names leading to the field (empty at the top level).
    :param kind: the field's resolved type.
    :param field: the dataclass field.
    """

    name: str
    path: tuple[str, ...]
    kind: Any
    field: dataclasses.Field[Any]

    @property
    def flag(self) -> str:
        """The command-line flag, e.g. ``--total-steps``."""
        return "--" + self.name.replace("_", "-")


def _is_group(kind: Any) -> bool:
    return isinstance(kind, type) and dataclasses.is_dataclass(kind)


def leaves(args_cls: type, path: tuple[str, ...] = ()) -> list[Leaf]:
    """Every flag of an argument dataclass, groups flattened in field order.

    :param args_cls: the dataclass.
    :param path: group names above it (for recursion).
    :return: the leaves.
    :raises TypeError: two fields share a name (flags must be unique).
    """
    hints = typing.get_type_hints(args_cls)
    found: list[Leaf] = []
    for field in dataclasses.fields(args_cls):
        kind = hints[field.name]
        if _is_group(kind):
            found.extend(leaves(kind, (*path, field.name)))
        else:
            found.append(Leaf(field.name, path, kind, field))
    if not path:
        names = [leaf.name for leaf in found]
        doubled = sorted({name for name in names if names.count(name) > 1})
        if doubled:
            raise TypeError(f"{args_cls.__name__}: fields {doubled} appear in two groups")
    return found


def groups(args_cls: type) -> dict[str, type]:
    """The group dataclasses of an argument dataclass (top level only), by field name.

    :param args_cls: the dataclass.
    :return: group name -> its dataclass.
    """
    hints = typing.get_type_hints(args_cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(args_cls) if _is_group(hints[f.name])}


def _optional_inner(kind: Any) -> Any | None:
    """``X`` for ``X | None`` (or ``Optional[X]``), else None."""
    origin = typing.get_origin(kind)
    if origin is typing.Union or origin is types.UnionType:
        inner = [a for a in typing.get_args(kind) if a is not type(None)]
        if len(inner) == 1 and len(typing.get_args(kind)) == 2:
            return inner[0]
    return None


def parse_bool(text: str) -> bool:
    """Read a boolean as written on a command line or in a recipe.

    :param text: ``true/false``, ``yes/no``, ``on/off`` or ``1/0``.
    :return: the boolean.
    :raises argparse.ArgumentTypeError: anything else.
    """
    lowered = str(text).strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean (true/false), got {text!r}")


def _scalar_parser(kind: Any, name: str) -> Callable[[str], Any]:
    if kind is bool:
        return parse_bool
    if kind in (int, float, str):
        return kind
    if typing.get_origin(kind) is typing.Literal:
        return str
    raise TypeError(f"argument field {name!r} has unsupported type {kind!r}")


def value_parser(leaf: Leaf) -> Callable[[Any], Any]:
    """A function from a command-line token or a recipe value to the field's value.

    :param leaf: the flag.
    :return: the parser; it raises ``argparse.ArgumentTypeError`` on a bad value.
    """
    kind = leaf.kind
    optional = _optional_inner(kind)
    if optional is not None:
        inner = value_parser(dataclasses.replace(leaf, kind=optional))

        def parse_optional(value: Any) -> Any:
            if value is None or (isinstance(value, str) and value.strip().lower() == "none"):
                return None
            return inner(value)

        return parse_optional
    if typing.get_origin(kind) is tuple:
        args = typing.get_args(kind)
        if len(args) != 2 or args[1] is not Ellipsis:
            raise TypeError(f"argument field {leaf.name!r}: only tuple[X, ...] lists are supported")
        item = _scalar_parser(args[0], leaf.name)

        def parse_list(value: Any) -> tuple[Any, ...]:
            if isinstance(value, (list, tuple)):
                parts = list(value)
            else:
                parts = [p.strip() for p in str(value).split(",") if p.strip()]
            try:
                return tuple(item(p) if isinstance(p, str) else item(str(p)) for p in parts)
            except ValueError as error:
                raise argparse.ArgumentTypeError(f"bad list item in {value!r}: {error}") from None

        parse_list.__name__ = f"list of {getattr(args[0], '__name__', args[0])}"
        return parse_list
    scalar = _scalar_parser(kind, leaf.name)

    def parse_scalar(value: Any) -> Any:
        if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if kind is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if kind is bool and isinstance(value, bool):
            return value
        if kind is str and isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        try:
            return scalar(value if isinstance(value, str) else str(value))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {getattr(kind, '__name__', kind)}, got {value!r}"
            ) from None

    parse_scalar.__name__ = getattr(kind, "__name__", "value")
    return parse_scalar


def choices(leaf: Leaf) -> tuple[Any, ...] | None:
    """The values a flag accepts, when restricted (``Literal`` or ``metadata["choices"]``).

    :param leaf: the flag.
    :return: the allowed values (for a list: its items'), or None.
    """
    if "choices" in leaf.field.metadata:
        return tuple(leaf.field.metadata["choices"])
    kind = _optional_inner(leaf.kind) or leaf.kind
    if typing.get_origin(kind) is tuple:
        kind = typing.get_args(kind)[0]
    if typing.get_origin(kind) is typing.Literal:
        return typing.get_args(kind)
    return None


def _default(field: dataclasses.Field[Any]) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def _help(leaf: Leaf) -> str:
    default = _default(leaf.field)
    shown = ",".join(str(v) for v in default) if isinstance(default, tuple) else repr(default)
    allowed = choices(leaf)
    extra = f"; one of {', '.join(map(str, allowed))}" if allowed else ""
    return f"{leaf.field.metadata.get('help', '')} (default: {shown}{extra})"


def build_parser(args_cls: type, description: str) -> argparse.ArgumentParser:
    """The ``argparse`` parser of an argument dataclass: ``--config``, then one section per group.

    :param args_cls: the dataclass.
    :param description: the parser's description.
    :return: the parser (values it parses are given only where the user gave them).
    """
    config_dir = getattr(args_cls, "config_dir", None)
    parser = argparse.ArgumentParser(
        description=description,
        allow_abbrev=False,  # --total-timestep must not quietly mean --total-timesteps
    )
    parser.add_argument(
        "--config", type=str, default=None,
        help="YAML recipe of argument values"
        + (f" (a bare name is looked up in {config_dir})" if config_dir else ""),
    )  # fmt: skip
    sections: dict[tuple[str, ...], argparse._ArgumentGroup] = {}
    group_classes = groups(args_cls)
    for leaf in leaves(args_cls):
        target: Any = parser
        if leaf.path:
            if leaf.path not in sections:
                group_cls = group_classes[leaf.path[0]]
                doc = (group_cls.__doc__ or "").strip().splitlines()
                sections[leaf.path] = parser.add_argument_group(
                    ".".join(leaf.path), doc[0] if doc else None
                )
            target = sections[leaf.path]
        if leaf.kind is bool:
            target.add_argument(
                leaf.flag, dest=leaf.name, type=parse_bool, nargs="?", const=True,
                default=argparse.SUPPRESS, metavar="BOOL", help=_help(leaf),
            )  # fmt: skip
            target.add_argument(
                "--no-" + leaf.flag[2:], dest=leaf.name, action="store_false",
                default=argparse.SUPPRESS, help=f"the same as {leaf.flag} false",
            )  # fmt: skip
            continue
        target.add_argument(
            leaf.flag, dest=leaf.name, type=value_parser(leaf), default=argparse.SUPPRESS,
            metavar=_metavar(leaf), help=_help(leaf),
        )  # fmt: skip
    return parser


def load_yaml_section(
    path: str | os.PathLike[str], section: str | None, config_dir: Path | None = None
) -> dict[str, Any]:
    """Read a YAML recipe; when it has a mapping under ``section``, return that mapping.

    :param path: the YAML file (a bare name is also looked up in ``config_dir``).
    :param section: e.g. ``"pretrain"`` or ``"ppo"``.
    :param config_dir: the folder of an entry point's recipes, or None.
    :return: argument values (flat, or nested by group).
    :raises UserError: the file is missing or is not a mapping of values.
    """
    candidate = Path(path)
    if not candidate.exists() and config_dir is not None and (config_dir / candidate).exists():
        candidate = config_dir / candidate
    if not candidate.exists():
        where = f" (nor in {config_dir})" if config_dir is not None else ""
        raise UserError(f"config file {path} not found{where}")
    try:
        data = yaml.safe_load(candidate.read_text()) or {}
    except yaml.YAMLError as error:
        raise UserError(f"{candidate}: not valid YAML ({error})") from None
    if not isinstance(data, dict):
        raise UserError(f"{candidate}: expected a mapping at the top level")
    if section is not None and isinstance(data.get(section), dict):
        return dict(data[section])
    # a recipe without this entry point's section: its flat values, not the other sections
    return {k: v for k, v in data.items() if not (k in RECIPE_SECTIONS and isinstance(v, dict))}


def flatten_recipe(values: Mapping[str, Any], args_cls: type, where: str) -> dict[str, Any]:
    """A recipe's values by flag name: group mappings are opened, every key is checked.

    :param values: the recipe section (flat names, or group name -> mapping).
    :param args_cls: the argument dataclass.
    :param where: the file, for messages.
    :return: field name -> value as written.
    :raises UserError: an unknown key, or a key under the wrong group.
    """
    by_name = {leaf.name: leaf for leaf in leaves(args_cls)}
    group_names = set(groups(args_cls))
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if key in group_names and isinstance(value, Mapping):
            for inner, inner_value in value.items():
                leaf = by_name.get(inner)
                if leaf is None or leaf.path[:1] != (key,):
                    raise UserError(
                        f"{where}: unknown key {key}.{inner}; keys of {key}: "
                        f"{sorted(n for n, lf in by_name.items() if lf.path[:1] == (key,))}"
                    )
                flat[inner] = inner_value
        elif key in by_name:
            flat[key] = value
        else:
            raise UserError(
                f"{where}: unknown key {key!r}; valid keys: {sorted(by_name)} "
                f"(or grouped under {sorted(group_names)})"
            )
    return flat


def build(args_cls: type[ArgsT], values: Mapping[str, Any]) -> ArgsT:
    """The nested argument dataclass from flat values (missing ones keep their defaults).

    :param args_cls: the dataclass.
    :param values: field name -> parsed value.
    :return: the instance (groups built first; their validation runs in ``__post_init__``).
    """
    hints = typing.get_type_hints(args_cls)
    kwargs: dict[str, Any] = {}
    for field in dataclasses.fields(args_cls):  # type: ignore[arg-type]
        kind = hints[field.name]
        if _is_group(kind):
            kwargs[field.name] = build(kind, values)
        elif field.name in values:
            kwargs[field.name] = values[field.name]
    return args_cls(**kwargs)


def flat_values(args: Any) -> dict[str, Any]:
    """An argument tree's leaf values by flag name (the inverse of :func:`build`).

    :param args: an argument dataclass instance.
    :return: field name -> value.
    """
    return {leaf.name: _leaf_value(args, leaf) for leaf in leaves(type(args))}


def _leaf_value(args: Any, leaf: Leaf) -> Any:
    node = args
    for part in leaf.path:
        node = getattr(node, part)
    return getattr(node, leaf.name)


def _metavar(leaf: Leaf) -> str:
    kind = _optional_inner(leaf.kind) or leaf.kind
    if typing.get_origin(kind) is tuple:
        return "A,B,..."
    return {int: "N", float: "X", str: "TEXT"}.get(kind, "VALUE")


def _split_stages(recipe: dict[str, Any], where: str) -> list[dict[str, Any]]:
    stages = recipe.pop("stages", None)
    if stages is None:
        return []
    if not isinstance(stages, list) or not all(isinstance(s, dict) for s in stages) or not stages:
        raise UserError(f"{where}: stages must be a list of mappings of argument values")
    return [dict(s) for s in stages]


def recipe_stages(args_cls: type, argv: Sequence[str] | None) -> int:
    """How many stages the ``--config`` recipe in ``argv`` runs (0: none, a single run).

    :param args_cls: the argument dataclass (its ``config_section``).
    :param argv: command-line arguments (None: ``sys.argv[1:]``).
    :return: the number of stages.
    :raises UserError: the recipe cannot be read.
    """
    import sys

    tokens = list(sys.argv[1:] if argv is None else argv)
    path = None
    for index, token in enumerate(tokens):
        if token == "--config" and index + 1 < len(tokens):
            path = tokens[index + 1]
        elif token.startswith("--config="):
            path = token.split("=", 1)[1]
    if path is None:
        return 0
    recipe = load_yaml_section(
        path, getattr(args_cls, "config_section", None), getattr(args_cls, "config_dir", None)
    )
    return len(_split_stages(recipe, path))


def parse_args(
    args_cls: type[ArgsT],
    argv: Sequence[str] | None,
    description: str,
    *,
    stage: int = -1,
    overrides: Mapping[str, Any] | None = None,
) -> ArgsT:
    """Parse an entry point's arguments.

    Precedence: dataclass defaults < ``--config`` YAML (the section named by the dataclass's
    ``config_section``, or the whole file; where it lists ``stages``, the chosen stage's values
    over the rest) < ``overrides`` < command-line flags. Every value, from any source, goes
    through the same typed parser. A value the dataclass refuses (its ``__post_init__``, or its
    ``check_given(names)`` hook, told which fields were set) is a usage error naming the flag.

    :param args_cls: the argument dataclass.
    :param argv: command-line arguments (None: ``sys.argv[1:]``).
    :param description: the parser's description.
    :param stage: the recipe stage to apply (default: the last; ignored without stages).
    :param overrides: values applied over the recipe, under the command line.
    :return: the filled dataclass.
    """
    parser = build_parser(args_cls, description)
    parsed = vars(parser.parse_args(argv))
    by_name = {leaf.name: leaf for leaf in leaves(args_cls)}
    values: dict[str, Any] = {}
    config_path = parsed.pop("config", None)
    layers: list[tuple[str, Mapping[str, Any]]] = []
    if config_path is not None:
        try:
            recipe = load_yaml_section(
                config_path,
                getattr(args_cls, "config_section", None),
                getattr(args_cls, "config_dir", None),
            )
            stages = _split_stages(recipe, str(config_path))
            layers.append((str(config_path), flatten_recipe(recipe, args_cls, str(config_path))))
            if stages:
                where = f"{config_path} stage {stage % len(stages) + 1}"
                layers.append((where, flatten_recipe(stages[stage], args_cls, where)))
        except UserError as error:
            parser.error(str(error))
    if overrides:
        layers.append(("overrides", dict(overrides)))
    for where, layer in layers:
        for name, raw in layer.items():
            try:
                values[name] = value_parser(by_name[name])(raw)
            except argparse.ArgumentTypeError as error:
                parser.error(f"{where}: {name}: {error}")
    values.update(parsed)
    for name, value in values.items():
        allowed = choices(by_name[name])
        items = value if isinstance(value, tuple) else (value,)
        bad = [v for v in items if allowed is not None and v is not None and v not in allowed]
        if bad:
            parser.error(
                f"argument {by_name[name].flag}: invalid choice {bad[0]!r} "
                f"(choose from {', '.join(map(str, allowed or ()))})"
            )
    try:
        result = build(args_cls, values)
        check = getattr(result, "check_given", None)
        if check is not None:
            check(frozenset(values))
        return result
    except (TypeError, ValueError) as error:
        parser.error(str(error))
        raise  # unreachable: parser.error exits
