"""A dataset of the user's own, named in a config as module:Class, file.py:Class or an entry point, works in
train, eval, predict and data info from the command line; a wrong name is a clear error."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from bpsrm.data import SampleDataset, get_dataset
from bpsrm.data.base import dataset_class
from bpsrm.errors import DataError, ParameterError

MODULE = textwrap.dedent(
    """
    from pathlib import Path

    from bpsrm.data import SampleDataset
    from bpsrm.data.base import check_split
    from bpsrm.data.preprocess import ImagePreprocess


    class Stripes(SampleDataset):
        name = "stripes"

        def __init__(self, split, root=None, download=False, size=8):
            self.split = check_split(self.name, split)
            self.location = Path(root)
            self.classes = ["rows", "columns"]
            self.preprocess = ImagePreprocess(channels=1, height=size, width=size)
            self.input_shape = (1, size, size)
            self.files = sorted(self.location.glob("*.png"))
            self.files = [f for i, f in enumerate(self.files) if (i % 4 == 0) == (split == "test")]
            self.targets = [0 if f.name.startswith("rows") else 1 for f in self.files]

        def __getitem__(self, index):
            path = self.files[index]
            return self.preprocess.to_input(self.preprocess.decode(path.read_bytes(), str(path))), self.targets[index]
    """
)


def _images(folder: Path) -> None:
    rng = np.random.default_rng(0)
    folder.mkdir()
    for i in range(48):
        for kind in ("rows", "columns"):
            image = rng.integers(0, 60, (8, 8))
            line = int(rng.integers(0, 8))
            if kind == "rows":
                image[line, :] += 190
            else:
                image[:, line] += 190
            Image.fromarray(image.astype(np.uint8)).save(folder / f"{kind}-{i:02d}.png")


def _bpsrm(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "bpsrm", "--threads", "1", *map(str, args)]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)


def test_a_dataset_in_a_module_of_the_users_trains_evaluates_and_predicts(tmp_path: Path) -> None:
    (tmp_path / "stripes_data.py").write_text(MODULE)
    _images(tmp_path / "images")
    config = {
        "experiment": "stripes",
        "data": {"name": "stripes_data:Stripes", "root": str(tmp_path / "images"), "val_fraction": 0.2},
        "model": {"spec": "FC32-SRM-FC2", "time_steps": 4},
        "optim": {"lr": 0.01},
        "train": {"epochs": 6, "batch_size": 16},
        "log": {"progress": False, "plots": False},
    }
    (tmp_path / "stripes.yaml").write_text(yaml.safe_dump(config))
    trained = _bpsrm("train", "stripes.yaml", "--out", "run", cwd=tmp_path)  # the module is found in the cwd
    assert trained.returncode == 0, trained.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["test_accuracy"] >= 0.9, metrics["test_accuracy"]
    evaluated = _bpsrm("eval", "run/best.pt", cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    report = json.loads(evaluated.stdout)
    assert report["dataset"] == "stripes_data:Stripes" and report["samples"] == 24
    assert report["accuracy"] == pytest.approx(metrics["test_accuracy"])
    predicted = _bpsrm("predict", "run/best.pt", "images/rows-00.png", "images/columns-04.png", cwd=tmp_path)
    assert predicted.returncode == 0, predicted.stderr[-3000:]
    rows = json.loads(predicted.stdout)
    assert [r["class"] for r in rows] == ["rows", "columns"]
    info = _bpsrm("data", "info", "stripes_data:Stripes", "--root", "images", cwd=tmp_path)
    assert info.returncode == 0, info.stderr[-3000:]
    assert json.loads(info.stdout)["test"]["samples"] == 24


def test_a_dataset_named_by_its_file_path(tmp_path: Path) -> None:
    module = tmp_path / "somewhere" / "stripes_file.py"
    module.parent.mkdir()
    module.write_text(MODULE)
    _images(tmp_path / "images")
    cls = dataset_class(f"{module}:Stripes")
    assert issubclass(cls, SampleDataset) and cls.__name__ == "Stripes"
    assert dataset_class(f"{module}:Stripes") is cls  # loaded once
    data = get_dataset(f"{module}:Stripes", "test", root=tmp_path / "images", size=8)
    assert len(data) == 24 and data[0][0].shape == (1, 8, 8)


def test_an_entry_point_names_a_dataset(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import importlib.metadata

    module = tmp_path / "ep_data.py"
    module.write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    point = importlib.metadata.EntryPoint(name="stripes-ep", value="ep_data:Stripes", group="bpsrm.datasets")
    real = importlib.metadata.entry_points
    monkeypatch.setattr(
        importlib.metadata,
        "entry_points",
        lambda **kw: [point] if kw.get("group") == "bpsrm.datasets" else real(**kw),
    )
    assert dataset_class("stripes-ep").__name__ == "Stripes"


def test_wrong_names_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("raise RuntimeError('oops')\n")
    (tmp_path / "exits.py").write_text("import sys\nsys.exit(3)\n")  # ended bpsrm with status 3 (helper-50)
    (tmp_path / "plain.py").write_text("class NotADataset:\n    pass\n")
    cases = {
        "no-such-dataset": (ParameterError, "unknown dataset 'no-such-dataset'.*'package.module:ClassName'"),
        "no_such_module_xyz:Cls": (DataError, "importing no_such_module_xyz failed \\(ModuleNotFoundError"),
        f"{tmp_path}/missing.py:Cls": (DataError, "no such file"),
        f"{tmp_path}/broken.py:Cls": (DataError, "importing .*broken.py failed \\(RuntimeError: oops\\)"),
        f"{tmp_path}/exits.py:Cls": (DataError, "importing .*exits.py failed \\(SystemExit: 3\\)"),
        f"{tmp_path}/plain.py:Missing": (DataError, "has no 'Missing'"),
        f"{tmp_path}/plain.py:NotADataset": (ParameterError, "not a subclass of bpsrm.data.SampleDataset"),
        "json:": (ParameterError, "expected 'package.module:ClassName'"),
    }
    for name, (error, pattern) in cases.items():
        with pytest.raises(error, match=pattern):
            dataset_class(name)


def test_a_constructor_of_the_users_that_fails_is_named_on_one_line(tmp_path: Path) -> None:
    """A SampleDataset without the constructor bpsrm calls, or one whose constructor raises, ended in a traceback
    of get_dataset (helper-50); a bpsrm error it raises (a file of its own not found) passes as it is."""
    (tmp_path / "mine.py").write_text(
        textwrap.dedent(
            """
            from bpsrm.data import SampleDataset
            from bpsrm.errors import DataError

            class Bare(SampleDataset):
                pass

            class Raises(SampleDataset):
                def __init__(self, split, root=None, download=False):
                    raise ValueError("no frames in the folder")

            class Checks(SampleDataset):
                def __init__(self, split, root=None, download=False):
                    raise DataError("frames.bin: not found")
            """
        )
    )
    with pytest.raises(DataError, match=r"dataset '.*mine\.py:Bare': Bare\(split='train', .*\) failed with TypeError"):
        get_dataset(f"{tmp_path}/mine.py:Bare", "train")
    with pytest.raises(DataError, match=r"Raises\(split='test', .*\) failed with ValueError: no frames in the folder"):
        get_dataset(f"{tmp_path}/mine.py:Raises", "test")
    with pytest.raises(DataError, match=r"^frames\.bin: not found$"):
        get_dataset(f"{tmp_path}/mine.py:Checks", "test")
