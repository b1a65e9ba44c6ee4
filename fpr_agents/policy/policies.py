"""Stable-Baselines3 policies that plan with the fixed-point reasoner.

``FixedPointPlannerPolicy`` works with SB3's ``PPO`` (and A2C); ``MaskableFixedPointPlannerPolicy``
with sb3-contrib's ``MaskablePPO``. Both build a :class:`PlannerNetwork` from the env's spaces and
its task description, passed as ``policy_kwargs={"task_description": ...}``: the env's
``unwrapped.task_description`` dict, or its env id (``"envs:FPR/Maze-9x9-v0"``, or
``"FPR/Maze-9x9-v0"`` once ``envs`` is imported), as configuration files such as RL Zoo's write it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

import gymnasium
import numpy as np
import torch
from gymnasium import spaces
from sb3_contrib.common.maskable.distributions import MaskableDistribution
from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
from stable_baselines3.common.distributions import Distribution
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.preprocessing import preprocess_obs
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule

from fpr_agents.policy.latent_cache import LatentCache, observation_digests
from fpr_agents.policy.planner import PlannerNetwork, PlannerOutput
from fpr_agents.policy.planning_state import PlanningState
from fpr_agents.reasoner import ReasonerConfig
from fpr_agents.reasoner.solve import initial_latent


def task_description_from_env_id(env_id: str) -> dict[str, Any]:
    """The task description of a registered env, read from a freshly made instance.

    ``fpr_agents`` does not import ``envs``: write the id ``"envs:FPR/Maze-9x9-v0"`` (Gymnasium
    then imports ``envs`` itself), or import ``envs`` before a plain ``"FPR/Maze-9x9-v0"`` is
    resolved (RL Zoo's ``--gym-packages envs`` does).

    :param env_id: a Gymnasium env id, optionally ``module:id``.
    :return: the env's ``unwrapped.task_description``, as a plain dict.
    """
    try:
        env = gymnasium.make(env_id, disable_env_checker=True)
    except gymnasium.error.UnregisteredEnv as error:
        raise ValueError(
            f"task_description {env_id!r} is not a registered env id: import envs first, or "
            f"write it 'envs:{env_id}' ({error})"
        ) from error
    try:
        task = getattr(env.unwrapped, "task_description", None)
    finally:
        env.close()
    if task is None:
        raise ValueError(f"{env_id} has no task_description: planners need one")
    return dict(task)


def stack_sizes_from_space(
    observation_space: spaces.Space, task_description: Mapping[str, Any]
) -> dict[str, int]:
    """K for every grid key whose observation stacks K grids, read from the Dict space.

    Grid observations are flat (K * H * W,) Boxes (docs/interfaces.md); shaped (H, W) and
    (K, H, W) Boxes are accepted too.

    :param observation_space: the env's observation space (a Dict of Box).
    :param task_description: the env's task description (grid keys and grid shape).
    :return: key -> K for keys that stack K > 1 grids, or that are shaped (K, H, W).
    """
    if not isinstance(observation_space, spaces.Dict):
        raise ValueError(
            "planner policies need a Dict observation space, got "
            f"{type(observation_space).__name__}"
        )
    height, width = (int(v) for v in task_description["grid_shape"])
    sizes = {}
    for key in task_description["grid_keys"]:
        if key not in observation_space.spaces:
            raise ValueError(
                f"task_description.grid_keys names '{key}', not in the observation space"
            )
        # A space without a shape has none of the lengths below and is refused.
        shape: tuple[int, ...] = observation_space.spaces[key].shape or ()
        if len(shape) == 1:
            if shape[0] % (height * width) != 0:
                raise ValueError(
                    f"grid observation '{key}' has {shape[0]} entries, not a multiple of "
                    f"grid_shape {height} x {width}"
                )
            if shape[0] // (height * width) > 1:
                sizes[key] = shape[0] // (height * width)
        elif len(shape) == 3:
            sizes[key] = int(shape[0])
        elif len(shape) != 2:
            raise ValueError(f"grid observation '{key}' must be flat, (H, W) or (K, H, W): {shape}")
    return sizes


def _batch_size(observation: np.ndarray | dict[str, np.ndarray], space: spaces.Space) -> int:
    """How many observations a ``predict`` call holds (1 for a single, unbatched observation).

    :param observation: what the caller passed to ``predict``.
    :param space: the policy's observation space.
    :return: the batch size.
    """
    if isinstance(observation, dict) and isinstance(space, spaces.Dict):
        key = next(iter(space.spaces))
        value = np.asarray(observation[key])
        single = value.shape == space.spaces[key].shape
        return 1 if single else int(value.shape[0])
    value = np.asarray(observation)
    return 1 if value.shape == space.shape else int(value.shape[0])


@contextmanager
def _arguments_unchecked() -> Iterator[None]:
    """Distributions made inside skip torch's argument validation (restored after)."""
    before = torch.distributions.Distribution._validate_args
    torch.distributions.Distribution.set_default_validate_args(False)
    try:
        yield
    finally:
        torch.distributions.Distribution.set_default_validate_args(before)


def _rows(obs: PyTorchObs) -> int:
    """How many observations a batch of observation tensors holds.

    :param obs: observation tensors (a dict of (B, ...) tensors, or one tensor).
    :return: B.
    """
    return next(iter(obs.values())).shape[0] if isinstance(obs, dict) else len(obs)


class _PlannerPolicyMixin:
    """What both planner policies share: building the network, planning, warm start, stats."""

    planner: PlannerNetwork
    observation_space: spaces.Space
    optimizer_class: type[torch.optim.Optimizer]
    optimizer_kwargs: dict[str, Any]

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        task_description: Mapping[str, Any] | str | None = None,
        reasoner: ReasonerConfig | Mapping[str, Any] | None = None,
        head_hidden: int = 64,
        grad_iters: int = 2,
        warm_start: bool = True,
        value_at_agent: bool | None = None,
        latent_cache: int = 16384,
        hold_plans: bool = True,
        update_resolves: bool = False,
        **kwargs: Any,
    ) -> None:
        if task_description is None:
            raise ValueError(
                f"{type(self).__name__} needs policy_kwargs['task_description'] "
                "(the env's unwrapped.task_description, or its env id)"
            )
        if grad_iters < 1:
            raise ValueError(
                f"grad_iters must be >= 1 (steps with gradient in PPO), got {grad_iters}"
            )
        if isinstance(task_description, str):
            task_description = task_description_from_env_id(task_description)
        # The resolved dict, never the id: a saved policy loads without the env's registry.
        self.task_description = dict(task_description)
        config = (
            reasoner if isinstance(reasoner, ReasonerConfig) else ReasonerConfig(**(reasoner or {}))
        )
        self.reasoner_config = asdict(config)
        self.head_hidden = head_hidden
        self.grad_iters = grad_iters
        self.warm_start = warm_start
        self.value_at_agent = value_at_agent
        self.latent_cache = latent_cache
        self.hold_plans = hold_plans
        self.update_resolves = update_resolves
        self._latents = LatentCache(latent_cache)
        # the last warm-started plan: its observations and output, for the expectation of the
        # action taken on it
        self._last_plan: tuple[dict[str, torch.Tensor], PlannerOutput] | None = None
        # Rollout decisions warm-start from ``_rollout_state`` only while the episode starts of
        # the training envs are known (``observe_episode_starts`` was called since the last
        # decision, by PlanningStateCallback); otherwise they solve cold, never from a latent
        # that may belong to an earlier episode.
        self._rollout_state = PlanningState()
        self._rollout_synced = False
        self._predict_state: PlanningState | None = None
        self.last_solve_stats: dict[str, np.ndarray] | None = None
        self.rollout_solve_stats: dict[str, np.ndarray] | None = None
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)  # type: ignore[call-arg]

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()  # type: ignore[misc]
        data.update(
            task_description=self.task_description,
            reasoner=self.reasoner_config,
            head_hidden=self.head_hidden,
            grad_iters=self.grad_iters,
            warm_start=self.warm_start,
            value_at_agent=self.value_at_agent,
            latent_cache=self.latent_cache,
            hold_plans=self.hold_plans,
            update_resolves=self.update_resolves,
        )
        return data

    def _build(self, lr_schedule: Schedule) -> None:
        stack_sizes = stack_sizes_from_space(self.observation_space, self.task_description)
        self.planner = PlannerNetwork(
            self.task_description,
            self.reasoner_config,
            self.head_hidden,
            stack_sizes,
            self.value_at_agent,
        )
        # The planner holds every parameter of the policy (its features extractor is a flatten).
        groups = self.planner.parameter_groups()
        # SB3 types the class as ``type[Optimizer]``, whose constructor names no ``lr``.
        self.optimizer = self.optimizer_class(  # type: ignore[call-arg]
            groups, lr=lr_schedule(1), **self.optimizer_kwargs
        )

    def _plan(
        self,
        obs: PyTorchObs,
        grad_iters: int = 0,
        remember: bool = False,
        state: PlanningState | None = None,
        keep_state: bool = True,
        action_mask: np.ndarray | torch.Tensor | None = None,
    ) -> PlannerOutput:
        """Run the planner on an observation batch.

        Outside PPO's update a solve starts from ``state`` (each env's previous fixed point in its
        current episode) when warm start is on, and the state then keeps the new fixed points. In
        the update (``grad_iters > 0``) each observation starts from the fixed point its rollout
        decision reached, when the latent cache holds it.

        :param obs: observation tensors (as SB3 passes them).
        :param grad_iters: iterations with gradient (0 outside PPO's update).
        :param remember: keep the fixed points for the update (rollout decisions).
        :param state: the caller's planning state, or None for a cold solve.
        :param keep_state: store the new fixed points in ``state``.
        :param action_mask: (B, n_actions) bool of the allowed actions (maskable policies), for
            the test of a held plan.
        :return: the planner's output.
        """
        tensors = preprocess_obs(obs, self.observation_space, normalize_images=False)
        assert isinstance(tensors, dict)
        z0 = None
        digests = None
        embedded = None
        every = False  # the latent cache held every observation's rollout fixed point
        use_state = state is not None and self.warm_start and grad_iters == 0
        if use_state:
            assert state is not None
            embedded = self.planner.embed(tensors)
            z0 = state.start(self.planner.config, embedded[0], embedded[1])
        if grad_iters > 0 and len(self._latents) > 0:
            digests = observation_digests(tensors)
            embedded = self.planner.embed(tensors)  # with gradient: the planner reuses it
            x, mask = embedded
            start = initial_latent(self.planner.config, x.detach(), mask, None, None)
            z0, found = self._latents.lookup(digests, start)
            z0 = z0 if found else None
            every = found == x.shape[0]
        hold, mask = None, None
        if use_state and keep_state and self.hold_plans and z0 is not None:
            assert state is not None
            hold = state.holds(tensors)
            if action_mask is not None:
                mask = torch.as_tensor(action_mask, dtype=torch.bool, device=z0.device)
                mask = mask.reshape(hold.shape[0], -1)
        resolve = not (grad_iters > 0 and not self.update_resolves and z0 is not None and every)
        out = self.planner(
            tensors, z0=z0, grad_iters=grad_iters, embedded=embedded, hold=hold, action_mask=mask,
            solve=resolve,
        )  # fmt: skip
        if use_state and keep_state:
            assert state is not None
            state.update(out.z)
            self._last_plan = (tensors, out)
        if remember and self.latent_cache > 0:
            self._latents.store(digests or observation_digests(tensors), out.z)
        if not resolve:
            return out  # the update started from the rollout's fixed points: no solve to report
        self.last_solve_stats = {
            "iterations": out.iterations.detach().cpu().numpy(),
            "residual": out.residual.detach().float().cpu().numpy(),
            "converged": out.converged.detach().cpu().numpy(),
            "capped": out.capped.detach().cpu().numpy(),
        }
        for flag in ("diverged", "stalled"):
            value = getattr(out, flag)
            if value is not None:
                self.last_solve_stats[flag] = value.detach().cpu().numpy()
        return out

    def _rollout_plan(
        self, obs: PyTorchObs, action_mask: np.ndarray | torch.Tensor | None = None
    ) -> PlannerOutput:
        """A rollout decision of the training envs: warm-started within each env's episode.

        :param obs: observation tensors, one row per training env.
        :param action_mask: (B, n_actions) bool of the allowed actions, or None.
        :return: the planner's output.
        """
        batch = _rows(obs)
        if not self._rollout_synced or len(self._rollout_state) != batch:
            self._rollout_state = PlanningState(batch)  # episode starts unknown: start cold
        out = self._plan(obs, remember=True, state=self._rollout_state, action_mask=action_mask)
        self._rollout_synced = False
        self.rollout_solve_stats = self.last_solve_stats
        return out

    def _expect(self, state: PlanningState | None, actions: torch.Tensor | np.ndarray) -> None:
        """Remember what the actions taken on the last warm-started plan should make the next
        observations, so that a decision the plan already answers is held (no iteration).

        :param state: the planning state the plan came from (None: nothing to remember).
        :param actions: (B,) the actions taken.
        """
        last, self._last_plan = self._last_plan, None
        if state is None or last is None or not self.hold_plans:
            return
        tensors, out = last
        chosen = torch.as_tensor(np.asarray(actions)).reshape(-1).to(torch.long)
        if chosen.shape[0] != out.z.shape[0]:
            return
        expected = self.planner.expected_observation(tensors, chosen.to(out.z.device))
        state.expect(range(chosen.shape[0]), expected, out.settled.cpu())

    def observe_episode_starts(self, episode_start: np.ndarray) -> None:
        """Tell the policy which training envs start a new episode at their next observation
        (PPO's ``dones`` after each env step); their rollout planning state is cleared.

        :param episode_start: (n_envs,) bool.
        """
        self._rollout_state.reset(episode_start)
        self._rollout_synced = True

    def reset_rollout_state(self) -> None:
        """Forget the training envs' planning state (e.g. when ``learn`` resets the envs)."""
        self._rollout_state = PlanningState()
        self._rollout_synced = True

    def predict(
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
        *args: Any,
        **kwargs: Any,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """Act on observations, carrying the planning state as SB3's recurrent policies do.

        Pass back the state a previous call returned, with ``episode_start`` True where an env
        begins a new episode (``evaluate_policy`` does both): decisions then warm-start from each
        env's previous fixed point within its episode. Without a state every call solves cold, so
        an action never depends on an earlier call.

        :param observation: the observation batch (or one observation).
        :param state: the previous call's planning state, or None.
        :param episode_start: (n_envs,) bool, the envs whose observation starts an episode.
        :param deterministic: take the most likely action.
        :param args: passed on (``action_masks`` for the maskable policy).
        :param kwargs: passed on (``action_masks`` for the maskable policy).
        :return: the actions and the new planning state.
        """
        n_envs = _batch_size(observation, self.observation_space)
        self._predict_state = PlanningState.from_sb3(state, episode_start, n_envs)
        try:
            actions, _ = super().predict(  # type: ignore[misc]
                observation, None, None, deterministic, *args, **kwargs
            )
            self._expect(self._predict_state, actions)
            new_state = self._predict_state.to_sb3()
        finally:
            self._predict_state = None
        return actions, new_state

    def set_training_mode(self, mode: bool) -> None:
        """SB3's switch between rollouts (False) and updates (True); entering a rollout after an
        update forgets the fixed points kept for it (the weights have changed).

        :param mode: True for training mode.
        """
        if not mode and self.training:  # type: ignore[attr-defined]
            self._latents.clear()
        super().set_training_mode(mode)  # type: ignore[misc]

    def reset_warm_start(self) -> None:
        """Forget every stored fixed point: the rollout planning state and the latent cache."""
        self.reset_rollout_state()
        self._latents.clear()

    def predict_values(self, obs: PyTorchObs) -> torch.Tensor:
        """Values of observations (PPO's bootstrap at the end of a rollout, and the value of a
        truncated episode's last observation).

        The bootstrap observations are the training envs' next ones: they start from the same
        planning state the next rollout decision will start from (and leave it as it is), so
        the bootstrap and the stored values see the same start. Any other batch solves cold.

        :param obs: observation tensors.
        :return: (B, 1).
        """
        batch = _rows(obs)
        state = None
        if self._rollout_synced and len(self._rollout_state) == batch:
            state = self._rollout_state
        return self._plan(obs, state=state, keep_state=False).values


class FixedPointPlannerPolicy(_PlannerPolicyMixin, ActorCriticPolicy):
    """Actor-critic policy whose actor and critic read the reasoner's fixed point.

    :param observation_space: the env's Dict observation space.
    :param action_space: the env's Discrete action space.
    :param lr_schedule: learning-rate schedule (given by SB3).
    :param task_description: the env's ``task_description`` (docs/interfaces.md), or its env
        id, resolved by :func:`task_description_from_env_id`.
    :param reasoner: ReasonerConfig or its fields as a dict (defaults when None).
    :param head_hidden: hidden width of the move and value heads.
    :param grad_iters: reasoner iterations with gradient from the detached fixed point during PPO's
        update (truncated back-propagation; memory does not grow with the loop count).
    :param warm_start: start each rollout decision from the previous step's fixed point.
    :param value_at_agent: the value head also reads the agent's cell (None: for move layouts).
    :param latent_cache: most rollout fixed points kept for the update to start from (0: none;
        the update then solves every stored observation from the initial latent).
    :param hold_plans: a decision whose observation is the one the last action was expected to
        give is read from the kept plan with no iteration (rollouts and ``predict`` with state).
    :param update_resolves: the update solves each stored observation again (without
        gradient) before its ``grad_iters``; False (the default) starts those iterations from
        the rollout's fixed point itself when the latent cache holds every one of the batch
        (the update then took 4.1 s per 512-step chunk on 9x9 mazes instead of 9.4 s).
    :param kwargs: passed on to SB3's ActorCriticPolicy (optimizer_class, optimizer_kwargs, ...).
    """

    def forward(
        self, obs: PyTorchObs, deterministic: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Act during rollouts.

        :param obs: observation tensors.
        :param deterministic: take the most likely action.
        :return: actions, values, log-probabilities.
        """
        out = self._rollout_plan(obs)
        distribution = self.action_dist.proba_distribution(action_logits=out.logits)
        actions = distribution.get_actions(deterministic=deterministic)
        self._expect(self._rollout_state, actions)
        return actions, out.values, distribution.log_prob(actions)

    def evaluate_actions(
        self, obs: PyTorchObs, actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Values, log-probabilities and entropy of stored actions, with truncated gradients.

        :param obs: observation tensors.
        :param actions: actions taken, (B,).
        :return: values (B, 1), log-probabilities (B,), entropy (B,).
        """
        out = self._plan(obs, grad_iters=self.grad_iters)
        distribution = self.action_dist.proba_distribution(action_logits=out.logits)
        return out.values, distribution.log_prob(actions), distribution.entropy()

    def get_distribution(self, obs: PyTorchObs) -> Distribution:
        """The action distribution at ``obs`` (used by ``predict``).

        :param obs: observation tensors.
        :return: a categorical distribution.
        """
        logits = self._plan(obs, state=self._predict_state).logits
        return self.action_dist.proba_distribution(action_logits=logits)


class MaskableFixedPointPlannerPolicy(_PlannerPolicyMixin, MaskableActorCriticPolicy):
    """The planner policy for sb3-contrib's ``MaskablePPO``: invalid actions get zero probability.

    :param observation_space: the env's Dict observation space.
    :param action_space: the env's Discrete action space.
    :param lr_schedule: learning-rate schedule (given by SB3).
    :param task_description: the env's ``task_description`` (docs/interfaces.md), or its env
        id, resolved by :func:`task_description_from_env_id`.
    :param reasoner: ReasonerConfig or its fields as a dict (defaults when None).
    :param head_hidden: hidden width of the move and value heads.
    :param grad_iters: reasoner iterations with gradient during the update.
    :param warm_start: start each rollout decision from the previous step's fixed point.
    :param value_at_agent: the value head also reads the agent's cell (None: for move layouts).
    :param latent_cache: most rollout fixed points kept for the update to start from (0: none).
    :param kwargs: passed on to MaskableActorCriticPolicy.
    """

    def _masked(
        self, logits: torch.Tensor, action_masks: np.ndarray | torch.Tensor | None
    ) -> MaskableDistribution:
        # The planner's logits are finite (a diverged solve keeps its last finite latent), so
        # torch's argument checks, run twice here (once more for the mask) and a fifth of a
        # rollout decision's time outside the solve, are skipped.
        with _arguments_unchecked():
            distribution = self.action_dist.proba_distribution(action_logits=logits)
            if action_masks is not None:
                distribution.apply_masking(action_masks)
        return distribution

    def forward(
        self,
        obs: PyTorchObs,
        deterministic: bool = False,
        action_masks: np.ndarray | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Act during rollouts, invalid actions masked out.

        :param obs: observation tensors.
        :param deterministic: take the most likely valid action.
        :param action_masks: (B, n_actions) bool.
        :return: actions, values, log-probabilities.
        """
        out = self._rollout_plan(obs, action_masks)
        distribution = self._masked(out.logits, action_masks)
        actions = distribution.get_actions(deterministic=deterministic)
        self._expect(self._rollout_state, actions)
        return actions, out.values, distribution.log_prob(actions)

    def evaluate_actions(
        self,
        obs: PyTorchObs,
        actions: torch.Tensor,
        action_masks: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Values, log-probabilities and entropy of stored actions, with truncated gradients.

        :param obs: observation tensors.
        :param actions: actions taken, (B,).
        :param action_masks: (B, n_actions) bool.
        :return: values (B, 1), log-probabilities (B,), entropy (B,).
        """
        out = self._plan(obs, grad_iters=self.grad_iters)
        distribution = self._masked(out.logits, action_masks)
        return out.values, distribution.log_prob(actions), distribution.entropy()

    def get_distribution(
        self, obs: PyTorchObs, action_masks: np.ndarray | None = None
    ) -> MaskableDistribution:
        """The masked action distribution at ``obs`` (used by ``predict``).

        :param obs: observation tensors.
        :param action_masks: (B, n_actions) bool.
        :return: a masked categorical distribution.
        """
        out = self._plan(obs, state=self._predict_state, action_mask=action_masks)
        return self._masked(out.logits, action_masks)
