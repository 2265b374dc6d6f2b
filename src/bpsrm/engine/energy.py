"""Synaptic operations and an energy estimate per sample.

Every synapse layer (Linear, Conv1d/2d) is counted on its actual input:

* a binary input (spikes) costs accumulate operations (ACs, "SOPs"): one per
  spike and per target, ``SOP = sum(spikes) * fan_out`` with ``fan_out`` =
  ``out_features`` (Linear) or ``out_channels / groups * prod(kernel) / prod(stride)``
  (Conv, borders ignored);
* an analogue input (the first layer under direct encoding, or average-pooled
  spikes) costs multiply-accumulates, ``MAC = numel(output) * fan_in`` with
  ``fan_in`` = ``in_features`` or ``in_channels / groups * prod(kernel)``.

Energy = MAC * E_MAC + SOP * E_AC, with the 45 nm CMOS figures of Horowitz
(ISSCC 2014) for 32-bit floating point: E_MAC = 4.6 pJ, E_AC = 0.9 pJ. These
are the constants most SNN papers use; they estimate, they do not measure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn

__all__ = ["E_MAC_PJ", "E_AC_PJ", "OperationCounter"]

E_MAC_PJ = 4.6
E_AC_PJ = 0.9


@dataclass
class OperationCounter:
    """Forward hooks that count MACs and SOPs of a model's synapse layers; use as a context manager."""

    model: nn.Module
    macs: float = 0.0
    sops: float = 0.0
    samples: int = 0
    _handles: list = field(default_factory=list)

    def __enter__(self) -> OperationCounter:
        for module in self.model.modules():
            if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d)):
                self._handles.append(module.register_forward_hook(self._hook))
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _hook(self, module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
        x = inputs[0].detach()
        binary = bool(((x == 0) | (x == 1)).all())
        fan_in: float
        fan_out: float
        if isinstance(module, nn.Linear):
            fan_in, fan_out = module.in_features, module.out_features
        else:
            kernel = 1
            for k in module.kernel_size:  # type: ignore[union-attr]
                kernel *= k
            stride = 1
            for s in module.stride:  # type: ignore[union-attr]
                stride *= s
            conv: Any = module  # nn.Conv1d or nn.Conv2d (the hooks are registered on those alone)
            fan_in = conv.in_channels // conv.groups * kernel
            fan_out = conv.out_channels // conv.groups * kernel / stride
        if binary:
            self.sops += float(x.sum()) * fan_out
        else:
            self.macs += float(output.numel()) * fan_in

    def per_sample(self) -> dict[str, Any]:
        """MACs, SOPs and energy (uJ) per sample, with the constants used (pJ)."""
        n = max(self.samples, 1)
        macs, sops = self.macs / n, self.sops / n
        energy_pj = macs * E_MAC_PJ + sops * E_AC_PJ
        return {
            "macs_per_sample": macs,
            "synaptic_ops_per_sample": sops,
            "energy_per_sample_uj": energy_pj * 1e-6,
            "energy_constants": {"E_MAC_pJ": E_MAC_PJ, "E_AC_pJ": E_AC_PJ, "source": "Horowitz, ISSCC 2014, 45 nm"},
        }
