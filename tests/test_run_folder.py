"""The run-folder format: what the writers put down is what the readers give back, checked value by value."""

from __future__ import annotations

import re

import numpy as np
import pytest

from bpsrm.engine import run_folder
from bpsrm.errors import DataError


def test_history_round_trip(tmp_path) -> None:
    values = [[1, 0.1, 1.5, 0.5, 1.6, 0.5, 3.0, 90.0], [2, 0.05, 0.75, 0.625, 0.8, 0.6, 3.5, 95.0]]
    rows = [dict(zip(run_folder.HISTORY_COLUMNS, row, strict=True)) for row in values]
    run_folder.write_history(tmp_path, rows)
    assert (tmp_path / "metrics.csv").read_text().splitlines()[0] == ",".join(run_folder.HISTORY_COLUMNS)
    columns = run_folder.read_history(tmp_path)
    np.testing.assert_array_equal(columns["epoch"], [1.0, 2.0])
    np.testing.assert_array_equal(columns["val_accuracy"], [0.5, 0.6])
    np.testing.assert_array_equal(columns["train_loss"], [1.5, 0.75])


def test_activity_round_trip(tmp_path) -> None:
    spikes = np.array([[1, 0, 0], [0, 1, 1]], dtype=np.uint8)
    layer = run_folder.LayerActivity("SRM1 (4C3)", spikes, np.array([[0.2], [1.3]]), np.array([1]), np.array([1.0]))
    bare = run_folder.LayerActivity("SRM2 (FC2)", np.zeros((2, 2), dtype=np.uint8))
    run_folder.write_activity(tmp_path, run_folder.Activity([layer, bare], label=3, prediction=1))
    back = run_folder.read_activity(tmp_path)
    assert (back.label, back.prediction) == (3, 1)
    assert [lay.name for lay in back.layers] == ["SRM1 (4C3)", "SRM2 (FC2)"]
    np.testing.assert_array_equal(back.layers[0].spikes, spikes)
    np.testing.assert_array_equal(back.layers[0].membrane, [[0.2], [1.3]])
    np.testing.assert_array_equal(back.layers[0].neurons, [1])
    assert back.layers[1].membrane is None


def test_metrics_round_trip_and_missing(tmp_path) -> None:
    with pytest.raises(run_folder.Missing, match=r"metrics\.json missing"):
        run_folder.read_metrics(tmp_path, required=True)
    assert run_folder.read_metrics(tmp_path, required=False) == {}
    run_folder.write_metrics(tmp_path, {"test_accuracy": 0.5, "classes": ["a", "b"]})
    assert run_folder.read_metrics(tmp_path, required=True) == {"test_accuracy": 0.5, "classes": ["a", "b"]}
    (tmp_path / "metrics.json").write_text("[1, 2]")
    with pytest.raises(DataError, match="expected a JSON object, got list"):
        run_folder.read_metrics(tmp_path, required=True)


def test_clear_stale_removes_only_temporary_files(tmp_path) -> None:
    (tmp_path / ".best.pt.123.tmp").write_text("half")
    (tmp_path / "best.pt").write_text("whole")
    run_folder.clear_stale(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt"]


def test_selection_json_round_trip_and_damaged_files(tmp_path) -> None:
    """selection.json (scripts/final_runs.py's record of the variant a final run trains) is read and written in one
    place; a damaged one is a DataError naming the file, an absent one None (a configured run)."""
    from bpsrm.engine.run_folder import read_selection, write_selection
    from bpsrm.errors import DataError

    assert read_selection(tmp_path) is None
    chosen = {"variant": "aug", "overrides": ["data.augment.shift=3", "seed=0"], "chosen_by": "cv.json"}
    write_selection(tmp_path / "seed0", chosen)
    assert read_selection(tmp_path / "seed0") == chosen
    for text, fragment in (
        ("{not json", "not a readable selection.json"),
        ('["aug"]', "expected an object with a 'variant' name"),
        ('{"variant": "aug", "overrides": "seed=0"}', "'overrides' must be a list of KEY=VALUE strings"),
        ('{"variant": "aug", "overrides": ["seed"]}', "'overrides' must be a list of KEY=VALUE strings"),
    ):
        (tmp_path / "selection.json").write_text(text)
        with pytest.raises(DataError, match=re.escape(fragment)) as info:
            read_selection(tmp_path)
        assert str(tmp_path / "selection.json") in str(info.value)
    with pytest.raises(DataError, match="'variant' name"):
        write_selection(tmp_path / "bad", {"overrides": []})
    assert not (tmp_path / "bad").exists()
