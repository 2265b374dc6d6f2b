"""Fused implementations of the SRM neuron, one module per backend.

``cpu``: a C library (built at install time, loaded with ctypes) with the forward and BP-SRM backward in
one pass over memory each, for CPU tensors. ``gpu``: the same in Triton, for CUDA tensors. ``compiled``:
both as ``torch.library`` custom ops for ``torch.compile``. Each implements both resets (subtractive and
``reset="zero"``). Other devices and dtypes use the portable :class:`bpsrm.neuron.autograd.SRMFunction`
(:class:`~bpsrm.neuron.autograd.SRMHardResetFunction` for the hard reset);
:func:`bpsrm.neuron.functional._fused_kernel` chooses.

``FORCED_KERNEL`` is the environment's ``BPSRM_KERNEL``, read once when bpsrm is imported: ``portable``
turns the fused kernels off; ``triton`` sends every tensor the Triton kernel supports to it (CPU tensors
too under ``TRITON_INTERPRET=1``, which is how the tests train through it without a GPU; the C kernel takes the
CPU tensors Triton cannot). Any other value is refused (:data:`KERNEL_SETTING_PROBLEM`).
"""

import os

#: The values BPSRM_KERNEL may take ("" or unset: bpsrm chooses).
KERNEL_SETTINGS = ("", "portable", "triton")

FORCED_KERNEL = os.environ.get("BPSRM_KERNEL", "").strip().lower()

#: What is wrong with BPSRM_KERNEL, or None: a misspelt value (``portabel``) would otherwise be read as unset and
#: change nothing, without a word; :func:`bpsrm.neuron.functional.srm` refuses to run with it.
KERNEL_SETTING_PROBLEM = (
    None
    if FORCED_KERNEL in KERNEL_SETTINGS
    else f"BPSRM_KERNEL={os.environ.get('BPSRM_KERNEL', '')!r} is not a setting bpsrm knows; expected portable, "
    "triton, or nothing (bpsrm chooses)"
)
