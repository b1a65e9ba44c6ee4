"""A checkpoint fixes its reasoner's architecture, not its solver: the flat reasoner dict each
shipped checkpoint stores splits into the two parts and joins back; a run may change the solver
of a checkpoint, and a different architecture is refused with the fields that differ."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
import torch

from fpr_agents.checkpoints import shipped_checkpoint, shipped_names
from fpr_agents.checkpoints.files import compare_architecture
from fpr_agents.policy import load_planner
from fpr_agents.reasoner import ArchitectureConfig, ReasonerConfig, SolverConfig
from fpr_agents.reasoner.config import ARCHITECTURE_FIELDS, SOLVER_FIELDS


def _stored(name: str) -> dict[str, Any]:
    """The flat reasoner dict a shipped checkpoint's JSON stores.

    :param name: the shipped planner.
    :return: field -> value, as written (older checkpoints lack fields added since).
    """
    meta = json.loads(shipped_checkpoint(name).with_suffix(".json").read_text())
    return dict(meta["reasoner"])


@pytest.mark.parametrize("name", shipped_names())
def test_stored_dict_splits_into_parts_and_joins_back(name: str) -> None:
    stored = _stored(name)
    assert set(stored) <= set(ARCHITECTURE_FIELDS) | set(SOLVER_FIELDS), "unknown fields"
    config = ReasonerConfig(**stored)
    architecture = ArchitectureConfig(
        **{k: v for k, v in stored.items() if k in ARCHITECTURE_FIELDS}
    )
    solver = SolverConfig(**{k: v for k, v in stored.items() if k in SOLVER_FIELDS})
    assert config.architecture == architecture and config.solver == solver
    flat = dataclasses.asdict(ReasonerConfig.from_parts(architecture, solver))
    assert flat == dataclasses.asdict(config)
    assert {k: flat[k] for k in stored} == stored  # what was stored comes back as stored


@pytest.mark.parametrize("name", shipped_names())
def test_solver_change_is_allowed_architecture_change_refused(name: str) -> None:
    stored = ReasonerConfig(**_stored(name))
    run = stored.with_solver(max_iters=stored.max_iters + 1, tol=stored.tol / 2, halting="readout")
    compare_architecture(run.architecture, stored.architecture, "reasoner config")
    compare_architecture(run, stored, "reasoner config")  # flat configs: architecture part only
    wider = dataclasses.replace(run, d_model=2 * stored.d_model, n_layers=stored.n_layers + 1)
    message = (
        r"checkpoint reasoner config differs in fields 'd_model', 'n_layers': this run has "
        rf"d_model={2 * stored.d_model}, n_layers={stored.n_layers + 1}, the checkpoint has "
        rf"d_model={stored.d_model}, n_layers={stored.n_layers}$"
    )
    with pytest.raises(ValueError, match=message):
        compare_architecture(wider.architecture, stored.architecture, "reasoner config")
    with pytest.raises(ValueError, match="'eps'"):
        compare_architecture(dataclasses.replace(stored, eps=1e-3), stored, "reasoner config")


def test_architecture_is_not_compared_with_a_mapping() -> None:
    config = ReasonerConfig()
    with pytest.raises(TypeError, match="two ArchitectureConfigs"):
        compare_architecture(config.architecture, dataclasses.asdict(config), "reasoner config")


def test_loaded_planner_takes_a_new_solver_not_a_new_architecture() -> None:
    torch.set_num_threads(1)
    planner = load_planner("maze")
    architecture = planner.config.architecture
    planner.set_solver(max_iters=5, halting="fixed_depth", fixed_depth=5)
    assert planner.reasoner.config.max_iters == 5 and planner.config.architecture == architecture
    with pytest.raises(ValueError, match=r"\['mlp_kernel'\] shape the weights"):
        planner.set_solver(mlp_kernel=5)
    assert planner.config.architecture == architecture
