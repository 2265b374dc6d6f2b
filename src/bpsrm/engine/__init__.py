"""Training and evaluation loops."""

from .loop import EpochResult, evaluate, train_epoch

__all__ = ["EpochResult", "evaluate", "train_epoch"]
