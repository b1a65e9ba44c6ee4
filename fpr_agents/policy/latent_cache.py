"""The fixed points of a rollout's decisions, kept for PPO's update to start from.

SB3's rollout buffer keeps observations, not latents, so without this each minibatch of the update
solves every stored observation again from the initial latent. Started from the fixed point the
rollout reached, the re-solve converges in an iteration or two while the weights have not moved
far, and in the first epoch it reads the very latent the action was drawn from (so PPO's
probability ratio starts at 1 even where the rollout's solve stopped before converging).

Entries are keyed by a digest of the observation's values (float32, every key), so they survive
the buffer's shuffling; an observation not found starts from the initial latent as before.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import torch


def observation_digests(obs: Mapping[str, torch.Tensor]) -> list[bytes]:
    """One digest per sample of an observation batch: its keys, shapes and values.

    Values are compared as float32, as SB3's preprocessing hands them to the policy both in
    rollouts (from uint8 env arrays) and in updates (from the float32 buffer).

    :param obs: observation tensors by key, each (B, ...).
    :return: B digests of 16 bytes.
    """
    parts = []
    batch = None
    for key in sorted(obs):
        values = obs[key].detach().to(device="cpu", dtype=torch.float32)
        batch = values.shape[0] if batch is None else batch
        if values.shape[0] != batch:
            raise ValueError(
                f"observation_digests: key '{key}' holds {values.shape[0]} samples, others {batch}"
            )
        parts.append((key, tuple(values.shape[1:]), values.reshape(batch, -1).numpy()))
    digests = []
    for row in range(batch or 0):
        hasher = hashlib.blake2b(digest_size=16)
        for key, shape, flat in parts:
            hasher.update(f"{key}{shape}".encode())
            hasher.update(flat[row].tobytes())
        digests.append(hasher.digest())
    return digests


class LatentCache:
    """Observation digest -> fixed point, up to ``capacity`` entries.

    :param capacity: most entries kept; when full, new ones are not stored (their observations
        are then solved from the initial latent). 0 keeps nothing.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 0:
            raise ValueError(f"LatentCache: capacity must be >= 0, got {capacity}")
        self.capacity = capacity
        self._latents: dict[bytes, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self._latents)

    def clear(self) -> None:
        """Forget every entry (the weights changed since they were solved)."""
        self._latents.clear()

    def store(self, digests: list[bytes], z: torch.Tensor) -> None:
        """Keep each sample's fixed point under its observation's digest.

        :param digests: one per sample, from :func:`observation_digests`.
        :param z: the fixed points, (B, H, W, d).
        """
        if len(digests) != z.shape[0]:
            raise ValueError(f"LatentCache.store: {len(digests)} digests for {z.shape[0]} latents")
        latents = z.detach()
        for row, digest in enumerate(digests):
            if digest in self._latents or len(self._latents) < self.capacity:
                self._latents[digest] = latents[row]

    def lookup(self, digests: list[bytes], start: torch.Tensor) -> tuple[torch.Tensor, int]:
        """Starting latents: the stored fixed point where there is one, ``start`` elsewhere.

        :param digests: one per sample.
        :param start: the initial latents to fall back on, (B, H, W, d).
        :return: the starting latents, (B, H, W, d), and how many were found.
        """
        found = [(row, self._latents.get(digest)) for row, digest in enumerate(digests)]
        hits = [(row, z) for row, z in found if z is not None and z.shape == start.shape[1:]]
        if not hits:
            return start, 0
        merged = start.clone()
        rows = torch.tensor([row for row, _ in hits], device=start.device)
        merged[rows] = torch.stack([z for _, z in hits]).to(device=start.device, dtype=start.dtype)
        return merged, len(hits)
