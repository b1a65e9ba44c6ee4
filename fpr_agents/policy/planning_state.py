"""Planning state: each env's warm-start latent, kept per caller and reset per episode.

Within one episode the previous decision's fixed point is the natural start of the next solve: the
plan barely changes between steps, so a warm-started solve halts within an iteration or two. Across
episodes it is not: a new maze's plan must not start from the old maze's, because a solve that
stops at its cap (or stalls) ends where it started from, and the action would then depend on an
unrelated earlier episode. So the state is held per env row and cleared where an episode starts,
as SB3's recurrent policies handle their hidden state; and each caller (PPO's rollouts, a user's
``predict`` loop, an evaluation) has its own, so one never disturbs another.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from fpr_agents.reasoner import ReasonerConfig
from fpr_agents.reasoner.solve import initial_latent


def flat_observations(obs: dict[str, torch.Tensor]) -> torch.Tensor:
    """A batch of observations as one row each: every key's values flattened, keys in sorted
    order, as float64 (the symbol ids and positions compare exactly).

    :param obs: key -> (B, ...) tensors.
    :return: (B, total) float64.
    """
    keys = sorted(obs)
    batch = obs[keys[0]].shape[0]
    return torch.cat([obs[k].reshape(batch, -1).to(torch.float64) for k in keys], dim=1)


class PlanningState:
    """The warm-start latents of one caller's envs, one row per env.

    :param n_envs: number of env rows (0: sized by the first :meth:`update`).
    """

    def __init__(self, n_envs: int = 0) -> None:
        if n_envs < 0:
            raise ValueError(f"PlanningState: n_envs must be >= 0, got {n_envs}")
        self.latents: list[torch.Tensor | None] = [None] * n_envs
        # per row: the observation the last action should lead to if the plan holds, flattened
        # (its keys in sorted order, float64)
        self.expected: list[torch.Tensor | None] = [None] * n_envs

    def __len__(self) -> int:
        return len(self.latents)

    @property
    def empty(self) -> bool:
        """Whether no row holds a latent."""
        return all(latent is None for latent in self.latents)

    def reset(self, episode_start: Sequence[bool] | np.ndarray | None = None) -> None:
        """Forget the latents of the rows where an episode starts.

        :param episode_start: (n_envs,) bool, True where the env's next observation is the first
            of a new episode; None forgets every row.
        """
        if episode_start is None:
            self.latents = [None] * len(self.latents)
            self.expected = [None] * len(self.latents)
            return
        starts = np.asarray(episode_start, dtype=bool).reshape(-1)
        if len(self.latents) == 0:
            self.latents = [None] * len(starts)
            self.expected = [None] * len(starts)
        if len(starts) != len(self.latents):
            raise ValueError(
                f"PlanningState.reset: episode_start has {len(starts)} entries for "
                f"{len(self.latents)} envs"
            )
        for row in np.flatnonzero(starts):
            self.latents[int(row)] = None
            self.expected[int(row)] = None

    def start(
        self, config: ReasonerConfig, x: torch.Tensor, mask: torch.Tensor | None
    ) -> torch.Tensor | None:
        """The starting latent of the next solve: each row's kept latent, or the configured
        initial latent where the row has none (a new episode) or a latent of another grid shape.

        :param config: the reasoner's configuration (its initial-latent mode).
        :param x: input embedding of the batch, (B, H, W, d), B = n_envs.
        :param mask: (B, H, W) bool or None.
        :return: z0 (B, H, W, d), or None when no row holds a usable latent (a cold solve).
        """
        if len(self.latents) != x.shape[0]:
            raise ValueError(
                f"PlanningState.start: the batch holds {x.shape[0]} observations for "
                f"{len(self.latents)} envs"
            )
        usable = [
            latent is not None and tuple(latent.shape) == tuple(x.shape[1:])
            for latent in self.latents
        ]
        if not any(usable):
            return None
        z0 = initial_latent(config, x, mask, None, None).clone()  # (B, H, W, d)
        for row, ok in enumerate(usable):
            if ok:
                latent = self.latents[row]
                assert latent is not None
                z0[row] = latent.to(device=x.device, dtype=x.dtype)
        return z0

    def update(self, z: torch.Tensor) -> None:
        """Keep each row's new fixed point for its next decision.

        :param z: (B, H, W, d) the latents the batch's solves ended on, B = n_envs.
        """
        if len(self.latents) == 0:
            self.latents = [None] * z.shape[0]
        if z.shape[0] != len(self.latents):
            raise ValueError(
                f"PlanningState.update: got {z.shape[0]} latents for {len(self.latents)} envs"
            )
        detached = z.detach()
        self.latents = [detached[row] for row in range(detached.shape[0])]

    def select(self, rows: Sequence[int]) -> PlanningState:
        """The state of some rows (e.g. the envs still playing), sharing their latents.

        :param rows: env rows, in the order of the batch they will start.
        :return: a planning state with one row per entry of ``rows``.
        """
        chosen = PlanningState(len(rows))
        chosen.latents = [self.latents[row] for row in rows]
        chosen.expected = [self.expected[row] for row in rows]
        return chosen

    def scatter(self, rows: Sequence[int], z: torch.Tensor) -> None:
        """Keep new fixed points for some rows.

        :param rows: env rows, one per latent of ``z``.
        :param z: (len(rows), H, W, d).
        """
        if z.shape[0] != len(rows):
            raise ValueError(f"PlanningState.scatter: {z.shape[0]} latents for {len(rows)} rows")
        detached = z.detach()
        for k, row in enumerate(rows):
            self.latents[row] = detached[k]

    def set_row(self, row: int, z: torch.Tensor | None) -> None:
        """Set one row's latent (None forgets it).

        :param row: env row.
        :param z: (H, W, d) or None.
        """
        self.latents[row] = None if z is None else z.detach()
        self.expected[row] = None

    def expect(
        self,
        rows: Sequence[int],
        expected: dict[str, torch.Tensor] | None,
        trusted: torch.Tensor | None = None,
    ) -> None:
        """Remember, for some rows, the observation their last action leads to if nothing but
        the action changes the world (``PlannerNetwork.expected_observation``).

        :param rows: env rows, one per entry of the batch ``expected`` holds.
        :param expected: key -> (len(rows), ...) tensors, or None (no expectation: the next
            decision thinks).
        :param trusted: (len(rows),) bool, the rows whose plan may be held: a solve that
            diverged, stalled or ran to its cap is not a plan (None: every row).
        """
        flat = None if expected is None else flat_observations(expected)
        for k, row in enumerate(rows):
            keep = flat is not None and (trusted is None or bool(trusted[k]))
            self.expected[row] = flat[k].detach().cpu() if keep and flat is not None else None

    def holds(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Which rows see exactly the observation their plan expected (the world did not
        change under the agent), and still hold that plan's latent.

        :param obs: the batch's observations, one per row.
        :return: (n_envs,) bool.
        """
        held = torch.zeros(len(self.latents), dtype=torch.bool)
        if not any(e is not None for e in self.expected):
            return held
        flat = flat_observations(obs).cpu()  # (n_envs, total)
        for row, (latent, expected) in enumerate(zip(self.latents, self.expected, strict=True)):
            if latent is not None and expected is not None and expected.shape == flat[row].shape:
                held[row] = bool(torch.equal(expected, flat[row]))
        return held

    def to_sb3(self) -> tuple[np.ndarray, ...]:
        """The state as SB3's ``predict`` passes it around: plain arrays, opaque to callers.

        :return: latents (n_envs, H, W, d) float32 (zeros where a row has none), a (n_envs,)
            bool array saying which rows hold one and, where some row expects an observation,
            the expected observations flattened (n_envs, total) float64 and a (n_envs,) bool
            array saying which rows expect one.
        """
        known = [latent for latent in self.latents if latent is not None]
        n = len(self.latents)
        if not known:
            return np.zeros((n, 0), np.float32), np.zeros(n, bool)
        shape = tuple(known[0].shape)
        latents = np.zeros((n, *shape), dtype=np.float32)
        has = np.zeros(n, dtype=bool)
        for row, latent in enumerate(self.latents):
            if latent is not None and tuple(latent.shape) == shape:
                latents[row] = latent.float().cpu().numpy()
                has[row] = True
        expected = [e for e in self.expected if e is not None]
        if not expected:
            return latents, has
        width = expected[0].shape[0]
        flat = np.zeros((n, width), dtype=np.float64)
        expects = np.zeros(n, dtype=bool)
        for row, value in enumerate(self.expected):
            if value is not None and value.shape[0] == width and has[row]:
                flat[row] = value.numpy()
                expects[row] = True
        return latents, has, flat, expects

    @classmethod
    def from_sb3(
        cls,
        state: tuple[np.ndarray, ...] | None,
        episode_start: np.ndarray | None,
        n_envs: int,
    ) -> PlanningState:
        """Rebuild the state a ``predict`` call was given, with its episode starts applied.

        :param state: what the previous ``predict`` returned (:meth:`to_sb3`), or None (cold).
        :param episode_start: (n_envs,) bool or None (no episode starts).
        :param n_envs: the number of observations in this call.
        :return: the planning state.
        """
        planning = cls(n_envs)
        if state is not None:
            if not (isinstance(state, tuple) and len(state) in (2, 4)):
                raise ValueError(
                    "predict: state must be the tuple a previous predict of this policy "
                    f"returned, got {type(state).__name__}"
                )
            latents, has = (np.asarray(part) for part in state[:2])
            if has.shape != (n_envs,):
                raise ValueError(
                    f"predict: the state holds {has.shape[0] if has.ndim else 0} envs for "
                    f"{n_envs} observations"
                )
            for row in np.flatnonzero(has):
                planning.latents[int(row)] = torch.from_numpy(np.array(latents[row]))
            if len(state) == 4:
                flat, expects = np.asarray(state[2]), np.asarray(state[3])
                for row in np.flatnonzero(expects[:n_envs] & has):
                    planning.expected[int(row)] = torch.from_numpy(np.array(flat[row]))
        if episode_start is not None:
            planning.reset(episode_start)
        return planning
