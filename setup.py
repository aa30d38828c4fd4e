"""Compiles switchman's per-request modules with mypyc when ``SWITCHMAN_NATIVE=1`` (``make`` does:
``SWITCHMAN_NATIVE=1 python setup.py build_ext --inplace``). Otherwise a plain install of the Python
sources; the metadata is in pyproject.toml. The module list is ``switchman.native.NATIVE_MODULES``.
"""

from __future__ import annotations

import os
import sys

from setuptools import setup

ext_modules = []
if os.environ.get("SWITCHMAN_NATIVE") == "1":
    from mypyc.build import mypycify

    sys.path.insert(0, "src")
    from switchman.native import NATIVE_MODULES

    ext_modules = mypycify(
        [f"src/{m.replace('.', '/')}.py" for m in NATIVE_MODULES],
        opt_level="3",
        group_name="switchman_native",
    )

setup(ext_modules=ext_modules)
