"""MaxPool (argmax indices kept, not the input) against PyTorch's own max pooling: values and gradients.

Every comparison runs on both paths: the C kernel (bpsrm.network.pool_cpu) and PyTorch's pooling with int64
indices (the kernel switched off), so each is checked against nn.MaxPool1d/2d, not against the other.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bpsrm.errors import ParameterError, ShapeError
from bpsrm.network import pool_cpu
from bpsrm.network.pooling import MaxPool


@pytest.fixture(params=["kernel", "torch"], autouse=True)
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run each test on the C kernel (where built) and on PyTorch's pooling."""
    if request.param == "kernel" and not pool_cpu.available():
        pytest.skip("the C pooling kernel is not built, or BPSRM_KERNEL=portable turned it off")
    if request.param == "torch":
        monkeypatch.setattr(pool_cpu, "_FUNCTIONS", {})
    return request.param


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


def test_the_kernel_is_built_here() -> None:
    """The project's machines have a C compiler: the kernel's library must be there (not silently missing,
    which would leave every "kernel" case above skipped)."""
    from bpsrm.network import native
    from bpsrm.neuron.kernels import FORCED_KERNEL

    assert native.library_path() is not None
    if FORCED_KERNEL != "portable":  # and it loads, with the signatures the bindings expect (native.ABI)
        assert native.available()


def test_keeps_the_indices_not_the_input(path: str) -> None:
    x = (torch.rand(4, 8, 16, 16) < 0.2).float().requires_grad_()
    saved: list[torch.Tensor] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        saved.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y = MaxPool(2)(x)
    # the kernel keeps the place in the window in one byte, PyTorch an int64 per output
    assert [(t.dtype, t.numel()) for t in saved] == [(torch.uint8 if path == "kernel" else torch.int64, y.numel())]


INF, NAN = float("inf"), float("nan")


def _same(got: torch.Tensor, expected: torch.Tensor) -> None:
    """Equal bit for bit, NaN where the expected value is NaN."""
    torch.testing.assert_close(got, expected, rtol=0, atol=0, equal_nan=True)


def _values_and_gradients(pool: nn.Module, x: torch.Tensor, grad_out: torch.Tensor) -> tuple[torch.Tensor, ...]:
    xi = x.clone().requires_grad_()
    y = pool(xi)
    y.backward(grad_out)
    return y.detach(), xi.grad


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_ties_nan_and_infinities_route_the_gradient_as_torch_does(dtype) -> None:
    """Windows by hand: all -inf (first place), +0.0 after -0.0 (a tie: first place), two NaN (the last NaN),
    NaN then a larger number (NaN stays), +inf among ties."""
    inf, nan = float("inf"), float("nan")
    windows = [
        [[-inf, -inf], [-inf, -inf]],
        [[-0.0, 0.0], [0.0, -0.0]],
        [[nan, 5.0], [nan, 1.0]],
        [[nan, 7.0], [2.0, 3.0]],
        [[1.0, inf], [inf, 1.0]],
        [[0.0, 1.0], [1.0, 0.0]],
    ]
    expected_place = [0, 0, 2, 0, 1, 1]
    x = torch.tensor(windows, dtype=dtype).reshape(1, 6, 2, 2)
    grad_out = torch.arange(1.0, 7.0, dtype=dtype).reshape(1, 6, 1, 1)
    y_ref, g_ref = _values_and_gradients(nn.MaxPool2d(2), x, grad_out)
    y, g_x = _values_and_gradients(MaxPool(2), x, grad_out)
    _same(y, y_ref)
    assert torch.equal(torch.signbit(y), torch.signbit(y_ref))
    assert torch.equal(g_x, g_ref)
    places = [int(g_x[0, c].flatten().nonzero()) for c in range(6)]
    assert places == expected_place
    with torch.no_grad():  # inference keeps no argmax: the value alone, its sign bit included
        y_plain = MaxPool(2)(x)
    _same(y_plain, y_ref)
    assert torch.equal(torch.signbit(y_plain), torch.signbit(y_ref))


WINDOWS_1D = {
    # k = 4: the 2 x 2 windows above read row by row
    4: (
        [
            [-INF, -INF, -INF, -INF],
            [-0.0, 0.0, 0.0, -0.0],
            [NAN, 5.0, NAN, 1.0],
            [NAN, 7.0, 2.0, 3.0],
            [1.0, INF, INF, 1.0],
            [0.0, 1.0, 1.0, 0.0],
        ],
        [0, 0, 2, 0, 1, 1],
    ),
    2: (
        [[-INF, -INF], [-0.0, 0.0], [5.0, NAN], [NAN, 7.0], [1.0, INF], [INF, INF], [NAN, NAN]],
        [0, 0, 1, 0, 1, 0, 1],
    ),
}


@pytest.mark.parametrize("k", [2, 4])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_one_dimensional_windows_by_hand_with_and_without_grad(k: int, dtype) -> None:
    """1 x k windows by hand (ties, -0.0 before +0.0, NaN, infinities): the place that gets the gradient, and
    the value with its sign bit, in training and in inference, as PyTorch's."""
    windows, expected_place = WINDOWS_1D[k]
    x = torch.tensor(windows, dtype=dtype).reshape(1, len(windows), k)
    grad_out = torch.arange(1.0, len(windows) + 1.0, dtype=dtype).reshape(1, -1, 1)
    y_ref, g_ref = _values_and_gradients(nn.MaxPool1d(k), x, grad_out)
    y, g_x = _values_and_gradients(MaxPool(k, 1), x, grad_out)
    _same(y, y_ref)
    assert torch.equal(torch.signbit(y), torch.signbit(y_ref))
    assert torch.equal(g_x, g_ref)
    assert [int(g_x[0, c].nonzero()) for c in range(len(windows))] == expected_place
    with torch.no_grad():
        y_plain = MaxPool(k, 1)(x)
    _same(y_plain, y_ref)
    assert torch.equal(torch.signbit(y_plain), torch.signbit(y_ref))


@pytest.mark.parametrize("threads", [1, 2])
def test_large_batches_of_spikes_with_nan_and_odd_sizes(threads: int) -> None:
    """Many planes (shared among threads), sizes that leave a remainder, spikes with NaN and -inf sprinkled in."""
    g = torch.Generator().manual_seed(5)
    x = (torch.rand(6, 20, 15, 13, generator=g) < 0.15).float()
    x[torch.rand(x.shape, generator=g) < 0.01] = float("nan")
    x[torch.rand(x.shape, generator=g) < 0.01] = -float("inf")
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for k in (2, 3, 4):
            grad_out = torch.randn(6, 20, 15 // k, 13 // k, generator=g)
            y_ref, g_ref = _values_and_gradients(nn.MaxPool2d(k), x, grad_out)
            y, g_x = _values_and_gradients(MaxPool(k), x, grad_out)
            _same(y, y_ref)
            assert torch.equal(g_x, g_ref), k
    finally:
        torch.set_num_threads(old)


@pytest.mark.parametrize("dims", [1, 2])
@pytest.mark.parametrize("k", [2, 3, 4])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_every_window_with_nan_infinities_and_remainders_with_and_without_grad(dims: int, k: int, dtype) -> None:
    """The fixed windows of the kernel (2 x 2, 1 x 2, 1 x 4) and the general one (3), in inference (no argmax
    kept) and in training: spikes with NaN, -inf and +inf sprinkled in, sizes that leave a remainder."""
    g = torch.Generator().manual_seed(31 * k + dims)
    shape = (3, 5, 40 * k + k - 1) if dims == 1 else (3, 5, 6 * k + k - 1, 8 * k + 1)
    x = (torch.rand(shape, generator=g) < 0.2).to(dtype)
    for value, share in ((float("nan"), 0.03), (-float("inf"), 0.03), (float("inf"), 0.01)):
        x[torch.rand(shape, generator=g) < share] = value
    reference = nn.MaxPool1d(k) if dims == 1 else nn.MaxPool2d(k)
    with torch.no_grad():
        _same(MaxPool(k, dims)(x), reference(x))
    y_ref = reference(x)
    grad_out = torch.randn(y_ref.shape, generator=g, dtype=dtype)
    y_ref, g_ref = _values_and_gradients(reference, x, grad_out)
    y, g_x = _values_and_gradients(MaxPool(k, dims), x, grad_out)
    _same(y, y_ref)
    assert torch.equal(g_x, g_ref)


def test_non_contiguous_input_is_pooled_like_torch() -> None:
    """A channels-last or transposed tensor (not the kernel's layout) still gives PyTorch's values and gradients."""
    x = torch.randn(2, 3, 8, 8).to(memory_format=torch.channels_last)
    grad_out = torch.randn(2, 3, 4, 4)
    for given in (x, x.transpose(2, 3)):
        y_ref, g_ref = _values_and_gradients(nn.MaxPool2d(2), given, grad_out)
        y, g_x = _values_and_gradients(MaxPool(2), given, grad_out)
        assert torch.equal(y, y_ref) and torch.equal(g_x, g_ref)


@pytest.mark.parametrize("dims", [1, 2])
def test_double_backward_matches_torch(dims: int) -> None:
    """The input gradient is itself differentiable (wrt the output gradient), as PyTorch's is, in float64."""
    g = torch.Generator().manual_seed(9)
    shape = (2, 3, 9) if dims == 1 else (2, 3, 6, 7)
    x = torch.randn(shape, generator=g, dtype=torch.float64)
    weights = torch.randn(shape, generator=g, dtype=torch.float64)
    results = []
    for pool in (nn.MaxPool1d(2) if dims == 1 else nn.MaxPool2d(2), MaxPool(2, dims)):
        xi = x.clone().requires_grad_()
        y = pool(xi)
        grad_out = torch.randn(y.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
        grad_out.requires_grad_()
        (grad_x,) = torch.autograd.grad(y, xi, grad_out, create_graph=True)
        (second,) = torch.autograd.grad((grad_x * weights).sum(), grad_out)
        results.append((grad_x.detach(), second))
    assert torch.equal(results[0][0], results[1][0])
    assert torch.equal(results[0][1], results[1][1])


def test_without_grad_is_the_plain_pool() -> None:
    x = torch.randn(2, 3, 7, 6)
    x[0, 0, 0, 0] = float("nan")
    with torch.no_grad():
        _same(MaxPool(2)(x), nn.functional.max_pool2d(x, 2))
        _same(MaxPool(3, 1)(x[0]), nn.functional.max_pool1d(x[0], 3))


def test_errors_name_what_was_given() -> None:
    with pytest.raises(ParameterError, match="kernel_size must be a whole number in \\[1, 2147483647\\], got 0"):
        MaxPool(0)
    with pytest.raises(ParameterError, match="dims must be a whole number in \\[1, 2\\], got 3"):
        MaxPool(2, 3)
    with pytest.raises(ShapeError, match=r"expects \[N, C, H, W\], got \(2, 3, 4\)"):
        MaxPool(2)(torch.zeros(2, 3, 4))
    with pytest.raises(ShapeError, match=r"must be >= 3, got shape \(1, 1, 2, 5\)"):
        MaxPool(3)(torch.zeros(1, 1, 2, 5))


def test_under_torch_func_transforms() -> None:
    """vmap and grad of torch.func hand over batched tensors (no data pointer): the pool takes PyTorch's path."""
    x = torch.randn(3, 2, 4, 4, dtype=torch.float64)
    batched = torch.func.vmap(lambda sample: MaxPool(2)(sample.unsqueeze(0)).squeeze(0))(x)
    _same(batched, nn.functional.max_pool2d(x, 2))
    grad = torch.func.grad(lambda t: MaxPool(2)(t).sum())(x)
    _same(grad, torch.func.grad(lambda t: nn.functional.max_pool2d(t, 2).sum())(x))


def test_forward_mode_tangents_pass_through() -> None:
    """A dual tensor of torch.autograd.forward_ad (no backward graph): the tangent is pooled as PyTorch pools it."""
    import torch.autograd.forward_ad as fwAD

    g = torch.Generator().manual_seed(4)
    x, tangent = torch.randn(2, 3, 6, 6, generator=g), torch.randn(2, 3, 6, 6, generator=g)
    results = []
    for pool in (nn.MaxPool2d(2), MaxPool(2)):
        with fwAD.dual_level():
            out = fwAD.unpack_dual(pool(fwAD.make_dual(x, tangent)))
            results.append((out.primal.clone(), out.tangent.clone()))
    _same(results[1][0], results[0][0])
    _same(results[1][1], results[0][1])


def test_a_saved_tensor_hook_that_changes_the_layout() -> None:
    """The backward reads what a saved_tensors_hooks unpack returns, in whatever layout it comes back."""
    x = (torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(6)) < 0.3).float()
    grad_out = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(7))
    y_ref, g_ref = _values_and_gradients(nn.MaxPool2d(2), x, grad_out)
    with torch.autograd.graph.saved_tensors_hooks(
        lambda t: t.contiguous(memory_format=torch.channels_last) if t.dim() == 4 else t, lambda t: t
    ):
        y, g_x = _values_and_gradients(MaxPool(2), x, grad_out)
    _same(y, y_ref)
    _same(g_x, g_ref)
