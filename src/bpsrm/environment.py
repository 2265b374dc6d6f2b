"""What a run ran on: the software versions, the processor and the vector instructions PyTorch chose.

A seeded CPU run is repeatable bit for bit only on the same PyTorch build, thread count and instruction set:
PyTorch's CPU kernels (and oneDNN's convolutions) take a code path per vector extension, and each path
rounds sums in its own order. Measured on N-MNIST fold 4 (``configs/nmnist.yaml``, the wider network with
event augmentation, seed 0, one thread, the same code and C kernels; results/tuning/nmnist-fold-trace.json): the
first epoch's training loss was 2.338269 with PyTorch's AVX-512 kernels, 2.352588 with
``ATEN_CPU_CAPABILITY=avx2``, 2.333842 with ``ONEDNN_MAX_CPU_ISA=AVX2``; bpsrm's compiled kernels against its
portable path also move it (2.338269 against 2.335991). A run folder therefore records
:func:`describe_environment` in ``metrics.json`` (key ``environments``, one entry per environment a resumed run
went on in), and the benchmark reports record it too, so that two figures that differ can be told apart by what
they ran on.
"""

from __future__ import annotations

import functools
import os
import platform
from pathlib import Path
from typing import Any

import torch

from ._version import __version__

__all__ = ["describe_environment", "cpu_model", "cpu_flags", "kernels_in_use", "ROUNDING_KEYS", "CODE_PATH_SETTINGS"]

_CPUINFO = Path("/proc/cpuinfo")

#: The x86 extensions that choose PyTorch's and oneDNN's code paths (and so their roundings).
VECTOR_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16")


@functools.cache
def _cpuinfo(cpuinfo: Path) -> dict[str, str]:
    """The fields of the first processor in ``cpuinfo`` (``/proc/cpuinfo`` on Linux), read once per process and
    path (the processor does not change under a running process); empty where the file cannot be read."""
    fields: dict[str, str] = {}
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as lines:
            for line in lines:
                key, sep, value = line.partition(":")
                if not sep:
                    if fields:
                        break  # the blank line after the first processor
                    continue
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return fields


def cpu_model(cpuinfo: Path = _CPUINFO) -> str:
    """The processor's name: the first ``model name`` line of ``/proc/cpuinfo`` on Linux, else what
    :func:`platform.processor` says, else the machine type (``x86_64``, ``arm64``)."""
    return _cpuinfo(cpuinfo).get("model name") or platform.processor() or platform.machine() or "unknown"


def cpu_flags(cpuinfo: Path = _CPUINFO) -> list[str]:
    """Which of :data:`VECTOR_FLAGS` the processor has, in that order (empty where ``/proc/cpuinfo`` has no
    ``flags`` line: another system or architecture)."""
    present = set(_cpuinfo(cpuinfo).get("flags", "").split())
    return [flag for flag in VECTOR_FLAGS if flag in present]


#: Environment variables that choose code paths, and so roundings: PyTorch's and oneDNN's vector instructions,
#: bpsrm's kernels. Recorded (``settings``) where they are set.
CODE_PATH_SETTINGS = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "BPSRM_KERNEL")

#: The keys of :func:`describe_environment` whose change changes a run's roundings (the others, such as the
#: system's kernel release or bpsrm's version, may not).
ROUNDING_KEYS = ("torch", "cpu_flags", "cpu_capability", "threads", "device", "kernels", "settings")


def kernels_in_use(device: torch.device | str = "cpu", surrogate: Any = "sigmoid") -> dict[str, str]:
    """Which code runs the neuron and the TCN and pooling layers on ``device``: ``{"neuron": ..., "tcn_pooling":
    ...}``. The neuron's is the choice :func:`bpsrm.neuron.functional.kernel_choice` makes for a float32 call with
    ``surrogate`` (a name or an instance; a run's own): ``C`` (bpsrm's compiled kernel), ``Triton``
    (``Triton (interpreter)`` for CPU tensors under ``TRITON_INTERPRET=1``), or the portable path (PyTorch
    operations, the same equations with other roundings, about half the speed of a training step) with the
    reason. TCN and pooling: ``C`` on a CPU with the compiled kernels, else PyTorch's operations. A call of
    another dtype may take another path (float16 on a CPU)."""
    from .network import native
    from .neuron.functional import kernel_choice
    from .neuron.kernels import FORCED_KERNEL

    device = torch.device(device)
    kernel, why = kernel_choice(torch.empty(1, 1, device=device), surrogate)
    names = {"c": "C", "triton": "Triton" if device.type == "cuda" else "Triton (interpreter)"}
    neuron = names[kernel] if kernel is not None else f"portable ({why})"
    if device.type == "cuda":
        return {"neuron": neuron, "tcn_pooling": "PyTorch"}
    if native.available():
        return {"neuron": neuron, "tcn_pooling": "C"}
    why = "BPSRM_KERNEL=portable" if FORCED_KERNEL == "portable" else "the C library was not built or is stale"
    return {"neuron": neuron, "tcn_pooling": f"PyTorch ({why})"}


def describe_environment(device: torch.device | str | None = None, surrogate: Any = "sigmoid") -> dict[str, Any]:
    """What a run's figures depend on besides its config and seed.

    Returns ``{"bpsrm", "torch", "python", "system", "cpu", "cpu_flags", "cpu_capability", "threads",
    "device", "kernels", "settings"}``: the versions, the operating system, the processor's name and vector
    extensions (:func:`cpu_flags`), the vector instructions PyTorch's CPU kernels use
    (``torch.backends.cpu.get_cpu_capability()``: ``AVX512``, ``AVX2``, ``DEFAULT`` ...; an
    ``ATEN_CPU_CAPABILITY`` setting lowers it), the intra-op threads, the device (``cpu`` or the GPU's
    name), the code that runs the layers there with the run's ``surrogate`` (:func:`kernels_in_use`), and which of
    :data:`CODE_PATH_SETTINGS` are set, with their values (oneDNN's ``ONEDNN_MAX_CPU_ISA`` changes roundings
    without changing ``cpu_capability``).
    """
    device = torch.device(device if device is not None else "cpu")
    return {
        "bpsrm": __version__,
        "torch": str(torch.__version__),  # a TorchVersion, which weights-only loading refuses
        "python": platform.python_version(),
        "system": platform.platform(terse=True),
        "cpu": cpu_model(),
        "cpu_flags": cpu_flags(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else device.type,
        "kernels": kernels_in_use(device, surrogate),
        "settings": {name: os.environ[name] for name in CODE_PATH_SETTINGS if name in os.environ},
    }
