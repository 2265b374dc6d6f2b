"""The `bpsrm` command."""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._version import __version__
from .errors import BpsrmError, DataError, shown
from .files import write_text_atomic
from .options import positive_int, thread_count

__all__ = ["main", "console", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser (also the source of the generated CLI reference)."""
    parser = argparse.ArgumentParser(prog="bpsrm", description="Spiking networks of SRM neurons trained with BP-SRM.")
    parser.add_argument("--version", action="version", version=f"bpsrm {__version__}")
    parser.add_argument(
        "--allocator",
        choices=("tuned", "default"),
        default=None,
        help="tuned (default): keep freed memory for reuse (glibc mallopt), as PyTorch's CPU guide advises; "
        "default: leave the C allocator as it is (also BPSRM_ALLOCATOR=default)",
    )
    parser.add_argument(
        "--threads",
        type=thread_count,
        default=None,
        help="CPU threads of demo, train, crossload, eval, predict and adapt (default: PyTorch's, one per core); "
        "give each of several runs on one machine its share (e.g. 1 each for two runs on 2 cores): more threads "
        "than cores make every parallel step wait for a thread that is not running",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser("demo", help="train on the Fashion-MNIST subset shipped with bpsrm (no download)")
    demo.set_defaults(func=_demo_command)
    demo.add_argument("--out", type=Path, default=None, help="run folder (default: runs/demo-<time>)")
    # The defaults are bpsrm.demo.DEMO_CONFIG's (None here; not imported, to keep --help fast); tests check the text.
    demo.add_argument("--epochs", type=positive_int, default=None, help="training epochs (default: 8)")
    demo.add_argument("--seed", type=int, default=None, help="random seed (default: 0)")
    _resume_options(demo)
    train = sub.add_parser("train", help="train an experiment from a YAML config into a run folder")
    train.set_defaults(func=_train_command)
    train.add_argument("config", type=Path, help="a YAML file, e.g. configs/fashion-mnist.yaml")
    train.add_argument(
        "overrides", nargs="*", default=[], metavar="KEY=VALUE", help="e.g. train.epochs=3 model.time_steps=8"
    )
    train.add_argument("--out", type=Path, default=None, help="run folder (default: runs/<experiment>-<time>)")
    _resume_options(train, reuse=True)
    train.add_argument("--epochs", type=positive_int, default=None, help="shorthand for train.epochs=N")
    train.add_argument("--seed", type=int, default=None, help="shorthand for seed=S")
    cross = sub.add_parser(
        "crossload",
        help="the cross-load matrix of a bearing config: train at each load (and all but one), test at the others",
    )
    cross.set_defaults(func=_crossload_command)
    cross.add_argument("config", type=Path, help="a cwru YAML config, e.g. configs/cwru-crossload.yaml")
    cross.add_argument(
        "overrides", nargs="*", default=[], metavar="KEY=VALUE", help="e.g. data.options.speed_normalize=true"
    )
    cross.add_argument("--loads", type=int, nargs="+", default=[0, 1, 2], help="motor loads in HP (default: 0 1 2)")
    cross.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds per cell (default: 0 1 2)")
    cross.add_argument("--out", type=Path, required=True, help="folder of the runs and the matrix (resumable)")
    cross.add_argument("--root", type=Path, default=None, help="folder searched first for the data")
    cross.add_argument("--no-adapt", action="store_true", help="skip the adapted (AdaBN) column")
    evaluate = sub.add_parser("eval", help="evaluate a checkpoint on a dataset split; JSON out")
    evaluate.set_defaults(func=_eval_command)
    evaluate.add_argument("checkpoint", type=Path, help="best.pt or last.pt of a run folder")
    evaluate.add_argument("--root", type=Path, default=None, help="folder searched first for the data")
    evaluate.add_argument("--split", choices=("train", "test"), default="test", help="which split (default: test)")
    evaluate.add_argument(
        "--option",
        "-o",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a dataset option, e.g. -o load=2 -o class_set=9 (repeatable)",
    )
    evaluate.add_argument("--out", type=Path, default=None, help="also write the JSON to this file")
    evaluate.add_argument(
        "--adapt",
        action="store_true",
        help="first re-estimate the normalisation statistics from the evaluated inputs, labels unread (AdaBN)",
    )
    evaluate.add_argument(
        "--run-subset",
        action="store_true",
        help="evaluate the random data.limit_test test samples the run tested (its test_accuracy), not all of them",
    )
    compare = sub.add_parser(
        "compare",
        help="compare two run folders sample by sample on their common test split (McNemar's exact test); JSON out",
    )
    compare.set_defaults(func=_compare_command)
    compare.add_argument("first", type=Path, help="a run folder (its predictions.npz and metrics.json)")
    compare.add_argument("second", type=Path, help="another run folder evaluated on the same samples")
    compare.add_argument("--out", type=Path, default=None, help="also write the JSON to this file")
    predict = sub.add_parser(
        "predict",
        help="classify new files (images; events: N-MNIST .bin, ASL-DVS .mat, .npy x/y/t/p arrays; vibration "
        ".mat/.csv/.txt/.npy/.wav); JSON",
    )
    predict.set_defaults(func=_predict_command)
    predict.add_argument("checkpoint", type=Path, help="best.pt or last.pt of a run folder (or an adapted one)")
    predict.add_argument("files", type=Path, nargs="+", help="the files to classify")
    _recording_options(predict)
    predict.add_argument(
        "--out", type=Path, default=None, help="also write one row per window to this CSV (and a plot beside it)"
    )
    predict.add_argument(
        "--summary",
        action="store_true",
        help="print each recording's answer without its windows (--out still writes every window)",
    )
    adapt = sub.add_parser(
        "adapt",
        help="re-estimate a model's normalisation statistics from unlabeled files of a new condition (AdaBN)",
    )
    adapt.set_defaults(func=_adapt_command)
    adapt.add_argument("checkpoint", type=Path, help="best.pt of a run folder")
    adapt.add_argument("files", type=Path, nargs="+", help="unlabeled recordings (or samples) of the new condition")
    _recording_options(adapt)
    adapt.add_argument("--out", type=Path, required=True, help="the adapted checkpoint to write, e.g. adapted.pt")
    adapt.add_argument("--overwrite", action="store_true", help="replace --out if it exists (refused otherwise)")
    export = sub.add_parser("export", help="write a checkpoint's model in an interchange format (NIR)")
    export.set_defaults(func=_export_command)
    export.add_argument("checkpoint", type=Path, help="best.pt or last.pt of a run folder")
    export.add_argument("--format", choices=("nir",), default="nir", help="nir (needs the nir extra)")
    export.add_argument("--out", type=Path, required=True, help="the file to write, e.g. model.nir")
    export.add_argument("--overwrite", action="store_true", help="replace --out if it exists (refused otherwise)")
    export.add_argument(
        "--dt",
        type=float,
        default=None,
        help="the step of the NIR time constants, tau = dt / (1 - a) (default 1; with --for snntorch 1e-4)",
    )
    export.add_argument(
        "--for",
        dest="consumer",
        choices=("snntorch",),
        default=None,
        help="check that this consumer can run the file (snnTorch 1.0.0's import_from_nir); list what it cannot",
    )
    plot = sub.add_parser("plot", help="redraw the plots of a run folder")
    plot.set_defaults(func=_plot_command)
    plot.add_argument("run", type=Path, help="a run folder")
    plot.add_argument("--out", type=Path, default=None, help="folder of the PNG files (default: the run folder)")
    data = sub.add_parser("data", help="inspect or fetch datasets")
    data_sub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    info = data_sub.add_parser("info", help="counts per split and class, input shape and location, as JSON")
    info.set_defaults(func=_data_info_command)
    info.add_argument("name", help="fashion-mnist, fashion-mnist-demo, weather, nmnist, asl-dvs or cwru")
    info.add_argument("--root", type=Path, default=None, help="folder searched first")
    info.add_argument(
        "--option",
        "-o",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a dataset option, e.g. -o time_steps=10 (repeatable; values are read as in config overrides: YAML)",
    )
    fetch = data_sub.add_parser("download", help="fetch a dataset into the user cache, verified by sha256")
    fetch.set_defaults(func=_data_download_command)
    fetch.add_argument("name", help="fashion-mnist")
    return parser


def _resume_options(parser: argparse.ArgumentParser, *, reuse: bool = False) -> None:
    """--resume and --overwrite (and --reuse): what to do with a run folder that holds a run (one at most)."""
    group = parser.add_mutually_exclusive_group()
    if reuse:
        group.add_argument(
            "--reuse",
            action="store_true",
            help="for scripts that call train again after a stop: a finished run of the same config in --out is "
            "read, not trained again; an unfinished one continues from its last.pt; a run of another config is "
            "refused",
        )
    group.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its last.pt (a larger train.epochs extends a finished run)",
    )
    group.add_argument(
        "--overwrite", action="store_true", help="delete the run that --out holds and train a new one there"
    )


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {shown(text)}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {shown(text)}")
    return value


def _recording_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sample-rate",
        type=_positive_float,
        default=None,
        metavar="HZ",
        help="sample rate of recordings that do not state it (.csv without a time column, .npy); must agree with a "
        "rate the file states",
    )
    parser.add_argument(
        "--rpm", type=_positive_float, default=None, help="shaft speed, for models that normalise speed"
    )
    parser.add_argument("--channel", default=None, help="which channel of a multi-channel recording: its name or index")


def _parse_options(pairs: Sequence[str]) -> dict[str, Any]:
    """The dataset options of ``-o KEY=VALUE`` (the dataset's own: ``-o root=...`` is refused, ``--root`` says it)."""
    from .data.base import check_option_names
    from .engine.config import parse_assignment

    options = dict(parse_assignment(pair) for pair in pairs)
    check_option_names(options, "-o")
    return options


def _train_command(args: argparse.Namespace) -> int:
    from .engine.config import load_config
    from .engine.trainer import train

    overrides = list(args.overrides)
    if args.epochs is not None:
        overrides.append(f"train.epochs={args.epochs}")
    if args.seed is not None:
        overrides.append(f"seed={args.seed}")
    config = load_config(args.config, overrides)
    if args.resume and args.out is None:
        raise BpsrmError("--resume needs --out RUN_FOLDER (the folder whose last.pt to continue)")
    if args.reuse and args.out is None:
        raise BpsrmError("--reuse needs --out RUN_FOLDER (the folder whose run to read or continue)")
    out = args.out or _timestamped_folder(config.experiment)
    train(config, out, resume=args.resume, overwrite=args.overwrite, reuse=args.reuse)
    return 0


def _timestamped_folder(prefix: str) -> Path:
    """``runs/<prefix>-<YYYYmmdd-HHMMSS now>``, the run folder of a train or demo given no ``--out``. Under
    torchrun each process would read its own clock (and name another folder when they start a second apart),
    so there ``--out`` is required."""
    from .engine.distributed import environment_rank

    world = environment_rank("WORLD_SIZE")
    if world > 1:
        raise BpsrmError(
            f"under torchrun (WORLD_SIZE={world}) give --out RUN_FOLDER: without it each process names its "
            "run folder from its own clock, and processes that start a second apart write to different folders"
        )
    return Path("runs") / f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"


def _predict_command(args: argparse.Namespace) -> int:
    from .deploy.inference import load_trained
    from .deploy.prediction import plot_predictions, predict_files, write_predictions_csv

    trained = load_trained(args.checkpoint)
    results: list[dict[str, object]] = []
    refused: list[str] = []
    for item in args.files:  # a refused file (a dead sensor, say) is reported; the others are still classified
        try:
            results += predict_files(trained, [item], args.sample_rate, args.rpm, args.channel)
        except DataError as exc:
            refused.append(str(exc))
            results.append({"file": str(item), "error": str(exc)})
    classified = [result for result in results if "error" not in result]
    if args.out is not None and classified:
        classes = trained.classes
        written = [write_predictions_csv(classified, classes, args.out)]
        try:
            figure = plot_predictions(classified, classes, args.out.with_suffix(".png"))
        except BpsrmError as exc:  # matplotlib missing (the plots extra) or the PNG not writable: the CSV stands
            print(f"no plot: {exc}", file=sys.stderr)
            figure = None
        written += [figure] if figure is not None else []
        for path in written:
            print(f"wrote {path}", file=sys.stderr)
    shown_results = [{k: v for k, v in r.items() if k != "windows"} for r in results] if args.summary else results
    print(json.dumps(shown_results, indent=2))
    for warning in dict.fromkeys(str(r["model_warning"]) for r in classified if "model_warning" in r):
        print(f"bpsrm: warning: {warning}", file=sys.stderr)  # once, not once per file
    for result in classified:
        _warn(result)
    for message in refused:
        print(f"bpsrm: error: {message}", file=sys.stderr)
    return 1 if refused else 0


def _data_info_command(args: argparse.Namespace) -> int:
    from .data import get_dataset

    options = _parse_options(args.option)
    report = {split: get_dataset(args.name, split, root=args.root, **options).info() for split in ("train", "test")}
    print(json.dumps(report, indent=2))
    return 0


def _data_download_command(args: argparse.Namespace) -> int:
    if args.name != "fashion-mnist":
        raise BpsrmError(f"automatic download is offered for fashion-mnist only, not {shown(args.name)}")
    from .data.fashion_mnist import download_fashion_mnist

    print(f"downloaded and verified: {download_fashion_mnist()}")
    return 0


def _demo_command(args: argparse.Namespace) -> int:
    from .demo import run_demo

    if args.resume and args.out is None:
        raise BpsrmError("--resume needs --out RUN_FOLDER (the folder whose last.pt to continue)")
    out = args.out or _timestamped_folder("demo")
    run_demo(out, epochs=args.epochs, seed=args.seed, resume=args.resume, overwrite=args.overwrite)
    return 0


def _crossload_command(args: argparse.Namespace) -> int:
    from .engine.config import load_config
    from .engine.crossload import run_crossload

    config = load_config(args.config, list(args.overrides))
    run_crossload(config, args.out, args.loads, args.seeds, args.root, adapt=not args.no_adapt)
    return 0


def _compare_command(args: argparse.Namespace) -> int:
    from .engine.paired import compare_runs

    pair = compare_runs(args.first, args.second)
    report = pair.to_dict()
    report["summary"] = (
        f"second minus first: {report['difference_points']:+.2f} points on {report['samples']} {pair.split} samples "
        f"(first alone right on {report['only_first_right']}, second alone on {report['only_second_right']}), "
        f"McNemar's exact p = {report['mcnemar_p']:.3g}"
    )
    _print_json(report, args.out)
    _warn(report)
    return 0


def _print_json(report: dict, out: Path | None) -> None:
    """Print ``report`` as JSON, and write it to ``out`` too when given."""
    text = json.dumps(report, indent=2)
    if out is not None:
        from .engine.run_folder import RUN_FILES

        if out.is_file() and (out.name in RUN_FILES or out.suffix == ".pt"):
            raise BpsrmError(
                f"--out {out}: the report would replace a file of a run folder or a checkpoint; give another --out"
            )
        try:
            write_text_atomic(out, text + "\n")
        except OSError as exc:
            raise BpsrmError(f"{out}: cannot write ({exc.strerror or exc})") from None
    print(text)


def _eval_command(args: argparse.Namespace) -> int:
    from .deploy.inference import evaluate_checkpoint

    options = _parse_options(args.option)
    report = evaluate_checkpoint(
        args.checkpoint, args.root, options, args.split, adapt=args.adapt, run_subset=args.run_subset
    )
    _print_json(report, args.out)
    _warn(report)
    return 0


def _warn(report: dict[str, Any]) -> None:
    """A report's ``warning``, ``hum_warning``, ``level_warning`` and ``file_warnings``, if it has them, on stderr
    too (the JSON may go to a file or a pipe)."""
    from .deploy.prediction import FILE_WARNINGS

    warnings = [report[key] for key in (*FILE_WARNINGS, "level_warning") if key in report]
    warnings += list(report.get("file_warnings", []))
    for warning in warnings:
        print(f"bpsrm: warning: {warning}", file=sys.stderr)


def _adapt_command(args: argparse.Namespace) -> int:
    from .deploy.prediction import adapt_checkpoint

    report = adapt_checkpoint(
        args.checkpoint, args.files, args.out, args.sample_rate, args.rpm, args.channel, overwrite=args.overwrite
    )
    print(json.dumps(report, indent=2))
    _warn(report)
    return 0


def _export_command(args: argparse.Namespace) -> int:
    from .deploy.export import export_checkpoint

    print(f"wrote {export_checkpoint(args.checkpoint, args.out, args.dt, args.consumer, overwrite=args.overwrite)}")
    return 0


def _plot_command(args: argparse.Namespace) -> int:
    from .engine.plots import plot_run

    report = plot_run(args.run, out_dir=args.out)
    for path in report.written:
        print(f"wrote {path}")
    for name, reason in report.skipped.items():
        print(f"skipped {name}: {reason}")
    return 0


def _os_error_text(exc: OSError) -> str:
    """An OSError in one line: what failed, the file(s) it names (cut short), and where in bpsrm it was raised, since
    no traceback is shown: ``No space left on device (in run_folder.py:295, write_predictions)``."""
    files = [shown(str(name)) for name in (exc.filename, exc.filename2) if name is not None]
    frames = [frame for frame in traceback.extract_tb(exc.__traceback__) if "bpsrm" in Path(frame.filename).parts]
    where = f" (in {Path(frames[-1].filename).name}:{frames[-1].lineno}, {frames[-1].name})" if frames else ""
    return f"{exc.strerror or f'{type(exc).__name__}: {exc}'}{': ' if files else ''}{' -> '.join(files)}{where}"


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse ``argv``; KEY=VALUE overrides of train and crossload may also follow their options
    (``bpsrm train cfg --out runs/x train.epochs=3``), which argparse alone refuses once an option has ended the
    positional list. They are appended in the order given, so a later one wins as before. (Not after an option
    that takes several values, ``crossload --loads 0 1``: those take the words that follow.)"""
    args, extra = parser.parse_known_args(argv)
    overrides = [item for item in extra if "=" in item and not item.startswith("-")]
    unknown = [item for item in extra if item not in overrides or not hasattr(args, "overrides")]
    if unknown:  # only what is neither an option nor an override, not the overrides beside a typo
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if overrides:
        args.overrides = [*args.overrides, *overrides]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `bpsrm` console script; returns the exit status."""
    parser = build_parser()
    args = _parse(parser, argv)
    if args.command is None:
        parser.print_help()
        return 2
    heavy = ("demo", "train", "crossload", "eval", "predict", "adapt")
    setting = os.environ.get("BPSRM_ALLOCATOR", "")
    allocator = args.allocator or setting.strip().lower() or "tuned"
    if allocator not in ("tuned", "default") and args.command in heavy:  # a misspelt one changed nothing, silently
        print(f"bpsrm: error: BPSRM_ALLOCATOR={setting!r}; expected tuned or default (or unset)", file=sys.stderr)
        return 1
    if allocator != "default" and args.command in heavy:
        from .runtime import tune_allocator

        tune_allocator()
    if args.threads is not None and args.command in heavy:
        import torch

        torch.set_num_threads(args.threads)
    try:
        return int(args.func(args))
    except BpsrmError as exc:
        print(f"bpsrm: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `bpsrm ... | head`: the reader has gone; nothing more to say to it
        with contextlib.suppress(OSError, ValueError):  # and no second error when Python flushes stdout at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as exc:  # what no reader named itself: a path too long for the file system, a full disk, ...
        print(f"bpsrm: error: {_os_error_text(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bpsrm: interrupted", file=sys.stderr)
        return 130


def console() -> None:
    """The `bpsrm` console script and ``python -m bpsrm``: :func:`main`, then the process's end.

    Before it ends, every object the command left is frozen out of the garbage collector (``gc.freeze``): the
    interpreter's last collections at exit would walk the some 400,000 objects of torch, torch._dynamo and SciPy
    only to find the process ending (``bpsrm predict`` of one CWRU record: 4.23 s instead of 4.87 s; a training
    of two batches: 16.25 s instead of 18.04 s; medians of 7, ``python benchmarks/command_exit.py``). The exit
    itself is Python's: atexit handlers run and the output is flushed. :func:`main` called from Python freezes
    nothing."""
    status = main()
    gc.freeze()
    raise SystemExit(status)


if __name__ == "__main__":
    console()
