"""Greedy episodes of a planner on a batch of environments, recording every decision."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from fpr_agents.policy.planner import PlannerNetwork
from fpr_agents.policy.planning_state import PlanningState


@dataclass
class DecisionRecord:
    """One decision: the state's difficulty and how long the planner thought about it.

    :param episode: index of the episode.
    :param step: step within the episode.
    :param difficulty: ``info["difficulty"]`` of the state the decision was taken in.
    :param iterations: reasoner iterations used.
    :param residual: final relative residual.
    :param converged: whether the residual reached the tolerance.
    :param stalled: halted by the stall guard (no progress).
    :param readout_stable: halted because the decision's readout was stable and decided.
    :param diverged: the latent blew up (non-finite or past the divergence limit).
    :param capped: ran to the iteration cap with no other reason to halt.
    :param event: what changed in the world just before this decision (``info["event"]`` of the
        step that led to its state; "none" when nothing did, or the env reports no events).
    :param replan_cells: how much of the plan that change invalidated (``info["replan_cells"]``).
    :param held: taken from the kept plan without iterating (the world changed only as the last
        action said it would, and the plan was decided about this decision).
    :param replanned: solved from scratch because the agent was back in a state it had been in
        during this episode (its kept plan led it in a circle).
    """

    episode: int
    step: int
    difficulty: float
    iterations: int
    residual: float
    converged: bool
    stalled: bool = False
    readout_stable: bool = False
    diverged: bool = False
    capped: bool = False
    event: str = "none"
    replan_cells: int = 0
    held: bool = False
    replanned: bool = False


@dataclass
class EpisodeRecord:
    """One episode's outcome.

    :param episode: index of the episode.
    :param success: ``info["is_success"]`` at the end.
    :param episode_return: sum of rewards.
    :param length: steps taken.
    :param initial_difficulty: difficulty at reset.
    :param seed: the reset seed.
    :param looped: the episode was cut because an observation came back (a greedy policy in a
        deterministic env would go round that loop for ever).
    """

    episode: int
    success: bool
    episode_return: float
    length: int
    initial_difficulty: float
    seed: int
    looped: bool = False


@dataclass
class RolloutResult:
    """Every decision and episode of an evaluation.

    :param decisions: per-decision records.
    :param episodes: per-episode records.
    """

    decisions: list[DecisionRecord] = field(default_factory=list)
    episodes: list[EpisodeRecord] = field(default_factory=list)

    @property
    def success_rate(self) -> float:
        """Share of successful episodes (NaN when there are none)."""
        if not self.episodes:
            return float("nan")
        return float(np.mean([e.success for e in self.episodes]))

    def share(self, flag: str) -> float:
        """Share of decisions with a flag set (``converged``, ``stalled``, ``readout_stable``,
        ``diverged``, ``capped``); NaN when there are none.

        :param flag: the DecisionRecord field.
        :return: the share in [0, 1].
        """
        if not self.decisions:
            return float("nan")
        return float(np.mean([bool(getattr(d, flag)) for d in self.decisions]))

    @property
    def mean_iterations(self) -> float:
        """Mean iterations per decision (NaN when there are none)."""
        if not self.decisions:
            return float("nan")
        return float(np.mean([d.iterations for d in self.decisions]))


def _key(obs: dict[str, np.ndarray]) -> bytes:
    return b"".join(np.ascontiguousarray(obs[k]).tobytes() for k in sorted(obs))


def _stack(observations: Sequence[dict[str, np.ndarray]], device: torch.device) -> dict[str, Any]:
    return {
        key: torch.as_tensor(np.stack([obs[key] for obs in observations]), device=device)
        for key in observations[0]
    }


@torch.no_grad()
def run_episodes(
    planner: PlannerNetwork,
    envs: Sequence[gym.Env],
    seeds: Sequence[int],
    *,
    max_iters: int | None = None,
    halting: str | None = None,
    warm_start: bool = True,
    hold_plans: bool = True,
    max_steps: int | None = None,
    stop_on_repeat: bool = True,
    replan_on_repeat: bool = True,
    device: torch.device | str = "cpu",
    progress: Any = None,
    difficulty_key: str = "difficulty",
) -> RolloutResult:
    """Play one greedy episode per seed, the envs stepping in lockstep so that the planner solves
    all active states as one batch (per-sample halting keeps each result its own).

    Invalid actions are masked with the env's ``action_masks()`` when it has one.

    :param planner: the planner network.
    :param envs: environments (as many as run at once; each plays seeds in turn).
    :param seeds: one reset seed per episode.
    :param max_iters: iteration cap per decision (None: the planner's config).
    :param halting: halting mode override (e.g. ``"fixed_depth"``).
    :param warm_start: start each decision from the env's previous fixed point in the same episode
        (:class:`~fpr_agents.policy.planning_state.PlanningState`; a new episode starts cold).
    :param hold_plans: with ``warm_start``, a decision whose observation is the one the last
        action was expected to give is read from the kept plan without iterating, where that
        plan is decided about it (``PlannerNetwork.forward(hold=...)``); never under
        "fixed_depth", which runs its depth every decision.
    :param max_steps: cut episodes after this many steps (None: the env's own limit).
    :param replan_on_repeat: with ``stop_on_repeat``, the first time an observation comes back
        the agent drops its kept plan and solves that decision from scratch (a warm-started plan
        that went stale, e.g. after a door closed, can lead it in a circle; a fresh plan does
        not carry the stale one); only a second return ends the episode.
    :param stop_on_repeat: end an episode as a failure when an observation repeats (the greedy
        policy acts on the observation alone, so in a deterministic env it is in a loop).
    :param device: where the planner runs.
    :param progress: an object with ``update(n)`` (e.g. tqdm) told of each finished episode.
    :param difficulty_key: the info key each decision's difficulty is read from (e.g. a Sudoku
        env's ``"propagation_rounds"``); the env's ``"difficulty"`` by default.
    :return: all decisions and episodes.
    :raises ValueError: a ``difficulty_key`` other than the default that the env's infos lack.
    """
    device = torch.device(device)
    planner.eval()
    description = getattr(envs[0].unwrapped, "task_description", None)
    if description is not None:
        planner.adapt_to(description)
    result = RolloutResult()
    pending = list(enumerate(seeds))
    slots: list[dict[str, Any] | None] = [None] * len(envs)
    planning = PlanningState(len(envs))

    def read_difficulty(info: dict[str, Any]) -> float:
        if difficulty_key != "difficulty" and difficulty_key not in info:
            raise ValueError(
                f"difficulty_key {difficulty_key!r}: the env's info has no such key "
                f"(it has {sorted(info)})"
            )
        return float(info.get(difficulty_key, np.nan))

    def start(slot: int) -> None:
        if not pending:
            slots[slot] = None
            return
        episode, seed = pending.pop(0)
        planning.set_row(slot, None)  # a new episode starts cold
        obs, info = envs[slot].reset(seed=int(seed))
        difficulty = read_difficulty(info)
        slots[slot] = {
            "episode": episode, "seed": int(seed), "obs": obs, "step": 0, "return": 0.0,
            "difficulty": difficulty, "initial": difficulty, "seen": {_key(obs): 1},
            "replanned": False,
            "event": str(info.get("event", "none")), "replan": int(info.get("replan_cells", 0)),
        }  # fmt: skip

    for slot in range(len(envs)):
        start(slot)
    while any(s is not None for s in slots):
        active = [i for i, s in enumerate(slots) if s is not None]
        states = [s for s in slots if s is not None]  # in the order of ``active``
        obs = _stack([s["obs"] for s in states], device)
        embedded = planner.embed(obs)
        rows = planning.select(active)
        z0 = rows.start(planner.config, *embedded) if warm_start else None
        masks = [getattr(envs[i].unwrapped, "action_masks", None) for i in active]
        mask_fns = [m for m in masks if m is not None]
        mask = None
        if len(mask_fns) == len(masks):  # every env masks its actions
            mask = torch.as_tensor(np.stack([m() for m in mask_fns]), device=device)
        hold = rows.holds(obs) if warm_start and hold_plans else None
        out = planner(
            obs, z0=z0, max_iters=max_iters, halting=halting, embedded=embedded, hold=hold,
            action_mask=mask,
        )  # fmt: skip
        planning.scatter(active, out.z)
        logits = out.logits if mask is None else out.logits.masked_fill(~mask, float("-inf"))
        chosen = logits.argmax(-1)
        if warm_start and hold_plans:
            planning.expect(active, planner.expected_observation(obs, chosen), out.settled)
        actions = chosen.cpu().numpy()
        flags = {
            name: (torch.zeros_like(out.converged) if flag is None else flag).cpu().tolist()
            for name, flag in (
                ("stalled", out.stalled),
                ("readout_stable", out.readout_stable),
                ("diverged", out.diverged),
                ("held", out.held),
            )
        }
        capped = out.capped.cpu().tolist()
        for k, slot in enumerate(active):
            state = slots[slot]
            assert state is not None
            result.decisions.append(
                DecisionRecord(
                    episode=state["episode"], step=state["step"], difficulty=state["difficulty"],
                    iterations=int(out.iterations[k]), residual=float(out.residual[k]),
                    converged=bool(out.converged[k]), stalled=bool(flags["stalled"][k]),
                    readout_stable=bool(flags["readout_stable"][k]),
                    diverged=bool(flags["diverged"][k]), capped=bool(capped[k]),
                    event=state["event"], replan_cells=state["replan"],
                    held=bool(flags["held"][k]), replanned=state["replanned"],
                )
            )  # fmt: skip
            obs_k, reward, terminated, truncated, info = envs[slot].step(int(actions[k]))
            state["obs"], state["step"] = obs_k, state["step"] + 1
            state["return"] += float(reward)
            state["difficulty"] = read_difficulty(info)
            state["event"] = str(info.get("event", "none"))
            state["replan"] = int(info.get("replan_cells", 0))
            cut = max_steps is not None and state["step"] >= max_steps
            looped, state["replanned"] = False, False
            if stop_on_repeat and not (terminated or truncated):
                key = _key(obs_k)
                visits = state["seen"].get(key, 0) + 1
                state["seen"][key] = visits
                if visits == 2 and replan_on_repeat:
                    planning.set_row(slot, None)  # back where it was: think from scratch
                    state["replanned"] = True
                else:
                    looped = visits >= 2
            if terminated or truncated or cut or looped:
                result.episodes.append(
                    EpisodeRecord(
                        episode=state["episode"], success=bool(info.get("is_success", False)),
                        episode_return=state["return"], length=state["step"],
                        initial_difficulty=state["initial"], seed=state["seed"], looped=looped,
                    )
                )  # fmt: skip
                if progress is not None:
                    progress.update(1)
                start(slot)
    result.episodes.sort(key=lambda e: e.episode)
    return result
