"""Fused implementations of the SRM neuron, one module per backend.

``cpu``: a C library (built at install time, loaded with ctypes) with the forward and BP-SRM backward in
one pass over memory each, for CPU tensors. ``gpu``: the same in Triton, for CUDA tensors. ``compiled``:
both as ``torch.library`` custom ops for ``torch.compile``. Each implements both resets (subtractive and
``reset="zero"``). Other devices and dtypes use the portable :class:`bpsrm.neuron.autograd.SRMFunction`
(:class:`~bpsrm.neuron.autograd.SRMHardResetFunction` for the hard reset);
:func:`bpsrm.neuron.functional._fused_kernel` chooses.

``FORCED_KERNEL`` is the environment's ``BPSRM_KERNEL``, read once when bpsrm is imported: ``portable``
turns the fused kernels off; ``triton`` sends every tensor the Triton kernel supports to it (CPU tensors
too under ``TRITON_INTERPRET=1``, which is how the tests train through it without a GPU).
"""

import os

FORCED_KERNEL = os.environ.get("BPSRM_KERNEL", "").strip().lower()
