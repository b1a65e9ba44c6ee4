"""Copy a trained planner into the package (``fpr_agents/checkpoints/<name>``), weights only,
with the command, the commit and the metrics recorded beside it.

    python -m train.ship --checkpoint runs/<run>/checkpoint.safetensors --name maze
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fpr_agents.checkpoints import CHECKPOINT_DIR
from fpr_agents.reasoner import ReasonerConfig
from fpr_agents.reasoner.config import READOUT_SIGNALS
from train.common import (
    CONFIG_DIR,
    check_solver_overrides,
    cli,
    load_checkpoint,
    parse_args,
    save_checkpoint,
)

MAX_BYTES = 5 * 1024 * 1024
WEIGHT_PREFIXES = ("model.", "policy.")


@dataclass
class ShipArgs:
    """Arguments of ``python -m train.ship`` (a recipe's ``ship`` section gives the name and the
    solver settings users get)."""

    config_section = "ship"
    config_dir = CONFIG_DIR

    checkpoint: str = field(default="", metadata={"help": "checkpoint to ship (.safetensors)"})
    name: str = field(default="", metadata={"help": "name in fpr_agents/checkpoints/"})
    note: str = field(default="", metadata={"help": "free text stored beside it"})
    patience: int = field(
        default=0, metadata={"help": "set the FPOPT patience users get (0: keep the checkpoint's)"}
    )
    tol: float = field(
        default=0.0,
        metadata={"help": "set the fixed-point tolerance users get (0: keep the checkpoint's)"},
    )

    halting: str = field(
        default="",
        metadata={"help": "set the halting rule users get, e.g. readout ('': the checkpoint's)"},
    )
    readout_signal: str = field(
        default="",
        metadata={
            "help": "set what the readout rule watches ('': the checkpoint's)",
            "choices": ("", *READOUT_SIGNALS),
        },
    )

    readout_fresh_tol: float = field(
        default=-1.0,
        metadata={
            "help": "set the residual below which the readout rule trusts a warm start's old "
            "decision (negative: keep the checkpoint's)"
        },
    )
    readout_warm_check: bool | None = field(
        default=None,
        metadata={
            "help": "set whether that check covers every warm start that began decided "
            "(none: keep the checkpoint's)"
        },
    )

    def __post_init__(self) -> None:
        if not self.checkpoint or not self.name:
            raise ValueError("--checkpoint and --name are both required")
        check_solver_overrides(self.patience, self.tol, self.halting)
        if not self.name.isidentifier():
            raise ValueError(f"--name must be an identifier, got {self.name!r}")


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip()


def main(argv: Sequence[str] | None = None) -> Path:
    """Ship a checkpoint.

    :param argv: command-line arguments.
    :return: the shipped file.
    """
    args = parse_args(ShipArgs, argv, __doc__.splitlines()[0])
    tensors, meta = load_checkpoint(args.checkpoint)
    weights = {k: v for k, v in tensors.items() if k.startswith(WEIGHT_PREFIXES)}
    if not weights:
        raise ValueError(f"{args.checkpoint} holds no model weights")
    shipped_meta: dict[str, Any] = dict(meta)
    given = (
        ("patience", args.patience), ("tol", args.tol), ("halting", args.halting),
        ("readout_signal", args.readout_signal),
    )  # fmt: skip
    solver: dict[str, Any] = {k: v for k, v in given if v}
    if args.readout_fresh_tol >= 0:
        solver["readout_fresh_tol"] = args.readout_fresh_tol
    if args.readout_warm_check is not None:
        solver["readout_warm_check"] = args.readout_warm_check
    if solver:
        if "reasoner" not in meta:
            flags = ", ".join(f"--{k.replace('_', '-')}" for k in solver)
            raise ValueError(f"{args.checkpoint} has no reasoner config to set {flags} in")
        reasoner = dict(meta["reasoner"], **solver)
        ReasonerConfig(**reasoner)  # still valid
        shipped_meta["reasoner"] = reasoner
    shipped_meta.update(shipped_from=args.checkpoint, shipped_at_commit=_commit(), note=args.note)
    target = CHECKPOINT_DIR / f"{args.name}.safetensors"
    save_checkpoint(target, weights, shipped_meta)
    size = target.stat().st_size
    if size > MAX_BYTES:
        target.unlink()
        target.with_suffix(".json").unlink()
        raise ValueError(f"{args.checkpoint} is {size} bytes, over the {MAX_BYTES}-byte limit")
    return target


if __name__ == "__main__":
    print(cli(main))
