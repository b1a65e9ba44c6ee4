"""Stable-Baselines3 callbacks for planner policies: episode-aware planning state, the planner's
depth of thought in TensorBoard, and a value-head warm-up for pretrained planners."""

from __future__ import annotations

import warnings

import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback

from fpr_agents.evaluation.metrics import WARN_SHARES, spearman

_TEXT_FORMATS = ("stdout", "log", "json", "csv")


class PlanningStateCallback(BaseCallback):
    """Tells a planner policy where its training envs' episodes start, so rollout decisions
    warm-start from the previous step's fixed point within an episode and never across one.

    SB3's PPO does not pass episode starts to a non-recurrent policy; after every env step this
    callback hands the step's ``dones`` to ``policy.observe_episode_starts``. Without it the
    policy still acts correctly, but solves every rollout decision cold (slower).

    :param verbose: SB3 verbosity level.
    """

    def _policy(self) -> object:
        policy = self.model.policy
        if not hasattr(policy, "observe_episode_starts"):
            raise ValueError(
                "PlanningStateCallback needs a planner policy (FixedPointPlannerPolicy or "
                f"MaskableFixedPointPlannerPolicy), got {type(policy).__name__}"
            )
        return policy

    def _on_training_start(self) -> None:
        # ``learn`` resets the envs (all episode starts) unless it continues an earlier call, in
        # which case the episodes, and their planning state, go on.
        starts = getattr(self.model, "_last_episode_starts", None)
        policy = self._policy()
        if starts is None:
            policy.reset_rollout_state()  # type: ignore[attr-defined]
        else:
            policy.observe_episode_starts(np.asarray(starts))  # type: ignore[attr-defined]

    def _on_step(self) -> bool:
        dones = self.locals.get("dones")
        if dones is not None:
            self._policy().observe_episode_starts(np.asarray(dones))  # type: ignore[attr-defined]
        return True


class PlanningDepthCallback(BaseCallback):
    """Logs, over each rollout, how long the planner thought for each decision.

    After every environment step it reads the policy's ``rollout_solve_stats`` (iterations,
    residual, converged per training env: rollout decisions only, never an evaluation's) and
    each env's ``info["difficulty"]``. At the end of a rollout it records under ``planner/``:
    mean iterations, a histogram of iterations, the Spearman correlation of iterations with
    difficulty, the mean and max residual, and the share of decisions that did not converge.
    Success rate is logged by SB3 itself from ``info["is_success"]``.

    It also records the shares of decisions that diverged, stalled or ran to the cap, and warns
    (``RuntimeWarning``) when they pass the evaluation report's limits; on envs whose world
    changes (``info["event"]``), the mean iterations of the decisions right after an event and
    of the quiet ones.

    :param verbose: SB3 verbosity level.
    """

    FLAGS = ("diverged", "stalled", "capped")

    def __init__(self, verbose: int = 0) -> None:
        super().__init__(verbose)
        self._iterations: list[np.ndarray] = []
        self._residuals: list[np.ndarray] = []
        self._converged: list[np.ndarray] = []
        self._flags: dict[str, list[np.ndarray]] = {flag: [] for flag in self.FLAGS}
        self._difficulty: list[float] = []
        self._after_event: list[bool] = []

    def _on_rollout_start(self) -> None:
        self._iterations.clear()
        self._residuals.clear()
        self._converged.clear()
        for values in self._flags.values():
            values.clear()
        self._difficulty.clear()
        self._after_event.clear()

    def _on_step(self) -> bool:
        stats = getattr(self.model.policy, "rollout_solve_stats", None)
        if stats is None:
            return True
        # The stats describe the decision taken from the observation *before* this step; the
        # difficulty before the step is what the previous info reported, so pair the decision with
        # the difficulty of the state it was taken in when available.
        infos = self.locals.get("infos", [])
        prev = getattr(self, "_prev_difficulty", None)
        dones = self.locals.get("dones", np.zeros(len(infos), dtype=bool))
        reset_infos = getattr(self.training_env, "reset_infos", None) or [{}] * len(infos)
        # After an episode ends the next decision is taken in the new episode's first state.
        current = [
            float((reset_infos[i] if done else info).get("difficulty", np.nan))
            for i, (info, done) in enumerate(zip(infos, dones, strict=True))
        ]
        events = [
            (not done) and str(info.get("event", "none")) != "none"
            for info, done in zip(infos, dones, strict=True)
        ]
        prev_events = getattr(self, "_prev_events", None)
        if prev is not None and len(prev) == len(stats["iterations"]):
            self._difficulty.extend(prev)
            self._after_event.extend(prev_events or [False] * len(prev))
            self._iterations.append(np.asarray(stats["iterations"]))
            self._residuals.append(np.asarray(stats["residual"]))
            self._converged.append(np.asarray(stats["converged"]))
            for flag, values in self._flags.items():
                if flag in stats:
                    values.append(np.asarray(stats[flag]))
        self._prev_difficulty = current
        self._prev_events = events
        return True

    def _on_rollout_end(self) -> None:
        if not self._iterations:
            return
        iterations = np.concatenate(self._iterations).astype(np.float64)
        residuals = np.concatenate(self._residuals).astype(np.float64)
        converged = np.concatenate(self._converged).astype(bool)
        finite = residuals[np.isfinite(residuals)]
        self.logger.record("planner/iterations_mean", float(iterations.mean()))
        self.logger.record(
            "planner/iterations_hist", torch.as_tensor(iterations), exclude=_TEXT_FORMATS
        )
        self.logger.record("planner/not_converged_share", float(1.0 - converged.mean()))
        for flag, values in self._flags.items():
            if values:
                share = float(np.concatenate(values).astype(bool).mean())
                self.logger.record(f"planner/{flag}_share", share)
                if share > WARN_SHARES[flag]:
                    warnings.warn(
                        f"PlanningDepthCallback: {100 * share:.1f}% of this rollout's decisions "
                        f"{flag}: the planner's actions there are not fixed points",
                        RuntimeWarning,
                        stacklevel=2,
                    )
        if finite.size:
            self.logger.record("planner/residual_mean", float(finite.mean()))
            self.logger.record("planner/residual_max", float(finite.max()))
        after = np.asarray(self._after_event, dtype=bool)
        if after.size == iterations.size and after.any():
            self.logger.record("planner/iterations_after_event", float(iterations[after].mean()))
            if (~after).any():
                self.logger.record("planner/iterations_quiet", float(iterations[~after].mean()))
        difficulty = np.asarray(self._difficulty, dtype=np.float64)
        keep = np.isfinite(difficulty)
        rho = spearman(iterations[keep], difficulty[keep]) if keep.sum() > 1 else float("nan")
        if np.isfinite(rho):
            self.logger.record("planner/spearman_iterations_difficulty", rho)


def _freeze_all_but(model: BaseAlgorithm, keep: tuple[str, ...], frozen: bool, caller: str) -> None:
    """Set ``requires_grad`` of every planner parameter outside the ``keep`` heads.

    :param model: the SB3 model whose policy holds the planner.
    :param keep: names of the planner's heads that always learn (absent ones are skipped).
    :param frozen: freeze (True) or release (False) the others.
    :param caller: the callback's name, for the error.
    :raises ValueError: the policy holds no planner.
    """
    planner = getattr(model.policy, "planner", None)
    if planner is None:
        raise ValueError(f"{caller} needs a planner policy (policy.planner)")
    kept = {
        id(p)
        for name in keep
        if getattr(planner, name, None) is not None
        for p in getattr(planner, name).parameters()
    }
    for param in planner.parameters():
        if id(param) not in kept:
            param.requires_grad_(not frozen)


class CriticWarmupCallback(BaseCallback):
    """Trains only the value head for the first ``steps`` env steps, then the whole planner.

    A pretrained planner arrives with a good policy and an untrained value head; PPO's first
    advantages are then mostly noise, and updating the planner on them undoes its pretraining.
    Freezing every planner parameter but the value head's until the critic has seen ``steps``
    env steps keeps the pretrained policy while the critic learns (frozen parameters get no
    gradient, so Adam leaves them as they are). The freeze is decided before each update.

    :param steps: env steps (``model.num_timesteps``) of value-only updates.
    :param verbose: SB3 verbosity level.
    """

    def __init__(self, steps: int, verbose: int = 0) -> None:
        super().__init__(verbose)
        if steps < 0:
            raise ValueError(f"CriticWarmupCallback: steps must be >= 0, got {steps}")
        self.steps = steps
        self.frozen = False

    def _set_frozen(self, frozen: bool) -> None:
        _freeze_all_but(self.model, ("value_head",), frozen, "CriticWarmupCallback")
        self.frozen = frozen

    def _on_training_start(self) -> None:
        self._set_frozen(self.model.num_timesteps < self.steps)

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        # Called after the rollout, before the update that uses it: the updates on rollouts that
        # end within the first ``steps`` env steps are value-only.
        frozen = self.model.num_timesteps <= self.steps
        if frozen != self.frozen:
            self._set_frozen(frozen)
        self.logger.record("planner/critic_warmup", float(frozen))

    def _on_training_end(self) -> None:
        if self.frozen:
            self._set_frozen(False)


class FrozenReasonerCallback(BaseCallback):
    """Keeps a planner's reasoner and input embeddings out of PPO's updates: only its heads
    (moves or symbols, value) learn.

    PPO's update back-propagates through a few iterations from each decision's fixed point
    (truncated back-propagation), so it reshapes f where the latent has already settled, and
    nothing in its loss sees the long solves after the world changes (a closed door's news
    travelling across a maze) that pretraining taught. A pretrained planner's plan is kept so,
    while its heads follow the rewards. Frozen parameters get no gradient, so Adam leaves them
    as they are; the freeze is renewed before each update (after :class:`CriticWarmupCallback`
    releases its own) and released when training ends.

    :param verbose: SB3 verbosity level.
    """

    HEADS = ("move_head", "cell_head", "value_head", "shape_head")

    def _set_frozen(self, frozen: bool) -> None:
        _freeze_all_but(self.model, self.HEADS, frozen, "FrozenReasonerCallback")

    def _on_training_start(self) -> None:
        self._set_frozen(True)

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        self._set_frozen(True)

    def _on_training_end(self) -> None:
        self._set_frozen(False)
