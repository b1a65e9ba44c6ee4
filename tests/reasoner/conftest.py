"""Shared settings of the reasoner tests: one torch thread and a seeded generator fixture."""

from __future__ import annotations

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture
def generator() -> torch.Generator:
    """A seeded CPU generator for test inputs.

    :return: the generator.
    """
    return torch.Generator().manual_seed(1234)
