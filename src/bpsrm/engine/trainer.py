"""`bpsrm train`: one experiment from a validated config to a complete run folder.

The run folder (config.yaml, metrics.csv, metrics.json, best.pt / last.pt, activity.npz,
plots) is defined in :mod:`bpsrm.engine.run_folder`; this module fills it.

``resume=True`` continues from ``last.pt`` exactly (model, optimiser,
scheduler, RNG states, epoch, history): the run ends as the uninterrupted one. What last.pt keeps for that, and
the checks before resuming, are in :mod:`bpsrm.engine.resume`; the datasets, split and network come from
:func:`bpsrm.engine.experiment.prepare`.
"""

from __future__ import annotations

import math
import random
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from ..environment import describe_environment
from ..errors import BpsrmError, CheckpointError, ConfigError, NonFiniteError, RunFolderError
from ..files import progress
from ..network.augment import augment_images, drop_events, random_warp
from ..network.models import SpikingNetwork
from ..neuron.kernels import FORCED_KERNEL
from ..neuron.module import SRMNeuron
from ..neuron.surrogate import BUILT_IN
from . import run_folder
from .checkpoint import load_checkpoint, load_model_state, save_checkpoint
from .config import Config, config_to_dict, flat_config
from .distributed import Distributed, GlobalBatchSampler, environment_rank, from_environment
from .evaluation import evaluate_model
from .experiment import Experiment, make_model, prepare
from .optimisation import check_loss, load_schedule, make_optimiser, make_schedule, training_loss
from .precision import Precision
from .resume import (
    FREE_ON_RESUME,
    EpochSoFar,
    Progress,
    check_resumable,
    finished_metrics,
    note_environment,
    rng_state,
    set_rng_state,
)

__all__ = ["Experiment", "prepare", "train", "evaluate_model", "make_model"]

Log = Callable[[str], None]
TIMING_KEYS = ("train_seconds", "samples_per_second")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU runs are then bit-for-bit repeatable)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def _pick_neurons(counts: Tensor, steps: int, how_many: int = 6) -> Tensor:
    """Neurons worth a membrane trace: some that fire now and then, then always-on, then silent ones."""
    order = torch.argsort(counts, descending=True, stable=True)
    sometimes = order[(counts[order] > 0) & (counts[order] < steps)]
    if len(sometimes) > how_many:
        sometimes = sometimes[torch.linspace(0, len(sometimes) - 1, how_many).round().long()]
    always = order[counts[order] >= steps]
    silent = order[counts[order] == 0]
    return torch.cat([sometimes, always, silent])[:how_many]


def _activity(experiment: Experiment) -> run_folder.Activity:
    """Spikes and membrane traces of the first test sample (of the first validation sample with ``train.test:
    false``, which never reads the test split), for the raster and membrane plots."""
    model = experiment.model
    model.eval()
    held_out = experiment.test_set if experiment.config.train.test else experiment.val_set
    inputs, label = held_out[0]
    with torch.no_grad():
        device = next(model.parameters()).device
        result = model.run(experiment.encode(inputs.unsqueeze(0).to(device)), keep_membrane=True)
    neurons = [layer for layer in model.layers if hasattr(layer, "theta") and hasattr(layer, "run")]
    layers = []
    pairs = zip(model.spiking_layer_names(), result.spikes, result.membranes, neurons, strict=True)
    for name, spikes, u, neuron in pairs:
        flat_spikes = spikes[:, 0].reshape(spikes.shape[0], -1).cpu()
        flat_u = u[:, 0].reshape(u.shape[0], -1).cpu()
        chosen = _pick_neurons(flat_spikes.sum(0), flat_spikes.shape[0])
        theta = neuron.theta.detach().double().cpu()  # type: ignore[operator]
        # A per-channel threshold: the channel of a flat index is index // (neurons per channel).
        thetas = theta.repeat(len(chosen)) if theta.dim() == 0 else theta[chosen // (flat_u.shape[1] // theta.numel())]
        layers.append(
            run_folder.LayerActivity(
                name,
                flat_spikes.to(torch.uint8).numpy(),
                flat_u[:, chosen].numpy(),
                chosen.numpy(),
                thetas.numpy(),
            )
        )
    return run_folder.Activity(layers, int(label), int(result.logits.argmax(1)[0]))


def train(
    config: Config,
    out: str | Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    reuse: bool = False,
    log: Log = print,
) -> dict[str, Any]:
    """Train ``config`` into the run folder ``out``; returns the final metrics (also in metrics.json).

    A folder that holds a run is refused unless ``resume`` (continue from its last.pt; a larger
    ``train.epochs`` than the run's extends it), ``overwrite`` (delete that run first) or ``reuse`` is given,
    and a folder another process trains into is refused at once (:class:`~bpsrm.engine.run_folder.FolderLock`).
    ``reuse`` is for scripts that call ``train`` again after a stop: a finished run of the same config is read,
    not trained again, and a run of another config is refused (both by
    :func:`~bpsrm.engine.resume.finished_metrics`); an unfinished one continues from its last.pt; whatever a
    start that never reached a checkpoint left is replaced.
    Started by ``torchrun`` (``WORLD_SIZE`` > 1), the processes share every global batch
    (see :mod:`bpsrm.engine.distributed`) and only rank 0 writes (and, for a reused finished run, returns
    its metrics; the other ranks return ``{}``).
    """
    chosen = [name for name, on in (("resume", resume), ("overwrite", overwrite), ("reuse", reuse)) if on]
    if len(chosen) > 1:
        raise RunFolderError(
            f"{' and '.join(chosen)} exclude each other: continue the run, replace it, or reuse it; give one"
        )
    out = Path(out)
    made_here = not out.exists()  # a start that fails removes the folder it made (if it wrote nothing of value)
    device = _device(config)
    ctx = from_environment(device)
    try:
        _check_same_command(config, chosen[0] if chosen else None, ctx)
        lock, finished, resume = _claim_folder(out, config, chosen[0] if chosen else None, ctx)
        try:
            if finished is not None:
                if ctx.is_main:
                    log(f"{out} holds the finished run of this config: read, not trained again{_figures(finished)}")
                return finished
            return _train(config, out, resume, log if ctx.is_main else _silent, ctx, device)
        except BaseException:  # Ctrl-C in a long data preparation too
            if lock is not None and made_here:
                run_folder.remove_if_unused(out)  # while the lock is held: no other start can be in it
            raise
        finally:
            if lock is not None:
                lock.release()
    finally:
        ctx.close()


def _figures(metrics: dict[str, Any]) -> str:
    """ ": test accuracy 92.82%, val 93.40%, chosen epoch 17" from a run's metrics.json (what of it is there)."""
    parts = []
    for key, name in (("test_accuracy", "test accuracy"), ("best_val_accuracy", "val")):
        value = metrics.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            parts.append(f"{name} {100 * value:.2f}%")
    if isinstance(metrics.get("best_epoch"), int):
        parts.append(f"chosen epoch {metrics['best_epoch']}")
    return ": " + ", ".join(parts) if parts else ""


def _claim_folder(
    out: Path, config: Config, mode: str | None, ctx: Distributed
) -> tuple[run_folder.FolderLock | None, dict[str, Any] | None, bool]:
    """Rank 0 locks the run folder and checks that training there loses nothing; every rank stops if not.

    ``mode`` is "resume", "overwrite", "reuse" or None. Returns the lock (rank 0's), the metrics of the finished
    run to reuse (rank 0's; ``{}`` on the other ranks; None when there is none) and whether to resume from
    last.pt: rank 0's decisions, on every rank."""
    lock, problem = None, None
    finished: dict[str, Any] | None = None
    resume = mode == "resume"
    if ctx.is_main:
        try:
            lock = run_folder.FolderLock(out)
            held = run_folder.run_files(out)
            if mode == "reuse":
                finished = finished_metrics(out, config)
                resume = finished is None and run_folder.LAST_PT in held
                if held and finished is None and not resume:
                    if run_folder.BEST_PT in held:
                        raise RunFolderError(
                            f"{out}: nothing to continue (no {run_folder.LAST_PT}, no {run_folder.METRICS_JSON}), "
                            f"but the folder holds a run ({', '.join(held)}); give --overwrite to train it again "
                            "from the start, or another --out"
                        )
                    run_folder.remove_run(out)  # a start stopped before its first checkpoint: nothing to lose
            elif mode == "overwrite":
                run_folder.remove_run(out)
            elif held and mode != "resume":
                raise RunFolderError(
                    f"{out} holds a run ({', '.join(held)}); give --resume to continue it (with a larger "
                    "train.epochs, or demo --epochs, to extend a finished one), --overwrite to replace it, or another "
                    "--out"
                )
            elif held and run_folder.LAST_PT not in held:
                kept = [name for name in held if name in (run_folder.METRICS_JSON, run_folder.BEST_PT)]
                if kept:
                    raise RunFolderError(
                        f"{out}: nothing to resume (no {run_folder.LAST_PT}), but the folder holds a run "
                        f"({', '.join(held)}); give --overwrite to train it again from the start, or another --out"
                    )
                # A run stopped before its first checkpoint (config.yaml, maybe a metrics.csv row): nothing of
                # value to lose, so --resume starts it again from the beginning.
                run_folder.remove_run(out)
        except BpsrmError as exc:
            problem = exc
        except OSError as exc:
            problem = RunFolderError(f"{out}: cannot write the run folder ({exc.strerror or exc})")
    if ctx.active and ctx.any(problem is not None):  # every rank stops, not rank 0 alone
        problem = problem or RunFolderError(f"rank 0 cannot use the run folder {out}; see its error")
    if problem is not None:
        if lock is not None:
            lock.release()
        raise problem
    if ctx.active:
        reused = ctx.main_says(finished is not None)
        finished = (finished or {}) if reused else None
        resume = ctx.main_says(resume)
    return lock, finished, resume


def _device(config: Config) -> torch.device:
    """train.device, with one GPU per process under torchrun (LOCAL_RANK)."""
    if config.train.device == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ConfigError(
            "train.device: cuda, but this PyTorch sees no CUDA device (torch.cuda.is_available() is False)"
        )
    device = torch.device("cuda", environment_rank("LOCAL_RANK"))
    torch.cuda.set_device(device)
    return device


def _silent(message: str) -> None:
    """The log of ranks other than 0."""


@dataclass
class _Run:
    """One training run: its experiment, network, optimiser, schedule, folder and progress."""

    config: Config
    out: Path
    log: Log
    ctx: Distributed
    device: torch.device
    experiment: Experiment
    model: SpikingNetwork
    net: nn.Module
    optimiser: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    steps_per_epoch: int
    augment: bool
    progress: Progress = field(default_factory=Progress)
    board: Any = None
    precision: Precision | None = None
    best_from_last: dict[str, Any] | None = None  # best.pt to write again from last.pt (see _stale_best)
    step_lr: float | None = None  # the learning rate of the last optimiser step (metrics.csv's lr)

    @property
    def last_path(self) -> Path:
        return self.out / run_folder.LAST_PT

    @property
    def best_path(self) -> Path:
        return self.out / run_folder.BEST_PT

    def sampler(self, epoch: int, start: int = 0) -> GlobalBatchSampler:
        """The batches of ``epoch`` from batch ``start`` on: a permutation drawn from (seed, epoch), shared by every
        process."""
        generator = torch.Generator().manual_seed(self.config.seed * 100_003 + epoch)
        size = len(self.experiment.train_set)  # type: ignore[arg-type]
        batch, cap = self.config.train.batch_size, self.config.train.max_batches
        return GlobalBatchSampler(size, batch, generator, self.ctx.rank, self.ctx.world_size, cap, start)


def _train(config: Config, out: Path, resume: bool, log: Log, ctx: Distributed, device: torch.device) -> dict[str, Any]:
    run = _set_up(config, out, log, ctx, device, resume)
    experiment = run.experiment
    log(  # first: what is trained where; then whether it resumes, and in which environment
        f"bpsrm train {config.experiment}: {config.model.spec}, T={config.model.time_steps}, "
        f"{len(experiment.train_set)} train"  # type: ignore[arg-type]
        + (f" ({experiment.overlapping} left out for overlapping validation)" if experiment.overlapping else "")
        + f" / {len(experiment.val_set)} val / {len(experiment.test_set)} test "  # type: ignore[arg-type]
        f"samples of {config.data.name}; run folder {out}"
        + (f"; {ctx.world_size} processes ({ctx.backend})" if ctx.active else "")
        + _dropped_note(run)
    )
    _resume(run, resume)
    surrogate = _surrogate_of(run.model)
    environment = describe_environment(run.device, surrogate)
    note_environment(run.progress, environment, run.log)
    _open_folder(run)
    _kernels_note(run, environment["kernels"], surrogate)
    try:
        for epoch in range(run.progress.start_epoch, config.train.epochs + 1):
            figures = _train_epoch(run, epoch)
            _end_epoch(run, epoch, *figures)
        return _finish(run)
    finally:
        if run.board is not None:
            run.board.close()


def _surrogate_of(model: nn.Module) -> Any:
    """The surrogate of the model's first SRM neuron (the one the kernels are chosen for), "sigmoid" without one."""
    return next((m.surrogate for m in model.modules() if isinstance(m, SRMNeuron)), "sigmoid")


def _kernels_note(run: _Run, kernels: dict[str, str], surrogate: Any) -> None:
    """A line in the log when a CPU run cannot use bpsrm's compiled kernels (``kernels``: the environment's record,
    :func:`bpsrm.environment.kernels_in_use`; no C compiler at install time, a stale build, BPSRM_KERNEL=portable):
    it then trains on the portable path, about half as fast."""
    if run.device.type != "cpu":
        return
    slow = {part: how for part, how in kernels.items() if how.startswith(("portable", "PyTorch"))}
    if not slow:
        return
    if FORCED_KERNEL == "portable":
        remedy = "unset BPSRM_KERNEL to use them"
    elif type(surrogate) not in BUILT_IN:
        remedy = "the surrogate is one of your own, which only the portable path runs"
    else:
        remedy = (
            "with a C compiler, `python -m pip install --no-deps -e .` in bpsrm's environment builds them "
            "(scripts/bootstrap.sh rebuilds only when setup.py or a C file changes)"
        )
    run.log(
        "note: bpsrm's compiled CPU kernels are not in use ("
        + "; ".join(f"{part}: {how}" for part, how in slow.items())
        + f"): the same equations run on PyTorch's operations, about half as fast a step; {remedy}"
    )


def _dropped_note(run: _Run) -> str:
    """What the log says of the samples an epoch leaves out on several processes (none on one)."""
    sampler = run.sampler(1)
    dropped = sampler.dropped
    if not dropped or sampler.capped:  # train.max_batches ends the epoch before its last batch
        return ""
    return (
        f"; the last {dropped} sample{'s' if dropped > 1 else ''} of each epoch's shuffled order "
        f"{'are' if dropped > 1 else 'is'} left out (a last batch smaller than the {run.ctx.world_size} processes; "
        "one process would train on it)"
    )


RANK_FREE = (FREE_ON_RESUME - {"train.checkpoint_steps"}) | {"data.root", "log.tensorboard"}
"""Config keys that may differ between the processes of one run: read by rank 0 alone (logging, plots, the OOD
statistics of the final checkpoint) or per machine (``data.root``). ``train.checkpoint_steps`` is not one: saving
within an epoch is a collective step."""


def _rank_view(config: Config, mode: str | None) -> dict[str, Any]:
    """What must be the same on every process: the flat config less :data:`RANK_FREE`, ``data.name`` as its file
    name when it is a path (``/home/a/my.py:Class`` and ``/home/b/my.py:Class`` name one class), and the mode."""
    view = {key: value for key, value in flat_config(config).items() if key not in RANK_FREE}
    where, colon, name = str(view["data.name"]).rpartition(":")
    if colon and where.endswith(".py"):
        view["data.name"] = f"{Path(where).name}:{name}"
    view["--resume / --overwrite / --reuse"] = mode
    return view


def _check_same_command(config: Config, mode: str | None, ctx: Distributed) -> None:
    """A ConfigError on every rank when the processes were started with different settings: each key that differs,
    with its value on rank 0 and on every rank where it differs (keys of :data:`RANK_FREE` may differ). A mismatch
    surfaced late and as something else: another seed as "different splits", another learning rate as "different
    weights" after the whole run, another batch size as a loss "not finite"."""
    if not ctx.active:
        return
    everyone: list[dict[str, Any]] = ctx.gather(_rank_view(config, mode))  # type: ignore[assignment]
    first = everyone[0]
    keys = sorted(
        {key for other in everyone[1:] for key in first.keys() | other.keys() if first.get(key) != other.get(key)}
    )
    if keys:
        listed = "; ".join(
            f"{key}: {first.get(key)!r} on rank 0, "
            + ", ".join(
                f"{other.get(key)!r} on rank {rank}"
                for rank, other in enumerate(everyone)
                if other.get(key) != first.get(key)
            )
            for key in keys
        )
        raise ConfigError(
            f"the {ctx.world_size} processes were given different settings ({listed}); start every process "
            "with the same config and options"
        )


def _check_augment(config: Config, sample_shape: tuple[int, ...]) -> bool:
    """Whether data.augment asks for anything; a ConfigError when the samples are not what it applies to."""
    options = config.data.augment
    moves = options.hflip or options.shift > 0 or options.rotate > 0 or options.scale > 0
    if moves and len(sample_shape) not in (3, 4):
        raise ConfigError(
            f"data.augment: flips, shifts, rotations and scalings are for images [C, H, W] or event frames "
            f"[T, C, H, W]; {config.data.name} samples have shape {list(sample_shape)}"
        )
    if options.drop > 0 and len(sample_shape) != 4:
        raise ConfigError(
            f"data.augment.drop: event drops are for event frames [T, C, H, W]; {config.data.name} samples have "
            f"shape {list(sample_shape)}"
        )
    return moves or options.drop > 0


def _set_up(config: Config, out: Path, log: Log, ctx: Distributed, device: torch.device, resume: bool) -> _Run:
    """The experiment, the network (DDP- and compile-wrapped as configured), optimiser and schedule."""
    seed_everything(config.seed)
    # a run's own config (it resumes from last.pt) builds its model as it was trained; without last.pt it is new
    saved = resume and (out / run_folder.LAST_PT).is_file()
    if not saved:
        check_loss(config)
    experiment = prepare(config, saved=saved)
    if not ctx.agree(experiment.split["sha256"]):  # each rank reads data.root on its own machine
        raise BpsrmError(
            f"the {ctx.world_size} processes drew different training / validation splits from data.root "
            f"({config.data.root}): their copies of the data differ; give every process the same data"
        )
    model = experiment.model.to(device)
    augment = _check_augment(config, experiment.sample_shape)
    net: nn.Module = model
    if ctx.active:
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index] if device.type == "cuda" else None
        net = DistributedDataParallel(model, device_ids=ids)  # same initial weights on every rank: rank 0's
    if config.compile:
        net = torch.compile(net)  # type: ignore[assignment]  # the training forward and backward; evaluation runs eagerly
    optimiser = make_optimiser(config, model)
    run = _Run(config, out, log, ctx, device, experiment, model, net, optimiser, None, 0, augment)  # type: ignore[arg-type]
    run.precision = Precision(config.train.precision, device)
    run.steps_per_epoch = len(run.sampler(1))
    if run.steps_per_epoch == 0:
        size = len(experiment.train_set)  # type: ignore[arg-type]
        raise ConfigError(f"data: {size} training samples make no batch for {ctx.world_size} processes")
    run.scheduler = make_schedule(config, optimiser, run.steps_per_epoch)
    return run


def _resume(run: _Run, resume: bool) -> None:
    """With ``resume``, continue from last.pt exactly; else seed each rank's data-side draws."""
    if resume and run.last_path.is_file():
        state = load_checkpoint(run.last_path)
        _check_processes(run, state)  # before check_resumable, which logs an extension as it accepts it
        extended = check_resumable(run.last_path, state, run.config, run.experiment.split, run.log)
        load_model_state(run.model, state["model"], run.last_path)
        run.optimiser.load_state_dict(state["optimiser"])
        if run.precision is not None:
            run.precision.load_state_dict(state.get("scaler"))
        if extended:  # the schedule of the new length, advanced to the step reached
            _restart_schedule(run, int(state["scheduler"]["last_epoch"]))
        else:
            load_schedule(run.scheduler, state["scheduler"])
        ranks = state.get("rng_ranks")
        set_rng_state(ranks[run.ctx.rank] if ranks else state["rng"])
        try:
            run.progress = Progress.from_dict(state)
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{run.last_path}: its progress record is damaged ({exc!r})") from None
        partial = run.progress.partial
        if partial is None:
            run.best_from_last = _stale_best(run, state)  # written in _open_folder, where all ranks stop together
            run.log(f"resuming {run.out} after epoch {state['epoch']}")
            return
        if not 0 < partial.step < run.steps_per_epoch:
            raise CheckpointError(
                f"{run.last_path}: stopped after step {partial.step} of an epoch of {run.steps_per_epoch} steps"
            )
        run.log(f"resuming {run.out} in epoch {state['epoch'] + 1}, after step {partial.step}")
        return
    if resume:
        run.log(f"nothing to resume in {run.out} (no {run_folder.LAST_PT}): starting from the beginning")
    if run.ctx.active and run.ctx.rank > 0:
        # Data-side random draws (augmentation, rate coding) of their own on every rank.
        torch.manual_seed(run.config.seed * 1_000_003 + run.ctx.rank)


MODEL_RECORD = ("model", "config", "classes", "sample_shape", "data_stats", "preprocess", "epoch")
"""The keys of best.pt's model record (:func:`_model_record`); last.pt holds them too."""


def _stale_best(run: _Run, state: dict[str, Any]) -> dict[str, Any] | None:
    """When last.pt (written at the end of an epoch, ``state``) says that its own epoch is the chosen one but
    best.pt is missing or holds another epoch, the run stopped between writing the two: the model record from
    last.pt, which is that epoch's model, for rank 0 to write as best.pt; else None."""
    epoch = int(state["epoch"])
    if not run.ctx.is_main or epoch == 0 or run.progress.best_epoch != epoch:
        return None
    if run.best_path.is_file():
        try:
            if int(load_checkpoint(run.best_path).get("epoch", -1)) == epoch:
                return None
        except CheckpointError:
            pass  # a damaged best.pt is replaced as a missing one is
    return {key: state[key] for key in MODEL_RECORD if key in state}


def _write_best_from_last(run: _Run) -> None:
    """Write best.pt from last.pt's model record when :func:`_stale_best` found it stale (rank 0)."""
    record, run.best_from_last = run.best_from_last, None
    if record is not None:
        save_checkpoint(run.best_path, record)
        run.log(
            f"{run.best_path}: not written for epoch {record['epoch']}, the chosen one (stopped before it): "
            "written from last.pt"
        )


def _check_processes(run: _Run, state: dict[str, Any]) -> None:
    """Refuse to resume on another number of processes than wrote last.pt (its ``rng_ranks`` holds one random
    state per rank; none: one process): the ranks' data-side draws (augmentation, rate coding) would not go on
    as in the uninterrupted run, and ranks without a state of their own would all draw the same. Every rank
    reads the same last.pt, so all stop together."""
    ranks = state.get("rng_ranks")
    written, now = (len(ranks) if ranks else 1), run.ctx.world_size
    if written == now:
        return
    how = f"torchrun --nproc_per_node={written}" if written > 1 else "without torchrun"
    if not ranks:  # a last.pt of a bpsrm before rng_ranks (2026-11-29) under torchrun reads as one process too
        how += "; or, if torchrun wrote it with a bpsrm older than per-process random states, --overwrite"
    raise CheckpointError(
        f"{run.last_path}: written by {written} process{'es' if written > 1 else ''}, resumed on {now}: each "
        f"process's random draws would not continue the run; resume it with {written} ({how}), or --overwrite "
        "to train it again"
    )


def _restart_schedule(run: _Run, steps_done: int) -> None:
    """A fresh schedule for the run's (new) length, stepped to ``steps_done`` from the base learning rate."""
    for group in run.optimiser.param_groups:
        group["lr"] = group.get("initial_lr", run.config.optim.lr)
    run.scheduler = make_schedule(run.config, run.optimiser, run.steps_per_epoch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # stepping a schedule without an optimiser step
        for _ in range(steps_done):
            run.scheduler.step()


def _open_folder(run: _Run) -> None:
    """Rank 0 makes the run folder and writes config.yaml; every rank stops if it cannot."""
    problem: BpsrmError | None = None
    if run.ctx.is_main:
        try:
            run_folder.clear_stale(run.out)
            run_folder.remove_results(run.out)  # a resumed run is unfinished until _finish writes them again
            run_folder.write_config(run.out, config_to_dict(run.config))
            _write_best_from_last(run)
            run.board = _tensorboard(run.out) if run.config.log.tensorboard else None
        except OSError as exc:
            problem = BpsrmError(f"{run.out}: cannot write the run folder ({exc.strerror or exc})")
        except BpsrmError as exc:
            problem = exc
    if run.ctx.active and run.ctx.any(problem is not None):  # every rank stops, not rank 0 alone
        raise problem or BpsrmError(f"rank 0 could not set up the run folder {run.out}; see its error")
    if problem is not None:
        raise problem


def _train_epoch(run: _Run, epoch: int) -> tuple[float, int, int, float]:
    """One pass over the training batches: (loss sum, correct, samples, seconds), summed over processes; an
    epoch stopped in its middle (last.pt's ``partial``) continues after its last step done."""
    run.step_lr = None  # the rate of this epoch's last step, once one is taken
    config = run.config
    run.model.train()
    so_far = run.progress.partial or EpochSoFar()
    batches = run.sampler(epoch, so_far.step)
    # The loader draws its base seed from the sampler's generator, as DataLoader(shuffle=True) does.
    pinned = run.device.type == "cuda"  # page-locked batches copy to the GPU asynchronously
    loader = DataLoader(run.experiment.train_set, batch_sampler=batches, generator=batches.generator, pin_memory=pinned)
    bar = progress(
        total=run.steps_per_epoch,
        initial=so_far.step,
        desc=f"epoch {epoch}/{config.train.epochs}",
        unit="batch",
        enabled=config.log.progress and run.ctx.is_main,
        dynamic_ncols=True,
    )
    start = time.perf_counter() - so_far.seconds
    # the saved sums are over every process: rank 0 carries them on
    loss_sum, correct, count = (so_far.loss_sum, so_far.correct, so_far.count) if run.ctx.is_main else (0.0, 0, 0)
    every = config.train.checkpoint_steps
    for step, (inputs, labels) in enumerate(loader, start=so_far.step + 1):
        inputs, labels = inputs.to(run.device, non_blocking=pinned), labels.to(run.device, non_blocking=pinned)
        share = labels.shape[0] * run.ctx.world_size / batches.global_size(step - 1)
        result = _train_step(run, inputs, labels, share, f"epoch {epoch}, step {step}")
        if result is not None:
            loss, hits = result
            loss_sum, correct, count = loss_sum + loss * labels.shape[0], correct + hits, count + labels.shape[0]
            if bar is not None:
                rate = count / max(time.perf_counter() - start, 1e-9)
                bar.set_postfix(loss=f"{loss_sum / count:.3f}", acc=f"{correct / count:.3f}", rate=f"{rate:.0f}/s")
                bar.update(1)
        if every and step % every == 0 and step < run.steps_per_epoch:
            _save_within_epoch(run, epoch, step, (loss_sum, correct, count), time.perf_counter() - start)
    seconds = time.perf_counter() - start
    if bar is not None:
        bar.close()
    loss_sum, correct_f, count_f = run.ctx.sum([loss_sum, float(correct), float(count)])
    return loss_sum, int(correct_f), int(count_f), seconds


def _save_within_epoch(run: _Run, epoch: int, step: int, sums: tuple[float, int, int], seconds: float) -> None:
    """last.pt in the middle of ``epoch``, after ``step``: the state to continue from that step exactly."""
    loss_sum, correct, count = run.ctx.sum([sums[0], float(sums[1]), float(sums[2])])
    run.progress.partial = EpochSoFar(step, loss_sum, int(correct), int(count), seconds)
    rng_ranks = run.ctx.gather(rng_state()) if run.ctx.active else None
    if run.ctx.is_main:
        save_checkpoint(run.last_path, {**_model_record(run, epoch - 1), **_training_state(run, rng_ranks)})


def _train_step(run: _Run, inputs: Tensor, labels: Tensor, share: float, where: str) -> tuple[float, int] | None:
    """One optimiser step: (mean loss, correct predictions), or None when the batch was skipped.

    ``share`` weighs this rank's mean loss by its part of the global batch: the average of the
    gradients that DDP takes over ranks is then the gradient of the global batch's mean loss.
    """
    config, ctx = run.config, run.ctx
    problem = None
    precision = run.precision
    assert precision is not None
    try:
        if run.augment:  # inside: a NaN event count (drop_events refuses it) follows train.nonfinite too
            options = config.data.augment
            warped = random_warp(inputs, options.rotate, options.scale)
            inputs = drop_events(augment_images(warped, options.hflip, options.shift), options.drop)
        with precision.autocast():
            logits = run.net(run.experiment.encode(inputs))
            loss = training_loss(config, logits, labels)
    except NonFiniteError as exc:  # a neuron's input or an event count: NaN in the data, or weights gone NaN
        problem = str(exc)
    run.optimiser.zero_grad(set_to_none=True)
    if problem is None and not bool(torch.isfinite(loss)):
        problem = f"the loss is {loss.item()}"
    if ctx.active and ctx.any(problem is not None):  # decided together: a lone rank must not skip the all-reduce
        problem = problem or "the loss is not finite on another process"
    if problem is None:
        precision.backward(loss * share if ctx.active else loss)
        if config.train.clip_grad_norm is not None:
            precision.unscale(run.optimiser)
            norm = nn.utils.clip_grad_norm_(run.model.parameters(), config.train.clip_grad_norm)
            if not torch.isfinite(norm) and not precision.handles_overflow:  # fp16: the scaler skips the step
                problem = f"the gradient norm is {float(norm)}"
    if problem is not None:
        if config.train.nonfinite == "stop":
            last = run.last_path if run.last_path.is_file() else "(none yet)"
            raise BpsrmError(
                f"{where}: {problem}; training stopped. The last good checkpoint is {last}; set "
                "train.nonfinite=skip to skip such batches instead"
            )
        run.progress.skipped_batches += 1
        run.log(f"{where}: {problem}; batch skipped ({run.progress.skipped_batches} so far)")
        return None
    run.step_lr = float(run.optimiser.param_groups[0]["lr"])
    precision.step(run.optimiser)
    run.scheduler.step()
    return loss.item(), int((logits.argmax(1) == labels).sum())


def _end_epoch(run: _Run, epoch: int, loss_sum: float, correct: int, count: int, seconds: float) -> None:
    """Validate, record the epoch, keep the model chosen so far and the state to resume from."""
    config, experiment, done = run.config, run.experiment, run.progress
    done.partial = None
    done.train_seconds += seconds
    done.train_samples += count
    run.ctx.broadcast_buffers(run.model)  # every rank evaluates with rank 0's running statistics
    batch, cap = config.train.eval_batch_size, config.train.max_batches
    val = evaluate_model(run.model, experiment.val_set, experiment.encode, len(experiment.classes), batch, cap)
    validated = val["samples"] > 0  # without validation data (train.select: last) nothing is measured there
    train_accuracy = correct / max(count, 1)
    row = {
        "epoch": epoch,
        # the rate of the epoch's last step (after it, the schedule has moved on: a cosine run's last epoch read 0)
        "lr": run.step_lr if run.step_lr is not None else run.optimiser.param_groups[0]["lr"],
        "train_loss": loss_sum / max(count, 1),
        "train_accuracy": train_accuracy,
        "val_loss": val["loss"] if validated else None,  # an empty cell in metrics.csv: not measured
        "val_accuracy": val["accuracy"] if validated else None,
        "train_seconds": seconds,
        "samples_per_second": count / seconds if seconds > 0 else 0.0,
    }
    done.history.append(row)
    done.start_epoch = epoch + 1
    # select: last = a fixed schedule (the last epoch is the model; no data is looked at to choose it).
    improved = config.train.select == "last" or _better_on_validation(val, done)
    if run.ctx.active:  # rank 0 decides for all: validation figures of separate ranks may differ in the last bit
        improved = run.ctx.main_says(improved)
    if improved:
        done.best_val, done.best_epoch = val["accuracy"], epoch
    rng_ranks = run.ctx.gather(rng_state()) if run.ctx.active else None  # each rank's random state, for resume
    if not run.ctx.is_main:
        return
    run_folder.write_history(run.out, done.history)
    if run.board is not None:
        _board_epoch(run.board, run.model, row, val["firing_rates"])
    record = _model_record(run, epoch)
    # last.pt first: a stop between the two leaves a last.pt whose model is the chosen one, from which a resume
    # writes best.pt again (_stale_best); the other order left a best.pt one epoch ahead of its record.
    save_checkpoint(run.last_path, {**record, **_training_state(run, rng_ranks)})
    if improved:
        save_checkpoint(run.best_path, record)
    judged = f"val {100 * val['accuracy']:.2f}%{' (best)' if improved else ''}" if validated else "no validation"
    run.log(  # accuracies in percent, as the test accuracy at the end
        f"epoch {epoch}/{config.train.epochs}: loss {row['train_loss']:.4f}, train {100 * train_accuracy:.2f}%, "
        f"{judged}, {row['samples_per_second']:.0f} samples/s"
    )


def _better_on_validation(val: dict[str, Any], done: Progress) -> bool:
    """Whether this epoch beats the best so far, by :func:`bpsrm.engine.run_folder.beats_best` (CWRU's small
    validation set reads 100% within 3 to 8 of 20 epochs: the loss breaks the tie). The best epoch's loss is read
    from the history, which last.pt keeps, so a resumed run judges the same way."""
    best = [row["val_loss"] for row in done.history if row["epoch"] == done.best_epoch]
    return run_folder.beats_best(val["accuracy"], val["loss"], done.best_val, best[0] if best else math.nan)


def _model_record(run: _Run, epoch: int) -> dict[str, Any]:
    """The payload of best.pt: the model and all that predict needs to use it (last.pt adds the training state)."""
    experiment = run.experiment
    return {
        "model": run.model.state_dict(),
        "config": config_to_dict(run.config),
        "classes": experiment.classes,
        "sample_shape": list(experiment.sample_shape),
        "data_stats": experiment.data_stats,
        "preprocess": experiment.preprocess,
        "epoch": epoch,
    }


def _training_state(run: _Run, rng_ranks: list[Any] | None) -> dict[str, Any]:
    """What last.pt adds to the model record to resume exactly: optimiser, schedule, RNG states, progress."""
    return {
        "optimiser": run.optimiser.state_dict(),
        "scheduler": run.scheduler.state_dict(),
        **({"scaler": run.precision.state_dict()} if run.precision is not None and run.precision.scaler else {}),
        "rng": rng_state(),
        **({"rng_ranks": rng_ranks} if rng_ranks is not None else {}),
        "split": run.experiment.split,
        **run.progress.to_dict(),
    }


def _board_epoch(board: Any, model: SpikingNetwork, row: dict[str, Any], firing_rates: list[float]) -> None:
    """The epoch's figures (a metrics.csv row: ``train/loss``, ``val/accuracy``, ``train/lr`` ...) and each layer's
    firing rate on the validation data (``val/firing_rate/<layer>``) in TensorBoard."""
    for key, value in row.items():
        if key != "epoch" and value is not None:
            board.add_scalar(_BOARD_TAGS.get(key, key.replace("_", "/", 1)), value, row["epoch"])
    for name, rate in zip(model.spiking_layer_names(), firing_rates, strict=bool(firing_rates)):  # none: no val
        board.add_scalar(f"val/firing_rate/{name}", rate, row["epoch"])
    board.flush()


_BOARD_TAGS = {"lr": "train/lr", "samples_per_second": "train/samples_per_second"}
"""TensorBoard tags of the metrics.csv columns whose name does not start with their group (``train_loss`` is
``train/loss``)."""


def _finish(run: _Run) -> dict[str, Any]:
    """Test the chosen model once, then write metrics.json, the OOD calibration, activity.npz and the plots."""
    config, ctx, experiment, model = run.config, run.ctx, run.experiment, run.model
    if ctx.active and not ctx.same_weights(model):  # before every rank loads the same best.pt
        raise BpsrmError(f"the {ctx.world_size} processes ended with different weights; {run.out} is not trustworthy")
    ctx.barrier()  # rank 0 has written best.pt
    best = load_checkpoint(run.best_path)
    load_model_state(model, best["model"], run.best_path)
    classes, batch = len(experiment.classes), config.train.eval_batch_size
    held_out = experiment.test_set if config.train.test else experiment.val_set  # train.test: false never reads test
    test = evaluate_model(model, held_out, experiment.encode, classes, batch, None, count_operations=True)
    metrics = _final_metrics(run, test)
    if not ctx.is_main:
        return metrics
    if run.board is not None:  # at the chosen epoch; with train.test false, the validation figure of that model
        tag = "test/accuracy" if config.train.test else "val/accuracy_of_chosen_model"
        run.board.add_scalar(tag, test["accuracy"], run.progress.best_epoch)
    from ..deploy.ood import calibrate_checkpoint  # not needed to train: imported where it is used

    with _writing(run, "best.pt's out-of-distribution calibration"):
        calibrate_checkpoint(run.best_path, best, experiment, model, config, run.log)
    with _writing(run, run_folder.PREDICTIONS_NPZ):
        digest = run_folder.samples_digest(held_out)
        run_folder.write_predictions(run.out, test["labels"].numpy(), test["predictions"].numpy(), digest)
    with _writing(run, run_folder.ACTIVITY_NPZ):
        run_folder.write_activity(run.out, _activity(experiment))
    with _writing(run, run_folder.METRICS_JSON):  # last: it marks a finished run (--resume writes the rest until then)
        run_folder.write_metrics(run.out, metrics)
    if config.log.plots:
        _plot(run.out, run.log)
    done = run.progress
    chosen = (
        f"last epoch {done.best_epoch} of a fixed schedule"
        if config.train.select == "last"
        else f"best validation epoch {done.best_epoch}, val {100 * done.best_val:.2f}%"
    )
    measured = "test accuracy" if config.train.test else "validation accuracy (train.test: false, test not read)"
    run.log(
        f"{measured} {100 * test['accuracy']:.2f}% ({chosen}), {done.train_seconds:.0f} s of training; "
        f"run folder: {run.out}"
    )
    return metrics


@contextmanager
def _writing(run: _Run, what: str) -> Iterator[None]:
    """Around the writing of ``what``, one of the results written once training is done: a full disk (any OSError)
    is a RunFolderError that says the trained model is kept and how to write the rest."""
    try:
        yield
    except OSError as exc:
        raise RunFolderError(
            f"{run.out}: the training is done and best.pt and last.pt are kept, but {what} could not be written "
            f"({exc.strerror or exc}); make room and run the same command with --resume to write the results"
        ) from None


def _final_metrics(run: _Run, test: dict[str, Any]) -> dict[str, Any]:
    """metrics.json: the test figures of the chosen model and how the run went (with ``train.test: false`` the
    per-class figures, firing rates and energy are of the validation data, ``evaluated_on`` says so)."""
    config, experiment, done = run.config, run.experiment, run.progress
    names = run.model.spiking_layer_names()
    tested = config.train.test
    metrics = {
        "experiment": config.experiment,
        "dataset": config.data.name,
        "evaluated_on": "test" if tested else "validation",
        "test_accuracy": test["accuracy"] if tested else None,
        "test_samples": test["samples"] if tested else 0,
        "best_val_accuracy": done.best_val if len(experiment.val_set) else None,  # type: ignore[arg-type]
        "best_epoch": done.best_epoch,
        "epochs": config.train.epochs,
        "train_seconds": done.train_seconds,
        "samples_per_second": done.train_samples / done.train_seconds if done.train_seconds > 0 else 0.0,
        "world_size": run.ctx.world_size,
        "threads": torch.get_num_threads(),
        "environments": done.environments,  # rank 0's, each from the epoch it took over (resume.note_environment)
        "skipped_batches": done.skipped_batches,
        "time_steps": config.model.time_steps,
        "spec": config.model.spec,
        "seed": config.seed,
        "firing_rates": dict(zip(names, test["firing_rates"], strict=True)),
        **{key: test[key] for key in ENERGY_KEYS},
        "classes": experiment.classes,
        "per_class_accuracy": dict(zip(experiment.classes, test["per_class_accuracy"], strict=True)),
        "confusion_matrix": test["confusion_matrix"],
        "parameters": sum(p.numel() for p in run.model.parameters()),
    }
    if run.ctx.active:
        metrics["weights_identical_across_ranks"] = True  # checked after the last epoch (else an error)
    return metrics


ENERGY_KEYS = ("macs_per_sample", "synaptic_ops_per_sample", "energy_per_sample_uj", "energy_constants")


def _tensorboard(out: Path):
    """A TensorBoard writer for ``out/tensorboard`` (log.tensorboard: true)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError(
            "log.tensorboard: true needs the tensorboard package: pip install 'bpsrm[tensorboard]'"
        ) from None
    return SummaryWriter(log_dir=str(out / run_folder.TENSORBOARD_DIR))


def _plot(out: Path, log: Log) -> None:
    try:
        from .plots import plot_run
    except ImportError:  # pragma: no cover - plots.py is part of the package
        return
    try:
        report = plot_run(out)
    except BpsrmError as exc:
        log(f"plots not drawn: {exc}")
        return
    for name, reason in report.skipped.items():
        log(f"plot {name} skipped: {reason}")
