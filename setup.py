"""Build of the optional fused CPU kernel (a plain C library loaded with ctypes).

Everything else about the package is in pyproject.toml. The extension is
optional: where no C compiler is found, bpsrm installs without it and runs
the portable PyTorch path (bpsrm.neuron.kernels.cpu.available() tells which).
Set BPSRM_NO_OPENMP=1 to build it without OpenMP.
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
        )
    ]
)
