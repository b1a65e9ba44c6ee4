"""Demo: ``python -m fpr_agents.reasoner`` trains a small reasoner on the chain toy task, then
solves easy (short-chain) and hard (long-chain) grids, mixed sizes in one padded batch, and prints
how many iterations each one took."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from fpr_agents.arguments import parse_args as typed_parse_args
from fpr_agents.device import DEVICE_CHOICES, resolve_device
from fpr_agents.reasoner.config import ReasonerConfig
from fpr_agents.reasoner.toy import make_chain_batch, pad_batches
from fpr_agents.reasoner.toy_model import ChainTraining, train_chain_model


@dataclass
class ReasonerDemoArgs:
    """Arguments of ``python -m fpr_agents.reasoner``."""

    device: str = field(
        default="auto",
        metadata={"help": "where to run: auto = CUDA when present, else CPU",
                  "choices": DEVICE_CHOICES},
    )  # fmt: skip
    seed: int = field(default=0, metadata={"help": "seed of data and weights"})
    steps: int = field(default=300, metadata={"help": "training batches"})
    attention: bool = field(
        default=False, metadata={"help": "use grid attention (slower on CPU; off: conv-only)"}
    )
    threads: int = field(
        default=1, metadata={"help": "CPU threads for torch (1 is fastest on a shared CPU)"}
    )

    def __post_init__(self) -> None:
        for name in ("steps", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")


def parse_args(argv: list[str] | None = None) -> ReasonerDemoArgs:
    """Command-line arguments of the demo.

    :param argv: arguments (default: sys.argv).
    :return: parsed arguments.
    """
    return typed_parse_args(ReasonerDemoArgs, argv, (__doc__ or "").splitlines()[0])


def main(argv: list[str] | None = None) -> None:
    """Train, solve and print the table.

    :param argv: command-line arguments (default: sys.argv).
    """
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    config = ReasonerConfig(d_model=32, n_heads=2, attention=args.attention, max_iters=100)
    training = ChainTraining(
        steps=args.steps, batch_size=16, sizes=(6, 7, 8), max_length=14, lr=6e-3, max_no_grad=10
    )
    print(
        f"training a {'attention' if args.attention else 'conv-only'} reasoner on chain "
        f"propagation for {args.steps} steps on {device} ..."
    )
    start = time.perf_counter()
    model = train_chain_model(config, training, seed=args.seed, device=device)
    print(f"trained in {time.perf_counter() - start:.1f} s\n")

    rng = np.random.default_rng(args.seed + 1)
    easy = make_chain_batch(rng, 6, 6, 6, n_chains=2, min_length=2, max_length=4)
    hard = make_chain_batch(rng, 6, 8, 8, n_chains=1, min_length=13, max_length=14)
    batch, valid = pad_batches([easy, hard])
    mask = torch.as_tensor(valid, device=device)
    labels = torch.as_tensor(batch.labels, device=device)
    with torch.no_grad():
        x = model.embed(batch, device)
        result = model.reasoner.solve(x, mask)
        predicted = model.logits(result.z).argmax(dim=-1)  # (B, H, W)
    correct = (predicted == labels) | ~mask
    cell_accuracy = (correct & mask).flatten(1).sum(1) / mask.flatten(1).sum(1)
    print("sample  grid  chain length  iterations  residual  converged  cell acc  solved")
    sizes = ["6x6"] * len(easy.chain_length) + ["8x8"] * len(hard.chain_length)
    for i, size in enumerate(sizes):
        print(
            f"{i:6d}  {size:>4}  {int(batch.chain_length[i]):12d}  "
            f"{int(result.iterations[i]):10d}  {float(result.residual[i]):8.1e}  "
            f"{bool(result.converged[i])!s:>9}  {float(cell_accuracy[i]):8.3f}  "
            f"{bool(correct[i].all())!s:>6}"
        )
    n_easy = len(easy.chain_length)
    iterations = result.iterations.float()
    print(
        f"\nmean iterations: easy (short chains) {iterations[:n_easy].mean():.1f}, "
        f"hard (long chains) {iterations[n_easy:].mean():.1f}"
    )


if __name__ == "__main__":
    main()
