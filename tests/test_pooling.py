"""MaxPool (argmax indices kept, not the input) against PyTorch's own max pooling: values and gradients."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bpsrm.errors import ParameterError, ShapeError
from bpsrm.network.pooling import MaxPool

SHAPES = {1: [(2, 3, 8), (1, 2, 11)], 2: [(2, 3, 8, 6), (1, 2, 7, 9)]}
CASES = [(dims, shape, k) for dims in (1, 2) for shape in SHAPES[dims] for k in (2, 3)]


@pytest.mark.parametrize(("dims", "shape", "k"), CASES)
@pytest.mark.parametrize("binary", [True, False], ids=["spikes", "real"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_same_values_and_gradients_as_torch(dims: int, shape: tuple[int, ...], k: int, binary: bool, dtype) -> None:
    g = torch.Generator().manual_seed(len(shape) * 10 + k)
    x = ((torch.rand(shape, generator=g) < 0.3) if binary else torch.randn(shape, generator=g)).to(dtype)
    reference = nn.MaxPool1d(k) if dims == 1 else nn.MaxPool2d(k)
    results = []
    grad_out = None
    for pool in (reference, MaxPool(k, dims)):
        xi = x.clone().requires_grad_()
        y = pool(xi)
        if grad_out is None:
            grad_out = torch.randn(y.shape, generator=g, dtype=dtype)
        y.backward(grad_out)
        results.append((y.detach(), xi.grad))
    (y_ref, g_ref), (y, g_x) = results
    # binary spikes tie in most windows (all zeros): the gradient must still go where PyTorch sends it
    assert torch.equal(y, y_ref)
    assert torch.equal(g_x, g_ref)


def test_keeps_the_indices_not_the_input() -> None:
    x = (torch.rand(4, 8, 16, 16) < 0.2).float().requires_grad_()
    saved: list[torch.Tensor] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        saved.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y = MaxPool(2)(x)
    assert [(t.dtype, t.numel()) for t in saved] == [(torch.int64, y.numel())]


def test_without_grad_is_the_plain_pool() -> None:
    x = torch.randn(2, 3, 6, 6)
    with torch.no_grad():
        assert torch.equal(MaxPool(2)(x), nn.functional.max_pool2d(x, 2))


def test_errors_name_what_was_given() -> None:
    with pytest.raises(ParameterError, match="kernel_size must be an int >= 1, got 0"):
        MaxPool(0)
    with pytest.raises(ParameterError, match="dims must be 1 or 2, got 3"):
        MaxPool(2, 3)
    with pytest.raises(ShapeError, match=r"expects \[N, C, H, W\], got \(2, 3, 4\)"):
        MaxPool(2)(torch.zeros(2, 3, 4))
    with pytest.raises(ShapeError, match=r"must be >= 3, got shape \(1, 1, 2, 5\)"):
        MaxPool(3)(torch.zeros(1, 1, 2, 5))
