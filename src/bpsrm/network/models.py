"""Networks from a compact spec string: :func:`build_model`.

A spec is a list of tokens joined by ``-``, read left to right::

    32C3-TCN-SRM-MP2-64C3-TCN-SRM-MP2-FC128-SRM-FC10

========== ==============================================================
token      layer
========== ==============================================================
``nCk``    convolution, n output channels, kernel k, padding k // 2
           ('same' for odd k; one more row and column for even k)
           (Conv1d for inputs [C, L], Conv2d for inputs [C, H, W])
``FCn``    fully connected layer with n outputs (flattens first)
``MPk``    max pooling, kernel = stride = k
``APk``    average pooling, kernel = stride = k
``TCN``    :class:`~bpsrm.network.norm.TemporalChannelNorm` (``TCNT``: time_channel stats)
``BN``     :class:`~bpsrm.network.norm.FoldedBatchNorm`; ``TDBN``, ``BNTT``, ``TEBN`` likewise
``SRM``    a layer of :class:`~bpsrm.neuron.SRMNeuron`
========== ==============================================================

A norm follows a synapse (``C`` or ``FC``); ``SRM`` follows a synapse, a norm
or a pooling layer. A spec ending in ``FCn`` reads the membrane of a
non-spiking last layer (:class:`~bpsrm.network.layers.MembraneReadout`); one ending in
``SRM`` reads the spike count (:class:`~bpsrm.network.layers.SpikeCountReadout`).
"""

from __future__ import annotations

import math
import numbers
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from ..checks import SIZE_LIMIT, flag, whole_number
from ..errors import ParameterError, ShapeError, SpecError, shown
from ..neuron.module import SRMNeuron
from ..neuron.params import DEFAULTS, SETTINGS, SRMParams
from ..neuron.surrogate import Surrogate
from .layers import MembraneReadout, SpikeCountReadout, TimeFolded
from .norm import NORM_OPTION_DEFAULTS, NORMS, TemporalChannelNorm
from .pooling import MaxPool

__all__ = [
    "SpikingNetwork",
    "NetworkOutput",
    "build_model",
    "parse_spec",
    "spec_outputs",
    "replace_norm",
    "SPEC_GRAMMAR",
]

_NORM_TOKENS = sorted([*(name.upper() for name in NORMS), "TCNT"], key=lambda t: (-len(t), t))
SPEC_GRAMMAR = f"nCk (conv), FCn (linear), MPk / APk (pool), {' / '.join(sorted(_NORM_TOKENS))} (norm), SRM (neuron)"

_TOKEN_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("conv", re.compile(r"^(\d+)C(\d+)$")),
    ("fc", re.compile(r"^FC(\d+)$")),
    ("maxpool", re.compile(r"^MP(\d+)$")),
    ("avgpool", re.compile(r"^AP(\d+)$")),
    ("norm", re.compile(rf"^({'|'.join(_NORM_TOKENS)})$")),
    ("srm", re.compile(r"^SRM$")),
)


class Token(NamedTuple):
    """One parsed spec token: its kind, its integer arguments and its text."""

    kind: str
    args: tuple[Any, ...]
    text: str


def parse_spec(spec: str) -> list[Token]:
    """Split a spec string into tokens and check their order (no shapes needed)."""
    if not isinstance(spec, str) or not spec.strip():
        raise SpecError(f"a network spec must be a non-empty string like '32C3-TCN-SRM-FC10', got {shown(spec)}")
    where = f"spec {shown(spec)}"
    tokens: list[Token] = []
    for position, raw in enumerate(spec.strip().split("-"), start=1):
        text = raw.strip().upper()
        for kind, pattern in _TOKEN_PATTERNS:
            match = pattern.match(text)
            if match:
                digits = [g.lstrip("0") or "0" for g in match.groups() if g.isdigit()]  # int() takes 4,300 digits
                if any(len(g) > 10 or not 1 <= int(g) <= SIZE_LIMIT for g in digits):
                    raise SpecError(f"{where}: token {position} {shown(raw)} needs sizes in [1, {SIZE_LIMIT}]")
                args: tuple[Any, ...] = tuple(int(g.lstrip("0")) if g.isdigit() else g for g in match.groups())
                tokens.append(Token(kind, args, text))
                break
        else:
            raise SpecError(f"{where}: token {position} {shown(raw)} is not understood; tokens are {SPEC_GRAMMAR}")
    previous = None
    for position, token in enumerate(tokens, start=1):
        if token.kind == "norm" and previous not in ("conv", "fc"):
            what = f"token {position} {shown(token.text)} (a norm)"
            raise SpecError(f"{where}: {what} must follow a synapse (nCk or FCn)")
        if token.kind == "srm" and previous not in ("conv", "fc", "norm", "maxpool", "avgpool"):
            raise SpecError(f"{where}: token {position} 'SRM' must follow a synapse, a norm or a pooling layer")
        previous = token.kind
    if tokens[-1].kind not in ("fc", "srm"):
        raise SpecError(
            f"{where}: the last token must be FCn (membrane readout) or SRM (spike count); got {shown(tokens[-1].text)}"
        )
    if not any(t.kind in ("conv", "fc") for t in tokens):
        raise SpecError(f"{where}: has no synapse layer (nCk or FCn)")
    return tokens


def spec_outputs(spec: str) -> int:
    """The outputs of a network spec, one per class: the size of its last FC layer (a spec ends with FC or with
    an SRM after it, :func:`parse_spec` checks); a :class:`~bpsrm.errors.SpecError` for a spec without one."""
    sizes = [token.args[0] for token in parse_spec(spec) if token.kind == "fc"]
    if not sizes:
        raise SpecError(f"the spec {shown(spec)} has no FC layer, so no class outputs; end it with FCn for n classes")
    return sizes[-1]


def replace_norm(spec: str, token: str | None) -> str:
    """``spec`` with every norm token (TCN, BN, TDBN, BNTT, TEBN, TCNT, in any case) replaced by the norm
    ``token``, or removed when ``token`` is None; the other tokens as :func:`parse_spec` reads them (upper case).
    For ablations that change the normalisation of a network alone. A SpecError when ``spec`` does not parse or
    ``token`` is not a norm."""
    if token is not None and (not isinstance(token, str) or token.strip().upper() not in _NORM_TOKENS):
        raise SpecError(f"replace_norm: {shown(token)} is not a norm token; expected one of {', '.join(_NORM_TOKENS)}")
    norm = token.strip().upper() if token is not None else None
    kept = [(norm if t.kind == "norm" else t.text) for t in parse_spec(spec) if t.kind != "norm" or norm is not None]
    return "-".join(str(part) for part in kept)


class NetworkOutput(NamedTuple):
    """Logits ``[B, K]``, the spikes ``[T, B, ...]`` of every SRM layer in order, and their
    membrane potentials (empty unless asked for with ``keep_membrane=True``)."""

    logits: Tensor
    spikes: list[Tensor]
    membranes: list[Tensor]


class SpikingNetwork(nn.Module):
    """A feed-forward SNN of time-first layers and a readout.

    Input ``[T, B, *input_shape]``, output logits ``[B, classes]``.
    """

    def __init__(
        self,
        layers: Sequence[nn.Module],
        readout: nn.Module,
        input_shape: tuple[int, ...],
        spec: str = "",
        srm_names: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        self.srm_names = list(srm_names) if srm_names is not None else None
        self.layers = nn.ModuleList(layers)
        self.readout = readout
        self.input_shape = tuple(input_shape)
        self.spec = spec
        self.activations_per_step = 0
        """Elements of the synapse outputs of one sample at one step (set by :func:`build_model`)."""

    def _check(self, x: Tensor) -> None:
        if not isinstance(x, Tensor) or x.dim() != len(self.input_shape) + 2 or tuple(x.shape[2:]) != self.input_shape:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ShapeError(
                f"the network {shown(self.spec)} expects input [T, B, {', '.join(map(str, self.input_shape))}], "
                f"got {got}"
            )
        weights = next(self.parameters(), None)
        if weights is not None and x.dtype != weights.dtype and not _autocast_enabled(x.device.type):
            raise ShapeError(
                f"the network {shown(self.spec)} expects input of its weights' dtype, {weights.dtype}, got {x.dtype} "
                f"(x.to({weights.dtype}), the model .to() the input's, or torch.autocast)"
            )

    def run(self, x: Tensor, keep_membrane: bool = False) -> NetworkOutput:
        """Logits and the spikes of every SRM layer (and their membranes with ``keep_membrane``)."""
        self._check(x)
        spikes: list[Tensor] = []
        membranes: list[Tensor] = []
        for layer in self.layers:
            if isinstance(layer, SRMNeuron):
                x, u = layer.run(x)
                spikes.append(x)
                if keep_membrane:
                    membranes.append(u)
            else:
                x = layer(x)
        return NetworkOutput(self.readout(x), spikes, membranes)

    def spiking_layer_names(self) -> list[str]:
        """Names of the SRM layers in order, e.g. ``["SRM1 (32C3)", "SRM2 (64C3)"]``."""
        count = sum(isinstance(layer, SRMNeuron) for layer in self.layers)
        if self.srm_names is not None and len(self.srm_names) == count:
            return list(self.srm_names)
        return [f"SRM{i + 1}" for i in range(count)]

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``[B, classes]`` for the input ``x`` ``[T, B, *input_shape]``."""
        return self.run(x).logits


_NORM_KEYS = set(NORM_OPTION_DEFAULTS)


def _neuron_params(neuron: SRMParams | Mapping[str, Any] | None) -> tuple[SRMParams, Surrogate | None]:
    """The validated settings, and a surrogate object given in place of a name (else None)."""
    if neuron is None or isinstance(neuron, SRMParams):
        return neuron or DEFAULTS, None
    if not isinstance(neuron, Mapping):  # dict("exp") raised a bare ValueError about sequence elements
        raise ParameterError(
            f"build_model: neuron must be a mapping of SRMParams keys (e.g. {{'kernel': 'exp'}}) or an SRMParams, "
            f"got {shown(neuron)}"
        )
    given = dict(neuron)
    unknown = set(given) - set(SETTINGS)
    if unknown:
        raise ParameterError(f"build_model: unknown neuron options {sorted(unknown)}; expected among {list(SETTINGS)}")
    surrogate = given.pop("surrogate") if isinstance(given.get("surrogate"), Surrogate) else None
    if surrogate is not None and given.get("surrogate_width") is not None:  # it was dropped without a word
        raise ParameterError(
            f"build_model: surrogate_width {shown(given['surrogate_width'])} was given with a surrogate object "
            f"{surrogate!r}; set the width on the object instead"
        )
    return SRMParams(**given), surrogate


def _make_norm(text: str, channels: int, time_steps: int | None, norm: Mapping[str, Any], theta: float) -> nn.Module:
    """The norm layer of a spec token, from the registry :data:`bpsrm.network.norm.NORMS`."""
    name = text.lower()
    if name == "tcnt":  # TCN with time-channel statistics
        return TemporalChannelNorm.from_options(channels, time_steps, {**norm, "stats": "time_channel"}, theta)
    try:
        return NORMS[name].from_options(channels, time_steps, norm, theta)
    except ParameterError as exc:
        raise SpecError(str(exc)) from None


def _refuse_unread_norm_options(spec: str, tokens: Sequence[Token], norm: Mapping[str, Any]) -> None:
    """A ParameterError for a norm option set to other than its default that no norm of the spec reads
    (``stats='time_channel'`` with BN layers only was dropped without a word)."""
    names = [token.text.lower() for token in tokens if token.kind == "norm"]
    read = set().union(*(NORMS["tcn" if name == "tcnt" else name].reads_options for name in names))
    for key, value in norm.items():
        if key not in read and value != NORM_OPTION_DEFAULTS[key]:
            kinds = ", ".join(sorted({name.upper() for name in names}))
            where = f"none of its norms ({kinds}) reads it" if names else "it has no norm layer"
            readers = ", ".join(sorted(name.upper() for name, cls in NORMS.items() if key in cls.reads_options))
            raise ParameterError(
                f"build_model: norm option {key}={shown(value)} has no effect on {shown(spec)}: {where}; {key} is "
                f"read by {readers}"
            )


def _autocast_enabled(device_type: str) -> bool:
    """Whether ``torch.autocast`` is on for ``device_type`` (then inputs of a lower precision are welcome)."""
    try:
        return bool(torch.is_autocast_enabled(device_type))  # type: ignore[arg-type]
    except TypeError:  # torch < 2.4 takes no device type
        return bool(torch.is_autocast_cpu_enabled() if device_type == "cpu" else torch.is_autocast_enabled())


def build_model(
    spec: str,
    input_shape: Sequence[int],
    *,
    time_steps: int | None = None,
    neuron: SRMParams | Mapping[str, Any] | None = None,
    norm: Mapping[str, Any] | None = None,
    readout_reduce: str = "mean",
    check_norm_options: bool = True,
) -> SpikingNetwork:
    """Build a :class:`SpikingNetwork` from a spec string (see the module docstring).

    Args:
        spec: e.g. ``"32C3-TCN-SRM-MP2-64C3-TCN-SRM-MP2-FC128-SRM-FC10"``.
        input_shape: one sample without T and B: ``(C, H, W)``, ``(C, L)`` or ``(N,)``.
        time_steps: T; needed by per-step norms (TCN's per-(t, c) affine,
            BNTT, TEBN). With ``None`` a TCN needs ``norm={"step_affine": False}`` (one affine per channel,
            which runs at any T); without it a SpecError says so.
        neuron: the neuron settings, an :class:`~bpsrm.neuron.params.SRMParams` or a mapping of its
            fields (``surrogate`` may also be a :class:`~bpsrm.neuron.surrogate.Surrogate` object).
        norm: options of the norms: ``stats``, ``scale_by_threshold``, ``alpha``, ``eps``, ``momentum``,
            ``step_affine`` (TCN: gamma and beta per (t, c) when True, per c when False).
        readout_reduce: how a membrane readout reduces over time.
        check_norm_options: refuse a norm option set to other than its default that no norm of the spec reads,
            and a ``readout_reduce`` other than "mean" where the spec ends in SRM (a spike count readout); False
            lets them through unread (a checkpoint's config from before the checks existed).
    """
    tokens = parse_spec(spec)
    if time_steps is not None:
        time_steps = whole_number("build_model: time_steps (None or a count)", time_steps)
    params, surrogate = _neuron_params(neuron)
    if norm is not None and not isinstance(norm, Mapping):
        raise ParameterError(f"build_model: norm must be a mapping of norm options, got {type(norm).__name__}")
    norm = dict(norm or {})
    unknown = set(norm) - _NORM_KEYS
    if unknown:
        raise ParameterError(
            f"build_model: unknown norm options {sorted(unknown)}; expected among {sorted(_NORM_KEYS)}"
        )
    if flag("build_model: check_norm_options", check_norm_options):
        _refuse_unread_norm_options(spec, tokens, norm)
        if tokens[-1].kind == "srm" and readout_reduce != "mean":  # a spike count reads no membrane over time
            raise ParameterError(
                f"build_model: readout_reduce={shown(readout_reduce)} (model.readout in a config) has no effect on "
                f"{shown(spec)}: it ends in SRM "
                "neurons, whose spike counts over time are the logits; readout_reduce is read by a membrane readout "
                "(a spec ending in FCn)"
            )
    neuron_kwargs = params.neuron_kwargs()
    if surrogate is not None:
        neuron_kwargs["surrogate"] = surrogate
    per_channel = params.per_channel
    expected = "input_shape must be (N,), (C, L) or (C, H, W) with whole sizes >= 1"
    if getattr(input_shape, "ndim", None) == 1 and hasattr(input_shape, "tolist"):
        input_shape = input_shape.tolist()  # a NumPy array or a tensor: Python numbers (floats stay floats: refused)
    if isinstance(input_shape, (str, bytes)) or not isinstance(input_shape, Sequence):
        raise ShapeError(f"{expected}, got {shown(input_shape)}")  # a string was read digit by digit: "28" as (2, 8)
    if not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in input_shape):
        raise ShapeError(f"{expected}, got {shown(tuple(input_shape))}")  # (2.9, 8.9) was cut to (2, 8), True read as 1
    shape = tuple(int(s) for s in input_shape)
    if len(shape) not in (1, 2, 3) or any(not 1 <= s <= SIZE_LIMIT for s in shape):
        raise ShapeError(f"{expected} and <= {SIZE_LIMIT}, got {shown(shape)}")
    theta = params.theta
    layers: list[nn.Module] = []
    srm_names: list[str] = []
    last_synapse = ""
    current = shape
    size = _Size(spec, time_steps or 1)
    readout: nn.Module
    for index, token in enumerate(tokens):
        where = f"spec {shown(spec)}, token {index + 1} {shown(token.text)}"
        is_last = index == len(tokens) - 1
        if token.kind in ("conv", "fc"):
            last_synapse = token.text
        if token.kind == "conv":
            out_channels, k = token.args
            if len(current) == 1:
                raise SpecError(
                    f"{where}: a convolution needs an input [C, L] or [C, H, W], but the input here is flat {current}"
                )
            if any(k > s for s in current[1:]):  # its outer taps would only ever meet the zero padding
                raise SpecError(f"{where}: a {k}-wide kernel on a feature map of shape {current}, larger than the map")
            conv_cls = nn.Conv1d if len(current) == 2 else nn.Conv2d
            followed_by_norm = not is_last and tokens[index + 1].kind == "norm"
            spatial = tuple(s + 2 * (k // 2) - k + 1 for s in current[1:])
            size.add(where, current[0] * out_channels * k ** len(spatial), (out_channels, *spatial))
            layers.append(TimeFolded(conv_cls(current[0], out_channels, k, padding=k // 2, bias=not followed_by_norm)))
            current = (out_channels,) + spatial
        elif token.kind == "fc":
            (features,) = token.args
            if len(current) > 1:
                layers.append(TimeFolded(nn.Flatten()))
                current = (math.prod(current),)
            followed_by_norm = not is_last and tokens[index + 1].kind == "norm"
            size.add(where, current[0] * features, (features,))
            layers.append(TimeFolded(nn.Linear(current[0], features, bias=not followed_by_norm)))
            current = (features,)
        elif token.kind in ("maxpool", "avgpool"):
            (k,) = token.args
            if len(current) == 1:
                raise SpecError(
                    f"{where}: pooling needs an input [C, L] or [C, H, W], but the input here is flat {current}"
                )
            if any(s < k for s in current[1:]):
                raise SpecError(f"{where}: pooling by {k} on a feature map of shape {current} leaves nothing")
            pool: nn.Module
            dims = len(current) - 1
            if token.kind == "maxpool":
                pool = MaxPool(k, dims)  # keeps the argmax indices for its backward, not the spikes
            else:
                pool = nn.AvgPool1d(k) if dims == 1 else nn.AvgPool2d(k)
            layers.append(TimeFolded(pool))
            current = (current[0],) + tuple(s // k for s in current[1:])
        elif token.kind == "norm":
            layers.append(_make_norm(token.args[0], current[0], time_steps, norm, theta))
        elif token.kind == "srm":
            srm_names.append(f"SRM{len(srm_names) + 1} ({last_synapse})")
            channels = current[0] if per_channel else None
            layers.append(SRMNeuron(**neuron_kwargs, channels=channels))
    if tokens[-1].kind == "fc":
        readout = MembraneReadout(tau_s=params.tau_s, tau_m=params.tau_m, kernel=params.kernel, reduce=readout_reduce)
    else:
        readout = SpikeCountReadout()
    network = SpikingNetwork(layers, readout, shape, spec, srm_names)
    network.activations_per_step = size.activations
    return network


def physical_memory() -> int | None:
    """Bytes of memory of this machine (None where the system does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):  # pragma: no cover - not POSIX
        return None


def _gigabytes(count: float) -> str:
    return f"{count / 2**30:,.1f} GiB"


class _Size:
    """The parameters and activations of a network as it is built, refused before they are allocated when
    they cannot fit in memory: each parameter is held four times in training (weights, gradients and
    Adam's two moments), each activation element at least once per step of one sample."""

    def __init__(self, spec: str, time_steps: int) -> None:
        self.spec, self.time_steps = spec, time_steps
        self.parameters = 0
        self.activations = 0
        """Elements of the synapse outputs of one sample at one time step (each is normalised and spikes)."""
        self.memory = physical_memory()

    def add(self, where: str, parameters: int, output: tuple[int, ...]) -> None:
        self.parameters += parameters
        self.activations += math.prod(output)
        if self.memory is None:
            return
        weights = 4 * 4 * self.parameters
        if weights > self.memory:
            raise SpecError(
                f"{where}: the network would hold {self.parameters:,} parameters ({_gigabytes(weights)} as float32 "
                f"weights, gradients and Adam's two moments); this machine has {_gigabytes(self.memory)} of memory"
            )
        one_sample = 4 * 3 * self.activations * self.time_steps  # synapse output, norm output and spikes
        if one_sample > self.memory:
            raise SpecError(
                f"{where}: one sample would need {_gigabytes(one_sample)} of activations over {self.time_steps} "
                f"steps; this machine has {_gigabytes(self.memory)} of memory"
            )
