"""The platform a .pyz is built for, as an explicit value.

A :class:`Target` is a Python version and implementation on a platform, with the wheel tags it accepts (best
first) and the marker environment locks are evaluated against. Both are built here from the target's description
with :mod:`packaging.tags`; nothing outside :meth:`Target.host` reads the running interpreter's tags or markers:
the build host is just one target among those a build may name.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from packaging.markers import default_environment
from packaging.tags import Tag, compatible_tags, cpython_tags, mac_platforms, sys_tags
from packaging.utils import parse_wheel_filename
from packaging.version import InvalidVersion, Version

from hatch_zipapp.errors import TargetError

if TYPE_CHECKING:
    from hatch_zipapp.bootstrap.check import Requirement

# TargetError: errors.py's, imported by the callers of this module
__all__ = ["Target", "TargetError", "is_pure_python", "wheel_platform"]

#: PEP 600 names of the legacy manylinux aliases, and back.
_LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
_ALIAS_OF = {glibc: legacy for legacy, glibc in _LEGACY_MANYLINUX.items()}
_ALIAS_ARCHS = {
    "manylinux2014": {"x86_64", "i686", "aarch64", "armv7l", "ppc64", "ppc64le", "s390x"},
    "manylinux2010": {"x86_64", "i686"},
    "manylinux1": {"x86_64", "i686"},
}
_WINDOWS_MACHINES = {"win_amd64": "AMD64", "win32": "x86", "win_arm64": "ARM64"}
_EXAMPLES = "manylinux_2_28_x86_64, musllinux_1_2_aarch64, macosx_14_0_arm64, win_amd64"


def _modern_platform(platform: str) -> str:
    """``manylinux2014_x86_64`` → ``manylinux_2_17_x86_64``; other platforms unchanged."""
    legacy, _, arch = platform.partition("_")
    if legacy in _LEGACY_MANYLINUX:
        major, minor = _LEGACY_MANYLINUX[legacy]
        return f"manylinux_{major}_{minor}_{arch}"
    return platform


def _two_numbers(platform: str, kind: str) -> tuple[int, int, str]:
    parts = platform.split("_", 3)
    if len(parts) != 4 or not parts[1].isdigit() or not parts[2].isdigit() or not parts[3]:
        message = f"{kind} platform {platform!r} must look like {kind}_MAJOR_MINOR_ARCH (e.g. {_EXAMPLES})"
        raise TargetError(message)
    return int(parts[1]), int(parts[2]), parts[3]


def platform_tags(platform: str) -> tuple[list[str], dict[str, str]]:
    """The platform tags a platform accepts (most specific first) and its part of the marker environment."""
    platform = _modern_platform(platform)
    if platform.startswith("manylinux_"):
        major, minor, arch = _two_numbers(platform, "manylinux")
        lowest = 5 if arch in {"x86_64", "i686"} else 17
        tags = []
        for m in range(minor, lowest - 1, -1):
            tags.append(f"manylinux_{major}_{m}_{arch}")
            legacy = _ALIAS_OF.get((major, m))
            if legacy and arch in _ALIAS_ARCHS[legacy]:
                tags.append(f"{legacy}_{arch}")
        return tags, {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix", "platform_machine": arch}
    if platform.startswith("musllinux_"):
        major, minor, arch = _two_numbers(platform, "musllinux")
        tags = [f"musllinux_{major}_{m}_{arch}" for m in range(minor, -1, -1)]
        return tags, {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix", "platform_machine": arch}
    if platform.startswith("macosx_"):
        major, minor, arch = _two_numbers(platform, "macosx")
        tags = list(mac_platforms((major, minor), arch))
        machine = "x86_64" if arch in {"x86_64", "intel"} else "arm64"
        return tags, {
            "sys_platform": "darwin",
            "platform_system": "Darwin",
            "os_name": "posix",
            "platform_machine": machine,
        }
    if platform in _WINDOWS_MACHINES:
        machine = _WINDOWS_MACHINES[platform]
        return [platform], {
            "sys_platform": "win32",
            "platform_system": "Windows",
            "os_name": "nt",
            "platform_machine": machine,
        }
    if platform.startswith("linux_") and len(platform) > len("linux_"):
        arch = platform.removeprefix("linux_")
        return [platform], {
            "sys_platform": "linux",
            "platform_system": "Linux",
            "os_name": "posix",
            "platform_machine": arch,
        }
    message = f"Unknown platform {platform!r}: use a wheel platform tag such as {_EXAMPLES}"
    raise TargetError(message)


@dataclass(frozen=True)
class Target:
    """A Python version and implementation on a platform, with its tags (best first) and marker environment."""

    python_version: str
    implementation: str
    platform: str
    tags: tuple[Tag, ...]
    environment: Mapping[str, str] = field(hash=False, compare=False)
    is_host: bool = False
    #: Where the .pyz name comes from: an explicit target is named by its own tag, the host by what its wheels need.
    explicit: bool = False
    #: An interpreter of this target's Python version, from the configuration (for bytecode).
    interpreter: str | None = None

    @classmethod
    def host(cls) -> Target:
        """The interpreter running the build."""
        tags = tuple(sys_tags())
        environment = {key: str(value) for key, value in default_environment().items()}
        first_portable = next((t.platform for t in tags if not t.platform.startswith("linux_")), tags[0].platform)
        return cls(
            python_version=f"{sys.version_info.major}.{sys.version_info.minor}",
            implementation=sys.implementation.name,
            platform=first_portable,
            tags=tags,
            environment=MappingProxyType(environment),
            is_host=True,
            interpreter=sys.executable,
        )

    @classmethod
    def from_spec(
        cls, python: str, platform: str, implementation: str = "cpython", *, interpreter: str | None = None
    ) -> Target:
        """A target from its description: ``Target.from_spec("3.12", "manylinux_2_28_x86_64")``."""
        if implementation.lower() not in {"cpython", "cp"}:
            message = f"Implementation {implementation!r} is not supported: hatch-zipapp builds for CPython ('cpython')"
            raise TargetError(message)
        try:
            version = Version(python)
        except InvalidVersion:
            version = None
        if version is None or version.major != 3 or len(version.release) not in {2, 3} or version.pre or version.dev:
            message = f"Python version {python!r} must be like '3.12' or '3.12.4'"
            raise TargetError(message)
        major, minor = version.release[0], version.release[1]
        full = ".".join(map(str, version.release)) if len(version.release) == 3 else f"{major}.{minor}.0"
        platforms, platform_environment = platform_tags(platform)
        interpreter_tag = f"cp{major}{minor}"
        tags = tuple(
            dict.fromkeys(
                [
                    *cpython_tags((major, minor), [interpreter_tag], platforms),
                    *compatible_tags((major, minor), interpreter_tag, platforms),
                ]
            )
        )
        environment = {
            "implementation_name": "cpython",
            "implementation_version": full,
            "platform_python_implementation": "CPython",
            "platform_release": "",
            "platform_version": "",
            "python_full_version": full,
            "python_version": f"{major}.{minor}",
            **platform_environment,
        }
        return cls(
            python_version=f"{major}.{minor}",
            implementation="cpython",
            platform=_modern_platform(platform),
            tags=tags,
            environment=MappingProxyType(environment),
            explicit=True,
            interpreter=interpreter,
        )

    @classmethod
    def from_tag(cls, text: str) -> Target:
        """``cp312-manylinux_2_28_x86_64`` (as in HATCH_ZIPAPP_TARGETS) → a target."""
        interpreter, sep, platform = text.strip().partition("-")
        if not (sep and interpreter.startswith("cp") and interpreter[2:].isdigit() and len(interpreter) >= 4):
            message = f"Target {text!r} must look like cp312-manylinux_2_28_x86_64 (interpreter-platform)"
            raise TargetError(message)
        digits = interpreter[2:]
        return cls.from_spec(f"{digits[0]}.{digits[1:]}", platform)

    @property
    def interpreter_tag(self) -> str:
        """`cp311` and the like."""
        return (
            "cp" + self.python_version.replace(".", "")
            if self.implementation == "cpython"
            else self.tags[0].interpreter
        )

    @property
    def abi_tag(self) -> str:
        """`cp312`; the host's own ABI flags included: `cp313t` (free-threaded), `cp312d` (debug)."""
        return self.tags[0].abi

    @property
    def name(self) -> str:
        """The tag an explicit target's .pyz is named with: ``cp312-cp312-manylinux_2_28_x86_64``."""
        return f"{self.interpreter_tag}-{self.abi_tag}-{self.platform}"

    def describe(self) -> str:
        """For messages: ``CPython 3.11 on manylinux_2_36_x86_64 (the build host)``."""
        names = {"cpython": "CPython", "pypy": "PyPy"}
        text = f"{names.get(self.implementation, self.implementation)} {self.python_version} on {self.platform}"
        return f"{text} (the build host)" if self.is_host else text

    def rank(self, filename: str) -> int | None:
        """The priority of a wheel for this target (lower is better), or None when no tag of it fits."""
        _, _, _, file_tags = parse_wheel_filename(filename)
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
        """The tag a .pyz of these wheels is named with (see :meth:`requirement`)."""
        return self.requirement(wheel_filenames)["tag"]

    def requirement(
        self, wheel_filenames: Iterable[str], requires_python: Sequence[tuple[str, str]] = ()
    ) -> Requirement:
        """What a .pyz of these wheels needs of the interpreter that runs it, and the tag it is named with.

        An explicit target: its own name and everything it names. The host: what the most demanding wheel needs of a
        server — ``py3-none-any`` when every wheel is pure Python; else the implementation and Python version (exactly,
        or that version or newer when the only extension modules are abi3) and the highest glibc, musl or macOS
        version any wheel needs, each wheel counted by its least demanding tag that fits (abi3 wheels too): a
        ``cp312-cp312-manylinux_2_17`` wheel beside a ``cp311-abi3-manylinux_2_34`` one makes ``manylinux_2_34``,
        whatever glibc the build machine has. ``requires_python`` is (specifier set, whose) pairs, recorded as is.
        """
        checks = [[specifiers, whose] for specifiers, whose in requires_python]
        family, minimum, arch = _platform_parts(self.platform)
        machine = arch if self.platform.startswith("macosx_") else self.environment.get("platform_machine")
        record: Requirement = {
            "tag": self.name,
            "implementation": self.implementation,
            "python": self.python_version,
            "exact": True,
            "abi": self.abi_tag,
            "platform": self.platform,
            "os": self.environment.get("sys_platform"),
            "machine": machine,
            "libc": _LIBC.get(family or ""),
            "minimum": list(minimum) if minimum else None,
            "requires_python": checks,
        }
        if self.explicit:
            return record
        order = self._tag_order
        level = 0  # 0: no extension module, 1: abi3 ones, 2: ones for this Python's ABI
        highest: tuple[int, int] | None = None  # the highest (glibc, musl, macOS) version a wheel needs
        local = False  # a wheel fits only this platform's unversioned tag (linux_x86_64: built here)
        native = False
        for filename in wheel_filenames:
            _, _, _, file_tags = parse_wheel_filename(filename)
            fitting = [tag for tag in file_tags if tag in order]
            if not fitting or any(tag.abi == "none" and tag.platform == "any" for tag in fitting):
                continue
            level = max(level, min(0 if t.abi == "none" else 1 if t.abi == "abi3" else 2 for t in fitting))
            if any(tag.platform == "any" for tag in fitting):
                continue
            native = True
            versions = [v for v in (_platform_parts(t.platform)[1] for t in fitting) if v is not None]
            if versions:
                needed = min(versions)
                highest = needed if highest is None else max(highest, needed)
            elif family in _LIBC or family == "macosx":
                local = True
        if level == 0 and not native:
            return {**record, "tag": "py3-none-any", "implementation": None, "python": None, "abi": None,
                    "platform": None, "os": None, "machine": None, "libc": None, "minimum": None}  # fmt: skip
        if not native:
            platform, needed_minimum = "any", None
        elif local and family in _LIBC:
            platform, needed_minimum = f"linux_{arch}", minimum  # built on this host: its own libc
        elif highest is not None and family is not None:
            platform, needed_minimum = f"{family}_{highest[0]}_{highest[1]}_{arch}", highest
        else:
            platform, needed_minimum = self.platform, minimum
        interpreter = self.interpreter_tag if level else "py3"
        abi = ("none", "abi3", self.abi_tag)[level]
        return {
            **record,
            "tag": f"{interpreter}-{abi}-{platform}",
            "implementation": self.implementation if level else None,
            "python": self.python_version if level else None,
            "exact": level == 2,
            "abi": abi if level else None,
            "platform": None if platform == "any" else platform,
            "os": record["os"] if native else None,
            "machine": record["machine"] if native else None,
            "libc": record["libc"] if native else None,
            "minimum": list(needed_minimum) if native and needed_minimum else None,
        }

    def shebang(self, requirement: Requirement) -> str:
        """The default interpreter line of a .pyz: the Python it was built for when it needs exactly that one
        (``/usr/bin/env python3.12``, ``python3.13t`` for a free-threaded build), else ``/usr/bin/env python3``."""
        python = requirement["python"]
        if python and requirement["exact"]:
            flags = (requirement["abi"] or "").removeprefix("cp" + python.replace(".", "")).replace("d", "")
            return f"/usr/bin/env python{python}{flags}"
        return "/usr/bin/env python3"


#: The C library of a platform family.
_LIBC = {"manylinux": "glibc", "musllinux": "musl"}


def _platform_parts(platform: str) -> tuple[str | None, tuple[int, int] | None, str]:
    """``manylinux_2_34_x86_64`` → ("manylinux", (2, 34), "x86_64"); ``win_amd64`` → (None, None, "win_amd64")."""
    platform = _modern_platform(platform)
    for family in ("manylinux", "musllinux", "macosx"):
        if platform.startswith(family + "_"):
            parts = platform.split("_", 3)
            if len(parts) == 4 and parts[1].isdigit() and parts[2].isdigit():
                return family, (int(parts[1]), int(parts[2])), parts[3]
    if platform.startswith("linux_"):
        return None, None, platform.removeprefix("linux_")
    return None, None, platform


def is_pure_python(filename: str) -> bool:
    """Whether a wheel fits every platform (``py3-none-any``, ``py2.py3-none-any``): it has no compiled code."""
    _, _, _, tags = parse_wheel_filename(filename)
    return all(tag.platform == "any" for tag in tags)


def wheel_platform(filename: str) -> tuple[str, str]:
    """A wheel's (first) interpreter and platform tag, as its name spells them, legacy manylinux names in PEP 600's:
    ``black-26.1-cp312-cp312-manylinux2014_x86_64.manylinux_2_17_x86_64.whl`` → ("cp312", "manylinux_2_17_x86_64")."""
    parse_wheel_filename(filename)  # a valid wheel name: InvalidWheelFilename otherwise
    interpreter, _, platform = filename.removesuffix(".whl").split("-")[-3:]
    return interpreter.split(".")[0], _modern_platform(platform.split(".")[0])
