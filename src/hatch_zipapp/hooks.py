"""Registration of the `zipapp` build target with hatchling."""

from __future__ import annotations

from hatchling.plugin import hookimpl

from hatch_zipapp.builder import ZipappBuilder

__all__ = ["hatch_register_builder"]


@hookimpl
def hatch_register_builder() -> type[ZipappBuilder]:
    return ZipappBuilder
