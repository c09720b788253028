"""hatch-zipapp: a hatchling builder that turns a project and its locked dependencies into one reproducible .pyz."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
