"""PlannerNetwork: solver settings change in place, the weights' shape does not."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import envs  # noqa: F401
from fpr_agents.policy import PlannerNetwork
from fpr_agents.policy.planner import grid_extents, mirror_grid
from train.common import load_planner, save_checkpoint


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
    with pytest.raises(ValueError, match=r"\['d_model'\] shape the weights"):
        planner.set_solver(d_model=32)
    with pytest.raises(ValueError, match=r"\['max_iter'\] are no solver fields"):
        planner.set_solver(max_iter=7)
    assert planner.config.max_iters == 7  # a refused change changes nothing
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


def test_mirror_grid_reflects_inside_each_extent() -> None:
    grid = torch.arange(12).reshape(1, 1, 3, 4)  # one 3x4 grid, used as a 2x3 grid + padding
    lengths = torch.tensor([[3]])
    left_right = mirror_grid(grid, lengths, dim=-1)[0, 0]
    assert left_right[0].tolist() == [2, 1, 0, 3]  # columns 0-2 reflected, column 3 kept
    top_bottom = mirror_grid(grid, torch.tensor([[2]]), dim=-2)[0, 0]
    assert top_bottom[:, 0].tolist() == [4, 0, 8]


@settings(max_examples=50, deadline=None)
@given(
    st.integers(1, 6),
    st.integers(1, 6),
    st.integers(0, 6),
    st.integers(0, 6),
    st.integers(0, 2**31 - 1),
)
def test_mirroring_twice_gives_the_grid_back(
    height: int, width: int, rows: int, cols: int, seed: int
) -> None:
    generator = torch.Generator().manual_seed(seed)
    grid = torch.randint(0, 11, (2, 3, height, width), generator=generator)
    lengths_rows = torch.full((2, 3), min(rows, height))
    lengths_cols = torch.full((2, 3), min(cols, width))
    for lengths, dim in ((lengths_cols, -1), (lengths_rows, -2)):
        once = mirror_grid(grid, lengths, dim)
        assert torch.equal(mirror_grid(once, lengths, dim), grid)
        assert sorted(once.flatten().tolist()) == sorted(grid.flatten().tolist())


def test_grid_extents_are_split_by_grid_and_checked() -> None:
    shapes = torch.tensor([[2, 3, 4, 4, 1, 2]], dtype=torch.float32)
    extents = grid_extents(shapes, (4, 4), [("pairs", 2), ("grid", 1)])
    assert extents["pairs"].tolist() == [[[2, 3], [4, 4]]]
    assert extents["grid"].tolist() == [[[1, 2]]]
    with pytest.raises(ValueError, match="lists 3 \\(h, w\\) pairs for 4 grids"):
        grid_extents(shapes, (4, 4), [("pairs", 3), ("grid", 1)])
    with pytest.raises(ValueError, match="within the padded grid 3x4"):
        grid_extents(shapes, (3, 4), [("pairs", 2), ("grid", 1)])


def test_mirror_views_show_a_cell_its_mirror_images() -> None:
    env = gym.make("FPR/ARC-Concepts-v0")
    task = env.unwrapped.task_description
    stacks = {"demo_inputs": 3, "demo_outputs": 3}
    obs = {k: torch.as_tensor(v)[None].long() for k, v in env.reset(seed=4)[0].items()}
    width = int(obs["shapes"].reshape(-1, 2)[6, 1])  # the test input's width
    changed = obs["test_input"].clone().reshape(1, 10, 10)
    changed[0, 0, width - 1] = (changed[0, 0, width - 1] + 1) % 10  # the mirror of (0, 0)
    other = dict(obs, test_input=changed.reshape(1, -1))
    for mirror, expect_change in ((False, False), (True, True)):
        torch.manual_seed(0)
        config = {"d_model": 16, "n_heads": 2, "attention": True, "mirror_views": mirror}
        planner = PlannerNetwork(task, config, stack_sizes=stacks)
        x, _ = planner.embed(obs)
        x_other, _ = planner.embed(other)
        assert width > 1
        assert (not torch.allclose(x[0, 0, 0], x_other[0, 0, 0])) == expect_change
    maze = gym.make("FPR/Maze-9x9-v0").unwrapped.task_description
    with pytest.raises(ValueError, match="mirror_views needs"):
        PlannerNetwork(maze, {"d_model": 16, "mirror_views": True})


def test_extent_options_survive_a_checkpoint_round_trip(tmp_path: Path) -> None:
    """The checkpoint's JSON sorts the task's keys; the grids' extents must still reach the
    grids the env lists them for (``shapes_grids``), not the grid keys' order."""
    env = gym.make("FPR/ARC-Concepts-v0")
    task = env.unwrapped.task_description
    stacks = {"demo_inputs": 3, "demo_outputs": 3}
    config = {
        "d_model": 16,
        "n_heads": 2,
        "attention": True,
        "mirror_views": True,
        "edge_embedding": 10,
    }
    torch.manual_seed(0)
    planner = PlannerNetwork(task, config, stack_sizes=stacks)
    meta = {
        "kind": "fpr_agents.planner",
        "task_description": task,
        "reasoner": planner.config_dict(),
        "head_hidden": 64,
        "stack_sizes": stacks,
    }
    path = tmp_path / "arc.safetensors"
    save_checkpoint(path, {f"model.{k}": v for k, v in planner.state_dict().items()}, meta)
    loaded = load_planner(path)
    assert list(loaded.task["grid_keys"]) != list(task["grid_keys"])  # the JSON sorted them
    obs = {k: torch.as_tensor(v)[None] for k, v in env.reset(seed=6)[0].items()}
    torch.testing.assert_close(loaded.embed(obs)[0], planner.embed(obs)[0])


def _batch(env_id: str, seeds: list[int]) -> dict[str, torch.Tensor]:
    env = gym.make(env_id)
    observations = [env.reset(seed=seed)[0] for seed in seeds]
    return {k: torch.as_tensor(np.stack([o[k] for o in observations])) for k in observations[0]}


@pytest.mark.parametrize(
    ("env_id", "config"),
    [
        ("FPR/Maze-9x9-v0", {"d_model": 16, "attention": False, "mlp_kernel": 3}),
        ("FPR/Sudoku-4x4-v0", {"d_model": 16, "n_heads": 2}),
    ],
)
def test_readout_halting_does_not_depend_on_batch_mates(env_id: str, config: dict) -> None:
    task = gym.make(env_id).unwrapped.task_description
    torch.manual_seed(0)
    planner = PlannerNetwork(task, {**config, "halting": "readout", "readout_decided": 0.0})
    seeds = [0, 1, 2, 3]
    with torch.no_grad():
        together = planner(_batch(env_id, seeds))
        alone = [planner(_batch(env_id, [seed])) for seed in seeds]
    assert together.readout_stable is not None and together.readout_stable.any()
    for row, single in enumerate(alone):
        assert int(together.iterations[row]) == int(single.iterations[0])
        torch.testing.assert_close(together.logits[row], single.logits[0])


def test_readout_waits_while_the_decision_is_undecided() -> None:
    task = gym.make("FPR/Maze-9x9-v0").unwrapped.task_description
    torch.manual_seed(0)
    config = {"d_model": 16, "attention": False, "mlp_kernel": 3, "halting": "readout"}
    planner = PlannerNetwork(task, {**config, "readout_decided": 1.0, "stall_patience": 0})
    planner.set_solver(tol=0.0, max_iters=12)  # nothing is ever that sure, nor converged
    with torch.no_grad():
        out = planner(_batch("FPR/Maze-9x9-v0", [0, 1]))
    assert (out.iterations == 12).all() and out.capped.all()


@pytest.mark.parametrize(
    ("agent", "named"),
    [
        ([9.0, 2.0], r"\[9\.0, 2\.0\]: not a cell of the 9 x 9 grid"),  # one row past the edge
        ([-1.0, 0.0], r"\[-1\.0, 0\.0\]"),  # would wrap around to the last row
        ([1.5, 2.0], r"\[1\.5, 2\.0\]"),
        ([float("nan"), 2.0], r"\[nan, 2\.0\]"),
        ([2.0, float("inf")], r"\[2\.0, inf\]"),
    ],
)
def test_an_agent_outside_the_grid_is_named_not_wrapped(agent: list[float], named: str) -> None:
    env = gym.make("FPR/Maze-9x9-v0")
    planner = PlannerNetwork(env.unwrapped.task_description, {"d_model": 16, "mlp_kernel": 3})
    obs, _ = env.reset(seed=0)
    good = {k: torch.as_tensor(np.stack([v, v])) for k, v in obs.items()}
    x, mask = planner.embed(good)
    z = torch.zeros_like(x)
    logits, _ = planner.readout(z, good, mask)  # a valid position reads its cell
    assert logits.shape[0] == 2
    bad = dict(good, agent=torch.tensor([good["agent"][0].tolist(), agent]))
    with pytest.raises(ValueError, match=rf"observation 'agent' of sample 1 is {named}"):
        planner.readout(z, bad, mask)
    with pytest.raises(ValueError, match="sample 1"):
        planner.decision_readout(bad, mask, (9, 9))


def test_the_plan_signal_reads_every_free_cells_decided_move() -> None:
    planner = load_planner("maze_mixed")
    planner.set_solver(readout_signal="plan")
    batch = _batch("FPR/Maze-Dynamic-15x15-v0", [3])
    free = batch["grid"].view(15, 15) > 0  # the mazes' walls are symbol 0
    z = planner(batch).z
    moves = torch.softmax(planner.move_head.forward_all(z)[0].float(), dim=-1)  # (15, 15, 4)
    row, col = (int(v) for v in batch["agent"][0])
    for threshold in (0.5, 0.999):
        planner.set_solver(readout_decided=threshold)
        probs, decided = planner.decision_readout(batch, None, (17, 17))(z, torch.tensor([0]))
        plan = probs.view(17, 17, 4)  # padded to the batch's sides
        assert not plan[15:].any() and not plan[:, 15:].any()
        plan = plan[:15, :15]
        sure = free & (moves.amax(-1) >= threshold)
        assert 0 < int(sure.sum()) < int(free.sum()) or threshold == 0.5
        assert not plan[~sure].any()  # walls and undecided cells read nothing
        assert torch.equal(plan[sure].argmax(-1), moves[sure].argmax(-1))
        assert torch.equal(plan[sure].sum(-1), torch.ones(int(sure.sum())))
        assert bool(decided[0]) == bool(moves[row, col].amax() >= threshold)


def test_free_cells_follow_the_tasks_wall_symbol() -> None:
    planner = load_planner("maze_mixed")
    batch = _batch("FPR/Maze-15x15-v0", [0])
    grid = batch["grid"].view(1, 15, 15)
    assert torch.equal(planner.free_cells(batch, None, (15, 15)), grid != 0)
    planner.task["wall_symbol"] = 1
    mask = torch.zeros(1, 16, 15, dtype=torch.bool)  # the batch's padded sides
    mask[:, :8] = True
    free = planner.free_cells(batch, mask, (16, 15))
    assert free.shape == (1, 16, 15) and not free[:, 8:].any()
    assert torch.equal(free[:, :8], grid[:, :8] != 1)


def test_the_plan_signal_halts_no_earlier_than_the_agents_move() -> None:
    planner = load_planner("maze_mixed")
    batch = _batch("FPR/Maze-Dynamic-15x15-v0", list(range(6)))
    planner.set_solver(readout_signal="choices")
    agent_only = planner(batch)
    planner.set_solver(readout_signal="plan")
    whole = planner(batch)
    assert whole.readout_stable is not None and whole.readout_stable.all()
    assert bool((whole.iterations >= agent_only.iterations).all())
    assert whole.iterations.sum() > agent_only.iterations.sum()
    # the agent's move is decided and settled in both: the same greedy action
    assert torch.equal(whole.logits.argmax(-1), agent_only.logits.argmax(-1))


def test_the_plan_signal_of_a_symbol_layout_reads_its_choices() -> None:
    planner = load_planner("sudoku4")
    batch = _batch("FPR/Sudoku-4x4-v0", [0, 1])
    allowed = (batch["board"] == 0).repeat_interleave(4, dim=1)  # (2, 16 * 4)
    z = planner(batch).z
    reads = []
    for signal in ("choices", "plan"):
        planner.set_solver(readout_signal=signal)
        reads.append(planner.decision_readout(batch, None, (4, 4), allowed)(z, torch.arange(2)))
    assert torch.equal(reads[0][0], reads[1][0]) and torch.equal(reads[0][1], reads[1][1])
