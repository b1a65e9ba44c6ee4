"""The ARC agent: the shape head, the action rule, and whole episodes in the real env."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import envs  # noqa: F401
from fpr_agents.checkpoints import shipped_checkpoint
from fpr_agents.evaluation.rollout import run_episodes
from fpr_agents.policy import load_planner
from fpr_agents.policy.arc_actions import ArcActionLayout, ArcState, rule_actions, rule_logits
from fpr_agents.policy.arc_shape import ShapeHead, object_extents, top_shapes
from fpr_agents.policy.models import planner_model
from fpr_agents.policy.planner import PlannerNetwork

SIDE = 6
TRAINED_FAMILIES = ["flip", "recolour", "fill_enclosed", "denoise"]


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def _task(side: int = SIDE) -> dict:
    sizes = [f"resize_{h}x{w}" for h in range(1, side + 1) for w in range(1, side + 1)]
    return {
        "action_layout": "symbol_per_cell",
        "grid_shape": [side, side],
        "n_symbols": 10,
        "global_actions": [*sizes, "copy_input", "submit"],
    }


def _grid(height: int, width: int, fill: int = 1) -> torch.Tensor:
    grid = torch.full((SIDE, SIDE), 10)
    grid[:height, :width] = fill
    return grid


def _demos(pairs: list[tuple[tuple[int, int], tuple[int, int]]]) -> tuple:
    """Demo inputs (1, K, G, G) and their extents for (input shape, output shape) pairs."""
    inputs = torch.stack([_grid(*shape_in) for shape_in, _ in pairs])[None]
    extents_in = torch.tensor([[list(s) for s, _ in pairs]])
    extents_out = torch.tensor([[list(s) for _, s in pairs]])
    return inputs, (extents_in, extents_out)


def _predict(head: ShapeHead, pairs: list, test: tuple[int, int]) -> tuple[int, int]:
    inputs, extents = _demos(pairs)
    with torch.no_grad():
        logits = head(inputs, extents, _grid(*test)[None], torch.tensor([list(test)]))
    shapes, _ = top_shapes(logits, k=1)
    return tuple(shapes[0, 0].tolist())


# --- the shape head -----------------------------------------------------------------------------


def test_object_extents_are_the_bounding_box_inside_the_extent() -> None:
    grid = torch.zeros(1, 1, SIDE, SIDE, dtype=torch.long)
    grid[0, 0, 1, 2] = 3
    grid[0, 0, 3, 4] = 5
    grid[0, 0, 5, 5] = 7  # outside the 4 x 5 extent: not counted
    extents = torch.tensor([[[4, 5]]])
    assert object_extents(grid, extents).tolist() == [[[3, 3]]]
    assert object_extents(torch.zeros_like(grid), extents).tolist() == [[[0, 0]]]


def test_shape_head_answers_same_as_input_scale_and_constant_rules() -> None:
    head = ShapeHead(SIDE)  # its initial weights: the rules every demo bears out
    same = [((3, 4), (3, 4)), ((5, 2), (5, 2))]
    assert _predict(head, same, (4, 5)) == (4, 5)
    twice = [((2, 3), (4, 6)), ((3, 1), (6, 2))]
    assert _predict(head, twice, (1, 2)) == (2, 4)
    constant = [((3, 4), (2, 2)), ((5, 5), (2, 2))]
    assert _predict(head, constant, (4, 6)) == (2, 2)
    swapped = [((2, 5), (5, 2)), ((3, 4), (4, 3))]
    assert _predict(head, swapped, (1, 6)) == (6, 1)


def test_shape_head_learns_to_prefer_the_input_size_when_demos_allow_a_constant() -> None:
    """Demos of one size fit both "same as the input" and "constant"; training on tasks whose
    answers keep the input's size teaches the head which to trust."""
    torch.manual_seed(0)
    head = ShapeHead(SIDE)
    ambiguous = [((3, 3), (3, 3)), ((3, 3), (3, 3))]
    inputs, extents = _demos(ambiguous)
    test = torch.tensor([[5, 4]])

    def p_input_size() -> float:
        with torch.no_grad():
            logits = head(inputs, extents, _grid(5, 4)[None], test)
        return float(logits[0, 0, 4].exp() * logits[0, 1, 3].exp())

    before = p_input_size()
    optimizer = torch.optim.Adam(head.parameters(), lr=0.05)
    for _ in range(40):
        loss = head.loss(inputs, extents, _grid(5, 4)[None], test, test)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert before < 0.5 < 0.9 < p_input_size()


def test_planners_without_shape_head_weights_load_with_the_initial_head() -> None:
    env = gym.make("FPR/ARC-Concepts-v0")
    config = {"d_model": 16, "n_heads": 2}
    stacks = {"demo_inputs": 3, "demo_outputs": 3}
    planner = PlannerNetwork(env.unwrapped.task_description, config, stack_sizes=stacks)
    assert planner.shape_head is not None and not planner.acts_by_rule
    old = {k: v for k, v in planner.state_dict().items() if not k.startswith("shape_head.")}
    fresh = PlannerNetwork(env.unwrapped.task_description, config, stack_sizes=stacks)
    fresh.load_state_dict(old)  # strict: the head's absence is no error
    assert not fresh.acts_by_rule
    planner.shape_head.trained.fill_(True)
    fresh.load_state_dict(planner.state_dict())
    assert fresh.acts_by_rule
    maze = PlannerNetwork(gym.make("FPR/Maze-9x9-v0").unwrapped.task_description, config)
    assert maze.shape_head is None and not maze.acts_by_rule


# --- the action rule ----------------------------------------------------------------------------


def _state(
    readout: torch.Tensor,
    canvas: torch.Tensor,
    shape: tuple[int, int],
    *,
    predicted: tuple[int, int] | None = None,
    confidence: torch.Tensor | None = None,
    submissions: int = 0,
    test_input: torch.Tensor | None = None,
    input_shape: tuple[int, int] | None = None,
    second_shape: tuple[tuple[int, int], float] | None = None,
) -> ArcState:
    """One observation: a readout (G, G) of colours with their confidence (G, G), a canvas of
    ``shape`` and the shape head's prediction (certain unless ``second_shape`` gives another
    shape and its probability)."""
    confidence = torch.full((SIDE, SIDE), 0.9) if confidence is None else confidence
    probs = torch.full((SIDE, SIDE, 10), 0.0)
    probs.scatter_(-1, readout[..., None], confidence[..., None])
    second = (readout + 1) % 10  # every cell's second choice: the next colour
    probs.scatter_(-1, second[..., None], (1 - confidence[..., None]) * 0.9)
    probs = probs + 1e-6
    predicted = predicted or shape
    side_probs = torch.full((2, SIDE), 1e-9)
    side_probs[0, predicted[0] - 1] = side_probs[1, predicted[1] - 1] = 1.0
    if second_shape is not None:
        (h, w), share = second_shape
        side_probs[0, predicted[0] - 1] = 1.0
        side_probs[1, :] = 1e-9
        side_probs[1, predicted[1] - 1] = 1 - share
        side_probs[1, w - 1] = share
        assert h == predicted[0]
    test_input = canvas if test_input is None else test_input
    return ArcState(
        cell_logp=probs.log()[None],
        shape_logp=side_probs.log()[None],
        canvas=canvas[None],
        canvas_shape=torch.tensor([list(shape)]),
        test_input=test_input[None],
        input_shape=torch.tensor([list(input_shape or shape)]),
        submissions=torch.tensor([submissions]),
    )


LAYOUT = ArcActionLayout.from_task(_task())
assert LAYOUT is not None
N_PAINT = SIDE * SIDE * 10


def _paint(row: int, col: int, colour: int) -> int:
    return (row * SIDE + col) * 10 + colour


def _resize(height: int, width: int) -> int:
    return N_PAINT + (height - 1) * SIDE + width - 1


def _act(state: ArcState) -> int:
    return int(rule_actions(state, LAYOUT)[0])


def test_layout_reads_the_action_indices_from_the_task() -> None:
    assert LAYOUT.copy_input == N_PAINT + SIDE * SIDE
    assert LAYOUT.submit == LAYOUT.copy_input + 1 == LAYOUT.n_actions - 1
    assert LAYOUT.resize[(3 - 1) * SIDE + 2 - 1] == _resize(3, 2)
    assert ArcActionLayout.from_task({**_task(), "global_actions": ["submit"]}) is None


def test_a_canvas_that_is_the_readout_is_submitted() -> None:
    readout = _grid(3, 4, fill=2).clamp_max(9)
    assert _act(_state(readout, readout.clone(), (3, 4))) == LAYOUT.submit


def test_a_mismatch_is_painted_most_confident_first() -> None:
    readout = _grid(3, 4, fill=2).clamp_max(9)
    canvas = readout.clone()
    canvas[0, 1] = 5
    canvas[2, 3] = 6
    confidence = torch.full((SIDE, SIDE), 0.6)
    confidence[2, 3] = 0.95
    assert _act(_state(readout, canvas, (3, 4), confidence=confidence)) == _paint(2, 3, 2)
    confidence[0, 1] = 0.99
    assert _act(_state(readout, canvas, (3, 4), confidence=confidence)) == _paint(0, 1, 2)


def test_a_wrong_size_is_fixed_first_by_resize_or_by_copying_the_input() -> None:
    readout = _grid(4, 4, fill=3).clamp_max(9)
    canvas = _grid(2, 2, fill=0).clamp_max(9)
    state = _state(readout, canvas, (2, 2), predicted=(4, 4), input_shape=(2, 2))
    assert _act(state) == _resize(4, 4)
    # the predicted shape is the test input's, and copying it leaves fewer cells to paint
    test_input = readout.clone()
    test_input[0, 0] = 1
    state = _state(
        readout, canvas, (2, 2), predicted=(4, 4), test_input=test_input, input_shape=(4, 4)
    )
    assert _act(state) == LAYOUT.copy_input


def test_after_a_wrong_submission_the_least_sure_cell_gets_its_second_choice() -> None:
    readout = _grid(3, 3, fill=4).clamp_max(9)
    confidence = torch.full((SIDE, SIDE), 0.9)
    confidence[1, 2] = 0.55
    state = _state(readout, readout.clone(), (3, 3), confidence=confidence, submissions=1)
    assert _act(state) == _paint(1, 2, 5)  # its second choice: the next colour
    canvas = readout.clone()
    canvas[1, 2] = 5
    state = _state(readout, canvas, (3, 3), confidence=confidence, submissions=1)
    assert _act(state) == LAYOUT.submit  # the alternative answer is on the canvas
    canvas[0, 0] = 7  # and something else differs too: fix that first
    state = _state(readout, canvas, (3, 3), confidence=confidence, submissions=1)
    assert _act(state) == _paint(0, 0, 4)


def test_after_a_wrong_submission_a_likely_second_shape_is_tried() -> None:
    readout = _grid(3, 4, fill=4).clamp_max(9)
    state = _state(readout, readout.clone(), (3, 3), second_shape=((3, 4), 0.4), submissions=1)
    assert _act(state) == _resize(3, 4)
    unlikely = _state(readout, readout.clone(), (3, 3), second_shape=((3, 4), 0.1), submissions=1)
    assert _act(unlikely) != _resize(3, 4)
    first = _state(readout, readout.clone(), (3, 3), second_shape=((3, 4), 0.4))
    assert _act(first) == LAYOUT.submit  # before any submission: the most likely shape


def test_rule_logits_make_the_rule_action_the_choice() -> None:
    logits = rule_logits(torch.tensor([3, 7]), 10, torch.float32)
    assert logits.argmax(-1).tolist() == [3, 7]
    assert torch.isfinite(logits).all()


# --- whole episodes -------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_shipped_planner_plays_episodes_it_ends_by_submitting() -> None:
    planner = load_planner(shipped_checkpoint("arc_concepts"))
    assert planner.acts_by_rule, "the shipped ARC planner carries a trained shape head"
    make = lambda: gym.make("FPR/ARC-Concepts-v0", families=TRAINED_FAMILIES, max_depth=1)  # noqa: E731
    result = run_episodes(planner, [make() for _ in range(4)], list(range(70_000, 70_008)))
    assert len(result.episodes) == 8
    assert result.success_rate >= 0.5
    assert all(e.length < 60 for e in result.episodes if e.success)


@pytest.mark.slow
def test_after_a_wrong_first_submission_the_agent_changes_its_answer() -> None:
    """Played step by step in the real env: every episode submits, and the step after a wrong
    submission is a paint (the second attempt), never the same answer again."""
    planner = load_planner(shipped_checkpoint("arc_concepts"))
    env = gym.make("FPR/ARC-Concepts-v0", families=TRAINED_FAMILIES, max_depth=1)
    planner.adapt_to(env.unwrapped.task_description)
    submit = env.unwrapped.max_grid**2 * 11 + 1
    retried = 0
    for seed in range(70_000, 70_006):
        obs, info = env.reset(seed=seed)
        actions: list[int] = []
        for _ in range(40):
            batch = {k: torch.as_tensor(v)[None] for k, v in obs.items()}
            with torch.no_grad():
                actions.append(int(planner(batch).logits.argmax(-1)))
            obs, _, terminated, _, info = env.step(actions[-1])
            if terminated:
                break
        assert submit in actions, f"seed {seed}: no submission in {len(actions)} steps"
        first = actions.index(submit)
        if not info["is_success"] or first < len(actions) - 1:
            retried += first < len(actions) - 1
            assert actions[first + 1] < submit - 1 - env.unwrapped.max_grid**2  # a paint
    assert retried >= 1  # the seeds hold a task whose first answer is wrong


@pytest.mark.slow
def test_the_agent_resizes_a_scale_up_task_and_sb3_predict_agrees() -> None:
    env = gym.make("FPR/ARC-Concepts-v0", families=["scale_up"], max_depth=1)
    obs, _ = env.reset(seed=3)
    answer = env.unwrapped.answer.shape
    model = planner_model("arc_concepts", env, algo="maskable_ppo", device="cpu")
    action, _ = model.predict(obs, deterministic=True, action_masks=env.unwrapped.action_masks())
    assert int(action) == _resize_in(env, *answer)
    obs, *_ = env.step(int(action))
    assert tuple(obs["shapes"].reshape(-1, 2)[-1]) == answer


def _resize_in(env: gym.Env, height: int, width: int) -> int:
    side = env.unwrapped.max_grid
    return side * side * 10 + (height - 1) * side + width - 1


def test_planner_on_the_real_env_always_picks_an_allowed_action() -> None:
    env = gym.make("FPR/ARC-Concepts-v0")
    planner = PlannerNetwork(
        env.unwrapped.task_description,
        {"d_model": 16, "n_heads": 2, "max_iters": 4},
        stack_sizes={"demo_inputs": 3, "demo_outputs": 3},
    )
    planner.rule_actions = True  # act by the rule with the head's initial weights
    result = run_episodes(planner, [env], [1, 2], max_steps=12)
    assert len(result.episodes) == 2
    obs, _ = env.reset(seed=5)
    batch = {k: torch.as_tensor(v)[None] for k, v in obs.items()}
    with torch.no_grad():
        action = int(planner(batch).logits.argmax(-1))
    assert env.unwrapped.action_masks()[action]
    np.testing.assert_equal(obs["submissions"], [0])
