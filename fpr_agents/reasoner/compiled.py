"""An optional compiled form of the reasoner's step f, with a clean fallback to the eager one.

:class:`CompiledStep` runs a step function through ``torch.compile`` (inductor by default). One
solve or training unroll applies the same small step many times, so fusing its elementwise work
(norms, gates, SiLU, residuals) into a few kernels pays for itself on long runs; the compiled
step computes the same function as the eager one, to floating-point rounding.

Shapes. The batch dimension is compiled as a symbol, so the batch a solve shrinks to whenever a
sample halts does not recompile (batch 1 gets a graph of its own). The grid's height and width
are kept static: one graph per grid size, shared by every batch of that size. Symbolic grid sides
fail in inductor (torch 2.13) once a backward pass is compiled ("cannot determine truth value of
Relational" while ordering strides), and attention's rotary tables are cached per size anyway.
A graph is also specific to whether a padding mask is given, to gradient mode and to autocast.
A run that sees many grid sizes (a maze curriculum, a solve cropping its padding) therefore
compiles several graphs; :attr:`CompiledStep.graphs` and :attr:`CompiledStep.compile_seconds`
say how many and how long they took.

Fallback. When compiling fails (no C compiler, an inductor error, a platform torch.compile does
not support), the call is repeated eagerly, one ``RuntimeWarning`` says why, and every later
call runs eagerly. An error that the eager step raises too (bad input) is raised as it is.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import Any

import torch

StepFunction = Callable[[Any, torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]
"""``step(owner, z, x, mask) -> f(z)``: the eager step, with the module that owns the weights."""

COMPILE_MODES: tuple[str | None, ...] = (
    None,
    "default",
    "reduce-overhead",
    "max-autotune",
    "max-autotune-no-cudagraphs",
)


class CompiledStep:
    """A step function compiled once per shape class, with an eager fallback.

    Called as ``compiled(owner, z, x, mask)`` with the (B, H, W, d) latent z and input x and the
    (B, H, W) mask or None; returns what ``step(owner, z, x, mask)`` returns.

    :param step: the eager step; it is what runs when compiling fails or :attr:`enabled` is off.
    :param mode: ``torch.compile``'s mode (None: its default; "reduce-overhead" adds CUDA graphs
        on a GPU; "max-autotune" searches kernels, a much longer compile).
    :param backend: ``torch.compile``'s backend ("inductor", or a backend callable).
    :param max_graphs: most graphs compiled for this step (one per grid size, mask presence,
        gradient mode and autocast); torch's own limit (8 per function) is raised to this while a
        new graph compiles. Shapes beyond it run eagerly (torch warns once).
    """

    def __init__(
        self,
        step: StepFunction,
        mode: str | None = None,
        backend: str | Callable[..., Any] = "inductor",
        max_graphs: int = 32,
    ) -> None:
        if mode not in COMPILE_MODES:
            raise ValueError(f"CompiledStep: mode must be one of {COMPILE_MODES}, got {mode!r}")
        if isinstance(max_graphs, bool) or not isinstance(max_graphs, int) or max_graphs < 1:
            raise ValueError(
                f"CompiledStep: max_graphs must be an integer >= 1, got {max_graphs!r}"
            )
        self.step = step
        self.mode = mode
        self.backend = backend
        self.max_graphs = max_graphs
        self.enabled = True
        """False runs the eager step and keeps the compiled graphs for when it is set again."""
        self.failure: str | None = None
        """Why compiling failed (the step then runs eagerly for good), or None."""
        self.compile_seconds = 0.0
        """Seconds spent in the first call of each new graph (its compilation and one run)."""
        self._compiled: Callable[..., torch.Tensor] | None = None
        self._seen: set[tuple[Any, ...]] = set()

    @property
    def graphs(self) -> int:
        """How many graphs have been compiled (shape classes seen by the compiled step)."""
        return len(self._seen)

    @property
    def active(self) -> bool:
        """Whether calls go through the compiled step (enabled, and compiling has not failed)."""
        return self.enabled and self.failure is None

    def __getstate__(self) -> dict[str, Any]:
        """Copies and pickles keep the options, not the compiled graphs (compiled again lazily).

        :return: the picklable state.
        """
        state = dict(self.__dict__)
        state["_compiled"] = None
        state["_seen"] = set()
        state["compile_seconds"] = 0.0
        return state

    def __call__(
        self, owner: Any, z: torch.Tensor, x: torch.Tensor, mask: torch.Tensor | None
    ) -> torch.Tensor:
        """Apply the step, compiled when :attr:`active`.

        :param owner: the module whose step this is (passed to the step function).
        :param z: latent, (B, H, W, d).
        :param x: input embedding, (B, H, W, d).
        :param mask: (B, H, W) bool, True on real cells, or None.
        :return: f(z; x), (B, H, W, d).
        """
        if not self.active or torch.compiler.is_compiling():
            return self.step(owner, z, x, mask)
        failure: Exception | None = None
        try:
            return self._run(owner, z, x, mask)
        except Exception as error:  # any failure to compile falls back (below)
            failure = error
        # Outside the handler: an error the eager step raises too is a real one and propagates.
        output = self.step(owner, z, x, mask)
        self._fall_back(failure)
        return output

    def _run(
        self, owner: Any, z: torch.Tensor, x: torch.Tensor, mask: torch.Tensor | None
    ) -> torch.Tensor:
        """The compiled call: batch symbolic, grid sides static; a new shape class compiles
        under a raised recompile limit and is timed."""
        import torch._dynamo  # here, not at module level: importing it takes seconds

        if self._compiled is None:
            self._compiled = torch.compile(self.step, mode=self.mode, backend=self.backend)
        tensors = (z, x) if mask is None else (z, x, mask)
        for tensor in tensors:
            torch._dynamo.mark_static(tensor, 1)
            torch._dynamo.mark_static(tensor, 2)
            if tensor.shape[0] > 1:
                torch._dynamo.maybe_mark_dynamic(tensor, 0)
        key = (
            tuple(z.shape[1:]),
            z.shape[0] == 1,
            mask is None,
            torch.is_grad_enabled(),
            z.requires_grad,
            x.requires_grad,
            torch.is_autocast_enabled(z.device.type),
            z.dtype,
            x.dtype,
            z.device,
            id(owner),
        )
        if key in self._seen:
            return self._compiled(owner, z, x, mask)
        start = time.perf_counter()
        limit = max(self.max_graphs, torch._dynamo.config.recompile_limit)
        with torch._dynamo.config.patch(recompile_limit=limit):
            output = self._compiled(owner, z, x, mask)
        self.compile_seconds += time.perf_counter() - start
        self._seen.add(key)
        return output

    def _fall_back(self, error: Exception | None) -> None:
        """Record the failure and warn once; later calls run eagerly.

        :param error: what compiling raised.
        """
        if self.failure is not None:
            return
        self.failure = _describe(error)
        warnings.warn(
            f"compiled reasoner step: torch.compile failed ({self.failure}); running the step "
            "eagerly from now on",
            RuntimeWarning,
            stacklevel=4,
        )


def _describe(error: Exception | None) -> str:
    """One line on a compile failure: torch's wrapper and the error underneath it.

    :param error: what compiling raised.
    :return: e.g. ``"BackendCompilerFailed: InvalidCxxCompiler: No working C++ compiler found"``.
    """
    names = [type(error).__name__]
    root: BaseException | None = error
    for _ in range(8):  # torch wraps the real error (inner_exception, or raised from it)
        inner = getattr(root, "inner_exception", None) or getattr(root, "__cause__", None)
        if not isinstance(inner, BaseException):
            break
        names.append(type(inner).__name__)
        root = inner
    text = str(root).strip()
    first_line = text.splitlines()[0] if text else ""
    return f"{': '.join(dict.fromkeys(names))}: {first_line}"[:300]
