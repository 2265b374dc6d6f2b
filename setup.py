"""Build of the optional C kernels: the fused neuron; max pooling and TCN (plain C libraries, loaded with ctypes).

Everything else about the package is in pyproject.toml. The extensions are
optional: where no C compiler is found, bpsrm installs without them and runs
the portable PyTorch paths (bpsrm.neuron.kernels.cpu.available() and
bpsrm.network.pool_cpu.available() and tcn_cpu.available() tell which).
Set BPSRM_NO_OPENMP=1 to build them without OpenMP.
"""

import os
import sys

from setuptools import Extension, setup

compile_args = ["-O3", "-std=c11", "-fno-math-errno", "-fno-trapping-math", "-D_DEFAULT_SOURCE"]
link_args: list[str] = []
if sys.platform != "win32" and os.environ.get("BPSRM_NO_OPENMP") != "1":
    compile_args.append("-fopenmp")
    link_args.append("-fopenmp")

setup(
    ext_modules=[
        Extension(
            "bpsrm.neuron.kernels._srm_cpu",
            sources=["src/bpsrm/neuron/kernels/srm_cpu.c"],
            extra_compile_args=compile_args,
            extra_link_args=link_args,
            optional=True,
        ),
        Extension(
            "bpsrm.network._network_cpu",
            sources=["src/bpsrm/network/pool_cpu.c", "src/bpsrm/network/tcn_cpu.c"],
            extra_compile_args=compile_args,
            extra_link_args=link_args,
            optional=True,
        ),
    ]
)
