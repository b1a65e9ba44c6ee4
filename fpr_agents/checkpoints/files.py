"""Reading checkpoint files: safetensors weights with a JSON of metadata beside them, loaded
without executing code (``train.common.save_checkpoint`` writes them)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from fpr_agents.checkpoints import shipped_checkpoint, shipped_names
from fpr_agents.reasoner.config import ArchitectureConfig

# Where a checkpoint kind keeps its planner's weights.
PLANNER_PREFIXES = {"fpr_agents.planner": "model.", "fpr_agents.ppo": "policy.planner."}


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read: missing, truncated, or with bad metadata. The
    message names the file."""


def resolve_checkpoint(name_or_path: str | os.PathLike[str]) -> Path:
    """A shipped planner's name (``"maze_large"``) or a checkpoint path, as a path.

    :param name_or_path: a name of :func:`fpr_agents.checkpoints.shipped_names`, or a file.
    :return: the checkpoint file.
    """
    text = os.fspath(name_or_path)
    if text in shipped_names():
        return shipped_checkpoint(text)
    path = Path(text)
    if not path.exists():
        raise CheckpointError(
            f"checkpoint {text} not found (nor a shipped planner: {shipped_names()})"
        )
    return path


def load_checkpoint(path: str | os.PathLike[str]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a checkpoint: its safetensors weights and the ``.json`` beside them.

    :param path: the ``.safetensors`` file.
    :return: tensors and metadata.
    :raises CheckpointError: naming the file, when either file is missing or unreadable.
    """
    path = Path(path)
    meta_path = path.with_suffix(".json")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} not found")
    if not meta_path.is_file():
        raise CheckpointError(f"checkpoint metadata {meta_path} not found beside {path}")
    try:
        tensors = load_file(str(path))
    except Exception as error:  # safetensors raises its own error type for a damaged file
        raise CheckpointError(f"checkpoint {path} cannot be read ({error})") from error
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as error:
        raise CheckpointError(
            f"checkpoint metadata {meta_path} is not valid JSON (line {error.lineno}, column "
            f"{error.colno}: {error.msg})"
        ) from error
    if not isinstance(meta, dict):
        raise CheckpointError(f"checkpoint metadata {meta_path} must hold a JSON object")
    return tensors, meta


def strip_prefix(tensors: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The tensors whose names start with ``prefix``, with the prefix removed.

    :param tensors: a checkpoint's tensors.
    :param prefix: e.g. ``"model."`` or ``"policy."``.
    :return: name -> tensor, e.g. a state dict.
    """
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def compare_architecture(
    expected: ArchitectureConfig | Mapping[str, Any],
    found: ArchitectureConfig | Mapping[str, Any],
    what: str,
) -> None:
    """Raise a ValueError naming every field where two architecture descriptions differ.

    A reasoner's architecture is compared as :class:`ArchitectureConfig` instances (a
    ``ReasonerConfig`` on its architecture part only: solver fields may differ); other
    descriptions (a task's fields) as mappings, key by key.

    :param expected: the description this run builds.
    :param found: the description stored in a checkpoint (of the same kind as ``expected``).
    :param what: what is compared, for the message (e.g. ``"reasoner config"``).
    :raises ValueError: naming the differing fields and both values of each.
    :raises TypeError: when one side is an ArchitectureConfig and the other is not.
    """
    if isinstance(expected, ArchitectureConfig) or isinstance(found, ArchitectureConfig):
        if not (isinstance(expected, ArchitectureConfig) and isinstance(found, ArchitectureConfig)):
            raise TypeError(
                f"compare_architecture: {what}: compare two ArchitectureConfigs, got "
                f"{type(expected).__name__} and {type(found).__name__}"
            )
        differing = expected.differences(found)
    else:
        differing = {
            key: (expected.get(key), found.get(key))
            for key in sorted(set(expected) | set(found))
            if expected.get(key) != found.get(key)
        }
    if not differing:
        return
    names = ", ".join(f"'{key}'" for key in differing)
    ours = ", ".join(f"{key}={ours!r}" for key, (ours, _) in differing.items())
    theirs = ", ".join(f"{key}={stored!r}" for key, (_, stored) in differing.items())
    raise ValueError(
        f"checkpoint {what} differs in field{'s' if len(differing) > 1 else ''} {names}: "
        f"this run has {ours}, the checkpoint has {theirs}"
    )
