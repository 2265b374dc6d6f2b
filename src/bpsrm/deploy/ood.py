"""An "unknown" answer: out-of-distribution scores calibrated on the training data, kept in the checkpoint.

A classifier always names one of its classes, even for a dead sensor or a
machine it never saw. Here each sample is described by the firing rates of the
last spiking layer, averaged over time and positions (one value per channel,
$f \\in \\mathbb{R}^C$). On training samples, a Gaussian per class with a shared,
shrunk covariance is fitted (Lee et al., "A simple unified framework for
detecting out-of-distribution samples", NeurIPS 2018):

$$ s(f) = \\min_k (f - \\mu_k)^\\top \\Sigma^{-1} (f - \\mu_k), \\qquad
\\Sigma = (1 - \\lambda) S + \\lambda \\tfrac{\\operatorname{tr} S}{C} I $$

($S$ the pooled within-class covariance, $\\lambda = 0.1$). The threshold is
``MARGIN`` (2) times the ``quantile`` (default 99.5 %) of the scores of other
training samples than those fitted (alternate blocks of 16 samples, so that
overlapping neighbours of a window mostly fall on its own side); a sample whose score
exceeds it is answered "unknown". The margin leaves room for the drift of a new
operating condition of the same machine (another load moves fault windows of a
model trained at one load to about 1.2 times the quantile) while a healthy
recording given to a fault-only model, or sensor noise, lands well beyond it: for the field models
``results/cwru-crossload/seed{0,1,2}/best.pt``, the lowest window of the healthy recording 97.mat at 6.2, 10.5
and 2.9 times the quantile (medians 7.2, 11.8 and 3.5), of white noise at 6.7, 6.6 and 5.3 times. (The margin was
set looking at those windows, the CWRU loads and 97.mat: it is not a figure chosen on held-out data.) What it
does not see: a known fault under strong added noise reads as another fault (docs/howto/bearings.md), and, for a
model that standardises each window, a signal's level, which ``bpsrm predict`` checks on its own
(:data:`bpsrm.deploy.prediction.LEVEL_MARGIN`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from ..checks import described, real_number
from ..engine.checkpoint import save_checkpoint
from ..engine.experiment import subsample
from ..errors import BpsrmError, DataError, ParameterError, shown

if TYPE_CHECKING:
    from ..engine.config import Config
    from ..engine.experiment import Experiment

__all__ = ["OODCalibration", "spike_features", "calibrate_ood", "calibrate_checkpoint"]

SHRINKAGE = 0.1
MARGIN = 2.0
HELD_OUT_BLOCK = 16


@torch.no_grad()
def spike_features(model: Any, sequence: Tensor) -> tuple[Tensor, Tensor]:
    """Logits ``[B, K]`` and the last spiking layer's firing rates per channel ``[B, C]`` (float64; the logits
    themselves for a network without a spiking layer)."""
    if not callable(getattr(model, "run", None)):
        raise ParameterError(f"spike_features: the model must be a bpsrm SpikingNetwork, got {described(model)}")
    out = model.run(sequence)
    if not out.spikes:
        return out.logits, out.logits.detach().double().cpu()
    spikes = out.spikes[-1]  # [T, B, C, *positions]
    rates = spikes.double().mean(0).flatten(2).mean(2) if spikes.dim() > 3 else spikes.double().mean(0)
    return out.logits, rates.cpu()


@dataclass(frozen=True)
class OODCalibration:
    """Class means ``[K, C]``, the shared precision matrix ``[C, C]`` and the score threshold."""

    means: Tensor
    precision: Tensor
    threshold: float
    quantile: float

    def score(self, features: Tensor) -> Tensor:
        """$s(f)$ of features ``[B, C]`` (module docstring): the distance to the nearest class, squared."""
        diff = features.double()[:, None, :] - self.means[None]  # [B, K, C]
        return torch.einsum("bkc,cd,bkd->bk", diff, self.precision, diff).min(1).values

    def to_dict(self) -> dict[str, Any]:
        """Plain tensors and numbers for a checkpoint."""
        return {
            "means": self.means,
            "precision": self.precision,
            "threshold": self.threshold,
            "quantile": self.quantile,
        }

    @classmethod
    def from_dict(cls, raw: Any, where: str = "checkpoint") -> OODCalibration:
        """The calibration a checkpoint keeps."""
        try:
            means, precision = raw["means"].double(), raw["precision"].double()
            threshold = real_number(f"{where}: the out-of-distribution threshold", raw["threshold"], at_least=0)
            quantile = real_number(f"{where}: the out-of-distribution quantile", raw["quantile"], above=0, at_most=1)
        except (KeyError, TypeError, AttributeError) as exc:
            raise DataError(f"{where}: unreadable out-of-distribution calibration ({shown(exc)})") from None
        except ParameterError as exc:  # a NaN threshold would call every input unknown
            raise DataError(str(exc)) from None
        calibration = cls(means, precision, threshold, quantile)
        if means.dim() != 2 or precision.shape != (means.shape[1], means.shape[1]):
            raise DataError(f"{where}: out-of-distribution calibration of inconsistent shapes")
        if not (torch.isfinite(means).all() and torch.isfinite(precision).all()):
            raise DataError(f"{where}: the out-of-distribution calibration holds values that are not finite")
        return calibration


def calibrate_ood(
    model: Any,
    batches: Iterable[tuple[Tensor, Tensor]],
    encode: Callable[[Tensor], Tensor],
    classes: int,
    quantile: float = 0.995,
) -> OODCalibration:
    """Fit the class Gaussians on the even-numbered samples of ``batches`` and set the threshold on the others."""
    model.eval()
    features, labels = [], []
    for inputs, targets in batches:
        features.append(spike_features(model, encode(inputs))[1])
        labels.append(targets)
    if not features:
        raise DataError("ood calibration: no training samples")
    f, y = torch.cat(features), torch.cat(labels)
    block = (torch.arange(f.shape[0]) // HELD_OUT_BLOCK) % 2
    fit, held = block == 0, block == 1
    if int(held.sum()) < 2:
        raise DataError(f"ood calibration: {f.shape[0]} training samples are too few")
    means = torch.zeros(classes, f.shape[1], dtype=torch.float64)
    centred = []
    for k in range(classes):
        members = f[fit & (y == k)]
        if members.shape[0] == 0:
            members = f[y == k]
        if members.shape[0] == 0:
            raise DataError(f"ood calibration: no training sample of class {k}")
        means[k] = members.mean(0)
        centred.append(members - means[k])
    within = torch.cat(centred)
    covariance = within.T @ within / max(within.shape[0] - 1, 1)
    scale = float(torch.trace(covariance)) / covariance.shape[0]
    if not scale > 0:
        raise DataError("ood calibration: the last spiking layer's rates do not vary over the training samples")
    identity = torch.eye(covariance.shape[0], dtype=torch.float64)
    shrunk = (1 - SHRINKAGE) * covariance + SHRINKAGE * scale * identity
    precision = torch.linalg.inv(shrunk)
    provisional = OODCalibration(means, precision, 0.0, quantile)
    threshold = MARGIN * float(torch.quantile(provisional.score(f[held]), quantile))
    return OODCalibration(means, precision, threshold, quantile)


def calibrate_checkpoint(
    best_path: Path,
    best: dict[str, Any],
    experiment: Experiment,
    model: Any,
    config: Config,
    log: Callable[[str], None],
) -> OODCalibration | None:
    """Write into ``best_path`` (whose loaded record is ``best``) the calibration of :func:`calibrate_ood` on up to
    ``train.ood_samples`` unaugmented training samples of ``experiment`` (a subset drawn with seed
    ``config.seed + 3``), and return it. With ``train.ood_samples: 0`` none is made, and one that an earlier
    finish of the run left in best.pt is removed; when the samples cannot make one, ``log`` says why and best.pt
    keeps no calibration."""
    record = {key: value for key, value in best.items() if key != "ood"}
    if config.train.ood_samples == 0:
        if "ood" in best:
            save_checkpoint(best_path, record)
        return None
    subset = subsample(experiment.plain_train_set or experiment.train_set, config.train.ood_samples, config.seed + 3)
    loader = DataLoader(subset, batch_size=config.train.eval_batch_size)
    device = next(model.parameters()).device
    try:
        calibration = calibrate_ood(
            model,
            ((inputs.to(device), labels) for inputs, labels in loader),
            experiment.encode,
            len(experiment.classes),
        )
    except BpsrmError as exc:
        log(f"no out-of-distribution calibration in {best_path}: {exc}")
        return None
    save_checkpoint(best_path, {**record, "ood": calibration.to_dict()})
    return calibration
