"""bpsrm.engine.evaluation.evaluate_model against a hand count: a stand-in network whose logits are chosen per
sample, so accuracy, loss, confusion matrix and per-class accuracy are known before the call."""

from __future__ import annotations

import math
from types import SimpleNamespace

import torch
from torch import nn

from bpsrm.engine.evaluation import evaluate_model

# Sample i has label LABELS[i] and is predicted PREDICTED[i] (a logit of 2 there, 0 elsewhere).
LABELS = [0, 0, 0, 1, 1, 2]
PREDICTED = [0, 0, 1, 1, 2, 2]


class _Chosen(nn.Module):
    """Reads the sample's index from its input and answers with one-hot logits * 2 and one spiking layer whose
    rate is the index / 10."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def run(self, x: torch.Tensor) -> SimpleNamespace:
        index = x[0, :, 0].long()  # [T, B, 1] -> the batch's indices
        logits = 2.0 * nn.functional.one_hot(torch.tensor([PREDICTED[i] for i in index]), 4).float()
        spikes = (index.float() / 10).reshape(-1, 1).expand(-1, 5)
        return SimpleNamespace(logits=logits, spikes=[spikes])


def test_figures_match_a_hand_count() -> None:
    dataset = [(torch.tensor([float(i)]), label) for i, label in enumerate(LABELS)]
    result = evaluate_model(_Chosen(), dataset, lambda b: b.unsqueeze(0), classes=4, batch_size=4)
    assert result["samples"] == 6 and math.isclose(result["accuracy"], 4 / 6)
    # cross-entropy of logits (2, 0, 0, 0) at the right class: log(e^2 + 3) - 2; at a wrong one: log(e^2 + 3)
    right, wrong = math.log(math.e**2 + 3) - 2, math.log(math.e**2 + 3)
    assert math.isclose(result["loss"], (4 * right + 2 * wrong) / 6, rel_tol=1e-6)
    assert result["confusion_matrix"] == [[2, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 0], [0, 0, 0, 0]]
    # class 0: 2 of 3, class 1: 1 of 2, class 2: 1 of 1, class 3: no samples -> 0
    assert result["per_class_accuracy"] == [2 / 3, 1 / 2, 1.0, 0.0]
    assert math.isclose(result["firing_rates"][0], sum(range(6)) / 60)  # the mean of index / 10


def test_labels_and_predictions_come_back_sample_by_sample_in_the_dataset_order() -> None:
    """Batches of 4 over 6 samples: the last batch is short, and the order is the dataset's."""
    dataset = [(torch.tensor([float(i)]), label) for i, label in enumerate(LABELS)]
    result = evaluate_model(_Chosen(), dataset, lambda b: b.unsqueeze(0), classes=4, batch_size=4)
    assert result["labels"].tolist() == LABELS
    assert result["predictions"].tolist() == PREDICTED
    assert result["labels"].dtype == result["predictions"].dtype == torch.long
