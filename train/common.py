"""What every training entry point shares: the model group of their arguments, seeding,
device, run folders, and checkpoints written atomically and loaded without executing code."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import random
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from safetensors.torch import save_file

from fpr_agents.arguments import UserError as UserError
from fpr_agents.arguments import load_yaml_section as load_yaml_section
from fpr_agents.arguments import parse_args as parse_args

# Reading checkpoints lives in the library; these names stay importable from here.
from fpr_agents.checkpoints.files import compare_architecture as compare_architecture
from fpr_agents.checkpoints.files import load_checkpoint as load_checkpoint
from fpr_agents.checkpoints.files import strip_prefix as strip_prefix
from fpr_agents.device import resolve_device as library_resolve_device
from fpr_agents.policy.loading import load_planner as load_planner
from fpr_agents.reasoner.config import HALTING_MODES

if TYPE_CHECKING:
    import gymnasium as gym


# The training recipes: a bare ``--config`` name is looked up here.
CONFIG_DIR = Path(__file__).resolve().parent / "configs"


def cli(main: Any) -> Any:
    """Run an entry point's ``main()``: a user's mistake (``UserError``, a checkpoint that cannot
    be read) prints one line naming it and exits 2, as argparse does for a bad flag; any other
    error keeps its traceback.

    :param main: the entry point's ``main``, called without arguments.
    :return: what ``main`` returns.
    """
    import sys

    from fpr_agents.checkpoints.files import CheckpointError

    try:
        return main()
    except (UserError, CheckpointError) as error:
        program = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "fpr-agents"
        print(f"{program}: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


@dataclasses.dataclass
class ModelArgs:
    """Architecture of a planner built from scratch (a loaded or resumed checkpoint keeps its
    own; a flag set to another value than the checkpoint's is refused on resume)."""

    d_model: int = dataclasses.field(default=64, metadata={"help": "width d of the latent"})
    n_heads: int = dataclasses.field(default=4, metadata={"help": "attention heads"})
    n_layers: int = dataclasses.field(default=1, metadata={"help": "blocks per iteration"})
    mlp_ratio: float = dataclasses.field(default=2.0, metadata={"help": "SwiGLU width / d_model"})
    mlp_kernel: int = dataclasses.field(
        default=1, metadata={"help": "side of the MLP projections (1: token-wise, 3: 3x3 convs)"}
    )
    position_embedding: int = dataclasses.field(
        default=0, metadata={"help": "absolute row/column embeddings up to this side (0: none)"}
    )
    edge_embedding: int = dataclasses.field(
        default=0,
        metadata={"help": "arc: per-grid distance-to-far-edge embeddings to this side (0: none)"},
    )
    mirror_views: bool = dataclasses.field(
        default=False, metadata={"help": "arc: also embed each grid mirrored inside its extent"}
    )
    attention: bool = dataclasses.field(
        default=False, metadata={"help": "grid attention (off: conv-only)"}
    )
    rope_base: float = dataclasses.field(
        default=100.0, metadata={"help": "base of the 2D rotary frequencies (larger: slower turns)"}
    )
    gate_init_layer: float = dataclasses.field(
        default=0.75, metadata={"help": "initial layer-wise gate a1"}
    )
    gate_init_iter: float = dataclasses.field(
        default=0.25, metadata={"help": "initial iteration-wise gate a2"}
    )

    def reasoner_fields(self) -> dict[str, Any]:
        """These fields as ``ReasonerConfig`` keyword arguments.

        :return: field name -> value.
        """
        return dataclasses.asdict(self)


def check_solver_overrides(patience: int, tol: float, halting: str) -> None:
    """Check the solver settings an entry point may set over a checkpoint's (0 or an empty
    string keeps the checkpoint's).

    :param patience: ``--patience`` (0: keep).
    :param tol: ``--tol`` (0: keep).
    :param halting: ``--halting`` ('': keep).
    :raises ValueError: naming the flag.
    """
    if patience < 0:
        raise ValueError(f"--patience must be >= 0, got {patience}")
    if not tol >= 0:
        raise ValueError(f"--tol must be >= 0, got {tol}")
    if halting and halting not in HALTING_MODES:
        raise ValueError(f"--halting must be one of {HALTING_MODES}, got {halting!r}")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch: the one place where seeding happens.

    :param seed: the seed.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    """``--device`` as a torch device (``auto``: CUDA when present, else the CPU).

    :param name: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
    :return: the torch device.
    :raises UserError: a device this machine lacks, or no device at all.
    """
    try:
        return library_resolve_device(name)
    except ValueError as error:
        raise UserError(str(error)) from None


def run_name(env_id: str, exp_name: str, seed: int) -> str:
    """The run folder name ``<env>__<exp>__<seed>__<time>`` (slashes in the env id become ``-``).

    :param env_id: e.g. ``FPR/Maze-v0``.
    :param exp_name: experiment name.
    :param seed: the seed.
    :return: the folder name.
    """
    return f"{env_id.replace('/', '-')}__{exp_name}__{seed}__{int(time.time())}"


def run_folder(
    out: str | None, resume: str | None, runs_dir: str, env_id: str, exp_name: str, seed: int
) -> tuple[Path, bool]:
    """Where a training run writes (``--out``), checked before anything is built or written.

    :param out: the run folder asked for, or None for a new one under ``runs_dir``.
    :param resume: the checkpoint being resumed, or None.
    :param runs_dir: the folder of run folders.
    :param env_id: the env id (for the new folder's name).
    :param exp_name: the experiment name (for the new folder's name).
    :param seed: the seed (for the new folder's name).
    :return: the run folder, and whether it is ``resume``'s own folder (the run goes on in place;
        TensorBoard then drops the events logged after the checkpoint's step).
    :raises UserError: ``out`` exists and is not ``resume``'s own folder, or is the shipped
        planners' folder.
    """
    from fpr_agents.checkpoints import CHECKPOINT_DIR

    if out is None:
        return Path(runs_dir) / run_name(env_id, exp_name, seed), False
    folder = Path(out)
    if folder.resolve() == CHECKPOINT_DIR.resolve():
        raise UserError(f"--out {out}: the shipped planners' folder is never written to")
    own = resume is not None and folder.resolve() == Path(resume).resolve().parent
    if folder.exists() and not own:
        raise UserError(
            f"--out {out} already exists; give a new run folder (or, to go on in place, "
            "the folder of the --resume checkpoint)"
        )
    return folder, own


def check_env_id(env_id: str) -> None:
    """Raise a ValueError listing the registered ``FPR/`` ids when ``env_id`` is unknown.

    :param env_id: the id to check.
    """
    import gymnasium as gym

    import envs

    if env_id not in gym.registry:
        raise UserError(
            f"unknown env id {env_id!r}; registered FPR ids: {', '.join(envs.registered_ids())}"
        )


def env_task_description(env: gym.Env) -> dict[str, Any]:
    """The task description of an FPR env, ``env.unwrapped.task_description`` (a property the
    FPR envs add, which Gymnasium's ``Env`` type does not declare).

    :param env: an FPR env, wrapped or not.
    :return: its task description.
    """
    unwrapped: Any = env.unwrapped  # the FPR env, with its task_description
    task: dict[str, Any] = unwrapped.task_description
    return task


def _atomic_write(path: Path, write: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def save_checkpoint(
    path: str | os.PathLike[str],
    tensors: Mapping[str, torch.Tensor],
    meta: Mapping[str, Any],
) -> None:
    """Write ``path`` (safetensors weights) and its ``.json`` (config, metrics, step), atomically.

    :param path: the ``.safetensors`` file.
    :param tensors: name -> tensor (model and optimizer state flattened).
    :param meta: JSON-serialisable metadata: architecture config, task description, metrics.
    """
    path = Path(path)
    cpu = {name: t.detach().to("cpu").contiguous() for name, t in tensors.items()}
    _atomic_write(path, lambda tmp: save_file(cpu, tmp))
    text = json.dumps(meta, indent=2, sort_keys=True, default=str)
    _atomic_write(path.with_suffix(".json"), lambda tmp: Path(tmp).write_text(text))


def save_model_zip(model: Any, path: str | os.PathLike[str]) -> None:
    """Write an SB3 model's ``.zip`` (``model.save``) atomically, for ``PPO.load`` and
    ``MaskablePPO.load``.

    :param model: the SB3 model.
    :param path: the ``.zip`` file.
    """
    buffer = io.BytesIO()
    model.save(buffer)
    _atomic_write(Path(path), lambda tmp: Path(tmp).write_bytes(buffer.getvalue()))


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    """An optimizer's per-parameter state as named tensors (``optim.<index>.<name>``).

    :param optimizer: the optimizer.
    :return: tensors to store beside the weights.
    """
    return {
        f"optim.{index}.{name}": torch.as_tensor(value)
        for index, state in optimizer.state_dict()["state"].items()
        for name, value in state.items()
    }


def load_optimizer_tensors(
    optimizer: torch.optim.Optimizer, tensors: Mapping[str, torch.Tensor]
) -> None:
    """Restore the state written by :func:`optimizer_tensors` (other tensors are ignored).

    :param optimizer: an optimizer over the same parameters.
    :param tensors: a checkpoint's tensors.
    """
    state_dict = optimizer.state_dict()
    for key, value in strip_prefix(tensors, "optim.").items():
        index, name = key.split(".", 1)
        state_dict["state"].setdefault(int(index), {})[name] = value
    optimizer.load_state_dict(state_dict)


def copy_weights(
    source: str | os.PathLike[str], target: str | os.PathLike[str], prefix: str
) -> None:
    """Write ``target`` with the weights of checkpoint ``source`` (names starting with
    ``prefix``; optimizer state left out) and the same metadata.

    :param source: a checkpoint file.
    :param target: the file to write.
    :param prefix: the weights' name prefix.
    """
    tensors, meta = load_checkpoint(source)
    save_checkpoint(target, {k: v for k, v in tensors.items() if k.startswith(prefix)}, meta)
