"""The GPU path without a GPU: the one dispatcher sends tensors to the Triton kernel when asked
(BPSRM_KERNEL=triton; on CUDA tensors by default), the kernel runs in Triton's interpreter on CPU tensors,
and a whole training step through it equals the same step through the portable path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from bpsrm.errors import ParameterError
from bpsrm.neuron.functional import _fused_kernel, parameter_dtype, srm, srm_reference
from bpsrm.neuron.surrogate import get_surrogate

pytest.importorskip("triton", reason="the Triton kernel's tests need triton (pip install 'bpsrm[gpu]')")

STEP = textwrap.dedent(
    """
    import json, sys, torch
    import bpsrm
    from bpsrm.neuron.functional import srm, srm_reference
    torch.manual_seed(0)
    out = {}
    # srm itself: which Function runs, and its values and gradients against the reference
    x = (torch.randn(5, 2, 6) * 0.8 + 0.4).requires_grad_()
    tau_m = torch.tensor(3.0, requires_grad=True)
    spikes, u = srm(x, tau_m=tau_m, surrogate="atan")
    out["grad_fn"] = type(u.grad_fn).__name__
    (spikes.sum() + u.square().sum()).backward()
    xr = x.detach().clone().requires_grad_()
    tr = tau_m.detach().clone().requires_grad_()
    rs, ru = srm_reference(xr, tau_m=tr, surrogate="atan")
    (rs.sum() + ru.square().sum()).backward()
    out["u_error"] = float((u - ru).abs().max())
    out["grad_x_error"] = float((x.grad - xr.grad).abs().max())
    out["grad_tau_error"] = float((tau_m.grad - tr.grad).abs())
    out["spikes_equal"] = bool(torch.equal(spikes, rs))
    # one training step of a small network (convolution, TCN, SRM, pooling, linear readout)
    torch.manual_seed(1)
    model = bpsrm.build_model("4C3-TCN-SRM-MP2-FC10", (1, 8, 8), time_steps=3, neuron={"learn_tau": True})
    optimiser = torch.optim.SGD(model.parameters(), lr=0.5)
    inputs = torch.rand(3, 4, 1, 8, 8) * 2
    labels = torch.tensor([1, 3, 5, 7])
    loss = torch.nn.functional.cross_entropy(model(inputs), labels)
    loss.backward()
    optimiser.step()
    out["loss"] = float(loss)
    out["weights"] = {k: v.flatten().tolist() for k, v in model.state_dict().items()}
    # torch.compile over srm: the custom ops run the forced kernel (Triton here) and give the eager numbers
    xc = (torch.randn(4, 3, 5) * 0.8 + 0.4).requires_grad_()
    compiled = torch.compile(lambda t: srm(t, tau_m=2.5, surrogate="atan")[1], fullgraph=True)
    (compiled(xc) * torch.arange(60.0).reshape(4, 3, 5)).sum().backward()
    xe = xc.detach().clone().requires_grad_()
    (srm(xe, tau_m=2.5, surrogate="atan")[1] * torch.arange(60.0).reshape(4, 3, 5)).sum().backward()
    out["compiled_grad_error"] = float((xc.grad - xe.grad).abs().max())
    print(json.dumps(out))
    """
)


def _run(kernel: str) -> dict:
    env = {**os.environ, "BPSRM_KERNEL": kernel, "TRITON_INTERPRET": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", STEP], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_training_step_through_the_triton_kernel_equals_the_portable_one() -> None:
    triton_run, portable_run = _run("triton"), _run("portable")
    assert triton_run["grad_fn"] == "SRMFusedGPUBackward" and portable_run["grad_fn"] == "SRMFunctionBackward"
    for run in (triton_run, portable_run):
        assert run["spikes_equal"]
        assert run["u_error"] < 1e-5 and run["grad_x_error"] < 1e-5 and run["grad_tau_error"] < 1e-4
    assert triton_run["loss"] == pytest.approx(portable_run["loss"], rel=1e-6)
    assert triton_run["compiled_grad_error"] == 0.0 and portable_run["compiled_grad_error"] < 1e-5
    for name, weights in portable_run["weights"].items():
        assert triton_run["weights"][name] == pytest.approx(weights, rel=1e-5, abs=1e-6), name


def test_the_dispatcher_chooses_by_device_dtype_and_surrogate() -> None:
    sigmoid = get_surrogate("sigmoid")
    assert _fused_kernel(torch.zeros(2, 3), sigmoid, "auto") == "c"
    assert _fused_kernel(torch.zeros(2, 3), sigmoid, "portable") is None
    assert _fused_kernel(torch.zeros(2, 3, dtype=torch.float16), sigmoid, "auto") is None  # the C kernel: f32/f64
    with pytest.raises(ParameterError, match=r"the fused kernel does not apply here .*dtype torch.float16"):
        _fused_kernel(torch.zeros(2, 3, dtype=torch.float16), sigmoid, "fused")
    with pytest.raises(ParameterError, match="unknown backend"):
        _fused_kernel(torch.zeros(2, 3), sigmoid, "cuda")


def test_half_precision_inputs_keep_float32_parameters_and_match_the_reference() -> None:
    assert parameter_dtype(torch.bfloat16) == parameter_dtype(torch.float16) == torch.float32
    assert parameter_dtype(torch.float64) == torch.float64
    x = torch.rand(6, 3, 4) * 1.5
    for dtype in (torch.float16, torch.bfloat16):
        half = x.to(dtype)
        spikes, u = srm(half, tau_m=3.0)  # the portable path on the CPU
        assert u.dtype == dtype and spikes.dtype == dtype
        _, ref_u = srm_reference(half.float(), tau_m=3.0)
        eps = torch.finfo(dtype).eps
        torch.testing.assert_close(u.float(), ref_u, rtol=8 * eps, atol=8 * eps)
