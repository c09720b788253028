"""The platform a .pyz is built for, as an explicit value.

Nothing outside :meth:`Target.host` reads the running interpreter's tags or marker environment:
the build host is just one target among those a build may name.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from packaging.markers import default_environment
from packaging.tags import Tag, sys_tags
from packaging.utils import parse_wheel_filename

__all__ = ["Target"]

#: PEP 600 names of the legacy manylinux aliases.
_LEGACY_MANYLINUX = {
    "manylinux1": "manylinux_2_5",
    "manylinux2010": "manylinux_2_12",
    "manylinux2014": "manylinux_2_17",
}


def _modern_platform(platform: str) -> str:
    """``manylinux2014_x86_64`` → ``manylinux_2_17_x86_64``; other platforms unchanged."""
    legacy, _, arch = platform.partition("_")
    return f"{_LEGACY_MANYLINUX[legacy]}_{arch}" if legacy in _LEGACY_MANYLINUX else platform


@dataclass(frozen=True)
class Target:
    """A Python version and implementation on a platform, with its tags (best first) and marker environment."""

    python_version: str
    implementation: str
    platform: str
    tags: tuple[Tag, ...]
    environment: Mapping[str, str] = field(hash=False, compare=False)
    is_host: bool = False

    @classmethod
    def host(cls) -> Target:
        """The interpreter running the build."""
        tags = tuple(sys_tags())
        environment = {key: str(value) for key, value in default_environment().items()}
        return cls(
            python_version=f"{sys.version_info.major}.{sys.version_info.minor}",
            implementation=sys.implementation.name,
            platform=tags[0].platform,
            tags=tags,
            environment=MappingProxyType(environment),
            is_host=True,
        )

    @property
    def interpreter_tag(self) -> str:
        """`cp311` and the like: the first tag's interpreter."""
        return self.tags[0].interpreter

    @property
    def abi_tag(self) -> str:
        return self.tags[0].abi

    def describe(self) -> str:
        """For messages: ``CPython 3.11 on manylinux_2_36_x86_64 (the build host)``."""
        names = {"cpython": "CPython", "pypy": "PyPy"}
        text = f"{names.get(self.implementation, self.implementation)} {self.python_version} on {self.platform}"
        return f"{text} (the build host)" if self.is_host else text

    def rank(self, filename: str) -> int | None:
        """The priority of a wheel for this target (lower is better), or None when no tag of it fits."""
        _, _, _, file_tags = parse_wheel_filename(filename)
        return self._priority(file_tags)

    def _priority(self, file_tags: Iterable[Tag]) -> int | None:
        order = self._tag_order
        ranks = [order[tag] for tag in file_tags if tag in order]
        return min(ranks) if ranks else None

    @property
    def _tag_order(self) -> dict[Tag, int]:
        cached: dict[Tag, int] | None = self.__dict__.get("_tag_order_cache")
        if cached is None:
            cached = {}
            for index, tag in enumerate(self.tags):
                cached.setdefault(tag, index)
            object.__setattr__(self, "_tag_order_cache", cached)
        return cached

    def archive_tag(self, wheel_filenames: Iterable[str]) -> str:
        """The tag a .pyz of these wheels is named with: what its most demanding wheel needs of a server.

        ``py3-none-any`` when every wheel is pure Python; otherwise the target's interpreter and ABI with the
        platform that the most demanding wheel needs (``manylinux_2_17_x86_64`` when the native wheels are all
        manylinux2014, whatever glibc the build machine has).
        """
        order = self._tag_order
        demands: list[Tag] = []
        for filename in wheel_filenames:
            _, _, _, file_tags = parse_wheel_filename(filename)
            fitting = [tag for tag in file_tags if tag in order]
            if fitting and not any(tag.abi == "none" and tag.platform == "any" for tag in fitting):
                demands.append(max(fitting, key=order.__getitem__))  # the most general tag this wheel has
        if not demands:
            return "py3-none-any"
        platform = _modern_platform(min(demands, key=order.__getitem__).platform)
        if any(tag.abi not in {"none", "abi3"} for tag in demands):
            return f"{self.interpreter_tag}-{self.abi_tag}-{platform}"
        if any(tag.abi == "abi3" for tag in demands):
            return f"{self.interpreter_tag}-abi3-{platform}"
        return f"py3-none-{platform}"
