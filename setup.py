"""The C extension; everything else about the package is in pyproject.toml.

The fused hash + HyperLogLog loops are optional: without a C compiler the
install still succeeds and the numpy code computes the same registers, slower.
"""

import sys

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "buckaroo_assets.stats._native",
            sources=["buckaroo_assets/stats/_native.c"],
            optional=True,
            extra_compile_args=[] if sys.platform == "win32" else ["-O3"],
        )
    ]
)
