"""What a run ran on (bpsrm.environment) and its record across resumes (resume.note_environment)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

from bpsrm.engine.resume import EpochSoFar, Progress, note_environment
from bpsrm.environment import VECTOR_FLAGS, cpu_flags, cpu_model, describe_environment

CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz
flags\t\t: fpu sse2 avx avx2 fma avx512f avx512dq avx512_vnni
processor\t: 1
model name\t: another name on the second core
flags\t\t: fpu
"""


def test_the_processor_and_its_vector_extensions_are_read_from_cpuinfo(tmp_path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(CPUINFO)
    assert cpu_model(cpuinfo) == "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz"  # the first core's line
    assert cpu_flags(cpuinfo) == ["avx2", "fma", "avx512f", "avx512_vnni"]  # in VECTOR_FLAGS' order; avx, dq not kept
    assert set(VECTOR_FLAGS) >= {"avx2", "avx512f", "amx_tile"}


def test_without_cpuinfo_the_platform_names_the_processor(tmp_path) -> None:
    missing = tmp_path / "no-such-file"
    assert cpu_model(missing) == (platform.processor() or platform.machine() or "unknown")
    assert cpu_flags(missing) == []
    (tmp_path / "bare").write_text("processor\t: 0\n")
    assert cpu_model(tmp_path / "bare") == (platform.processor() or platform.machine() or "unknown")


def _environment_in_child(**env: str) -> dict:
    code = "import json; from bpsrm.environment import describe_environment; print(json.dumps(describe_environment()))"
    child = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True, check=True
    )
    return json.loads(child.stdout)


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="ATEN_CPU_CAPABILITY names x86 extensions")
def test_the_record_follows_the_vector_instructions_pytorch_is_told_to_use() -> None:
    """ATEN_CPU_CAPABILITY=default makes PyTorch take its plain kernels (other roundings): the record must say so,
    as it says the thread count a process was given."""
    plain = _environment_in_child(ATEN_CPU_CAPABILITY="default", OMP_NUM_THREADS="1")
    assert plain["cpu_capability"] == "DEFAULT" and plain["threads"] == 1
    assert plain["device"] == "cpu" and plain["torch"].split("+")[0].count(".") == 2
    assert plain["python"] == platform.python_version()
    keys = {"bpsrm", "torch", "python", "system", "cpu", "cpu_flags", "cpu_capability", "threads", "device", "kernels"}
    assert set(plain) == keys | {"settings"} and plain["settings"]["ATEN_CPU_CAPABILITY"] == "default"


def test_the_record_keeps_the_settings_that_choose_code_paths() -> None:
    """oneDNN's ISA limit changes the convolutions' roundings but not PyTorch's cpu_capability: only the recorded
    setting tells two such runs apart."""
    limited = _environment_in_child(ONEDNN_MAX_CPU_ISA="AVX2")
    assert limited["settings"].get("ONEDNN_MAX_CPU_ISA") == "AVX2"
    assert "ONEDNN_MAX_CPU_ISA" not in _environment_in_child()["settings"] or "ONEDNN_MAX_CPU_ISA" in os.environ


ENV = {"bpsrm": "0.1.0", "torch": "2.13.0", "cpu": "X", "cpu_capability": "AVX512", "threads": 2}


def test_a_run_records_where_it_started_and_each_environment_it_went_on_in() -> None:
    progress, lines = Progress(), []
    note_environment(progress, ENV, lines.append)
    assert progress.environments == [{"from_epoch": 1, "after_step": 0, **ENV}] and lines == []
    progress.start_epoch = 3  # resumed after epoch 2 on the same machine: nothing new
    note_environment(progress, dict(ENV), lines.append)
    assert len(progress.environments) == 1 and lines == []
    progress.start_epoch, progress.partial = 4, EpochSoFar(step=60)  # resumed in epoch 4 after its step 60
    moved = {**ENV, "cpu_capability": "AVX2", "threads": 1}
    note_environment(progress, moved, lines.append)
    assert progress.environments[1] == {"from_epoch": 4, "after_step": 60, **moved}
    assert lines == [
        "resumed in another environment (rounding differs from an uninterrupted run): "
        "cpu_capability 'AVX512' -> 'AVX2', threads 2 -> 1"
    ]
    moved_machine = {**moved, "system": "Linux-6.19", "bpsrm": "0.2.0"}  # no key that decides roundings
    progress.start_epoch, progress.partial = 6, None
    note_environment(progress, moved_machine, lines.append)
    assert lines[-1] == "resumed in another environment: bpsrm '0.1.0' -> '0.2.0', system None -> 'Linux-6.19'"
    assert progress.environments[-1] == {"from_epoch": 6, "after_step": 0, **moved_machine}
    saved = Progress.from_dict(progress.to_dict())  # what last.pt keeps
    assert saved.environments == progress.environments


def test_a_record_without_environments_reads_as_none_known_and_a_damaged_one_is_refused() -> None:
    state = Progress().to_dict()
    del state["environments"]  # a last.pt written before the record existed
    assert Progress.from_dict(state).environments == []
    for damaged in ("AVX512", [1, 2], {"cpu": "X"}):
        with pytest.raises(TypeError, match="'environments' is not a list of dicts"):
            Progress.from_dict({**state, "environments": damaged})


def test_the_record_names_the_cpu_device_and_holds_plain_values_only() -> None:
    assert describe_environment("cpu")["device"] == "cpu"
    record = describe_environment()
    assert record["device"] == "cpu"
    # plain str/int/list only: last.pt keeps it, and weights-only loading refuses torch's TorchVersion class
    assert type(record["torch"]) is str and all(type(value) in (str, int, list, dict) for value in record.values())


def test_the_record_says_whether_the_compiled_kernels_run() -> None:
    """BPSRM_KERNEL=portable turns bpsrm's C kernels off (the portable path: the same equations through PyTorch's
    operations, other roundings): the record must say so, and say it was turned off rather than not built."""
    portable = _environment_in_child(BPSRM_KERNEL="portable")["kernels"]
    assert portable == {"neuron": "portable (BPSRM_KERNEL=portable)", "tcn_pooling": "PyTorch (BPSRM_KERNEL=portable)"}
    from bpsrm.network import native
    from bpsrm.neuron.kernels import cpu

    if cpu.available() and native.available():  # the bootstrap builds them where a C compiler is present
        assert _environment_in_child()["kernels"] == {"neuron": "C", "tcn_pooling": "C"}


_PATH_TAKEN = """
import json, torch, bpsrm
from bpsrm.environment import kernels_in_use
spikes, _ = bpsrm.srm(torch.rand(3, 4, requires_grad=True), tau_m=2.0)
print(json.dumps([kernels_in_use()["neuron"], type(spikes.grad_fn).__name__]))
"""


@pytest.mark.parametrize(
    ("env", "record", "node"),
    [
        ({}, "C", "SRMFusedConstantsBackward"),
        ({"BPSRM_KERNEL": "portable"}, "portable (BPSRM_KERNEL=portable)", "SRMFunctionBackward"),
        ({"BPSRM_KERNEL": "triton", "TRITON_INTERPRET": "0"}, "C", "SRMFusedConstantsBackward"),
        ({"BPSRM_KERNEL": "triton", "TRITON_INTERPRET": "1"}, "Triton (interpreter)", "SRMFusedGPUBackward"),
    ],
)
def test_the_record_names_the_path_a_call_takes(env: dict[str, str], record: str, node: str) -> None:
    """The record said "C" under BPSRM_KERNEL=triton with the interpreter, where the Triton kernel ran, and "C"
    without it, where the portable path ran (Triton cannot take CPU tensors then; the C kernel now does): the
    record and the autograd node of an srm call (which names the Function that ran) must agree."""
    if env.get("TRITON_INTERPRET") == "1":
        pytest.importorskip("triton")
    from bpsrm.neuron.kernels import cpu

    if not cpu.available() and "C" in record:
        pytest.skip("bpsrm's C kernels are not built here")
    child = subprocess.run(
        [sys.executable, "-c", _PATH_TAKEN], env={**os.environ, **env}, capture_output=True, text=True, timeout=120
    )
    assert child.returncode == 0, child.stderr[-2000:]
    assert json.loads(child.stdout.strip().splitlines()[-1]) == [record, node]


def test_a_kernel_setting_bpsrm_does_not_know_is_refused() -> None:
    """BPSRM_KERNEL=portabel was read as unset: the fused kernel ran, without a word."""
    child = subprocess.run(
        [sys.executable, "-c", _PATH_TAKEN],
        env={**os.environ, "BPSRM_KERNEL": "portabel"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode != 0
    assert (
        "ParameterError: BPSRM_KERNEL='portabel' is not a setting bpsrm knows; expected portable, triton, or nothing"
        in child.stderr
    )
