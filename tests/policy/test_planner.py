"""PlannerNetwork: solver settings change in place, the weights' shape does not."""

from __future__ import annotations

import gymnasium as gym
import pytest
import torch

import envs  # noqa: F401
from fpr_agents.policy import PlannerNetwork


def test_set_solver_changes_the_reasoners_settings_only() -> None:
    task = gym.make("FPR/Maze-9x9-v0").unwrapped.task_description
    torch.manual_seed(0)
    planner = PlannerNetwork(task, {"d_model": 16, "attention": False, "mlp_kernel": 3})
    weights = {k: v.clone() for k, v in planner.state_dict().items()}
    planner.set_solver(patience=2, max_iters=7)
    assert planner.config.patience == 2 and planner.reasoner.config.max_iters == 7
    assert planner.reasoner.config is planner.config
    grid = torch.from_numpy(gym.make("FPR/Maze-9x9-v0").reset(seed=0)[0]["grid"]).view(1, 9, 9)
    x, mask = planner.embed({"grid": grid})
    assert planner.reasoner.solve(x, mask).iterations.max() <= 7
    assert all(torch.equal(weights[k], v) for k, v in planner.state_dict().items())
    with pytest.raises(ValueError, match="d_model"):
        planner.set_solver(d_model=32)
    with pytest.raises(ValueError, match="patience"):
        planner.set_solver(patience=0)


def test_value_reads_the_agents_cell_on_move_layouts_only() -> None:
    maze = gym.make("FPR/Maze-9x9-v0").unwrapped.task_description
    sudoku = gym.make("FPR/Sudoku-4x4-v0").unwrapped.task_description
    small = {"d_model": 16, "n_heads": 2}
    assert PlannerNetwork(maze, small).value_at_agent
    assert not PlannerNetwork(maze, small, value_at_agent=False).value_at_agent
    assert not PlannerNetwork(sudoku, small).value_at_agent
    with pytest.raises(ValueError, match="move_at_agent"):
        PlannerNetwork(sudoku, small, value_at_agent=True)


def test_edge_embedding_reads_the_envs_grid_extents() -> None:
    env = gym.make("FPR/ARC-Concepts-v0")
    task = env.unwrapped.task_description
    stacks = {"demo_inputs": 3, "demo_outputs": 3}
    config = {"d_model": 16, "n_heads": 2, "attention": True, "edge_embedding": 10}
    torch.manual_seed(0)
    planner = PlannerNetwork(task, config, stack_sizes=stacks)
    obs = {k: torch.as_tensor(v)[None] for k, v in env.reset(seed=4)[0].items()}
    x, _ = planner.embed(obs)
    other = dict(obs, shapes=torch.full_like(obs["shapes"], 3))
    assert not torch.allclose(x, planner.embed(other)[0])  # the extents move the embedding
    with pytest.raises(ValueError, match="'shapes', which is missing"):
        planner.embed({k: v for k, v in obs.items() if k != "shapes"})
    maze = gym.make("FPR/Maze-9x9-v0").unwrapped.task_description
    with pytest.raises(ValueError, match="shapes_key"):
        PlannerNetwork(maze, {"d_model": 16, "edge_embedding": 9})
