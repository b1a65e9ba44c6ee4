"""One place turns ``--device`` into a torch device; the entry points report its refusal as a
user error."""

from __future__ import annotations

import pytest
import torch

from fpr_agents.arguments import UserError
from fpr_agents.device import resolve_device
from train.common import resolve_device as entry_point_device


def test_auto_and_cpu() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu") == torch.device("cpu")


def test_a_device_this_machine_lacks_or_no_device_is_refused() -> None:
    with pytest.raises(ValueError, match="not a device"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="--device cuda: CUDA is not available"):
            resolve_device("cuda")
        with pytest.raises(UserError, match="--device cuda:1"):
            entry_point_device("cuda:1")
