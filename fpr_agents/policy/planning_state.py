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


class PlanningState:
    """The warm-start latents of one caller's envs, one row per env.

    :param n_envs: number of env rows (0: sized by the first :meth:`update`).
    """

    def __init__(self, n_envs: int = 0) -> None:
        if n_envs < 0:
            raise ValueError(f"PlanningState: n_envs must be >= 0, got {n_envs}")
        self.latents: list[torch.Tensor | None] = [None] * n_envs
        # per row: the observation the last action should lead to if the plan holds
        self.expected: list[dict[str, torch.Tensor] | None] = [None] * n_envs

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
        for k, row in enumerate(rows):
            keep = expected is not None and (trusted is None or bool(trusted[k]))
            self.expected[row] = (
                {key: value[k].detach() for key, value in expected.items()}
                if keep and expected is not None
                else None
            )

    def holds(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Which rows see exactly the observation their plan expected (the world did not
        change under the agent), and still hold that plan's latent.

        :param obs: the batch's observations, one per row.
        :return: (n_envs,) bool.
        """
        held = torch.zeros(len(self.latents), dtype=torch.bool)
        for row, (latent, expected) in enumerate(zip(self.latents, self.expected, strict=True)):
            if latent is None or expected is None or set(expected) != set(obs):
                continue
            held[row] = all(
                torch.equal(
                    expected[key].to(obs[key].device), obs[key][row].to(expected[key].dtype)
                )
                for key in obs
            )
        return held

    def to_sb3(self) -> tuple[np.ndarray, np.ndarray]:
        """The state as SB3's ``predict`` passes it around: plain arrays, opaque to callers.

        :return: latents (n_envs, H, W, d) float32 (zeros where a row has none) and a (n_envs,)
            bool array saying which rows hold one.
        """
        known = [latent for latent in self.latents if latent is not None]
        if not known:
            return np.zeros((len(self.latents), 0), np.float32), np.zeros(len(self.latents), bool)
        shape = tuple(known[0].shape)
        latents = np.zeros((len(self.latents), *shape), dtype=np.float32)
        has = np.zeros(len(self.latents), dtype=bool)
        for row, latent in enumerate(self.latents):
            if latent is not None and tuple(latent.shape) == shape:
                latents[row] = latent.float().cpu().numpy()
                has[row] = True
        return latents, has

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
            if not (isinstance(state, tuple) and len(state) == 2):
                raise ValueError(
                    "predict: state must be the (latents, has_latent) pair a previous predict "
                    f"of this policy returned, got {type(state).__name__}"
                )
            latents, has = (np.asarray(part) for part in state)
            if has.shape != (n_envs,):
                raise ValueError(
                    f"predict: the state holds {has.shape[0] if has.ndim else 0} envs for "
                    f"{n_envs} observations"
                )
            for row in np.flatnonzero(has):
                planning.latents[int(row)] = torch.from_numpy(np.array(latents[row]))
        if episode_start is not None:
            planning.reset(episode_start)
        return planning
