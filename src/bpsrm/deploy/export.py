r"""NIR export and import of a :class:`~bpsrm.network.models.SpikingNetwork` (the ``nir`` package, optional extra).

NIR describes neurons by ODEs; bpsrm's neuron is their exact forward-Euler form
with dt = 1 step. A leaky integrator node ``LI(tau, r, v_leak=0)`` then reads
$v[t] = (1 - 1/\tau)\,v[t-1] + (r/\tau)\,i[t]$; with $\tau = 1/(1-a)$
and $r = \tau$ it is $v[t] = a\,v[t-1] + i[t]$, one line of the
iterative SRM (BP-SRM.md section 2). One SRM layer becomes:

.. code-block:: text

    in -> LI(a_s) -> LI(a_m) -> Threshold(theta) -> out          I, V, o = H(u - theta)
                                 ^          |
                  Scale(-1) <- LI(a_r) <- Scale(theta_r)         R[t] = a_r R[t-1] + theta_r o[t-1]

Inputs reaching a node are summed, so the threshold sees u = V - R; the
recurrent edge carries the previous step's spikes.

A hard-reset layer (``reset="zero"``, BP-SRM.md section 2.1) is one of NIR's own neuron nodes, which
consumers and chips map directly: ``LIF`` for the ``exp`` kernel, ``CubaLIF`` for ``dexp`` and ``alpha``.
Their forward-Euler steps with step ``dt``,
$I[t] = (1 - dt/\tau_{syn}) I[t-1] + (dt\,w_{in}/\tau_{syn}) S[t]$ and
$v[t] = (1 - dt/\tau_{mem}) v[t-1] + (dt\,r/\tau_{mem}) I[t]$, then $v \leftarrow v_{reset} = 0$ after a
spike, with the current updated before the membrane reads it (I[t], as snnTorch's ``Synaptic`` does; a
consumer that feeds the membrane the previous step's I[t-1] delays the synaptic path by one step), are bpsrm's
steps exactly with $\tau = dt/(1-a)$, $r = 1/(1-a_m)$, $w_{in} = 1/(1-a_s)$,
$v_{leak} = 0$ and $v_{threshold} = \theta$.

Every time constant is written for the step ``dt`` given to :func:`to_nir` (1 by default; snnTorch 1.0.0
reads graphs with dt = 1e-4 and nothing else, so ``bpsrm export --dt 1e-4`` for it); the graph keeps it in
``metadata["dt"]`` and :func:`from_nir` reads it back (1 when absent; its ``dt`` keyword gives the step of a
graph of another tool whose time constants are in seconds). The ``exp`` kernel has no
first LI; ``alpha`` is ``dexp`` with a_s = a_m. Synapses become ``Conv1d`` /
``Conv2d`` / ``Affine`` / ``Linear``, 2-D average pooling ``AvgPool2d``, 1-D
average pooling a ``Conv1d`` with 1/k on its channel diagonal and stride k
(NIR has no 1-D pooling; it comes back as that convolution), flattening
``Flatten``; a membrane readout is ``LI -> LI -> Output`` (its reduction over
time, which NIR has no node for, is kept in the graph's metadata).

What NIR cannot express, and is refused with an error naming the layer:

- max pooling (NIR has sum and average pooling only); use ``APk`` in the spec;
- a norm whose inference-time affine changes with the time step (TCN with a
  per-step gamma/beta that differ over t, BNTT, TEBN with unequal p[t],
  time-channel statistics that differ over t): NIR graphs are time-invariant.
  A norm that is the same at every step is folded into the synapse before it:
  $W' = s W$, $b' = s (b - \mu) + \beta$ with $s = \gamma/\sqrt{\sigma^2 + \epsilon}$;
- NIR's Threshold fires on $u > \theta$, bpsrm on $u \ge \theta$: spikes differ
  only where u equals theta exactly.

:func:`from_nir` reads a graph along its one path from Input to Output and checks every node against the shape
the layers before it give: a neuron's values are one per layer or broadcast to its neurons (NumPy's rules), an
``Affine`` reads a vector, a ``Conv`` a map of its input channels, a ``Flatten`` flattens a whole sample (NIR counts
no batch dimension: ``start_dim=0, end_dim=-1``); a ``Conv``'s ``padding="valid"`` is 0 and ``"same"`` is torch's
(stride 1, d (k - 1) zeros per dimension split equally, so an even kernel is refused). What does not fit, or holds
NaN or Inf, is refused with an :class:`ExportError` naming the node.
"""

from __future__ import annotations

import copy
import math
import operator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..checks import real_value
from ..errors import BpsrmError, shown
from ..network.layers import MembraneReadout, SpikeCountReadout, TimeFolded
from ..network.models import SpikingNetwork
from ..network.norm import TemporalNorm
from ..network.pooling import MaxPool
from ..neuron.module import SRMNeuron
from ..neuron.params import decay, time_constant

__all__ = ["to_nir", "from_nir", "export_checkpoint", "consumer_problems", "ExportError"]


class ExportError(BpsrmError):
    """A model (or graph) that NIR (or bpsrm) cannot express; the message names the layer."""


def _nir() -> Any:
    try:
        import nir
    except ImportError:
        raise ExportError("NIR export needs the nir package: pip install 'bpsrm[nir]'") from None
    return nir


MIN_DT, MAX_DT = 1e-12, 1e6
"""The steps :func:`to_nir` takes, in seconds: the time constants tau = dt / (1 - a) of every decay stay finite
normal floats (dt = 1e308 made them infinite, dt = 1e-320 subnormal)."""


def _li(nir: Any, decay: np.ndarray, dt: float) -> Any:
    """The LI node whose Euler step dt is v[t] = a v[t-1] + i[t]: tau = dt / (1 - a), r = 1 / (1 - a)."""
    return nir.LI(tau=_tau(decay, dt), r=1.0 / (1.0 - decay), v_leak=np.zeros_like(decay))


def _tau(decay: np.ndarray, dt: float) -> np.ndarray:
    """The time constant whose Euler step dt decays by a: tau = dt / (1 - a)."""
    return dt / (1.0 - decay)


def _finite(array: np.ndarray, where: str, name: str) -> np.ndarray:
    """``array`` unchanged, refused when it holds NaN or Inf: the one check every number read from a graph passes."""
    if not np.isfinite(array).all():
        raise ExportError(f"{where}: {name} holds {int((~np.isfinite(array)).sum())} NaN or Inf value(s)")
    return array


def _param(value: Any, shape: tuple[int, ...], where: str, name: str) -> np.ndarray:
    """A neuron parameter over the layer's neurons ``shape``: float64, finite, and one value for the layer, one per
    channel (``(C,)`` on a map ``(C, ...)``, as earlier versions read it, or ``(C, 1, 1)``), or an array that
    broadcasts to ``shape`` by NumPy's rules; refused otherwise, not read as the scalar or the per-channel value it
    is not."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ExportError(f"{where}: {name} is not an array of numbers, got {shown(value)}") from None
    _finite(array, where, name)
    if array.ndim == 1 and len(shape) > 1 and array.shape[0] == shape[0] > 1:  # one per channel of a map
        array = array.reshape((shape[0],) + (1,) * (len(shape) - 1))
    try:
        fits = np.broadcast_shapes(array.shape, shape) == shape
    except ValueError:
        fits = False
    if not fits:
        raise ExportError(
            f"{where}: {name} has shape {array.shape}, the layer's neurons have shape {shape} (give one value, "
            + (
                f"one per channel as ({shape[0]},) or {(shape[0],) + (1,) * (len(shape) - 1)}, "
                if len(shape) > 1
                else ""
            )
            + "or one per neuron)"
        )
    return np.broadcast_to(array, shape).copy()


def _decay_from(tau: Any, dt: float, where: str, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """a = 1 - dt / tau over the layer's neurons, refused unless in (0, 1)."""
    tau = _param(tau, shape, where, name)
    if np.any(tau <= dt):
        raise ExportError(
            f"{where}: {name} must be > dt = {dt:g} for a decay in (0, 1), got min {tau.min():g}. dt is the step the "
            "time constants are written for (from_nir's dt argument, else graph.metadata['dt'], else 1): for time "
            "constants in seconds, give the step, as in from_nir(graph, dt=1e-3), or set graph.metadata['dt']"
        )
    return 1.0 - dt / tau


def _valid_dt(dt: Any) -> float:
    """A step dt in seconds as a float, refused unless finite and within [MIN_DT, MAX_DT]."""
    step = real_value(dt)  # NumPy's reals are welcome; an int beyond float's range is no finite step
    if not (math.isfinite(step) and step > 0):
        raise ExportError(f"dt must be a finite number > 0 (the step of the NIR time constants), got {shown(dt)}")
    if not MIN_DT <= step <= MAX_DT:  # tau = dt / (1 - a) must stay a finite, normal float for every decay a
        raise ExportError(f"dt must be within [{MIN_DT:g}, {MAX_DT:g}] (a step in seconds), got {shown(dt)}")
    return step


GAIN_TOLERANCE = 1e-6
"""An input gain within this of 1 is 1: other tools write r = tau / dt in float32 (1e-8 off), and a gain of
1 + 1e-7 changes no spike that float32 arithmetic itself would not."""


def _unit_gain(gain: Any) -> bool:
    """Whether the gain an input enters a trace with is 1, within :data:`GAIN_TOLERANCE`."""
    return bool(np.allclose(np.asarray(gain, dtype=np.float64), 1.0, rtol=GAIN_TOLERANCE, atol=0))


def _gain_ok(gain: Any, decay: np.ndarray) -> bool:
    """Whether an input gain (r or w_in) is 1 / (1 - a): the input enters the trace unscaled."""
    return _unit_gain(np.asarray(gain, dtype=np.float64) * (1.0 - decay))


def _decay_of(node: Any, where: str, dt: float, shape: tuple[int, ...]) -> np.ndarray:
    """The decay of an LI node over the layer's neurons ``shape``, refused unless it is an SRM trace."""
    decay = _decay_from(node.tau, dt, where, "tau", shape)
    v_leak, r = _param(node.v_leak, shape, where, "v_leak"), _param(node.r, shape, where, "r")
    if np.any(v_leak != 0) or not _gain_ok(r, decay):
        raise ExportError(
            f"{where}: an LI with v_leak != 0 or r != tau / dt is not an SRM trace (dt = {dt:g}); got v_leak in "
            f"[{v_leak.min():g}, {v_leak.max():g}], r / (tau / dt) in [{(r * (1 - decay)).min():g}, "
            f"{(r * (1 - decay)).max():g}]"
        )
    return decay


def _full(value: Tensor, shape: tuple[int, ...]) -> np.ndarray:
    """A neuron parameter ([] or [C]) as an array over the neuron's shape [C, ...]."""
    v = value.detach().double().cpu()
    if v.dim() == 1:
        v = v.reshape((-1,) + (1,) * (len(shape) - 1))
    return np.ascontiguousarray(v.expand(shape).numpy())


def _norm_affine(norm: TemporalNorm, where: str) -> tuple[Tensor, Tensor]:
    """(scale [C], shift [C]) of a norm at inference, when it is the same at every step."""
    inv = torch.rsqrt(norm.running_var.double() + norm.eps)
    mean = norm.running_mean.double()
    gamma = norm.weight.detach().double()
    beta = norm.bias.detach().double() if norm.bias is not None else torch.zeros_like(gamma)
    scale = gamma * inv
    shift = beta - mean * scale
    if norm.step_scale is not None:
        p = norm.step_scale.detach().double()
        scale = scale * p.reshape(-1, 1)
        shift = shift * p.reshape(-1, 1)
    if scale.dim() == 2:
        if not (torch.equal(scale, scale[:1].expand_as(scale)) and torch.equal(shift, shift[:1].expand_as(shift))):
            raise ExportError(
                f"{where}: its affine at inference changes with the time step (per-step gamma/beta, statistics "
                "or scale); NIR graphs are time-invariant, so it cannot be folded. Export a model whose norm is "
                "the same at every step (in a config: model.norm.step_affine: false; in Python: TemporalChannelNorm(C) "
                "without time_steps, or FoldedBatchNorm)"
            )
        scale, shift = scale[0], shift[0]
    return scale, shift


def _synapse_node(nir: Any, module: nn.Module, in_shape: tuple[int, ...], where: str) -> Any:
    weight_t: Tensor = module.weight  # type: ignore[assignment]
    bias_t: Tensor | None = module.bias  # type: ignore[assignment]
    weight = weight_t.detach().double().cpu().numpy()
    bias = bias_t.detach().double().cpu().numpy() if bias_t is not None else None
    if isinstance(module, nn.Linear):
        return nir.Affine(weight=weight, bias=bias) if bias is not None else nir.Linear(weight=weight)
    if isinstance(module, (nn.Conv1d, nn.Conv2d)):
        if module.padding_mode != "zeros" or isinstance(module.padding, str):
            raise ExportError(f"{where}: only zero padding given as numbers is exported")
        bias = bias if bias is not None else np.zeros(module.out_channels)
        if isinstance(module, nn.Conv1d):
            return nir.Conv1d(
                input_shape=in_shape[1],
                weight=weight,
                stride=module.stride[0],
                padding=module.padding[0],
                dilation=module.dilation[0],
                groups=module.groups,
                bias=bias,
            )
        return nir.Conv2d(
            input_shape=tuple(in_shape[1:]),
            weight=weight,
            stride=tuple(module.stride),
            padding=tuple(module.padding),
            dilation=tuple(module.dilation),
            groups=module.groups,
            bias=bias,
        )
    raise ExportError(f"{where}: {type(module).__name__} has no NIR synapse")


def _fold(nir: Any, node: Any, scale: Tensor, shift: Tensor) -> Any:
    """The synapse node that computes y = scale[c] z + shift[c] from the node that computes z.

    A bias-free ``Linear`` becomes an ``Affine`` (the fold gives it a bias)."""
    s, b = scale.numpy(), shift.numpy()
    weight = np.asarray(node.weight) * s.reshape((-1,) + (1,) * (np.asarray(node.weight).ndim - 1))
    old_bias = getattr(node, "bias", None)
    bias = (np.zeros_like(b) if old_bias is None else np.asarray(old_bias)) * s + b
    if isinstance(node, nir.Linear):
        return nir.Affine(weight=weight, bias=bias)
    node.weight = weight
    node.bias = bias
    return node


def to_nir(model: SpikingNetwork, dt: float = 1.0) -> Any:
    """The NIR graph of ``model`` (inference: norms folded, running statistics used).

    Nodes are named ``"<layer index>.<role>"``; the readout's reduction, the bpsrm
    spec and ``dt`` (the step the time constants are written for: tau = dt / (1 - a)) go into
    ``graph.metadata``. Raises :class:`ExportError` naming the first layer that NIR cannot express.
    """
    nir = _nir()
    dt = _valid_dt(dt)
    if not isinstance(model, SpikingNetwork):
        raise ExportError(f"to_nir expects a bpsrm SpikingNetwork, got {type(model).__name__}")
    if any(p.device.type != "cpu" for p in model.parameters()):
        model = copy.deepcopy(model).cpu()  # NIR holds numpy arrays
    was_training = model.training
    model.eval()
    try:
        shapes = _shapes(model)
        nodes: dict[str, Any] = {"input": nir.Input(input_type={"input": np.array(model.input_shape)})}
        edges: list[tuple[str, str]] = []
        last = "input"
        pending: tuple[str, Any] | None = None  # a synapse node waiting for a norm to fold in

        def emit(name: str, node: Any) -> None:
            nonlocal last
            nodes[name] = node
            edges.append((last, name))
            last = name

        def flush() -> None:
            nonlocal pending
            if pending is not None:
                emit(*pending)
                pending = None

        for index, layer in enumerate(model.layers):
            where = f"layer {index} ({layer.__class__.__name__})"
            in_shape = shapes[index]
            if isinstance(layer, TemporalNorm):
                if pending is None:
                    raise ExportError(f"{where}: a norm must follow a synapse to be folded")
                pending = (pending[0], _fold(nir, pending[1], *_norm_affine(layer, f"{where}: {layer!r}")))
                flush()
                continue
            flush()
            if isinstance(layer, SRMNeuron):
                last = _emit_neuron(nir, nodes, edges, last, f"{index}", layer, shapes[index + 1], dt)
                continue
            inner = layer.module if isinstance(layer, TimeFolded) else layer
            where = f"layer {index} ({type(inner).__name__})"
            if isinstance(inner, (nn.Linear, nn.Conv1d, nn.Conv2d)):
                pending = (f"{index}.synapse", _synapse_node(nir, inner, in_shape, where))
            else:
                emit(*_shape_node(nir, inner, index, in_shape, where))
        flush()
        metadata: dict[str, Any] = {"bpsrm_spec": model.spec, "bpsrm_input_shape": list(model.input_shape), "dt": dt}
        metadata["bpsrm_readout"], readout_nodes = _readout_nodes(nir, model.readout, shapes[-1], dt)
        for name, node in readout_nodes:
            emit(name, node)
        nodes["output"] = nir.Output(output_type={"output": np.array(shapes[-1])})
        edges.append((last, "output"))
        try:
            return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)
        except ValueError as exc:  # NIR's own type check
            raise ExportError(f"NIR refused the graph of {model.spec!r}: {exc}") from None
    finally:
        model.train(was_training)


def _shape_node(nir: Any, inner: nn.Module, index: int, in_shape: tuple[int, ...], where: str) -> tuple[str, Any]:
    """(name, NIR node) of a pooling or flattening layer; ExportError for a layer NIR cannot express."""
    if isinstance(inner, (nn.MaxPool1d, nn.MaxPool2d, MaxPool)):
        raise ExportError(f"{where}: NIR has no max pooling (only sum and average); use APk in the spec")
    if isinstance(inner, nn.AvgPool2d):
        pool = nir.AvgPool2d(
            kernel_size=np.array(_pair(inner.kernel_size)),
            stride=np.array(_pair(inner.stride)),
            padding=np.array(_pair(inner.padding)),
        )
        return f"{index}.pool", pool
    if isinstance(inner, nn.AvgPool1d):
        # NIR has no 1-D pooling: the same average as a convolution of weight 1/k on the diagonal
        # (channel c to channel c), stride k. (NIR's type check does not accept grouped Conv1d.)
        size, stride, pad = (_first(v) for v in (inner.kernel_size, inner.stride, inner.padding))
        channels = in_shape[0]
        diagonal = np.zeros((channels, channels, size))
        diagonal[np.arange(channels), np.arange(channels), :] = 1.0 / size
        conv = nir.Conv1d(
            input_shape=in_shape[1],
            weight=diagonal,
            stride=stride,
            padding=pad,
            dilation=1,
            groups=1,
            bias=np.zeros(channels),
        )
        return f"{index}.pool", conv
    if isinstance(inner, nn.Flatten):
        return f"{index}.flatten", nir.Flatten(input_type={"input": np.array(in_shape)}, start_dim=0, end_dim=-1)
    raise ExportError(f"{where}: no NIR node for {type(inner).__name__}")


def _readout_nodes(
    nir: Any, readout: nn.Module, shape: tuple[int, ...], dt: float
) -> tuple[str, list[tuple[str, Any]]]:
    """The readout's reduction (``graph.metadata["bpsrm_readout"]``) and its NIR nodes: a membrane readout's
    synaptic and membrane leaky integrators (the exp kernel has no synaptic one), none for a spike count."""
    if isinstance(readout, MembraneReadout):
        nodes = []
        if readout.kernel != "exp":
            a_s = decay(float(readout.tau_s if readout.kernel == "dexp" else readout.tau_m))
            nodes.append(("readout.syn", _li(nir, np.full(shape, a_s), dt)))
        nodes.append(("readout.mem", _li(nir, np.full(shape, decay(float(readout.tau_m))), dt)))
        return readout.reduce, nodes
    if isinstance(readout, SpikeCountReadout):
        return "count", []
    raise ExportError(f"readout ({type(readout).__name__}): no NIR form")


def _first(value: Any) -> int:
    """The number of a 1-D layer argument given as an int or a 1-tuple."""
    return int(value if isinstance(value, int) else value[0])


def _pair(value: Any) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)  # type: ignore[return-value]


def _shapes(model: SpikingNetwork) -> list[tuple[int, ...]]:
    """Per-sample shape at the input of every layer, and after the last one."""
    steps = next((m.time_steps for m in model.modules() if isinstance(m, TemporalNorm) and m.time_steps), 1)
    x = torch.zeros((steps, 1, *model.input_shape))  # per-step norms need their own T
    shapes = [tuple(model.input_shape)]
    with torch.no_grad():
        for layer in model.layers:
            x = layer(x)
            shapes.append(tuple(x.shape[2:]))
    return shapes


def _emit_neuron(
    nir: Any,
    nodes: dict[str, Any],
    edges: list[tuple[str, str]],
    last: str,
    prefix: str,
    neuron: SRMNeuron,
    shape: tuple[int, ...],
    dt: float,
) -> str:
    a_m = _full(neuron.decay("tau_m"), shape)
    theta = _full(neuron.theta, shape)
    a_s = None
    if neuron.kernel != "exp":
        a_s = _full(neuron.decay("tau_s"), shape) if neuron.kernel == "dexp" else a_m
    if neuron.reset == "zero":
        return _emit_hard_reset(nir, nodes, edges, last, prefix, a_s, a_m, theta, dt)
    a_r = _full(neuron.decay("tau_r"), shape)
    theta_r = _full(neuron.theta_r, shape)
    if a_s is not None:
        nodes[f"{prefix}.syn"] = _li(nir, a_s, dt)
        edges.append((last, f"{prefix}.syn"))
        last = f"{prefix}.syn"
    nodes[f"{prefix}.mem"] = _li(nir, a_m, dt)
    nodes[f"{prefix}.fire"] = nir.Threshold(threshold=theta)
    nodes[f"{prefix}.reset"] = nir.Scale(scale=theta_r)
    nodes[f"{prefix}.refractory"] = _li(nir, a_r, dt)
    nodes[f"{prefix}.subtract"] = nir.Scale(scale=-np.ones(shape))
    edges += [
        (last, f"{prefix}.mem"),
        (f"{prefix}.mem", f"{prefix}.fire"),
        (f"{prefix}.fire", f"{prefix}.reset"),
        (f"{prefix}.reset", f"{prefix}.refractory"),
        (f"{prefix}.refractory", f"{prefix}.subtract"),
        (f"{prefix}.subtract", f"{prefix}.fire"),
    ]
    return f"{prefix}.fire"


def _emit_hard_reset(
    nir: Any,
    nodes: dict[str, Any],
    edges: list[tuple[str, str]],
    last: str,
    prefix: str,
    a_s: np.ndarray | None,
    a_m: np.ndarray,
    theta: np.ndarray,
    dt: float,
) -> str:
    """A hard-reset layer as NIR's LIF (no synaptic trace) or CubaLIF: tau = dt / (1 - a), r = 1 / (1 - a_m),
    w_in = 1 / (1 - a_s), v_leak = v_reset = 0, v_threshold = theta (see the module's docstring)."""
    zeros = np.zeros_like(a_m)
    common = {"r": 1.0 / (1.0 - a_m), "v_leak": zeros, "v_threshold": theta, "v_reset": zeros.copy()}
    name = f"{prefix}.lif"
    if a_s is None:
        nodes[name] = nir.LIF(tau=_tau(a_m, dt), **common)
    else:
        nodes[name] = nir.CubaLIF(tau_syn=_tau(a_s, dt), tau_mem=_tau(a_m, dt), w_in=1.0 / (1.0 - a_s), **common)
    edges.append((last, name))
    return name


# ------------------------------------------------------------------------------------- import ----
def _constant(values: np.ndarray, where: str, name: str) -> tuple[float | None, np.ndarray | None]:
    """(scalar, None) when all values are equal, (None, per-channel [C]) when constant inside each channel."""
    flat = values.reshape(values.shape[0], -1) if values.ndim else values.reshape(1, 1)
    if np.all(flat == flat.flat[0]):
        return float(flat.flat[0]), None
    if np.all(flat == flat[:, :1]):
        return None, flat[:, 0].copy()
    raise ExportError(f"{where}: {name} varies inside a channel; bpsrm has one value per layer or per channel")


def _neuron_from(
    nodes: dict[str, Any],
    chain: list[str],
    refractory: tuple[str, str, str],
    fire: str,
    dt: float,
    shape: tuple[int, ...],
) -> SRMNeuron:
    """The subtractive-reset layer of LI (-> LI) -> Threshold with its refractory loop, over neurons ``shape``."""
    decays = [_decay_of(nodes[name], f"node {name!r}", dt, shape) for name in chain]
    reset, refr, subtract = (nodes[name] for name in refractory)
    if not np.all(_param(subtract.scale, shape, f"node {refractory[2]!r}", "scale") == -1):
        raise ExportError(f"node {refractory[2]!r}: the refractory trace must be subtracted (scale -1)")
    values = {
        "tau_m": decays[-1],
        "tau_r": _decay_of(refr, f"node {refractory[1]!r}", dt, shape),
        "theta": _param(nodes[fire].threshold, shape, f"node {fire!r}", "threshold"),
        "theta_r": _param(reset.scale, shape, f"node {refractory[0]!r}", "scale"),
    }
    kernel = "exp"
    if len(decays) == 2:
        kernel = "alpha" if np.array_equal(decays[0], decays[1]) else "dexp"
        values["tau_s"] = decays[0]
    return _srm_neuron(values, kernel, f"node {fire!r}", "subtract")


def _hard_reset_from(node: Any, name: str, dt: float, shape: tuple[int, ...]) -> tuple[SRMNeuron, np.ndarray]:
    """The hard-reset layer of a LIF or CubaLIF node over neurons ``shape``, and the gain its input enters with:
    ``r (1 - a_m)``, times ``w_in (1 - a_s)`` for a CubaLIF (1 in the graphs bpsrm writes, where r = tau / dt);
    refused unless its Euler step dt is bpsrm's step exactly."""
    where = f"node {name!r} ({type(node).__name__})"
    zeros_needed = {"v_leak": node.v_leak, "v_reset": 0.0 if node.v_reset is None else node.v_reset}
    for field, value in zeros_needed.items():
        array = _param(value, shape, where, field)
        if np.any(array != 0):
            raise ExportError(
                f"{where}: {field} must be 0 (bpsrm's hard reset restarts the membrane from 0), got values in "
                f"[{array.min():g}, {array.max():g}]"
            )
    cuba = hasattr(node, "tau_mem")
    a_m = _decay_from(node.tau_mem if cuba else node.tau, dt, where, "tau_mem" if cuba else "tau", shape)
    gain = _finite_gain(node.r, where, "r", shape) * (1.0 - a_m)
    values = {"tau_m": a_m, "theta": _param(node.v_threshold, shape, where, "v_threshold")}
    kernel = "exp"
    if cuba:
        a_s = _decay_from(node.tau_syn, dt, where, "tau_syn", shape)
        gain = gain * _finite_gain(node.w_in, where, "w_in", shape) * (1.0 - a_s)
        kernel = "alpha" if np.array_equal(a_s, a_m) else "dexp"
        values["tau_s"] = a_s
    return _srm_neuron(values, kernel, where, "zero"), gain


def _finite_gain(value: Any, where: str, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """An input gain (r, w_in) over neurons ``shape`` as float64, refused unless finite and > 0."""
    gain = _param(value, shape, where, name)
    if not np.all(gain > 0):
        raise ExportError(f"{where}: {name} must be finite and > 0, got values in [{gain.min():g}, {gain.max():g}]")
    return gain


def _fold_gain(layers: list[nn.Module], gain: np.ndarray, where: str) -> None:
    """Scale the synapse right before a LIF layer by the gain its input enters with (a graph of another tool, with
    r other than tau / dt): ``V = a V + g (W x + b)`` is bpsrm's ``V = a V + (g W) x + g b``. Refused where no
    Linear or Conv comes right before, or the gain varies inside a channel of a convolution."""
    if _unit_gain(gain):
        return
    synapse = layers[-1].module if layers and isinstance(layers[-1], TimeFolded) else None
    if not isinstance(synapse, (nn.Linear, nn.Conv1d, nn.Conv2d)):
        raise ExportError(
            f"{where}: its input enters with a gain (r (1 - dt / tau), times w_in (1 - dt / tau_syn) for a CubaLIF) in "
            f"[{gain.min():.9g}, {gain.max():.9g}], not 1, and no Affine, Linear or Conv node comes right before it "
            "to take that gain into its weights"
        )
    scalar, per_channel = _constant(gain, where, "the input gain")
    outputs = synapse.weight.shape[0]
    factor = torch.full((outputs,), scalar) if scalar is not None else torch.from_numpy(per_channel)  # type: ignore[arg-type]
    if factor.shape != (outputs,):
        raise ExportError(
            f"{where}: an input gain for {factor.shape[0]} neurons or channels, the synapse has {outputs}"
        )
    with torch.no_grad():
        synapse.weight.mul_(factor.to(synapse.weight.dtype).reshape((outputs,) + (1,) * (synapse.weight.dim() - 1)))
        if synapse.bias is not None:
            synapse.bias.mul_(factor.to(synapse.bias.dtype))


def _srm_neuron(values: dict[str, np.ndarray], kernel: str, where: str, reset: str) -> SRMNeuron:
    """An SRMNeuron of decays ("tau_*") and thresholds over the layer's neurons: one value per layer, or per
    channel (learnt-parameter form: learnable taus, and a learnable threshold with theta_r tied to it or one
    theta_r for the layer)."""
    parsed = {k: _constant(v, where, k) for k, v in values.items()}
    if kernel == "alpha":
        parsed.pop("tau_s")  # the alpha kernel has one decay, a_s = a_m
    per_channel = [k for k, (scalar, _) in parsed.items() if scalar is None]
    theta, thetas = parsed["theta"]
    theta_r = _layer_theta_r(parsed, where)
    kwargs: dict[str, Any] = {"kernel": kernel, "reset": reset, "theta": 1.0 if theta is None else theta}
    kwargs["theta_r"] = None if theta_r is None or theta_r == theta else theta_r
    for name in ("tau_s", "tau_m", "tau_r"):
        scalar = parsed[name][0] if name in parsed else None
        if scalar is not None:
            kwargs[name] = time_constant(scalar)
    if not per_channel:
        return SRMNeuron(**kwargs)
    if thetas is not None and not (np.all(np.isfinite(thetas)) and np.all(thetas > 0)):
        raise ExportError(
            f"{where}: a threshold must be finite and > 0, got values in [{thetas.min():g}, {thetas.max():g}]"
        )
    channels = len(parsed[per_channel[0]][1])  # type: ignore[arg-type]
    taus = [name for name in per_channel if name.startswith("tau")]
    neuron = SRMNeuron(**kwargs, learn_tau=taus, learn_theta=thetas is not None, channels=channels)
    with torch.no_grad():
        for name in taus:
            a = torch.from_numpy(parsed[name][1])  # type: ignore[arg-type]
            getattr(neuron, f"{name}_logit").copy_(a.log() - (-a).log1p())  # log(a / (1 - a)) without 1 - a
        if thetas is not None:  # the inverse of softplus: theta + log(1 - exp(-theta))
            t = torch.from_numpy(thetas)
            neuron.theta_raw.copy_(t + torch.log(-torch.expm1(-t)))
    return neuron


def _layer_theta_r(parsed: dict[str, tuple[float | None, np.ndarray | None]], where: str) -> float | None:
    """The layer's one theta_r, or None when it is the threshold itself (tied) or there is none (hard reset);
    an ExportError for a per-channel theta_r that differs from the threshold, which SRMNeuron cannot hold."""
    if "theta_r" not in parsed:
        return None
    thetas, (theta_r, theta_rs) = parsed["theta"][1], parsed["theta_r"]
    if theta_r is not None:
        return theta_r
    if thetas is not None and np.array_equal(theta_rs, thetas):  # type: ignore[arg-type]
        return None
    raise ExportError(
        f"{where}: a per-channel theta_r other than the threshold is not rebuilt by from_nir (an SRMNeuron keeps one "
        "theta_r per layer, or theta_r tied to its threshold)"
    )


def from_nir(graph: Any, dt: float | None = None) -> SpikingNetwork:
    """A :class:`~bpsrm.network.models.SpikingNetwork` from a NIR graph of the form :func:`to_nir` writes (or one of
    another tool that holds the same layers).

    ``dt`` is the step, in the unit of the time constants, that they are written for: by default the graph's
    ``metadata["dt"]`` (which :func:`to_nir` writes), and 1 where it has none. Give it for a graph of another tool
    whose time constants are in seconds (``dt=1e-4`` for snnTorch's). A ``dt`` that disagrees with the graph's own
    ``metadata["dt"]`` is refused: the graph says its time constants are for another step.

    Raises :class:`ExportError` naming the node it cannot read.
    """
    nir = _nir()
    if not isinstance(graph, nir.NIRGraph):
        raise ExportError(f"from_nir reads a nir.NIRGraph (nir.read(path) gives one), got {type(graph).__name__}")
    metadata = dict(getattr(graph, "metadata", {}) or {})
    successors = _successors(graph.nodes, graph.edges)
    reader = _Reader(nir, graph.nodes, successors, metadata, _import_dt(metadata, dt))
    inputs = [n for n, node in graph.nodes.items() if isinstance(node, nir.Input)]
    if len(inputs) != 1:
        raise ExportError(f"the graph needs exactly one Input node, found {inputs}")
    reader.walk(inputs[0])
    left = sorted(set(graph.nodes) - reader.visited)
    if left:  # a side branch would have been dropped without a word
        raise ExportError(f"nodes {left} are off the one path from Input to Output that bpsrm reads")
    if not reader.layers:
        raise ExportError(
            "the graph has no layer (synapse, pooling or neuron) on its path from Input to Output; bpsrm reads "
            "networks of one layer or more"
        )
    spec = f"from NIR ({metadata['bpsrm_spec']})" if metadata.get("bpsrm_spec") else "from NIR"
    readout = reader.readout or SpikeCountReadout()  # spikes out, unless a membrane readout came before Output
    return _fitting(SpikingNetwork(reader.layers, readout, reader.input_shape, spec=spec))


def _successors(nodes: dict[str, Any], edges: list[tuple[str, str]]) -> dict[str, list[str]]:
    """The nodes each node's edges lead to; an edge naming a node that is not in the graph is refused."""
    successors: dict[str, list[str]] = {name: [] for name in nodes}
    for src, dst in edges:
        if src not in nodes or dst not in nodes:
            raise ExportError(f"edge ({src!r}, {dst!r}) names a node that is not in the graph")
        successors[src].append(dst)
    return successors


def _import_dt(metadata: dict[str, Any], dt: Any) -> float:
    """The step the graph's time constants are written for: ``dt`` when given (refused where the graph's
    ``metadata["dt"]`` says another), else ``metadata["dt"]``, else 1."""
    if dt is None:
        return _metadata_dt(metadata)
    step = _valid_dt(dt)
    if "dt" in metadata:
        written = _metadata_dt(metadata)
        if not math.isclose(written, step, rel_tol=1e-9):
            raise ExportError(
                f"from_nir was given dt={step:g}, but the graph's metadata['dt'] = {written:g} says its time constants "
                "are written for that step; leave dt out to read the graph as written, or correct graph.metadata['dt']"
            )
    return step


class _Reader:
    """:func:`from_nir`'s walk along the graph's one path from Input to Output: the bpsrm layers read so far, the
    per-sample shape they give (every node is checked against it), the readout and the nodes visited."""

    def __init__(
        self, nir: Any, nodes: dict[str, Any], successors: dict[str, list[str]], metadata: dict[str, Any], dt: float
    ) -> None:
        self.nir, self.nodes, self.successors, self.metadata, self.dt = nir, nodes, successors, metadata, dt
        self.layers: list[nn.Module] = []
        self.readout: nn.Module | None = None
        self.visited: set[str] = set()
        self.input_shape: tuple[int, ...] = ()
        self.shape: tuple[int, ...] = ()

    def walk(self, start: str) -> None:
        """Read every node from the Input node ``start`` to the Output node."""
        self.input_shape = self.shape = _input_shape(self.nodes[start], start)
        self.visited.add(start)
        current: str | None = _only(self.successors, start)
        while current is not None:
            if current in self.visited:  # a loop outside a neuron's refractory loop would have been walked forever
                raise ExportError(f"node {current!r} is reached a second time: the graph loops outside a neuron")
            self.visited.add(current)
            current = self.read(current)

    def read(self, name: str) -> str | None:
        """Read node ``name`` (with the rest of its neuron); the next node to read, None after the Output."""
        node, nir = self.nodes[name], self.nir
        where = f"node {name!r} ({type(node).__name__})"
        if isinstance(node, nir.Output):
            return None
        if isinstance(node, nir.LI):
            return self.traces(name, where)
        if isinstance(node, (nir.LIF, nir.CubaLIF)):
            neuron, gain = _hard_reset_from(node, name, self.dt, self.shape)
            _fold_gain(self.layers, gain, where)
            self.layers.append(neuron)
        else:
            module = self.module(node, where)
            if module is not None:
                layer = TimeFolded(module)
                self.shape = _shape_after(layer, self.shape, where)
                self.layers.append(layer)
        return _only(self.successors, name)

    def module(self, node: Any, where: str) -> nn.Module | None:
        """The torch module of a synapse, pooling or Flatten node on the current shape (None: a Flatten of one
        dimension, which changes nothing)."""
        nir = self.nir
        if isinstance(node, (nir.Affine, nir.Linear)):
            return _linear_from(node, isinstance(node, nir.Affine), self.shape, where)
        if isinstance(node, (nir.Conv1d, nir.Conv2d)):
            return _conv_from(node, isinstance(node, nir.Conv2d), where, self.shape)
        if isinstance(node, nir.AvgPool2d):
            _expect_map(self.shape, 3, where)
            fields = (("kernel_size", 1), ("stride", 1), ("padding", 0))
            kernel, stride, padding = (_whole(getattr(node, f), 2, where, f, least) for f, least in fields)
            return nn.AvgPool2d(kernel, stride, padding)  # type: ignore[arg-type]
        if isinstance(node, nir.Flatten):
            return _flatten_from(node, self.shape, where)
        raise ExportError(f"{where}: bpsrm has no layer for this node")

    def traces(self, name: str, where: str) -> str:
        """The LI (-> LI) chain from ``name``: the membrane readout right before the Output, or a subtractive-reset
        layer with its Threshold and refractory loop; the node to read after it."""
        nodes, successors, nir = self.nodes, self.successors, self.nir
        chain = [name]
        nxt = _only(successors, name)
        if isinstance(nodes[nxt], nir.LI):
            chain.append(nxt)
            self.visited.add(nxt)
            nxt = _only(successors, nxt)
        if isinstance(nodes[nxt], nir.Output):
            self.readout = _readout_from(nodes, chain, self.metadata, where, self.dt, self.shape)
            return nxt
        if not isinstance(nodes[nxt], nir.Threshold):
            raise ExportError(f"{where}: after the leaky integrators expected a Threshold, got {shown(nxt)}")
        fire = nxt
        after = successors[fire]
        resets = [n for n in after if isinstance(nodes[n], nir.Scale)]
        onward = [n for n in after if n not in resets]
        if len(resets) != 1 or len(onward) != 1:
            raise ExportError(f"node {fire!r}: expected one refractory Scale and one onward edge, got {after}")
        refr = _only(successors, resets[0])
        subtract = _only(successors, refr)
        if _only(successors, subtract) != fire or not isinstance(nodes[refr], nir.LI):
            raise ExportError(f"node {fire!r}: the refractory loop Scale -> LI -> Scale(-1) -> Threshold is broken")
        self.layers.append(_neuron_from(nodes, chain, (resets[0], refr, subtract), fire, self.dt, self.shape))
        self.visited.update((fire, resets[0], refr, subtract))
        return onward[0]


def _input_shape(node: Any, name: str) -> tuple[int, ...]:
    """The Input node's shape without time: (N,), (C, L) or (C, H, W) of whole sizes >= 1."""
    raw = np.asarray(node.input_type["input"]).reshape(-1)
    if not (1 <= raw.size <= 3 and np.issubdtype(raw.dtype, np.integer) and np.all(raw >= 1)):
        raise ExportError(f"node {name!r} (Input): expected a shape (N,), (C, L) or (C, H, W) of sizes >= 1, got {raw}")
    return tuple(int(s) for s in raw)


def _finite_array(value: Any, where: str, name: str, dims: int = 1, length: int | None = None) -> np.ndarray:
    """``value`` as a float64 array of ``dims`` dimensions (and ``length`` entries) holding finite numbers only."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ExportError(f"{where}: {name} is not an array of numbers") from None
    if array.ndim != dims or (length is not None and array.shape[0] != length):
        want = f"{dims} dimension(s)" + (f" of {length} entries" if length is not None else "")
        raise ExportError(f"{where}: {name} has shape {array.shape}, expected {want}")
    return _finite(array, where, name)


def _fitting(network: SpikingNetwork) -> SpikingNetwork:
    """``network`` once one step of zeros has gone through it: layers whose shapes do not meet are refused here,
    not at the first real input."""
    probe = torch.zeros((1, 1, *network.input_shape))
    training = network.training
    try:
        with torch.no_grad():
            network.eval()(probe)
        network.train(training)
    except (RuntimeError, BpsrmError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ExportError(f"the graph's layers do not fit together on input {tuple(probe.shape)}: {first}") from None
    return network


def _shape_after(layer: nn.Module, shape: tuple[int, ...], where: str) -> tuple[int, ...]:
    """The per-sample shape ``layer`` gives on inputs of ``shape`` (one step of zeros through it); refused where
    the layer does not fit its input or leaves nothing."""
    try:
        with torch.no_grad():
            out = tuple(layer(torch.zeros((1, 1, *shape))).shape[2:])
    except (RuntimeError, ValueError, BpsrmError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ExportError(f"{where}: does not fit its input of shape {shape}: {first}") from None
    if not all(size >= 1 for size in out):
        raise ExportError(f"{where}: gives an empty output of shape {out} on its input of shape {shape}")
    return out


def _expect_map(shape: tuple[int, ...], dims: int, where: str) -> None:
    """Refuse a node that reads a map of ``dims`` dimensions (C, L) or (C, H, W) on an input of another shape."""
    if len(shape) != dims:
        want = "(C, L)" if dims == 2 else "(C, H, W)"
        raise ExportError(f"{where}: reads a map of shape {want}, the layers before it give shape {shape}")


def _whole(value: Any, count: int, where: str, name: str, least: int) -> tuple[int, ...]:
    """``value`` (one number, or ``count`` of them) as ``count`` whole numbers in [least, 2**31)."""
    try:
        array = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        array = np.array([np.nan])
    if array.size == 1:
        array = np.repeat(array, count)
    whole = np.isfinite(array).all() and np.all(array == np.round(array))
    if array.size != count or not whole or np.any(array < least) or np.any(array >= 2**31):
        what = "a whole number" if count == 1 else f"{count} whole numbers (or one)"
        raise ExportError(f"{where}: {name} must be {what} in [{least}, 2**31), got {shown(value)}")
    return tuple(int(v) for v in array)


def _only(successors: dict[str, list[str]], name: str) -> str:
    after = successors.get(name, [])
    if len(after) != 1:
        raise ExportError(f"node {name!r}: expected one outgoing edge, got {after}")
    return after[0]


def _linear_from(node: Any, affine: bool, shape: tuple[int, ...], where: str) -> nn.Linear:
    """The nn.Linear of an Affine (``affine``) or Linear node, whose input must be a vector of its width."""
    weight = torch.from_numpy(_finite_array(node.weight, where, "weight", dims=2)).float()
    if shape != (weight.shape[1],):
        hint = " (a Flatten node goes between a map and an Affine or Linear)" if len(shape) > 1 else ""
        raise ExportError(
            f"{where}: its weight takes {weight.shape[1]} inputs, the layers before it give shape {shape}{hint}"
        )
    linear = nn.Linear(weight.shape[1], weight.shape[0], bias=affine)
    with torch.no_grad():
        linear.weight.copy_(weight)
        if affine:
            linear.bias.copy_(torch.from_numpy(_finite_array(node.bias, where, "bias", length=weight.shape[0])))
    return linear


def _conv_from(node: Any, two_d: bool, where: str, shape: tuple[int, ...]) -> nn.Module:
    """The nn.Conv1d / nn.Conv2d of a Conv node on a map of ``shape``: its groups must divide its output
    channels, its input channels (per group, times groups) be those of the map."""
    dims = 2 if two_d else 1
    weight = torch.from_numpy(_finite_array(node.weight, where, "weight", dims=dims + 2)).float()
    out_c, in_per_group = weight.shape[0], weight.shape[1]
    (groups,) = _whole(node.groups, 1, where, "groups", 1)
    if out_c % groups:
        raise ExportError(f"{where}: groups={groups} does not divide its {out_c} output channels")
    _expect_map(shape, dims + 1, where)
    if shape[0] != in_per_group * groups:
        raise ExportError(
            f"{where}: its weight takes {in_per_group * groups} input channels ({in_per_group} per group, {groups} "
            f"group(s)), the layers before it give shape {shape}"
        )
    kernel = tuple(int(k) for k in weight.shape[2:])
    stride = _whole(node.stride, dims, where, "stride", 1)
    dilation = _whole(node.dilation, dims, where, "dilation", 1)
    padding = _conv_padding(node.padding, kernel, stride, dilation, where)
    kind = nn.Conv2d if two_d else nn.Conv1d
    conv = kind(shape[0], out_c, kernel, stride, padding, dilation, groups)  # type: ignore[arg-type]
    with torch.no_grad():
        conv.weight.copy_(weight)
        bias = _finite_array(node.bias, where, "bias", length=out_c)
        conv.bias.copy_(torch.from_numpy(bias))  # type: ignore[union-attr]
    return conv


def _conv_padding(
    padding: Any, kernel: tuple[int, ...], stride: tuple[int, ...], dilation: tuple[int, ...], where: str
) -> tuple[int, ...]:
    """A Conv node's padding as zeros on each side of every dimension: whole numbers, "valid" (none), or "same"
    (an output as long as the input at stride 1: torch pads d (k - 1) zeros per dimension, half before and half
    after; an odd count, which torch splits unequally, is refused)."""
    text = _text(padding)
    if text is None:
        return _whole(padding, len(kernel), where, "padding", 0)
    if text == "valid":
        return (0,) * len(kernel)
    if text != "same":
        raise ExportError(f"{where}: padding {text!r} is none of 'same', 'valid' or whole numbers")
    if any(s != 1 for s in stride):
        raise ExportError(
            f"{where}: padding 'same' with stride {stride}: 'same' is defined for stride 1 only (as in torch); "
            "give the padding as numbers"
        )
    total = tuple(d * (k - 1) for d, k in zip(dilation, kernel, strict=True))
    if any(t % 2 for t in total):
        raise ExportError(
            f"{where}: padding 'same' with kernel {kernel} and dilation {dilation} needs {total} zeros per "
            "dimension, an odd count that torch splits unequally (one more after); bpsrm pads both sides equally, "
            "so it reads 'same' only where dilation * (kernel - 1) is even (an odd kernel)"
        )
    return tuple(t // 2 for t in total)


def _text(value: Any) -> str | None:
    """A string given as str, bytes or a 0-d NumPy array of either (as a NIR file may give it back); else None."""
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "SU":
        value = value.item()
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return str(value) if isinstance(value, str) else None


def _flatten_from(node: Any, shape: tuple[int, ...], where: str) -> nn.Module | None:
    """bpsrm's flattening of a whole sample for a Flatten node over every dimension of its input ``shape`` (NIR
    counts no batch dimension: start_dim=0, end_dim=-1); None for one over a single dimension, which changes
    nothing. Any other is refused: it would keep dimensions apart that bpsrm's Flatten joins."""
    try:
        start, end = operator.index(node.start_dim), operator.index(node.end_dim)
    except TypeError:
        raise ExportError(
            f"{where}: start_dim={shown(node.start_dim)}, end_dim={shown(node.end_dim)} are not whole numbers"
        ) from None
    first, last = (d + len(shape) if d < 0 else d for d in (start, end))
    if not 0 <= first <= last < len(shape):
        raise ExportError(
            f"{where}: start_dim={start}, end_dim={end} name no dimensions of its input of shape {shape} (NIR counts "
            "no batch dimension)"
        )
    if (first, last) == (0, len(shape) - 1):
        return nn.Flatten()
    if first == last:
        return None
    kept = shape[:first] + (math.prod(shape[first : last + 1]),) + shape[last + 1 :]
    raise ExportError(
        f"{where}: start_dim={start}, end_dim={end} turn its input of shape {shape} into {kept} (NIR counts no batch "
        "dimension); bpsrm flattens a whole sample only (start_dim=0, end_dim=-1)"
    )


def _metadata_dt(metadata: dict[str, Any]) -> float:
    """The step the graph's time constants are written for: metadata["dt"], 1 when absent."""
    raw = metadata.get("dt", 1.0)
    try:
        dt = float(np.asarray(raw, dtype=np.float64).reshape(-1)[0]) if np.size(raw) == 1 else float("nan")
    except (TypeError, ValueError):
        dt = float("nan")
    if not (math.isfinite(dt) and dt > 0):
        raise ExportError(f"metadata dt={shown(raw)}: expected one finite number > 0 (the step of the time constants)")
    return dt


def _readout_from(
    nodes: dict[str, Any],
    chain: list[str],
    metadata: dict[str, Any],
    where: str,
    dt: float,
    shape: tuple[int, ...],
) -> nn.Module:
    """The membrane readout of an LI (-> LI) chain right before the Output, over the last layer's ``shape``."""
    decays = [_decay_of(nodes[name], f"node {name!r}", dt, shape) for name in chain]
    scalars = [_constant(d, where, "tau")[0] for d in decays]
    taus = [time_constant(s) for s in scalars if s is not None]
    if len(taus) < len(scalars):
        raise ExportError(f"{where}: the readout's time constants must be the same for every output")
    reduce = str(metadata.get("bpsrm_readout", "mean"))
    if reduce not in ("mean", "max", "last"):
        raise ExportError(f"metadata bpsrm_readout={shown(reduce)}: expected mean, max or last for a membrane readout")
    if len(taus) == 1:
        return MembraneReadout(tau_m=taus[0], kernel="exp", reduce=reduce)
    kernel = "alpha" if scalars[0] == scalars[1] else "dexp"
    return MembraneReadout(tau_s=taus[0], tau_m=taus[1], kernel=kernel, reduce=reduce)


SNNTORCH_DT = 1e-4
"""The only step snnTorch 1.0.0's ``import_from_nir`` reads time constants for."""
_SNNTORCH_NODES = ("Input", "Output", "Affine", "Linear", "Conv1d", "Conv2d", "AvgPool2d", "SumPool2d", "Flatten")


def consumer_problems(graph: Any, consumer: str) -> list[str]:
    """What ``consumer`` cannot run in ``graph``, one sentence each (empty: nothing known).

    ``"snntorch"`` (1.0.0's ``import_from_nir``): it maps only synapses, pooling, ``Flatten``, ``LIF`` and
    ``CubaLIF``, with one threshold per layer, and reads time constants for dt = 1e-4.
    """
    if consumer != "snntorch":
        raise ExportError(f"unknown consumer {consumer!r}; bpsrm knows what 'snntorch' can run")
    nir = _nir()
    problems = []
    dt = _metadata_dt(dict(getattr(graph, "metadata", {}) or {}))
    if not math.isclose(dt, SNNTORCH_DT, rel_tol=1e-12):
        problems.append(f"dt = {dt:g}: snnTorch 1.0.0 reads time constants for dt = 1e-4 (export with --dt 1e-4)")
    layers: dict[str, set[str]] = {}
    for name, node in graph.nodes.items():
        kind = type(node).__name__
        if isinstance(node, (nir.LIF, nir.CubaLIF)):
            if np.unique(np.asarray(node.v_threshold)).size > 1:
                problems.append(f"node {name!r}: snnTorch takes one threshold per layer, this one varies")
        elif kind not in _SNNTORCH_NODES:
            layers.setdefault(name.split(".")[0], set()).add(kind)
    for layer, kinds in layers.items():
        what = ", ".join(sorted(kinds))
        if layer == "readout":
            problems.append(
                f"the membrane readout ({what} nodes): snnTorch has no node for it; end the spec with -SRM so that "
                "the network's output is spikes"
            )
        else:
            problems.append(
                f"layer {layer} ({what} nodes): a subtractive-reset SRM layer, which snnTorch cannot import; "
                "train with model.neuron.reset: zero to get NIR's LIF / CubaLIF nodes"
            )
    return problems


def export_checkpoint(
    checkpoint: str | Path,
    out: str | Path,
    dt: float | None = None,
    consumer: str | None = None,
    overwrite: bool = False,
) -> Path:
    """``bpsrm export CHECKPOINT --format nir --out FILE [--dt DT] [--for snntorch]``: the checkpoint's model as a
    NIR file whose time constants are written for the step ``dt`` (1, or snnTorch's 1e-4 with ``consumer``
    "snntorch"); with a consumer, an :class:`ExportError` lists everything it could not run, and nothing is
    written. An existing ``out`` (the checkpoint itself, say) is replaced only with ``overwrite``."""
    from ..files import refuse_existing
    from .inference import load_trained

    refuse_existing(out, overwrite, "export", checkpoint)
    model = load_trained(checkpoint).model
    if dt is None:
        dt = SNNTORCH_DT if consumer == "snntorch" else 1.0
    graph = to_nir(model, dt)
    if consumer is not None:
        problems = consumer_problems(graph, consumer)
        if problems:
            raise ExportError(f"{checkpoint}: {consumer} cannot run this model:\n  - " + "\n  - ".join(problems))
    out = Path(out)
    try:
        _nir().write(str(out), graph)
    except OSError as exc:
        raise BpsrmError(f"{out}: cannot write the NIR file ({exc.strerror or exc})") from None
    return out
