r"""Normalisation of synaptic outputs before the neuron: TCN and the baselines.

All layers take ``z`` of shape ``[T, B, C]``, ``[T, B, C, L]`` or
``[T, B, C, H, W]`` and return the same shape. In training mode they
normalise with the batch statistics and update running statistics
(momentum 0.1, unbiased variance, as :class:`torch.nn.BatchNorm2d`); in eval
mode they use the running statistics.

Temporal channel normalization (BP-SRM.md section 4):

$$
y[t, b, c, s] = \gamma[t, c]\,\frac{z[t, b, c, s] - \mu}{\sqrt{\sigma^2 + \epsilon}} + \beta[t, c]
$$

with $\mu = \mu[c], \sigma^2 = \sigma^2[c]$ over (t, b, s) for
``stats="channel"``, or $\mu[t, c], \sigma^2[t, c]$ over (b, s) for
``stats="time_channel"``.

Baselines: :class:`FoldedBatchNorm` (statistics over (t, b, s), affine per c),
:class:`TdBN` (the same with $\gamma$ initialised to
$\alpha\theta$), :class:`BNTT` (statistics and $\gamma$ per
(t, c), no $\beta$) and :class:`TEBN` (statistics and affine per c,
then a learnable scale p[t] per step).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from ..checks import choice, flag, real_number, whole_number
from ..errors import NonFiniteError, ParameterError, ShapeError, SpecError
from . import tcn_cpu

__all__ = [
    "TemporalNorm",
    "TemporalChannelNorm",
    "FoldedBatchNorm",
    "TdBN",
    "BNTT",
    "TEBN",
    "NORMS",
    "NORM_OPTION_DEFAULTS",
]

_STATS = ("channel", "time_channel")


def _gamma_init(owner: str, alpha: Any, theta: Any, scale_by_threshold: bool = True) -> float:
    """gamma's start, ``alpha * theta`` (tdBN's rule) when ``scale_by_threshold``, else 1."""
    alpha = real_number(f"{owner}: alpha", alpha, above=0)
    theta = real_number(f"{owner}: theta", theta, above=0)
    return alpha * theta if flag(f"{owner}: scale_by_threshold", scale_by_threshold) else 1.0


def _option(options: Mapping[str, Any], key: str) -> Any:
    """A ``model.norm`` option, or its default (:data:`NORM_OPTION_DEFAULTS`)."""
    return options.get(key, NORM_OPTION_DEFAULTS[key])


class _StepAffine(torch.autograd.Function):
    """``out[t, b, c, s] = gamma[t, c] * y[t, b, c, s] + beta[t, c]`` with a lean backward.

    Autograd of the broadcast ``addcmul`` reduces its parameter gradients through
    a generic path about twice as slow as the two sums written here.
    """

    @staticmethod
    def forward(ctx, y: Tensor, gamma: Tensor, beta: Tensor | None) -> Tensor:  # type: ignore[override]
        y = y.contiguous()
        view = (gamma.shape[0], 1, gamma.shape[1]) + (1,) * (y.dim() - 3)
        ctx.save_for_backward(y, gamma)
        ctx.has_beta = beta is not None
        if beta is None:
            return y * gamma.reshape(view)
        return torch.addcmul(beta.reshape(view), y, gamma.reshape(view))

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, Tensor | None, Tensor | None]:  # type: ignore[override]
        y, gamma = ctx.saved_tensors
        grad = grad.contiguous()
        steps, batch, channels = y.shape[0], y.shape[1], y.shape[2]
        view = (steps, 1, channels) + (1,) * (y.dim() - 3)
        grad_y = grad * gamma.reshape(view) if ctx.needs_input_grad[0] else None
        g3 = grad.reshape(steps, batch, channels, -1)
        grad_gamma = (g3 * y.reshape(steps, batch, channels, -1)).sum((1, 3)) if ctx.needs_input_grad[1] else None
        grad_beta = g3.sum((1, 3)) if ctx.has_beta and ctx.needs_input_grad[2] else None
        return grad_y, grad_gamma, grad_beta


class _ChannelNormStepAffine(torch.autograd.Function):
    r"""TCN in training with statistics per c and affine per (t, c); keeps only z for the backward.

    Forward, with $\mu[c]$, $r[c] = 1/\sqrt{\sigma^2[c] + \epsilon}$ over the
    N = T*B*S values of channel c (PyTorch's batch norm, which also updates the running statistics):
    $y = \gamma[t, c]\,\hat z + \beta[t, c]$ with $\hat z = (z - \mu[c])\,r[c]$.

    Backward, with $g = \partial L/\partial y$:
    $\partial\beta[t, c] = \sum_{b,s} g$,
    $\partial\gamma[t, c] = r[c] \sum_{b,s} g\,(z - \mu[c])$, and with
    $g' = \gamma[t, c]\,g$ the batch-norm backward
    $\partial z = \frac{r}{N}\,(N g' - \sum g' - \hat z \sum g' \hat z)$ (sums over t, b, s).
    The normalised values are not kept (a separate affine would keep them: one more float per value).
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        z: Tensor,
        gamma: Tensor,
        beta: Tensor,
        running_mean: Tensor,
        running_var: Tensor,
        momentum: float,
        eps: float,
    ) -> Tensor:
        steps, batch, channels = z.shape[0], z.shape[1], z.shape[2]
        view = (steps, 1, channels) + (1,) * (z.dim() - 3)
        # mixed dtypes (float64 z, float32 running statistics) take PyTorch's path, which refuses them
        ctx.native = tcn_cpu.supports(z) and running_mean.dtype == running_var.dtype == gamma.dtype == z.dtype
        if ctx.native:
            # the C kernel's moments in double; y = k1 z + k0 with k1 = gamma r, k0 = beta - gamma r mu: one pass
            mean, var = tcn_cpu.moments(z)
            count = z.numel() // channels
            rstd = (var + eps).rsqrt()
            running_mean.mul_(1.0 - momentum).add_(mean.to(running_mean.dtype), alpha=momentum)
            unbiased = var * (count / (count - 1))
            running_var.mul_(1.0 - momentum).add_(unbiased.to(running_var.dtype), alpha=momentum)
            k1 = gamma.to(torch.float64) * rstd
            k0 = beta.to(torch.float64) - k1 * mean
            y = torch.addcmul(k0.to(z.dtype).reshape(view), z, k1.to(z.dtype).reshape(view))
            ctx.save_for_backward(z, gamma, mean, rstd)
            return y
        folded = z.reshape((steps * batch, channels, *z.shape[3:]))
        out, mean, rstd = torch.native_batch_norm(folded, None, None, running_mean, running_var, True, momentum, eps)
        y = out.view(z.shape).mul_(gamma.reshape(view)).add_(beta.reshape(view))
        ctx.save_for_backward(folded, gamma, mean, rstd)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        folded, gamma, mean, rstd = ctx.saved_tensors
        steps, channels = gamma.shape
        grad = grad.contiguous()
        if ctx.native:
            # a saved-tensor hook may hand back another layout than the kernels read
            z = folded if tcn_cpu.supports(folded) else folded.contiguous()
            return _ChannelNormStepAffine._native_backward(ctx.needs_input_grad, grad, z, gamma, mean, rstd)
        g4 = grad.reshape(steps, -1, channels, max(1, grad[0, 0, 0].numel()))
        z4 = folded.reshape(g4.shape)
        count = g4.shape[1] * g4.shape[3] * steps
        needs = ctx.needs_input_grad
        # Per (t, c): sum g and sum g (z - mu), a step at a time (temporaries of one step, not of the whole).
        # Half-precision inputs are worked on in float32 and rounded once, at the end.
        work = torch.float32 if g4.dtype in (torch.float16, torch.bfloat16) else g4.dtype
        mu = mean.to(work).reshape(1, -1, 1)
        sum_g = g4.sum((1, 3), dtype=work)
        sum_gz = torch.stack([(z4[t].to(work) - mu).mul_(g4[t]).sum((0, 2)) for t in range(steps)])
        grad_beta = sum_g.to(gamma.dtype) if needs[2] else None
        grad_gamma = (sum_gz * rstd.to(work)).to(gamma.dtype) if needs[1] else None
        grad_z = None
        if needs[0]:
            # With g' = gamma g: sum g' = sum_t gamma sum_g and sum g' (z - mu) = sum_t gamma sum_gz, so that
            # dz = r gamma[t] g - (r / N) sum g' - (z - mu) (r^3 / N) sum g' (z - mu), written a step at a time.
            r, gam = rstd.to(work), gamma.to(work)
            k_g = r * gam  # [T, C]
            k_c = -(r / count) * (gam * sum_g).sum(0)  # [C]
            k_z = -(r**3 / count) * (gam * sum_gz).sum(0)  # [C]
            out = torch.empty_like(g4)
            in_place = work == g4.dtype
            for t in range(steps):
                if in_place:
                    o = torch.mul(g4[t], k_g[t].reshape(1, -1, 1), out=out[t])
                else:
                    o = g4[t].to(work) * k_g[t].reshape(1, -1, 1)
                o.addcmul_(z4[t].to(work) - mu, k_z.reshape(1, -1, 1)).add_(k_c.reshape(1, -1, 1))
                if not in_place:
                    out[t].copy_(o)
            grad_z = out.reshape(grad.shape)
        return grad_z, grad_gamma, grad_beta, None, None, None, None

    @staticmethod
    def _native_backward(
        needs: tuple[bool, ...], grad: Tensor, z: Tensor, gamma: Tensor, mean: Tensor, rstd: Tensor
    ) -> tuple[Tensor | None, ...]:
        """The backward above through the C kernels: the per-(t, c) sums in double, then dz in one pass."""
        sum_g, sum_gz = tcn_cpu.step_sums(grad, z, mean)
        grad_beta = sum_g.to(gamma.dtype) if needs[2] else None
        grad_gamma = (sum_gz * rstd).to(gamma.dtype) if needs[1] else None
        grad_z = None
        if needs[0]:
            count = z.numel() // gamma.shape[1]
            gam = gamma.to(torch.float64)
            k_g = rstd * gam
            k_c = -(rstd / count) * (gam * sum_g).sum(0)
            k_z = -(rstd**3 / count) * (gam * sum_gz).sum(0)
            grad_z = tcn_cpu.input_gradient(grad, z, mean, k_g, k_z, k_c)
        return grad_z, grad_gamma, grad_beta, None, None, None, None


class TemporalNorm(nn.Module):
    r"""The base of every norm here, for ``isinstance`` checks (AdaBN, NIR export): on ``z`` ``[T, B, C, ...]``,
    $y = s[t]\,(\gamma \frac{z - \mu}{\sqrt{\sigma^2 + \epsilon}} + \beta)$ with statistics $\mu, \sigma^2$ per c or
    per (t, c) (``stats``), $\gamma, \beta$ per c or per (t, c) (``affine_per_step``; no $\beta$ without
    ``bias``) and the step scale $s[t]$ only with ``step_scale`` (else 1). Build one of the subclasses."""

    running_mean: Tensor
    running_var: Tensor
    num_batches_tracked: Tensor
    weight: nn.Parameter
    bias: nn.Parameter | None
    step_scale: nn.Parameter | None

    def __init__(
        self,
        num_channels: int,
        *,
        time_steps: int | None,
        stats: str,
        affine_per_step: bool,
        bias: bool,
        step_scale: bool,
        gamma_init: float,
        eps: float,
        momentum: float,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        num_channels = whole_number(f"{name}: num_channels", num_channels)
        stats = choice(f"{name}: stats", stats, _STATS)
        affine_per_step = flag(f"{name}: affine_per_step", affine_per_step)
        bias = flag(f"{name}: bias", bias)
        step_scale = flag(f"{name}: step_scale", step_scale)
        needs_steps = stats == "time_channel" or affine_per_step or step_scale
        if time_steps is None and needs_steps:
            raise ParameterError(
                f"{name}: time_steps (T) is needed for per-step statistics or parameters "
                f"(stats={stats!r}), got time_steps=None"
            )
        if time_steps is not None:
            time_steps = whole_number(f"{name}: time_steps (None or a count)", time_steps)
        momentum = real_number(f"{name}: momentum", momentum, above=0, at_most=1)
        eps = real_number(f"{name}: eps", eps, above=0)
        gamma_init = real_number(f"{name}: gamma_init", gamma_init)
        self.num_channels = num_channels
        self.time_steps = time_steps
        self.stats = stats
        self.eps = eps
        self.momentum = momentum
        stat_shape = (time_steps, num_channels) if stats == "time_channel" else (num_channels,)
        affine_shape = (time_steps, num_channels) if affine_per_step else (num_channels,)
        self.weight = nn.Parameter(torch.full(affine_shape, float(gamma_init)))  # type: ignore[arg-type]
        self.bias = nn.Parameter(torch.zeros(affine_shape)) if bias else None  # type: ignore[arg-type]
        self.step_scale = nn.Parameter(torch.ones(time_steps)) if step_scale else None  # type: ignore[arg-type]
        self.register_buffer("running_mean", torch.zeros(stat_shape))  # type: ignore[arg-type]
        self.register_buffer("running_var", torch.ones(stat_shape))  # type: ignore[arg-type]
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def _check(self, z: Tensor) -> None:
        name = type(self).__name__
        if not isinstance(z, Tensor) or z.dim() not in (3, 4, 5):
            got = tuple(z.shape) if isinstance(z, Tensor) else type(z).__name__
            raise ShapeError(f"{name} expects [T, B, C], [T, B, C, L] or [T, B, C, H, W]; got {got}")
        if z.shape[2] != self.num_channels:
            raise ShapeError(
                f"{name}({self.num_channels}) expects C = {self.num_channels} at dimension 2; "
                f"got shape {tuple(z.shape)}"
            )
        if not z.is_floating_point():  # batch_norm refused integers in training; eval cut its output to them
            raise ShapeError(f"{name} expects a float tensor, got {z.dtype} of shape {tuple(z.shape)} (z.float())")
        per_step = self.stats == "time_channel" or self.weight.dim() == 2 or self.step_scale is not None
        if per_step and z.shape[0] != self.time_steps:
            swapped = (
                f" (is it batch-first? dimension 1 holds {self.time_steps}: bpsrm takes [T, B, ...], z.transpose(0, 1))"
                if z.shape[1] == self.time_steps
                else ""
            )
            raise ShapeError(
                f"{name} was built for T = {self.time_steps} (per-step statistics or parameters); "
                f"got T = {z.shape[0]} in shape {tuple(z.shape)}{swapped}. Only stats='channel' with a "
                "per-channel affine (time_steps=None) runs at any T."
            )
        full = (torch.float32, torch.float64)
        if z.dtype in full and self.running_mean.dtype in full and z.dtype != self.running_mean.dtype:
            raise ParameterError(
                f"{name}: mixed dtype: the input is {z.dtype} and the layer's parameters and statistics "
                f"{self.running_mean.dtype}; convert one of them (layer.to(z.dtype) or z.to(...))"
            )

    def _view(self, p: Tensor, z: Tensor) -> Tensor:
        """[C] -> [1, 1, C, 1...] or [T, C] -> [T, 1, C, 1...]."""
        spatial = (1,) * (z.dim() - 3)
        if p.dim() == 1:
            return p.reshape((1, 1, -1) + spatial)
        return p.reshape((p.shape[0], 1, p.shape[1]) + spatial)

    def forward(self, z: Tensor) -> Tensor:
        """Normalise ``z`` [T, B, C, *S]; returns the same shape.

        In training, the statistics come from PyTorch's native batch norm on a folded view:
        ``[T*B, C, *S]`` for statistics per c, ``[B, T*C, *S]`` for statistics per (t, c)
        (or this module's C kernels for TCN); in evaluation, :meth:`_inference`. A training batch that leaves
        NaN or Inf running statistics is refused (:class:`~bpsrm.errors.NonFiniteError`) and the statistics are
        put back as they were (under ``torch.compile`` the statistics are put back, and the neurons' own check stops
        the step).
        """
        self._check(z)
        if not self.training:
            return self._inference(z)
        buffers = (self.running_mean, self.running_var, self.num_batches_tracked)
        kept = [buffer.clone() for buffer in buffers]
        y = self._normalise(z)
        finite = torch.isfinite(self.running_mean).all() & torch.isfinite(self.running_var).all()
        if torch.compiler.is_compiling():  # no data-dependent branch in a graph: keep the old statistics by where
            for buffer, value in zip(buffers, kept, strict=True):
                buffer.copy_(torch.where(finite, buffer, value))
            return y  # the neurons' own check (an assertion in the graph) stops the step
        if not bool(finite):
            # a NaN or Inf batch: the statistics it left would make every later evaluation NaN; put them back
            for buffer, value in zip(buffers, kept, strict=True):
                buffer.copy_(value)
            bad = int((~torch.isfinite(z)).sum())
            raise NonFiniteError(
                f"{type(self).__name__}: its input holds {bad} NaN or Inf value(s) of {z.numel()} (or its variance "
                "overflowed); the batch is refused and the running statistics are left as they were (check the "
                "data and its preprocessing)"
            )
        return y

    def _normalise(self, z: Tensor) -> Tensor:
        """The training forward: normalise on the batch's statistics and update the running ones."""
        steps, batch, channels = z.shape[0], z.shape[1], z.shape[2]
        spatial = tuple(z.shape[3:])
        per_value = batch * (steps if self.stats == "channel" else 1)
        for size in spatial:
            per_value *= size
        if per_value < 2:
            raise ShapeError(
                f"{type(self).__name__}: need more than one value per channel to normalise in training; "
                f"got shape {tuple(z.shape)}"
            )
        self.num_batches_tracked.add_(1)
        per_channel_affine = self.weight.dim() == 1
        if self.stats == "channel" and not per_channel_affine and self.bias is not None:
            return _ChannelNormStepAffine.apply(
                z,
                self.weight.to(z.dtype),
                self.bias.to(z.dtype),
                self.running_mean,
                self.running_var,
                self.momentum,
                self.eps,
            )
        if self.stats == "channel":
            folded = z.reshape((steps * batch, channels, *spatial))
            y = F.batch_norm(
                folded,
                self.running_mean,
                self.running_var,
                self.weight if per_channel_affine else None,
                self.bias if per_channel_affine else None,
                True,
                self.momentum,
                self.eps,
            ).reshape(z.shape)
        else:
            folded = z.transpose(0, 1).reshape((batch, steps * channels, *spatial))
            y = (
                F.batch_norm(
                    folded,
                    self.running_mean.view(-1),
                    self.running_var.view(-1),
                    None,
                    None,
                    True,
                    self.momentum,
                    self.eps,
                )
                .reshape((batch, steps, channels, *spatial))
                .transpose(0, 1)
            )
        if not per_channel_affine:
            bias = self.bias.to(z.dtype) if self.bias is not None else None
            y = _StepAffine.apply(y, self.weight.to(z.dtype), bias)
        if self.step_scale is not None:
            y = y * self.step_scale.to(z.dtype).reshape((-1,) + (1,) * (z.dim() - 1))
        return y

    def _inference(self, z: Tensor) -> Tensor:
        r"""Inference on the running statistics in one pass, ``y = k_1 z + k_0``, with
        $r = 1/\sqrt{\hat\sigma^2 + \epsilon}$, $k_1 = p[t]\,\gamma\,r$ and
        $k_0 = p[t]\,(\beta - \gamma\,r\,\hat\mu)$ per c or per (t, c) as the layer keeps them
        ($\beta = 0$ without a bias, $p = 1$ without a step scale): the values of normalising, then the
        affine, then the scale (up to rounding), without their intermediate tensors. The coefficients are
        worked out in float64 for float64 inputs and in float32 otherwise; float16 and bfloat16 inputs are
        computed in float32 and rounded once, at the end."""
        work = torch.float64 if z.dtype == torch.float64 else torch.float32
        rstd = (self.running_var.to(work) + self.eps).rsqrt()
        k1 = self._view(self.weight.to(work), z) * self._view(rstd, z)
        k0 = -k1 * self._view(self.running_mean.to(work), z)
        if self.bias is not None:
            k0 = k0 + self._view(self.bias.to(work), z)
        if self.step_scale is not None:
            scale = self.step_scale.to(work).reshape((-1,) + (1,) * (z.dim() - 1))
            k1, k0 = k1 * scale, k0 * scale
        if z.dtype == work:
            return torch.addcmul(k0, z, k1)
        return torch.addcmul(k0, z.to(work), k1).to(z.dtype)

    @classmethod
    def from_options(
        cls, channels: int, time_steps: int | None, options: Mapping[str, Any], theta: float
    ) -> TemporalNorm:
        """The norm of a spec token for ``channels`` channels, from the ``model.norm`` options.

        The default takes ``eps`` and ``momentum``, and ``time_steps`` when the class needs it.
        """
        kwargs = {"eps": _option(options, "eps"), "momentum": _option(options, "momentum")}
        if cls.needs_time_steps:
            if time_steps is None:
                raise ParameterError(f"{cls.__name__} keeps per-step parameters: build_model needs time_steps")
            return cls(channels, time_steps, **kwargs)  # type: ignore[call-arg]
        return cls(channels, **kwargs)  # type: ignore[call-arg]

    needs_time_steps = False
    """Whether the layer keeps per-step parameters (then it runs at one T only)."""

    reads_options: frozenset[str] = frozenset({"eps", "momentum"})
    """The ``model.norm`` options :meth:`from_options` reads (:func:`bpsrm.build_model` refuses one that no norm
    of the spec reads, unless it has its default)."""

    def extra_repr(self) -> str:
        return (
            f"{self.num_channels}, time_steps={self.time_steps}, stats={self.stats!r}, "
            f"eps={self.eps}, momentum={self.momentum}"
        )


class TemporalChannelNorm(TemporalNorm):
    r"""TCN: channel statistics, affine per (t, c) (BP-SRM.md section 4).

    Args:
        num_channels: C.
        time_steps: T, for the per-(t, c) affine. ``None`` broadcasts one
            affine per channel over time, so the layer runs at any T (only with
            ``stats="channel"``).
        stats: ``"channel"`` (mu[c], var[c] over t, b, s) or
            ``"time_channel"`` (mu[t, c], var[t, c] over b, s).
        scale_by_threshold: start gamma at ``alpha * theta`` (as tdBN does) instead of 1.
    """

    reads_options = frozenset({"stats", "step_affine", "scale_by_threshold", "alpha", "eps", "momentum"})

    def __init__(
        self,
        num_channels: int,
        time_steps: int | None = None,
        stats: str = "channel",
        *,
        scale_by_threshold: bool = False,
        alpha: float = 1.0,
        theta: float = 1.0,
        eps: float = 1e-5,
        momentum: float = 0.1,
    ) -> None:
        super().__init__(
            num_channels,
            time_steps=time_steps,
            stats=stats,
            affine_per_step=time_steps is not None,
            bias=True,
            step_scale=False,
            gamma_init=_gamma_init(type(self).__name__, alpha, theta, scale_by_threshold),
            eps=eps,
            momentum=momentum,
        )

    @classmethod
    def from_options(
        cls, channels: int, time_steps: int | None, options: Mapping[str, Any], theta: float
    ) -> TemporalNorm:
        """TCN from ``model.norm``: stats, step_affine, scale_by_threshold, alpha, eps, momentum."""
        stats = _option(options, "stats")
        per_step = flag(f"{cls.__name__}: step_affine", _option(options, "step_affine"))
        if not per_step and stats == "time_channel":
            raise SpecError(
                "norm step_affine=False (one affine per channel) needs channel statistics; time-channel "
                "statistics (TCNT, or TCN with stats='time_channel') are per step"
            )
        if per_step and time_steps is None:  # it would be folded BatchNorm under TCN's name
            raise SpecError(
                "TCN keeps gamma and beta per (t, c) (BP-SRM.md section 4): build_model needs time_steps=T, or "
                "norm={'step_affine': False} for one affine per channel that runs at any T"
            )
        return cls(
            channels,
            time_steps if per_step else None,
            stats=stats,
            scale_by_threshold=_option(options, "scale_by_threshold"),
            alpha=_option(options, "alpha"),
            theta=theta,
            eps=_option(options, "eps"),
            momentum=_option(options, "momentum"),
        )


class FoldedBatchNorm(TemporalNorm):
    """BatchNorm over [T*B, C, *S]: statistics over (t, b, s), affine per c; any T."""

    def __init__(self, num_channels: int, *, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__(
            num_channels,
            time_steps=None,
            stats="channel",
            affine_per_step=False,
            bias=True,
            step_scale=False,
            gamma_init=1.0,
            eps=eps,
            momentum=momentum,
        )


class TdBN(TemporalNorm):
    """tdBN (Zheng et al., AAAI 2021): folded BatchNorm with gamma initialised to alpha * theta."""

    reads_options = frozenset({"alpha", "eps", "momentum"})

    def __init__(
        self, num_channels: int, *, alpha: float = 1.0, theta: float = 1.0, eps: float = 1e-5, momentum: float = 0.1
    ) -> None:
        super().__init__(
            num_channels,
            time_steps=None,
            stats="channel",
            affine_per_step=False,
            bias=True,
            step_scale=False,
            gamma_init=_gamma_init(type(self).__name__, alpha, theta),
            eps=eps,
            momentum=momentum,
        )

    @classmethod
    def from_options(
        cls, channels: int, time_steps: int | None, options: Mapping[str, Any], theta: float
    ) -> TemporalNorm:
        """tdBN from ``model.norm``: alpha, eps, momentum (gamma starts at alpha * theta)."""
        return cls(
            channels,
            alpha=_option(options, "alpha"),
            theta=theta,
            eps=_option(options, "eps"),
            momentum=_option(options, "momentum"),
        )


class BNTT(TemporalNorm):
    """BNTT (Kim & Panda, 2021): statistics and gamma per (t, c), no beta."""

    needs_time_steps = True

    def __init__(self, num_channels: int, time_steps: int, *, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__(
            num_channels,
            time_steps=time_steps,
            stats="time_channel",
            affine_per_step=True,
            bias=False,
            step_scale=False,
            gamma_init=1.0,
            eps=eps,
            momentum=momentum,
        )


class TEBN(TemporalNorm):
    """TEBN (Duan et al., NeurIPS 2022): statistics and affine per c, then a learnable scale p[t]."""

    needs_time_steps = True

    def __init__(self, num_channels: int, time_steps: int, *, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__(
            num_channels,
            time_steps=time_steps,
            stats="channel",
            affine_per_step=False,
            bias=True,
            step_scale=True,
            gamma_init=1.0,
            eps=eps,
            momentum=momentum,
        )


NORM_OPTION_DEFAULTS: dict[str, Any] = {
    "stats": "channel",
    "step_affine": True,
    "scale_by_threshold": False,
    "alpha": 1.0,
    "eps": 1e-5,
    "momentum": 0.1,
}
"""The ``model.norm`` options and the value each takes when not given (``NormConfig`` of the config has the same)."""

NORMS: dict[str, type[TemporalNorm]] = {
    "tcn": TemporalChannelNorm,
    "bn": FoldedBatchNorm,
    "tdbn": TdBN,
    "bntt": BNTT,
    "tebn": TEBN,
}
"""The norms by spec token (lower case): a new norm is a class with ``from_options`` and one entry here.
The spec also takes ``TCNT``, TCN with time-channel statistics."""
