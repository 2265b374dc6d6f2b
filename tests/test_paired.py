"""McNemar's exact test (bpsrm.engine.paired) against hand computations and scipy's binomial test, and the
run folder's predictions.npz reader on damaged files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binomtest

from bpsrm.engine import run_folder
from bpsrm.engine.paired import compare_runs, exact_mcnemar_p, mcnemar
from bpsrm.errors import DataError, ParameterError
from conftest import REPO


@pytest.mark.parametrize(
    ("b", "c", "p"),
    [
        (0, 5, 2 / 32),  # all five discordant samples one way: 2 * C(5, 0) / 2^5
        (2, 8, 2 * (1 + 10 + 45) / 1024),  # 2 * (C(10,0) + C(10,1) + C(10,2)) / 2^10
        (1, 0, 1.0),  # 2 * 1/2, capped at 1
        (3, 3, 1.0),  # 2 * (1 + 6 + 15 + 20) / 64 = 84 / 64, capped at 1
        (0, 0, 1.0),  # no discordant sample: nothing tells the models apart
    ],
)
def test_the_exact_p_value_by_hand(b: int, c: int, p: float) -> None:
    assert exact_mcnemar_p(b, c) == pytest.approx(p, rel=1e-12)
    assert exact_mcnemar_p(c, b) == pytest.approx(p, rel=1e-12)  # two-sided: symmetric


@pytest.mark.parametrize(
    ("b", "c"),
    [(7, 19), (40, 61), (130, 170), (4000, 4300), (12000, 12390), (10000, 10001), (10001, 10001)]
    + [(30000, 31000), (300000, 300900), (499000, 501000), (5, 70000), (0, 25000)],
)
def test_the_exact_p_value_matches_scipys_binomial_test(b: int, c: int) -> None:
    """Up to 20,000 discordant samples in exact integers (no underflow), beyond in floats from the largest term
    (the exact sum took 3 s at 100,000 and would take minutes at a million: its time grows as the square)."""
    assert exact_mcnemar_p(b, c) == pytest.approx(binomtest(b, b + c, 0.5).pvalue, rel=1e-8, abs=1e-300)
    assert exact_mcnemar_p(c, b) == pytest.approx(binomtest(b, b + c, 0.5).pvalue, rel=1e-8, abs=1e-300)


@pytest.mark.parametrize(("b", "c"), [(10001, 10002), (10001, 10001), (2**30, 2**30 + 1), (20001, 20000)])
def test_counts_one_apart_or_equal_give_p_one_exactly(b: int, c: int) -> None:
    """For n odd and min(b, c) = (n - 1) / 2 the tail is exactly half of 2^n: p = 1, not a float just below."""
    assert exact_mcnemar_p(b, c) == 1.0


def test_two_billion_discordant_samples_take_no_time_and_keep_five_digits() -> None:
    """The float sum's error grows as n * log(n) * 1e-16 (lgamma's rounding): 1e-5 at n = 2**31, measured
    9.2e-6 against scipy. The exact sum would have to build 2**(2**31), a number of 256 MiB, and run for days."""
    b, c = 2**30, 2**30 + 40000
    assert exact_mcnemar_p(b, c) == pytest.approx(binomtest(b, b + c, 0.5).pvalue, rel=3e-5)


def test_negative_and_fractional_counts_are_refused() -> None:
    with pytest.raises(ParameterError, match=r"only_first \(b\) must be a whole number in \[0, 2147483647\], got -1"):
        exact_mcnemar_p(-1, 3)
    with pytest.raises(ParameterError, match=r"only_second \(c\) must be a whole number in \[0, 2147483647\], got 2.5"):
        exact_mcnemar_p(3, 2.5)  # was a TypeError from range()


def test_discordant_counts_of_two_models_by_hand() -> None:
    labels = [0, 1, 2, 0, 1, 2, 0, 1]
    first = [0, 1, 2, 1, 1, 0, 0, 2]  # right on 0, 1, 2, 4, 6
    second = [0, 2, 2, 0, 0, 2, 0, 1]  # right on 0, 2, 3, 5, 6, 7
    result = mcnemar(labels, first, second)
    # first only: samples 1 and 4; second only: samples 3, 5 and 7
    assert (result.samples, result.only_first, result.only_second) == (8, 2, 3)
    assert result.p == pytest.approx(2 * (1 + 5 + 10) / 32)  # min(1, 2 * (C(5,0) + C(5,1) + C(5,2)) / 2^5) = 1
    assert result.difference == pytest.approx(1 / 8)


def test_arrays_of_different_lengths_or_kinds_are_refused() -> None:
    with pytest.raises(ParameterError, match=r"equally long, got lengths \[3, 3, 2\]"):
        mcnemar([0, 1, 2], [0, 1, 2], [0, 1])
    with pytest.raises(ParameterError, match=r"mcnemar: second must hold whole numbers, item 1 is 1.5"):
        mcnemar([0, 1], [0, 1], [0.0, 1.5])  # 1.5 is no class: == would count it wrong without a word
    with pytest.raises(ParameterError, match="mcnemar: labels must be a 1-D array of whole numbers, got None"):
        mcnemar(None, [0], [0])


def test_predictions_npz_round_trip(tmp_path: Path) -> None:
    run_folder.write_predictions(tmp_path, np.array([3, 1, 4]), np.array([3, 1, 5]))
    labels, predictions = run_folder.read_predictions(tmp_path)
    assert labels.tolist() == [3, 1, 4] and predictions.tolist() == [3, 1, 5]


def test_a_missing_predictions_file_is_missing_not_malformed(tmp_path: Path) -> None:
    with pytest.raises(run_folder.Missing, match=r"predictions\.npz missing"):
        run_folder.read_predictions(tmp_path)


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"labels": np.array([1, 2])}, "no 'predictions' array"),
        ({"labels": np.array([1, 2]), "predictions": np.array([1.0, 2.0])}, "'predictions' must be a 1-D integer"),
        ({"labels": np.array([[1, 2]]), "predictions": np.array([1, 2])}, "'labels' must be a 1-D integer"),
        ({"labels": np.array([1, 2, 3]), "predictions": np.array([1, 2])}, "3 labels but 2 predictions"),
    ],
)
def test_a_malformed_predictions_file_names_the_file_and_the_problem(tmp_path: Path, arrays, message) -> None:
    np.savez(tmp_path / "predictions.npz", **arrays)
    with pytest.raises(DataError, match=message) as info:
        run_folder.read_predictions(tmp_path)
    assert str(tmp_path / "predictions.npz") in str(info.value)


def test_a_file_that_is_not_an_npz_archive(tmp_path: Path) -> None:
    """Bytes that are no zip file were reported as numpy's refusal of "pickled (object) data" (helper-50)."""
    (tmp_path / "predictions.npz").write_bytes(b"not a zip file")
    with pytest.raises(DataError, match=r"predictions\.npz: not an \.npz archive \(a zip file; it begins b'not '\)"):
        run_folder.read_predictions(tmp_path)
    (tmp_path / "predictions.npz").write_bytes(b"PK\x03\x04 cut short")  # a zip file's start, then nothing
    with pytest.raises(DataError, match="cannot read the arrays"):
        run_folder.read_predictions(tmp_path)


def _confusion(labels: list[int], predicted: list[int], classes: int = 3) -> list[list[int]]:
    """By hand, as the trainer's metrics.json holds it: rows the true class, columns the predicted one."""
    table = [[0] * classes for _ in range(classes)]
    for truth, guess in zip(labels, predicted, strict=True):
        table[truth][guess] += 1
    return table


def _run(folder: Path, labels: list[int], predicted: list[int], **metrics) -> Path:
    folder.mkdir(parents=True)
    accuracy = sum(a == b for a, b in zip(labels, predicted, strict=True)) / len(labels)
    record = {
        "evaluated_on": "test",
        "dataset": "cwru",
        "classes": ["a", "b", "c"],
        "test_accuracy": accuracy,
        "test_samples": len(labels),
        "confusion_matrix": _confusion(labels, predicted),
        **metrics,
    }
    (folder / "metrics.json").write_text(json.dumps(record))
    run_folder.write_predictions(folder, np.array(labels), np.array(predicted))
    return folder


LABELS = [0, 1, 2, 0, 1, 2, 0, 1]


def test_two_runs_compared_by_hand(tmp_path: Path) -> None:
    """First right on samples 0-4 and 6, second on 0-2 and 5-7: first alone on 3 and 4, second alone on 5 and 7;
    b = c = 2, p = min(1, 2 * (1 + 4 + 6) / 16) = 1."""
    first = _run(tmp_path / "a", LABELS, [0, 1, 2, 0, 1, 0, 0, 2], dataset="fashion-mnist")
    second = _run(tmp_path / "b", LABELS, [0, 1, 2, 1, 2, 2, 0, 1], dataset="fashion-mnist")
    pair = compare_runs(first, second).to_dict()
    assert pair == {
        "first": str(first),
        "second": str(second),
        "split": "test",
        "samples": 8,
        "first_accuracy": 6 / 8,
        "second_accuracy": 6 / 8,
        "difference_points": 0.0,
        "only_first_right": 2,
        "only_second_right": 2,
        "mcnemar_p": 1.0,
    }


def test_runs_on_different_samples_or_with_stale_predictions_are_refused(tmp_path: Path) -> None:
    first = _run(tmp_path / "a", LABELS, LABELS)
    shuffled = _run(tmp_path / "b", LABELS[::-1], LABELS[::-1])
    with pytest.raises(DataError, match=r"evaluated on different samples \(labels differ first at sample 0\)"):
        compare_runs(first, shuffled)
    shorter = _run(tmp_path / "c", LABELS[:6], LABELS[:6])
    with pytest.raises(DataError, match=r"\(8 and 6 samples\)"):
        compare_runs(first, shorter)
    validation = _run(tmp_path / "d", LABELS, LABELS, evaluated_on="validation", test_accuracy=None)
    with pytest.raises(DataError, match="the test split against the validation split"):
        compare_runs(first, validation)
    # a file left by an earlier training: same count, same accuracy, other samples wrong (CWRU's 99.8% case)
    stale = _run(tmp_path / "e", LABELS, [0, 1, 2, 0, 1, 2, 0, 0])
    run_folder.write_predictions(stale, np.array(LABELS), np.array([1, 1, 2, 0, 1, 2, 0, 1]))
    with pytest.raises(DataError, match=r"predictions\.npz: its 8 labels and predictions do not give the confusion"):
        compare_runs(first, stale)
    # validation runs (train.test: false) are checked the same way
    checked = _run(tmp_path / "f", LABELS, LABELS, evaluated_on="validation", test_accuracy=None, test_samples=0)
    run_folder.write_predictions(checked, np.array(LABELS), np.array([2, 1, 2, 0, 1, 2, 0, 1]))
    with pytest.raises(DataError, match="do not give the confusion matrix"):
        compare_runs(validation, checked)
    other_data = _run(tmp_path / "g", LABELS, LABELS, dataset="nmnist")
    with pytest.raises(DataError, match="dataset 'cwru' against 'nmnist'"):
        compare_runs(first, other_data)


def test_what_is_not_a_comparable_run_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"not a run folder \(expected a folder holding predictions\.npz"):
        compare_runs(tmp_path / "typo", tmp_path / "typo")
    empty = _run(tmp_path / "empty", LABELS, LABELS)
    run_folder.write_predictions(empty, np.zeros(0, int), np.zeros(0, int))
    with pytest.raises(DataError, match="holds no samples"):
        compare_runs(empty, empty)
    unfinished = _run(tmp_path / "unfinished", LABELS, LABELS)
    (unfinished / "metrics.json").unlink()
    with pytest.raises(DataError, match=r"unfinished/metrics\.json: missing beside predictions\.npz"):
        compare_runs(unfinished, unfinished)


def test_the_compare_command(tmp_path: Path, capsys) -> None:
    from bpsrm.cli import main

    first = _run(tmp_path / "a", LABELS, [0, 1, 2, 1, 2, 0, 1, 2])  # right on 0-2
    second = _run(tmp_path / "b", LABELS, LABELS)  # right on all 8: five more, b = 0, c = 5, p = 2 / 32
    assert main(["compare", str(first), str(second), "--out", str(tmp_path / "c.json")]) == 0
    printed = capsys.readouterr()
    report = json.loads(printed.out)
    # CWRU's samples are windows of a few records: p counts them as independent, which they are not
    assert report["warning"].startswith("the cwru samples are windows cut from a few recordings")
    assert f"bpsrm: warning: {report['warning']}" in printed.err
    own = "docs/examples/my_recordings.py:RecordingFolderDataset"  # a class of the user's own, named by its file
    here = os.getcwd()
    os.chdir(REPO)
    try:
        mine = [_run(tmp_path / name, LABELS, LABELS, dataset=own) for name in ("m1", "m2")]
        assert compare_runs(*mine).to_dict()["warning"].startswith(f"the {own} samples are windows")
        unknown = [_run(tmp_path / name, LABELS, LABELS, dataset="nowhere.py:Gone") for name in ("u1", "u2")]
        assert "warning" not in compare_runs(*unknown).to_dict()  # not found here: nothing said of its samples
    finally:
        os.chdir(here)
    assert report == json.loads((tmp_path / "c.json").read_text())
    assert (report["only_first_right"], report["only_second_right"]) == (0, 5)
    assert report["mcnemar_p"] == pytest.approx(0.0625) and report["difference_points"] == pytest.approx(62.5)
    assert report["summary"].startswith("second minus first: +62.50 points on 8 test samples")
    (first / "predictions.npz").unlink()
    assert main(["compare", str(first), str(second)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("bpsrm: error: ") and "predictions.npz missing" in err and "Traceback" not in err


def test_negative_class_indices_are_refused_without_a_matrix_to_check(tmp_path: Path) -> None:
    """A metrics.json without a confusion matrix left predictions of class -1 unchecked (helper-50)."""
    first = _run(tmp_path / "a", LABELS, LABELS, confusion_matrix=None)
    second = _run(tmp_path / "b", LABELS, [-1, *LABELS[1:]], confusion_matrix=None)
    with pytest.raises(DataError, match=r"b/predictions\.npz: holds negative class indices"):
        compare_runs(first, second)


def test_a_run_compared_with_itself_is_refused(tmp_path: Path) -> None:
    """compare_runs(a, a) printed p = 1 as if two models agreed everywhere (helper-51); also through another
    spelling of the same folder."""
    first = _run(tmp_path / "a", LABELS, [0, 1, 2, 0, 1, 0, 0, 2])
    (tmp_path / "x").mkdir()
    for second in (first, tmp_path / "x" / ".." / "a"):
        with pytest.raises(DataError, match="are the same run folder; a paired comparison needs two runs"):
            compare_runs(first, second)


def test_runs_on_other_files_with_the_same_labels_are_refused(tmp_path: Path) -> None:
    """helper-72: a run tested on another folder of images (the same class counts, sorted by class, so the same
    label sequence) was compared as if paired. predictions.npz records the sha256 of the test files' contents."""
    from torch.utils.data import Subset

    class Files:
        def __init__(self, folder: Path, texts: list[str]) -> None:
            folder.mkdir()
            self.files = []
            for i, text in enumerate(texts):
                (folder / f"{i}.png").write_text(text)
                self.files.append(folder / f"{i}.png")

        def __len__(self) -> int:
            return len(self.files)

    one, same, other = (Files(tmp_path / n, t) for n, t in (("one", "ab"), ("same", "ab"), ("other", "ac")))
    digest = run_folder.samples_digest(one)
    # by hand: the sha256 of the sha256 of each sample's file, in the dataset's order
    import hashlib

    def sha(data: bytes) -> bytes:
        return hashlib.sha256(data).digest()

    assert digest == hashlib.sha256(sha(b"a") + sha(b"b")).hexdigest()
    assert run_folder.samples_digest(Subset(one, [1, 1, 0])) == hashlib.sha256(sha(b"b") * 2 + sha(b"a")).hexdigest()
    assert run_folder.samples_digest(same) == digest != run_folder.samples_digest(other)
    assert run_folder.samples_digest([1, 2]) is None  # no files: nothing recorded, nothing checked
    one.files = [("a", 0), ("b", 1)]  # not paths (a dataset's own bookkeeping): no digest, no error
    assert run_folder.samples_digest(one) is None
    one.files = [tmp_path / "one" / "0.png", tmp_path / "gone.png"]
    assert run_folder.samples_digest(one) is None  # a file gone since: nothing to vouch for
    one.files = [tmp_path / "one" / "0.png", tmp_path / "one" / "1.png"]
    first, second, third = (_run(tmp_path / n, LABELS[:2], LABELS[:2]) for n in ("a", "b", "c"))
    for run, data in ((first, one), (second, same), (third, other)):
        run_folder.write_predictions(run, np.array(LABELS[:2]), np.array(LABELS[:2]), run_folder.samples_digest(data))
    assert compare_runs(first, second).test.samples == 2
    with pytest.raises(DataError, match=r"evaluated on the same labels but on files of other contents"):
        compare_runs(first, third)
    older = _run(tmp_path / "d", LABELS[:2], LABELS[:2])  # written without a digest: compared as before
    assert compare_runs(older, third).test.samples == 2


def test_training_records_the_digest_of_the_test_files(tmp_path: Path) -> None:
    """The trainer writes samples_sha256 for a dataset that reads one file per sample (own-data.md's images):
    the digest of the test files in the test split's order, computed here from the files themselves."""
    import hashlib
    import subprocess
    import sys

    from bpsrm.data import get_dataset
    from bpsrm.engine.config import config_from_dict
    from bpsrm.engine.trainer import train
    from conftest import REPO

    images = tmp_path / "shapes"
    subprocess.run([sys.executable, str(REPO / "docs/examples/make_shapes.py"), str(images)], check=True, timeout=120)
    name = f"{REPO / 'docs/examples/my_images.py'}:ImageFolderDataset"
    config = config_from_dict(
        {
            "data": {"name": name, "root": str(images), "val_fraction": 0.2},
            "model": {"spec": "4C3-SRM-MP4-FC3", "time_steps": 2},
            "train": {"epochs": 1, "batch_size": 16},
            "log": {"progress": False, "plots": False},
        }
    )
    train(config, tmp_path / "run", log=lambda _: None)
    test_files = get_dataset(name, "test", root=str(images)).files
    expected = hashlib.sha256(b"".join(hashlib.sha256(f.read_bytes()).digest() for f in test_files)).hexdigest()
    assert run_folder.read_samples_digest(tmp_path / "run") == expected
