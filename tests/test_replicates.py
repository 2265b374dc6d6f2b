"""mean and sample sd over replicates, and their format, against hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bpsrm.engine.replicates import format_percent, mean_sd, replicate_folders, replicate_index, replicate_name
from bpsrm.errors import ConfigError


def test_mean_and_sample_sd_of_three_seeds_by_hand() -> None:
    # mean 2.77 / 3; sd = sqrt(sum of squared deviations / (3 - 1))
    mean, sd = mean_sd([0.90, 0.92, 0.95])
    assert mean == pytest.approx(2.77 / 3, abs=1e-15)
    deviations = [0.90 - 2.77 / 3, 0.92 - 2.77 / 3, 0.95 - 2.77 / 3]
    assert sd == pytest.approx(math.sqrt(sum(d * d for d in deviations) / 2), rel=1e-12)
    assert mean_sd([0.5, 0.7]) == pytest.approx((0.6, math.sqrt(0.02)))  # two values: |a - b| / sqrt(2)


def test_one_replicate_has_no_spread_and_no_values_are_refused() -> None:
    assert mean_sd([0.9292]) == (0.9292, 0.0)
    with pytest.raises(ValueError, match="no values"):
        mean_sd([])


def test_format_percent() -> None:
    assert format_percent(0.92917, 0.00114, 3) == "92.92 ± 0.11%"
    assert format_percent(0.92917, 0.0, 1) == "92.92%"
    assert format_percent(1.0, 0.0, 5) == "100.00 ± 0.00%"  # five equal folds: spread measured as 0


def test_a_replicate_named_twice_is_refused_by_name() -> None:
    from bpsrm.engine.replicates import check_distinct
    from bpsrm.errors import ConfigError

    assert check_distinct((2, 0, 1), "--seeds") == [2, 0, 1]
    with pytest.raises(ConfigError, match=r"^--seeds names 0, 3 more than once \(0 3 1 0 3 3\); give each once$"):
        check_distinct([0, 3, 1, 0, 3, 3], "--seeds")


def test_replicate_folders_are_named_once_and_listed_in_the_order_of_their_numbers(tmp_path) -> None:
    assert (replicate_name("seed", 0), replicate_name("fold", 12)) == ("seed0", "fold12")
    assert replicate_name("seed", np.int64(3)) == "seed3"  # a seed from NumPy, as the Python API takes it
    for bad in (-1, True, 1.0, "2"):
        # a ConfigError, which the command line prints as one error line (a ValueError would be a traceback)
        with pytest.raises(ConfigError, match=rf"seed {bad!r}: expected a whole number >= 0"):
            replicate_name("seed", bad)  # type: ignore[arg-type]
    assert [replicate_index(n) for n in ("seed12", "fold3", "seed0", "seed01", "seed-1", "run2")] == [
        12,
        3,
        0,
        None,
        None,
        None,
    ]
    with pytest.raises(ValueError, match="expected one of seed, fold"):
        replicate_name("run", 0)
    for name in ("seed10", "seed2", "seed0", "seed0-old", "seed01", "seedx", "fold1"):
        (tmp_path / name).mkdir()
    (tmp_path / "seed3").write_text("a file, not a run folder")
    # by number: seed10 after seed2 (sorted names would put it first); seed01 and seed0-old are not replicates
    assert [p.name for p in replicate_folders(tmp_path, "seed")] == ["seed0", "seed2", "seed10"]
    assert [p.name for p in replicate_folders(tmp_path, "fold")] == ["fold1"]
    assert replicate_folders(tmp_path / "missing", "seed") == []


def test_no_script_spells_a_replicate_folder_itself() -> None:
    """seed<S> / fold<K> folders are named and found through bpsrm.engine.replicates alone."""
    import re

    from conftest import REPO

    spelled = re.compile(r"""f["'][^"']*(seed|fold)\{|glob\(["'][^"']*(seed|fold)\*""")
    files = [*(REPO / "scripts").glob("*.py"), *(REPO / "src" / "bpsrm").rglob("*.py")]
    found = [
        f"{path.relative_to(REPO)}:{number}"
        for path in sorted(files)
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if spelled.search(line) and "replicates.py" not in path.name
    ]
    assert found == []
