"""Tests of the normalisation layers (BP-SRM.md section 4) against hand computations.

Every expected value here is computed in the test itself: explicit means and
variances over the slices of ``z`` that the spec names, or
``torch.nn.BatchNorm1d/2d`` on the time-folded tensor ``[T*B, C, *S]``.
Every test runs twice: with TCN's C kernels (bpsrm.network.tcn_cpu) and with PyTorch's operations.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from bpsrm.errors import BpsrmError, ParameterError, ShapeError
from bpsrm.network import tcn_cpu
from bpsrm.network.norm import BNTT, NORMS, TEBN, FoldedBatchNorm, TdBN, TemporalChannelNorm


@pytest.fixture(params=["kernel", "torch"], autouse=True)
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run each test with TCN's C kernels (where built) and with PyTorch's operations."""
    if request.param == "kernel" and not tcn_cpu.available():
        pytest.skip("the TCN kernels are not built, or BPSRM_KERNEL=portable turned them off")
    if request.param == "torch":
        monkeypatch.setattr(tcn_cpu, "_MOMENTS", {})
    return request.param


T, B, C = 4, 3, 3
EPS = 1e-5
MOMENTUM = 0.1

# [T, B, C], [T, B, C, L], [T, B, C, H, W]
SHAPES = {
    "TBC": (T, B, C),
    "TBCL": (T, B, C, 5),
    "TBCHW": (T, 2, C, 3, 4),
}


@dataclass(frozen=True)
class Config:
    """What the spec says a layer computes (independent of the layer's code)."""

    name: str
    stats: str  # "channel": mu[c] over (t, b, s); "time_channel": mu[t, c] over (b, s)
    gamma_per_step: bool  # gamma[t, c] (True) or gamma[c]
    bias: bool
    step_scale: bool  # TEBN's p[t]

    def make(self) -> nn.Module:
        if self.name == "tcn_channel_T":
            return TemporalChannelNorm(C, T, "channel")
        if self.name == "tcn_channel_none":
            return TemporalChannelNorm(C, None, "channel")
        if self.name == "tcn_time_channel_T":
            return TemporalChannelNorm(C, T, "time_channel")
        if self.name == "folded_bn":
            return FoldedBatchNorm(C)
        if self.name == "tdbn":
            return TdBN(C)
        if self.name == "bntt":
            return BNTT(C, T)
        if self.name == "tebn":
            return TEBN(C, T)
        raise AssertionError(self.name)


CONFIGS = [
    Config("tcn_channel_T", "channel", gamma_per_step=True, bias=True, step_scale=False),
    Config("tcn_channel_none", "channel", gamma_per_step=False, bias=True, step_scale=False),
    Config("tcn_time_channel_T", "time_channel", gamma_per_step=True, bias=True, step_scale=False),
    Config("folded_bn", "channel", gamma_per_step=False, bias=True, step_scale=False),
    Config("tdbn", "channel", gamma_per_step=False, bias=True, step_scale=False),
    Config("bntt", "time_channel", gamma_per_step=True, bias=False, step_scale=False),
    Config("tebn", "channel", gamma_per_step=False, bias=True, step_scale=True),
]
CONFIG_IDS = [c.name for c in CONFIGS]


# ---------------------------------------------------------------------------------------------
# hand computations
# ---------------------------------------------------------------------------------------------
def hand_stats(z: torch.Tensor, stats: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(mean, biased var, unbiased var), each [C] or [T, C], by explicit loops over slices."""
    steps, channels = z.shape[0], z.shape[2]
    if stats == "channel":
        mean = torch.empty(channels, dtype=z.dtype)
        var_b = torch.empty(channels, dtype=z.dtype)
        var_u = torch.empty(channels, dtype=z.dtype)
        for c in range(channels):
            values = z[:, :, c].reshape(-1)  # every (t, b, s)
            n = values.numel()
            m = values.sum() / n
            ss = ((values - m) ** 2).sum()
            mean[c], var_b[c], var_u[c] = m, ss / n, ss / (n - 1)
        return mean, var_b, var_u
    mean = torch.empty(steps, channels, dtype=z.dtype)
    var_b = torch.empty(steps, channels, dtype=z.dtype)
    var_u = torch.empty(steps, channels, dtype=z.dtype)
    for t in range(steps):
        for c in range(channels):
            values = z[t, :, c].reshape(-1)  # every (b, s)
            n = values.numel()
            m = values.sum() / n
            ss = ((values - m) ** 2).sum()
            mean[t, c], var_b[t, c], var_u[t, c] = m, ss / n, ss / (n - 1)
    return mean, var_b, var_u


def hand_output(
    z: torch.Tensor,
    mean: torch.Tensor,
    var: torch.Tensor,
    gamma: torch.Tensor,
    beta: torch.Tensor | None,
    p: torch.Tensor | None,
) -> torch.Tensor:
    """y[t, b, c, s] = p[t] * (gamma * (z - mu) / sqrt(var + eps) + beta), element by (t, c) slice."""
    y = torch.empty_like(z)
    for t in range(z.shape[0]):
        for c in range(z.shape[2]):
            m = mean[t, c] if mean.dim() == 2 else mean[c]
            v = var[t, c] if var.dim() == 2 else var[c]
            g = gamma[t, c] if gamma.dim() == 2 else gamma[c]
            out = g * (z[t, :, c] - m) / math.sqrt(float(v) + EPS)
            if beta is not None:
                out = out + (beta[t, c] if beta.dim() == 2 else beta[c])
            if p is not None:
                out = out * p[t]
            y[t, :, c] = out
    return y


def set_params(
    layer: nn.Module, cfg: Config, seed: int = 123
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Put non-trivial gamma / beta / p into the layer (after checking the shapes the spec gives them)."""
    gen = torch.Generator().manual_seed(seed)
    affine_shape = (T, C) if cfg.gamma_per_step else (C,)
    gamma = 0.5 + torch.rand(affine_shape, generator=gen, dtype=torch.float64)
    assert tuple(layer.weight.shape) == affine_shape
    beta = None
    if cfg.bias:
        beta = torch.randn(affine_shape, generator=gen, dtype=torch.float64)
        assert layer.bias is not None and tuple(layer.bias.shape) == affine_shape
    else:
        assert layer.bias is None
    p = None
    if cfg.step_scale:
        p = 0.5 + torch.rand(T, generator=gen, dtype=torch.float64)
        assert layer.step_scale is not None and tuple(layer.step_scale.shape) == (T,)
    else:
        assert getattr(layer, "step_scale", None) is None
    with torch.no_grad():
        layer.weight.copy_(gamma)
        if beta is not None:
            layer.bias.copy_(beta)
        if p is not None:
            layer.step_scale.copy_(p)
    return gamma, beta, p


def make_input(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    # non-zero mean and non-unit scale per channel, so that normalising is visible
    z = torch.randn(shape, generator=gen, dtype=torch.float64)
    offset = torch.arange(shape[2], dtype=torch.float64).reshape((1, 1, -1) + (1,) * (len(shape) - 3))
    return 2.0 * z + offset - 1.0


def stat_shape(cfg: Config) -> tuple[int, ...]:
    return (T, C) if cfg.stats == "time_channel" else (C,)


# ---------------------------------------------------------------------------------------------
# forward (train), running statistics, eval
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape_name", list(SHAPES))
@pytest.mark.parametrize("cfg", CONFIGS, ids=CONFIG_IDS)
def test_train_output_matches_hand_formula(cfg: Config, shape_name: str) -> None:
    torch.manual_seed(0)
    layer = cfg.make().double().train()
    gamma, beta, p = set_params(layer, cfg)
    z = make_input(SHAPES[shape_name], seed=1)
    y = layer(z)
    assert y.shape == z.shape and y.dtype == torch.float64
    mean, var_b, _ = hand_stats(z, cfg.stats)
    expected = hand_output(z, mean, var_b, gamma, beta, p)
    torch.testing.assert_close(y, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("shape_name", list(SHAPES))
@pytest.mark.parametrize("cfg", CONFIGS, ids=CONFIG_IDS)
def test_running_stats_after_one_and_two_steps(cfg: Config, shape_name: str) -> None:
    torch.manual_seed(0)
    layer = cfg.make().double().train()
    assert tuple(layer.running_mean.shape) == stat_shape(cfg)
    assert tuple(layer.running_var.shape) == stat_shape(cfg)
    torch.testing.assert_close(layer.running_mean, torch.zeros(stat_shape(cfg), dtype=torch.float64))
    torch.testing.assert_close(layer.running_var, torch.ones(stat_shape(cfg), dtype=torch.float64))

    z1 = make_input(SHAPES[shape_name], seed=2)
    z2 = 0.5 * make_input(SHAPES[shape_name], seed=3) + 3.0
    m1, _, v1 = hand_stats(z1, cfg.stats)
    m2, _, v2 = hand_stats(z2, cfg.stats)

    layer(z1)
    rm1 = (1 - MOMENTUM) * 0.0 + MOMENTUM * m1
    rv1 = (1 - MOMENTUM) * 1.0 + MOMENTUM * v1
    torch.testing.assert_close(layer.running_mean, rm1, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(layer.running_var, rv1, rtol=1e-12, atol=1e-12)
    assert int(layer.num_batches_tracked) == 1

    layer(z2)
    rm2 = (1 - MOMENTUM) * rm1 + MOMENTUM * m2
    rv2 = (1 - MOMENTUM) * rv1 + MOMENTUM * v2
    torch.testing.assert_close(layer.running_mean, rm2, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(layer.running_var, rv2, rtol=1e-12, atol=1e-12)
    assert int(layer.num_batches_tracked) == 2


@pytest.mark.parametrize("shape_name", list(SHAPES))
@pytest.mark.parametrize("cfg", CONFIGS, ids=CONFIG_IDS)
def test_eval_uses_running_stats(cfg: Config, shape_name: str) -> None:
    torch.manual_seed(0)
    layer = cfg.make().double().train()
    gamma, beta, p = set_params(layer, cfg)
    z1 = make_input(SHAPES[shape_name], seed=4)
    z2 = make_input(SHAPES[shape_name], seed=5) * 0.3 - 2.0
    layer(z1)
    layer(z2)
    m1, _, v1 = hand_stats(z1, cfg.stats)
    m2, _, v2 = hand_stats(z2, cfg.stats)
    rm = 0.9 * (0.1 * m1) + 0.1 * m2
    rv = 0.9 * (0.9 + 0.1 * v1) + 0.1 * v2

    layer.eval()
    z3 = make_input(SHAPES[shape_name], seed=6)
    y = layer(z3)
    expected = hand_output(z3, rm, rv, gamma, beta, p)
    torch.testing.assert_close(y, expected, rtol=1e-10, atol=1e-10)
    # eval must differ from what the batch statistics of z3 would give
    mb, vb, _ = hand_stats(z3, cfg.stats)
    assert not torch.allclose(y, hand_output(z3, mb, vb, gamma, beta, p), atol=1e-3)
    # and must not move the running statistics
    torch.testing.assert_close(layer.running_mean, rm, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(layer.running_var, rv, rtol=1e-12, atol=1e-12)
    assert int(layer.num_batches_tracked) == 2


@pytest.mark.parametrize("cfg", CONFIGS, ids=CONFIG_IDS)
def test_eval_with_set_running_buffers(cfg: Config) -> None:
    """Eval reads whatever is in the running buffers (here set by hand)."""
    layer = cfg.make().double().eval()
    gamma, beta, p = set_params(layer, cfg, seed=9)
    gen = torch.Generator().manual_seed(10)
    rm = torch.randn(stat_shape(cfg), generator=gen, dtype=torch.float64)
    rv = 0.2 + torch.rand(stat_shape(cfg), generator=gen, dtype=torch.float64)
    with torch.no_grad():
        layer.running_mean.copy_(rm)
        layer.running_var.copy_(rv)
    z = make_input(SHAPES["TBCL"], seed=11)
    torch.testing.assert_close(layer(z), hand_output(z, rm, rv, gamma, beta, p), rtol=1e-10, atol=1e-10)


def test_eval_float32_layer_on_float32_input() -> None:
    torch.manual_seed(0)
    layer = TemporalChannelNorm(C, T).eval()
    z = torch.randn(T, B, C, 2)
    y = layer(z)
    assert y.dtype == torch.float32
    torch.testing.assert_close(y, z / math.sqrt(1.0 + EPS))


# ---------------------------------------------------------------------------------------------
# FoldedBatchNorm / TdBN against torch.nn.BatchNorm on [T*B, C, *S]
# ---------------------------------------------------------------------------------------------
def _torch_bn(shape: tuple[int, ...]) -> nn.Module:
    return (
        nn.BatchNorm2d(C, eps=EPS, momentum=MOMENTUM)
        if len(shape) == 5
        else nn.BatchNorm1d(C, eps=EPS, momentum=MOMENTUM)
    )


@pytest.mark.parametrize("shape_name", list(SHAPES))
@pytest.mark.parametrize("cls", [FoldedBatchNorm, TdBN])
def test_folded_matches_torch_batchnorm(cls: type, shape_name: str) -> None:
    torch.manual_seed(0)
    shape = SHAPES[shape_name]
    ours = cls(C).double().train()
    ref = _torch_bn(shape).double().train()
    gen = torch.Generator().manual_seed(7)
    gamma = 0.5 + torch.rand(C, generator=gen, dtype=torch.float64)
    beta = torch.randn(C, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        ours.weight.copy_(gamma)
        ours.bias.copy_(beta)
        ref.weight.copy_(gamma)
        ref.bias.copy_(beta)

    def fold(z: torch.Tensor) -> torch.Tensor:
        return z.reshape((shape[0] * shape[1],) + shape[2:])

    for seed in (1, 2, 3):
        z = make_input(shape, seed=seed) * seed
        torch.testing.assert_close(fold(ours(z)), ref(fold(z)), rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(ours.running_mean, ref.running_mean, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(ours.running_var, ref.running_var, rtol=1e-12, atol=1e-12)
        assert int(ours.num_batches_tracked) == int(ref.num_batches_tracked)

    ours.eval()
    ref.eval()
    z = make_input(shape, seed=8)
    torch.testing.assert_close(fold(ours(z)), ref(fold(z)), rtol=1e-10, atol=1e-10)

    # gradients w.r.t. input and affine match too
    z = make_input(shape, seed=9).requires_grad_(True)
    zf = fold(z.detach()).requires_grad_(True)
    ours.train()
    ref.train()
    w = torch.randn(shape, generator=gen, dtype=torch.float64)
    (fold(ours(z)) * fold(w)).sum().backward()
    (ref(zf) * fold(w)).sum().backward()
    torch.testing.assert_close(fold(z.grad), zf.grad, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(ours.weight.grad, ref.weight.grad, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(ours.bias.grad, ref.bias.grad, rtol=1e-9, atol=1e-10)


def test_tcn_channel_without_time_steps_is_folded_bn() -> None:
    """stats='channel' with a per-channel affine is folded BN, at any T."""
    for steps in (1, 3, 7):
        ours = TemporalChannelNorm(C).double().train()
        ref = nn.BatchNorm1d(C, eps=EPS, momentum=MOMENTUM).double().train()
        z = make_input((steps, B, C, 4), seed=steps)
        torch.testing.assert_close(
            ours(z).reshape(steps * B, C, 4), ref(z.reshape(steps * B, C, 4)), rtol=1e-10, atol=1e-10
        )
        torch.testing.assert_close(ours.running_var, ref.running_var, rtol=1e-12, atol=1e-12)
        ours.eval()
        ref.eval()
        z = make_input((steps + 2, B, C, 4), seed=steps + 10)
        torch.testing.assert_close(
            ours(z).reshape((steps + 2) * B, C, 4),
            ref(z.reshape((steps + 2) * B, C, 4)),
            rtol=1e-10,
            atol=1e-10,
        )


# ---------------------------------------------------------------------------------------------
# initialisation
# ---------------------------------------------------------------------------------------------
def test_tdbn_gamma_starts_at_alpha_theta() -> None:
    layer = TdBN(5, alpha=0.5, theta=3.0)
    torch.testing.assert_close(layer.weight.detach(), torch.full((5,), 1.5))
    torch.testing.assert_close(layer.bias.detach(), torch.zeros(5))
    default = TdBN(5)
    torch.testing.assert_close(default.weight.detach(), torch.ones(5))
    theta_only = TdBN(5, theta=0.25)
    torch.testing.assert_close(theta_only.weight.detach(), torch.full((5,), 0.25))


@pytest.mark.parametrize("time_steps", [None, 6])
def test_tcn_scale_by_threshold(time_steps: int | None) -> None:
    shape = (5,) if time_steps is None else (time_steps, 5)
    scaled = TemporalChannelNorm(5, time_steps, scale_by_threshold=True, alpha=0.5, theta=3.0)
    assert tuple(scaled.weight.shape) == shape
    torch.testing.assert_close(scaled.weight.detach(), torch.full(shape, 1.5))
    torch.testing.assert_close(scaled.bias.detach(), torch.zeros(shape))
    plain = TemporalChannelNorm(5, time_steps, alpha=0.5, theta=3.0)
    torch.testing.assert_close(plain.weight.detach(), torch.ones(shape))


def test_tcn_scale_by_threshold_time_channel() -> None:
    layer = TemporalChannelNorm(2, 3, "time_channel", scale_by_threshold=True, alpha=2.0, theta=0.75)
    torch.testing.assert_close(layer.weight.detach(), torch.full((3, 2), 1.5))


def test_bntt_has_no_bias() -> None:
    layer = BNTT(4, 3)
    assert layer.bias is None
    names = {name for name, _ in layer.named_parameters()}
    assert names == {"weight"}
    assert tuple(layer.weight.shape) == (3, 4)
    torch.testing.assert_close(layer.weight.detach(), torch.ones(3, 4))
    assert tuple(layer.running_mean.shape) == (3, 4)


def test_tebn_parameters() -> None:
    layer = TEBN(4, 3)
    names = {name for name, _ in layer.named_parameters()}
    assert names == {"weight", "bias", "step_scale"}
    torch.testing.assert_close(layer.step_scale.detach(), torch.ones(3))
    assert tuple(layer.weight.shape) == (4,)
    assert tuple(layer.running_mean.shape) == (4,)


def test_norms_registry() -> None:
    assert NORMS == {"tcn": TemporalChannelNorm, "bn": FoldedBatchNorm, "tdbn": TdBN, "bntt": BNTT, "tebn": TEBN}


# ---------------------------------------------------------------------------------------------
# gradients
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(3, 3, 2), (3, 2, 2, 3), (2, 2, 2, 2, 2)], ids=["TBC", "TBCL", "TBCHW"])
@pytest.mark.parametrize("cfg", CONFIGS, ids=CONFIG_IDS)
def test_gradcheck(cfg: Config, shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    steps, channels = shape[0], shape[2]
    if cfg.name == "tcn_channel_T":
        layer = TemporalChannelNorm(channels, steps, "channel")
    elif cfg.name == "tcn_channel_none":
        layer = TemporalChannelNorm(channels)
    elif cfg.name == "tcn_time_channel_T":
        layer = TemporalChannelNorm(channels, steps, "time_channel")
    elif cfg.name == "folded_bn":
        layer = FoldedBatchNorm(channels)
    elif cfg.name == "tdbn":
        layer = TdBN(channels)
    elif cfg.name == "bntt":
        layer = BNTT(channels, steps)
    else:
        layer = TEBN(channels, steps)
    layer = layer.double()
    with torch.no_grad():
        for prm in layer.parameters():
            prm.copy_(0.5 + torch.rand_like(prm))
        layer.running_var.copy_(0.5 + torch.rand_like(layer.running_var))
        layer.running_mean.copy_(torch.randn_like(layer.running_mean))
    names = [name for name, _ in layer.named_parameters()]
    params = tuple(prm.detach().clone().requires_grad_(True) for prm in layer.parameters())
    z = torch.randn(shape, dtype=torch.float64, requires_grad=True)

    def f(z_: torch.Tensor, *ps: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(layer, dict(zip(names, ps, strict=True)), (z_,))

    for training in (True, False):
        layer.train(training)
        assert torch.autograd.gradcheck(f, (z, *params), eps=1e-6, atol=1e-6, rtol=1e-5)

    # the input gradient also equals that of the hand formula
    layer.train()
    gamma = params[names.index("weight")].detach()
    beta = params[names.index("bias")].detach() if "bias" in names else None
    p = params[names.index("step_scale")].detach() if "step_scale" in names else None

    def hand(z_: torch.Tensor) -> torch.Tensor:
        dims = (0, 1, *range(3, z_.dim())) if cfg.stats == "channel" else (1, *range(3, z_.dim()))
        m = z_.mean(dim=dims, keepdim=True)
        v = ((z_ - m) ** 2).mean(dim=dims, keepdim=True)
        view = (
            (1, 1, channels) + (1,) * (z_.dim() - 3)
            if gamma.dim() == 1
            else (steps, 1, channels) + (1,) * (z_.dim() - 3)
        )
        y = gamma.reshape(view) * (z_ - m) / torch.sqrt(v + EPS)
        if beta is not None:
            y = y + beta.reshape(view)
        if p is not None:
            y = y * p.reshape((steps,) + (1,) * (z_.dim() - 1))
        return y

    w = torch.randn(shape, dtype=torch.float64)
    (g_ours,) = torch.autograd.grad((f(z, *params) * w).sum(), z)
    (g_hand,) = torch.autograd.grad((hand(z) * w).sum(), z)
    torch.testing.assert_close(g_ours, g_hand, rtol=1e-9, atol=1e-10)


# ---------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------
ALL_LAYERS = [
    ("tcn_channel_T", lambda: TemporalChannelNorm(C, T)),
    ("tcn_channel_none", lambda: TemporalChannelNorm(C)),
    ("tcn_time_channel_T", lambda: TemporalChannelNorm(C, T, "time_channel")),
    ("folded_bn", lambda: FoldedBatchNorm(C)),
    ("tdbn", lambda: TdBN(C)),
    ("bntt", lambda: BNTT(C, T)),
    ("tebn", lambda: TEBN(C, T)),
]


@pytest.mark.parametrize("make", [m for _, m in ALL_LAYERS], ids=[n for n, _ in ALL_LAYERS])
def test_wrong_channels(make) -> None:
    layer = make()
    with pytest.raises(ShapeError, match=r"\(4, 3, 5, 2\)") as info:
        layer(torch.randn(T, 3, 5, 2))
    assert "C = 3" in str(info.value)
    assert isinstance(info.value, BpsrmError)


@pytest.mark.parametrize("make", [m for _, m in ALL_LAYERS], ids=[n for n, _ in ALL_LAYERS])
@pytest.mark.parametrize("shape", [(T, C), (T * B * C,), (T, B, C, 2, 2, 2)])
def test_wrong_number_of_dims(make, shape: tuple[int, ...]) -> None:
    layer = make()
    with pytest.raises(ShapeError) as info:
        layer(torch.randn(shape))
    assert str(tuple(shape)) in str(info.value)
    assert isinstance(info.value, BpsrmError)


def test_not_a_tensor() -> None:
    with pytest.raises(ShapeError, match="list"):
        FoldedBatchNorm(C)([[1.0, 2.0]])


@pytest.mark.parametrize(
    "make",
    [
        lambda: TemporalChannelNorm(C, T),
        lambda: TemporalChannelNorm(C, T, "time_channel"),
        lambda: BNTT(C, T),
        lambda: TEBN(C, T),
    ],
    ids=["tcn_channel_T", "tcn_time_channel_T", "bntt", "tebn"],
)
@pytest.mark.parametrize("training", [True, False])
def test_wrong_time_steps(make, training: bool) -> None:
    layer = make().train(training)
    with pytest.raises(ShapeError) as info:
        layer(torch.randn(T + 1, B, C))
    message = str(info.value)
    assert f"T = {T + 1}" in message
    assert f"T = {T}" in message


@pytest.mark.parametrize("make", [lambda: TemporalChannelNorm(C), lambda: FoldedBatchNorm(C), lambda: TdBN(C)])
def test_channel_stats_with_broadcast_affine_runs_at_any_time_steps(make) -> None:
    layer = make().double()
    for steps in (1, 2, 9):
        assert layer(torch.randn(steps, B, C, dtype=torch.float64)).shape == (steps, B, C)
    layer.eval()
    assert layer(torch.randn(11, B, C, dtype=torch.float64)).shape == (11, B, C)


def test_time_channel_needs_time_steps() -> None:
    with pytest.raises(ParameterError, match="time_steps") as info:
        TemporalChannelNorm(C, None, "time_channel")
    assert isinstance(info.value, BpsrmError)
    with pytest.raises(ParameterError, match="time_steps"):
        BNTT(C, None)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="time_steps"):
        TEBN(C, None)  # type: ignore[arg-type]


def test_bad_stats_name() -> None:
    with pytest.raises(ParameterError, match="'chanel'") as info:
        TemporalChannelNorm(C, T, "chanel")
    assert isinstance(info.value, BpsrmError)
    with pytest.raises(ParameterError, match="'batch'"):
        TemporalChannelNorm(C, None, stats="batch")


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda: TemporalChannelNorm(0), "0"),
        (lambda: TemporalChannelNorm(2.5), "2.5"),
        (lambda: FoldedBatchNorm(True), "True"),
        (lambda: TemporalChannelNorm(C, 0), "0"),
        (lambda: BNTT(C, -2), "-2"),
        (lambda: TemporalChannelNorm(C, momentum=0.0), "0.0"),
        (lambda: TemporalChannelNorm(C, momentum=1.5), "1.5"),
        (lambda: TdBN(C, eps=0.0), "0.0"),
        (lambda: TemporalChannelNorm(C, eps=-1e-5), "-1e-05"),
    ],
)
def test_bad_parameters(make, fragment: str) -> None:
    with pytest.raises(ParameterError) as info:
        make()
    assert fragment in str(info.value)
    assert isinstance(info.value, BpsrmError)


@pytest.mark.parametrize(("name", "make"), ALL_LAYERS, ids=[n for n, _ in ALL_LAYERS])
def test_single_value_per_channel_in_training(name: str, make) -> None:
    layer = make()
    # one sample, no spatial dims: one value per statistic at one time step; T must match per-step layers
    steps = layer.time_steps if layer.time_steps is not None else 1
    z = torch.randn(steps, 1, C)
    if layer.stats == "channel" and steps > 1:  # (t, b) gives T values per channel: normalised as the formula says
        cfg = next(c for c in CONFIGS if c.name == name)
        layer = layer.double()
        gamma, beta, p = set_params(layer, cfg)
        mean, var_b, _ = hand_stats(z.double(), cfg.stats)
        torch.testing.assert_close(layer(z.double()), hand_output(z.double(), mean, var_b, gamma, beta, p))
        return
    with pytest.raises(ShapeError, match=r"\(" + str(steps) + r", 1, 3\)"):
        layer(z)
    layer.eval()
    assert layer(z).shape == z.shape  # eval needs no batch statistics


def _hand_tcn(
    leaf: torch.Tensor, shape: tuple[int, ...], layer: TemporalChannelNorm, w: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]:
    """TCN on z [T, B, C, H, W] (``leaf`` expanded to ``shape``) by the formula, in float64: the output, the
    variance per channel and the gradients of sum(out * w) wrt the leaf, gamma and beta (the layer's values)."""
    zr = leaf.detach().double().clone().requires_grad_()
    z = zr.expand(shape)
    steps, channels = layer.weight.shape
    gamma = layer.weight.detach().double().clone().requires_grad_()
    beta = layer.bias.detach().double().clone().requires_grad_()
    m = z.mean(dim=(0, 1, 3, 4), keepdim=True)
    v = ((z - m) ** 2).mean(dim=(0, 1, 3, 4), keepdim=True)
    view = (steps, 1, channels, 1, 1)
    hand = gamma.reshape(view) * (z - m) / torch.sqrt(v + EPS) + beta.reshape(view)
    return hand.detach(), v.flatten(), torch.autograd.grad((hand * w).sum(), [zr, gamma, beta])


def test_tcn_float32_gradients_at_conv_scale() -> None:
    # The float32 backward (sums per step and channel, then one fused pass) against the float64 hand
    # formula on a conv-sized input whose channels have a mean of several standard deviations.
    g = torch.Generator().manual_seed(3)
    shape = (4, 16, 8, 10, 10)
    z = torch.randn(shape, generator=g, dtype=torch.float64) * 2.0 + 3.0
    w = torch.randn(shape, generator=g, dtype=torch.float64)
    layer = TemporalChannelNorm(8, 4, "channel")
    with torch.no_grad():
        layer.weight.copy_(0.5 + torch.rand(layer.weight.shape, generator=g, dtype=torch.float64))
        layer.bias.copy_(torch.randn(layer.bias.shape, generator=g, dtype=torch.float64))
    grads = {}
    for dtype in (torch.float32, torch.float64):
        net = layer.to(dtype).train()
        zz = z.to(dtype).requires_grad_()
        out = net(zz)
        grads[dtype] = torch.autograd.grad((out * w.to(dtype)).sum(), [zz, net.weight, net.bias])
    _, _, reference = _hand_tcn(z, z.shape, layer, w)
    for ours64, ours32, ref in zip(grads[torch.float64], grads[torch.float32], reference, strict=True):
        torch.testing.assert_close(ours64, ref, rtol=1e-9, atol=1e-10)
        assert ((ours32.double() - ref).abs().max() / ref.abs().max()).item() < 1e-5


@pytest.fixture
def moments_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A list that gets "moments" each time TCN calls the C kernel's channel moments."""
    calls: list[str] = []
    original = tcn_cpu.moments

    def counted(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        calls.append("moments")
        return original(z)

    monkeypatch.setattr(tcn_cpu, "moments", counted)
    return calls


def test_the_kernels_run_in_training(path: str, moments_calls: list[str]) -> None:
    """The "kernel" runs above do go through the C kernels (and the "torch" runs do not)."""
    layer = TemporalChannelNorm(3, 2, "channel").train()
    layer(torch.randn(2, 4, 3, 5, requires_grad=True)).sum().backward()
    assert moments_calls == (["moments"] if path == "kernel" else [])


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("make", [lambda: FoldedBatchNorm(C), lambda: TemporalChannelNorm(C, T)], ids=["bn", "tcn"])
def test_eval_on_half_inputs_is_rounded_once(make, dtype) -> None:
    """A float32 layer in evaluation on float16 / bfloat16 inputs: the hand formula in float64, rounded to the
    input's dtype, within that dtype's own tolerance (coefficients rounded to half first would miss it)."""
    g = torch.Generator().manual_seed(17)
    layer = make().eval()
    with torch.no_grad():
        layer.weight.copy_(0.5 + torch.rand(layer.weight.shape, generator=g))
        layer.bias.copy_(torch.randn(layer.bias.shape, generator=g) * 4.0)
        layer.running_mean.copy_(torch.randn(C, generator=g) * 20.0)
        layer.running_var.copy_(0.01 + torch.rand(C, generator=g))
    z = (torch.randn(T, B, C, 16, generator=g) * 30.0).to(dtype)
    y = layer(z)
    assert y.dtype == dtype
    view = (-1, 1, C, 1) if layer.weight.dim() == 2 else (1, 1, C, 1)
    rstd = 1.0 / torch.sqrt(layer.running_var.double().reshape(1, 1, C, 1) + EPS)
    expected = layer.weight.double().reshape(view) * (z.double() - layer.running_mean.double().reshape(1, 1, C, 1))
    expected = expected * rstd + layer.bias.double().reshape(view)
    torch.testing.assert_close(y, expected.to(dtype))


def test_tcn_in_training_under_no_grad_against_the_hand_formula(path: str, moments_calls: list[str]) -> None:
    """Training mode under torch.no_grad() (AdaBN's re-estimation, `bpsrm adapt`): the same C kernels as with
    gradients on the kernel path, the output and the running statistics of the hand formula."""
    g = torch.Generator().manual_seed(21)
    z = torch.randn(2, 4, 3, 5, generator=g, dtype=torch.float64) * 3.0 + 1.5
    layer = TemporalChannelNorm(3, 2, "channel").double().train()
    gamma = 0.5 + torch.rand(2, 3, generator=g, dtype=torch.float64)
    beta = torch.randn(2, 3, generator=g, dtype=torch.float64)
    with torch.no_grad():
        layer.weight.copy_(gamma)
        layer.bias.copy_(beta)
        y = layer(z)
    assert moments_calls == (["moments"] if path == "kernel" else [])
    values = z.permute(2, 0, 1, 3).reshape(3, -1)  # [C, T * B * S]
    mean, var = values.mean(1), values.var(1, unbiased=False)
    normalised = (z - mean.reshape(1, 1, 3, 1)) / torch.sqrt(var.reshape(1, 1, 3, 1) + EPS)
    expected = gamma.reshape(2, 1, 3, 1) * normalised + beta.reshape(2, 1, 3, 1)
    torch.testing.assert_close(y, expected, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(layer.running_mean, MOMENTUM * mean, rtol=1e-12, atol=1e-12)
    unbiased = values.var(1, unbiased=True)
    torch.testing.assert_close(layer.running_var, (1 - MOMENTUM) + MOMENTUM * unbiased, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_tcn_on_a_block_repeated_over_time(dtype) -> None:
    """Direct encoding hands the first TCN one [B, C, H, W] block expanded over T (stride 0): output, running
    statistics and the gradients of the block, gamma and beta as for the same values written out, against
    the float64 hand formula."""
    g = torch.Generator().manual_seed(11)
    block = torch.randn(3, 4, 5, 6, generator=g, dtype=torch.float64) * 1.5 + 0.7
    w = torch.randn(4, 3, 4, 5, 6, generator=g, dtype=torch.float64)
    layer = TemporalChannelNorm(4, 4, "channel")
    with torch.no_grad():
        layer.weight.copy_(0.5 + torch.rand(layer.weight.shape, generator=g, dtype=torch.float64))
        layer.bias.copy_(torch.randn(layer.bias.shape, generator=g, dtype=torch.float64))
    net = layer.to(dtype).train()
    ours_block = block.to(dtype).requires_grad_()
    assert tcn_cpu.supports(ours_block.expand(4, *block.shape)) or not tcn_cpu.available()
    out = net(ours_block.expand(4, *block.shape))
    ours = torch.autograd.grad((out * w.to(dtype)).sum(), [ours_block, net.weight, net.bias])

    hand, v, reference = _hand_tcn(block, (4, *block.shape), layer, w)
    m = block.mean(dim=(0, 2, 3))
    tol = {"rtol": 1e-10, "atol": 1e-10} if dtype == torch.float64 else {"rtol": 1e-4, "atol": 1e-5}
    torch.testing.assert_close(out.double(), hand, **tol)
    for got, expected in zip(ours, reference, strict=True):
        torch.testing.assert_close(got.double(), expected, **tol)
    count = 4 * 3 * 5 * 6  # values per channel: T B H W
    unbiased = v * count / (count - 1)
    torch.testing.assert_close(net.running_mean.double(), MOMENTUM * m, **tol)
    torch.testing.assert_close(net.running_var.double(), (1 - MOMENTUM) + MOMENTUM * unbiased, **tol)


def test_tcn_with_a_layout_changing_saved_tensor_hook_and_frozen_parameters() -> None:
    """Only z needs a gradient (gamma and beta frozen), and a saved_tensors_hooks unpack hands z back in
    another layout: dz is the float64 hand formula's."""
    g = torch.Generator().manual_seed(12)
    z = torch.randn(3, 2, 4, 5, 6, generator=g, dtype=torch.float64) + 1.0
    w = torch.randn(z.shape, generator=g, dtype=torch.float64)
    layer = TemporalChannelNorm(4, 3, "channel").double().train()
    with torch.no_grad():
        layer.weight.copy_(0.5 + torch.rand(layer.weight.shape, generator=g, dtype=torch.float64))
        layer.bias.copy_(torch.randn(layer.bias.shape, generator=g, dtype=torch.float64))
    layer.requires_grad_(False)
    zz = z.clone().requires_grad_()
    with torch.autograd.graph.saved_tensors_hooks(
        lambda t: t.transpose(0, 1).contiguous().transpose(0, 1) if t.dim() > 2 else t, lambda t: t
    ):
        out = layer(zz)
    (dz,) = torch.autograd.grad((out * w).sum(), [zz])
    _, _, reference = _hand_tcn(z, z.shape, layer, w)
    torch.testing.assert_close(dz, reference[0], rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize(
    ("layer_dtype", "input_dtype"), [(torch.float32, torch.float64), (torch.float64, torch.float32)]
)
def test_tcn_refuses_mixed_dtypes_on_both_paths(training: bool, layer_dtype, input_dtype) -> None:
    """float64 input to a float32 layer and the reverse: one clear error, in training and in evaluation, on
    either path (never a silent mix)."""
    layer = TemporalChannelNorm(3, 2, "channel").to(layer_dtype).train(training)
    z = torch.randn(2, 4, 3, 5, dtype=input_dtype, requires_grad=True)
    with pytest.raises(ParameterError, match=f"mixed dtype: the input is {input_dtype} and the layer's"):
        layer(z)


@pytest.mark.parametrize(
    "build, fragment",
    [
        (lambda: TemporalChannelNorm(4, 2, scale_by_threshold="no"), "scale_by_threshold must be true or false"),
        (lambda: TemporalChannelNorm(4, 2, alpha=float("nan")), "alpha must be a finite number > 0, got nan"),
        (lambda: TemporalChannelNorm(4, 2, alpha=-1.0), "alpha must be a finite number > 0, got -1.0"),
        (lambda: TdBN(4, alpha="2"), "alpha must be a finite number > 0, got '2'"),
        (lambda: TdBN(4, eps=float("inf")), "eps must be a finite number > 0, got inf"),
        (lambda: FoldedBatchNorm(4, eps=0.0), "eps must be a finite number > 0, got 0.0"),
        (lambda: FoldedBatchNorm(4, momentum=float("nan")), "momentum must be a number in (0, 1], got nan"),
        (lambda: BNTT(4, 2, momentum=1.5), "momentum must be a number in (0, 1], got 1.5"),
        (lambda: TemporalChannelNorm.from_options(4, 2, {"step_affine": "false"}, 1.0), "step_affine must be true"),
    ],
)
def test_norm_options_out_of_range_or_of_the_wrong_type_are_refused(build, fragment: str) -> None:
    """helper-51: step_affine="false" built per-step parameters, alpha NaN gave NaN gammas, eps inf gave zeros."""
    with pytest.raises(ParameterError, match=re.escape(fragment)):
        build()


@pytest.mark.parametrize(
    "build",
    [
        lambda: TemporalChannelNorm(3, 2),
        lambda: TemporalChannelNorm(3, 2, stats="time_channel"),
        lambda: TemporalChannelNorm(3),
        lambda: FoldedBatchNorm(3),
        lambda: TdBN(3),
        lambda: BNTT(3, 2),
        lambda: TEBN(3, 2),
    ],
)
def test_a_non_finite_batch_is_refused_and_the_running_statistics_kept(build) -> None:
    """One NaN in a training batch left NaN running statistics, so every later evaluation gave NaN."""
    from bpsrm.errors import NonFiniteError

    norm = build().train()
    norm(torch.rand(2, 4, 3, 5))
    kept = [b.clone() for b in (norm.running_mean, norm.running_var, norm.num_batches_tracked)]
    z = torch.rand(2, 4, 3, 5)
    z[1, 2, 0, 3] = float("nan")
    with pytest.raises(NonFiniteError, match=r"its input holds 1 NaN or Inf value\(s\) of 120"):
        norm(z)
    for buffer, value in zip((norm.running_mean, norm.running_var, norm.num_batches_tracked), kept, strict=True):
        assert torch.equal(buffer, value)
    assert torch.isfinite(norm.eval()(torch.rand(2, 4, 3, 5))).all()


@pytest.mark.parametrize("stats", ["channel", "time_channel"])
def test_under_torch_compile_a_nan_batch_leaves_the_running_statistics_as_they_were(stats: str) -> None:
    """The check that puts the statistics back was skipped under torch.compile (a data-dependent branch breaks the
    graph): a NaN batch left NaN running statistics. It is a torch.where in the graph now (fullgraph compiles)."""
    torch.manual_seed(0)
    norm = TemporalChannelNorm(3, 2, stats=stats).train()
    compiled = torch.compile(norm, backend="aot_eager", fullgraph=True)
    compiled(torch.randn(2, 4, 3, 5))
    kept = [buffer.clone() for buffer in (norm.running_mean, norm.running_var, norm.num_batches_tracked)]
    bad = torch.randn(2, 4, 3, 5)
    bad[1, 2, 0, 3] = math.nan
    compiled(bad)
    assert all(torch.equal(now, then) for now, then in zip(norm.buffers(), kept, strict=True))
    compiled(torch.randn(2, 4, 3, 5))  # a good batch still updates them
    assert not torch.equal(norm.running_mean, kept[0]) and int(norm.num_batches_tracked) == 2


def test_integer_and_batch_first_inputs_are_told_apart() -> None:
    """An int input gave torch's "batch_norm not implemented for 'Long'" in training and int64 output in eval; a
    batch-first input said only that T was wrong."""
    ints = torch.ones(3, 2, 4, dtype=torch.long)
    for layer in (TemporalChannelNorm(4, 3), TemporalChannelNorm(4, 3).eval()):
        with pytest.raises(ShapeError, match=re.escape("expects a float tensor, got torch.int64 of shape (3, 2, 4)")):
            layer(ints)
    with pytest.raises(ShapeError, match=re.escape("is it batch-first? dimension 1 holds 3")):
        TemporalChannelNorm(4, 3)(torch.rand(5, 3, 4))
    with pytest.raises(ShapeError) as caught:
        TemporalChannelNorm(4, 3)(torch.rand(5, 2, 4))
    assert "batch-first" not in str(caught.value)
