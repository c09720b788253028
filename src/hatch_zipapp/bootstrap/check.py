# ruff: noqa: UP031
# The first code a .pyz runs (the start of its ``__main__.py``, written by hatch_zipapp/archive.py): it must parse and
# run on every Python 3 from 3.6 up, so no ``from __future__ import annotations``, no f-strings with ``=``, no
# walrus, no annotation evaluated at run time that an old Python cannot evaluate. Standard library only.
"""Refuse the wrong interpreter before anything else runs: one line on stderr, exit status 1, no traceback.

The build records what the .pyz needs (:class:`Requirement`, a literal in ``__main__.py``, also under ``target`` in
``hatch-zipapp.json``): the implementation, Python version and ABI of its extension modules (``exact``: that version
and ABI; else abi3: that version or newer), the platform (OS, machine, libc and the oldest version of it that every
embedded wheel accepts) and every ``requires-python``: the project's and each embedded distribution's. The
specifiers are evaluated here with the small PEP 440 evaluator below (release numbers only: a clause with a
pre-, post- or dev-release, an epoch or a local version is not understood and does not refuse).

``ZIPAPP_SKIP_INTERPRETER_CHECK=1`` skips the check. ``ZIPAPP_INFO=1`` on a refused interpreter still prints the
build information.

Then :func:`runtime_record` checks the runtime's modules against the .pyz's record before they are imported:
Python's zipimport checks no CRC, so a damaged module would otherwise be run.
"""

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TypedDict

    class Requirement(TypedDict):
        """What a .pyz needs of the interpreter that runs it (written at build time, read by :func:`check`)."""

        tag: str  # the tag in the .pyz's name: cp312-cp312-manylinux_2_34_x86_64
        implementation: str | None  # sys.implementation.name ("cpython"), None: any
        python: str | None  # "3.12"
        exact: bool  # True: exactly that Python and ABI; False (abi3): that version or newer
        abi: str | None  # "cp312", "cp313t" (free-threaded), "cp312d" (debug), "abi3"; None: no extension modules
        platform: str | None  # the platform tag in the name, None for "any"
        os: str | None  # sys.platform: "linux", "darwin", "win32"
        machine: str | None  # "x86_64", "aarch64", "arm64", "AMD64"
        libc: str | None  # "glibc", "musl"
        minimum: list[int] | None  # the oldest glibc, musl or macOS version every embedded wheel accepts
        requires_python: list[list[str]]  # [specifier set, whose]: the project's, then each distribution's


SKIP = "ZIPAPP_SKIP_INTERPRETER_CHECK"
_NAMES = {"cpython": "CPython", "pypy": "PyPy"}


def _release(text: "str") -> "tuple[int, ...] | None":
    parts = text.split(".")
    if not all(part.isdigit() for part in parts):
        return None
    return tuple(int(part) for part in parts)


def _padded(a: "tuple[int, ...]", b: "tuple[int, ...]") -> "tuple[tuple[int, ...], tuple[int, ...]]":
    size = max(len(a), len(b))
    return a + (0,) * (size - len(a)), b + (0,) * (size - len(b))


def _clause(clause: "str", version: "tuple[int, ...]") -> bool:
    """Whether a final release ``version`` satisfies one PEP 440 clause (``>=3.8``, ``==3.*``, ``~=3.10``);
    a clause this evaluator does not understand is satisfied."""
    clause = clause.strip()
    for operator in ("===", "~=", "==", "!=", "<=", ">=", "<", ">"):
        if clause.startswith(operator):
            break
    else:
        return True
    text = clause[len(operator) :].strip()
    if operator == "===":
        return text == ".".join(map(str, version))
    if text.startswith("v"):
        text = text[1:]
    wildcard = text.endswith(".*") and operator in ("==", "!=")
    spec = _release(text[:-2] if wildcard else text)
    if spec is None:
        return True
    if wildcard:
        matches = (version + (0,) * len(spec))[: len(spec)] == spec
        return matches if operator == "==" else not matches
    if operator == "~=":
        if len(spec) < 2:
            return True
        a, b = _padded(version, spec)
        return a >= b and (version + (0,) * len(spec))[: len(spec) - 1] == spec[:-1]
    a, b = _padded(version, spec)
    return {"==": a == b, "!=": a != b, "<=": a <= b, ">=": a >= b, "<": a < b, ">": a > b}[operator]


def satisfies(specifiers: "str", version: "tuple[int, ...]") -> bool:
    """Whether ``version`` (a final release: ``(3, 11, 7)``) is in a PEP 440 specifier set (``>=3.8, !=3.9.*``)."""
    return all(_clause(clause, version) for clause in specifiers.split(",") if clause.strip())


def _glibc() -> "tuple[int, ...] | None":
    try:
        text = os.confstr("CS_GNU_LIBC_VERSION")  # "glibc 2.36"
    except (AttributeError, OSError, ValueError):
        return None
    if not text or not text.startswith("glibc "):
        return None
    return _release(text.split()[1].split("-")[0])


def _machine() -> str:
    if sys.platform == "win32":  # what the interpreter was built for: "[MSC v.1937 64 bit (AMD64)]"
        return "ARM64" if "(ARM64)" in sys.version else "AMD64" if sys.maxsize > 2**32 else "x86"
    machine = os.uname().machine
    if sys.platform.startswith("linux") and sys.maxsize <= 2**32:  # a 32-bit Python on a 64-bit kernel
        machine = {"x86_64": "i686", "aarch64": "armv7l"}.get(machine, machine)
    return machine


def _version_text(numbers: "list[int] | tuple[int, ...]") -> str:
    return ".".join(map(str, numbers))


def _platform_problem(required: "Requirement") -> "tuple[str, str] | None":
    """What this machine lacks of the required platform, and what it has (for the message)."""
    wanted_os = required["os"]
    if wanted_os is None:
        return None
    if not sys.platform.startswith(wanted_os):
        return "sys.platform %s" % wanted_os, sys.platform
    machine = _machine()
    wanted_machine = required["machine"]
    if wanted_machine and wanted_machine not in ("universal2", "universal", "intel") and machine != wanted_machine:
        return "machine %s" % wanted_machine, machine
    minimum = required["minimum"]
    libc = required["libc"]
    if libc == "glibc":
        have = _glibc()
        if have is None:
            return "glibc %s or newer" % _version_text(minimum or [2]), "no glibc (musl?)"
        if minimum and have < tuple(minimum):
            return "glibc %s or newer" % _version_text(minimum), "glibc %s" % _version_text(have)
    elif libc == "musl" and _glibc() is not None:
        return "musl libc", "glibc"
    elif wanted_os == "darwin" and minimum:
        import platform

        have = _release(platform.mac_ver()[0]) or (0,)
        if have < tuple(minimum):
            return "macOS %s or newer" % _version_text(minimum), "macOS %s" % _version_text(have)
    return None


def _abi() -> str:
    flags = getattr(sys, "abiflags", "")
    return "cp%d%d%s" % (sys.version_info[0], sys.version_info[1], flags)


def _python_problem(required: "Requirement") -> "str | None":
    """What the Python running lacks, or None."""
    implementation = required["implementation"]
    python = required["python"]
    name = sys.implementation.name
    if implementation and name != implementation:
        return "%s %s" % (_NAMES.get(implementation, implementation), python or "")
    if python:
        wanted = _release(python) or ()
        running = tuple(sys.version_info[:2])
        if required["exact"] and running != wanted:
            return "%s %s" % (_NAMES.get(name, name), python)
        if not required["exact"] and running < wanted:
            return "%s %s or newer" % (_NAMES.get(name, name), python)
    abi = required["abi"]
    if abi == "abi3" and "t" in getattr(sys, "abiflags", ""):
        return "a Python with the stable ABI (abi3), not a free-threaded one"
    if abi and abi != "abi3" and abi not in (_abi(), _abi().replace("d", "")):
        return "ABI %s (this Python's is %s)" % (abi, _abi())
    version = tuple(sys.version_info[:3])
    for specifiers, whose in required["requires_python"]:
        if not satisfies(specifiers, version):
            return "Python %s (%s)" % (specifiers, whose)
    return None


def _built_for(required: "Requirement") -> str:
    parts = []
    if required["implementation"]:
        parts.append(_NAMES.get(required["implementation"] or "", required["implementation"] or ""))
    if required["python"]:
        parts.append(required["python"] + ("" if required["exact"] else " or newer"))
    text = " ".join(parts) or "any Python 3"
    if required["abi"]:
        text += ", ABI %s" % required["abi"]
    if required["platform"]:
        text += ", %s" % required["platform"]
        details = []
        if required["libc"]:
            details.append(
                "%s %s or newer" % (required["libc"], _version_text(required["minimum"] or []))
                if required["minimum"]
                else required["libc"]
            )
        elif required["os"] == "darwin" and required["minimum"]:
            details.append("macOS %s or newer" % _version_text(required["minimum"]))
        if required["machine"]:
            details.append(required["machine"])
        if details:
            text += " (%s)" % ", ".join(details)
    for specifiers, whose in required["requires_python"][:1]:
        text += ", requires-python %s (%s)" % (specifiers, whose)
    return text


def _running() -> str:
    name = sys.implementation.name
    text = "%s %s (%s, ABI %s" % (
        _NAMES.get(name, name),
        _version_text(sys.version_info[:3]),
        sys.executable or "unknown path",
        _abi(),
    )
    if sys.platform.startswith("linux"):
        glibc = _glibc()
        text += ", %s" % ("glibc " + _version_text(glibc) if glibc else "no glibc")
    return text + ", %s)" % _machine()


def _suggested_python(required: "Requirement") -> "str | None":
    """The ``pythonX.Y`` command that would run it, when one can be named."""
    python = required["python"]
    if python and required["exact"]:
        flags = (required["abi"] or "")[len("cp" + python.replace(".", "")) :].replace("d", "")
        return "python" + python + flags
    low = _release(python or "3.0") or (3, 0)
    for minor in range(max(low[1], 6) if len(low) > 1 else 6, 40):
        if all(
            satisfies(specifiers, (3, minor, 0)) or satisfies(specifiers, (3, minor, 99))
            for specifiers, _ in required["requires_python"]
        ):
            return "python3.%d" % minor
    return None


def _refuse(required: "Requirement", needs: "str", has: "str", platform: bool) -> None:
    program = sys.argv[0] if sys.argv and sys.argv[0] else "app.pyz"
    shown = os.path.basename(program)
    if platform:
        fix = "Build it for this machine"
        glibc = _glibc() if sys.platform.startswith("linux") else None
        if glibc and len(glibc) > 1:
            fix += ' (a target with platform = "manylinux_%d_%d_%s")' % (glibc[0], glibc[1], _machine())
    else:
        command = _suggested_python(required)
        fix = "Run it with %s (%s %s)" % (command, command, program) if command else "Run it with a Python that fits"
        if not needs.startswith("Python "):  # not a requires-python: the .pyz's own Python or ABI
            fix += ", or build it for this interpreter"
    message = "%s: needs %s, not %s. Built for %s; running %s. %s; %s=1 skips this check.\n" % (
        shown,
        needs,
        has,
        _built_for(required),
        _running(),
        fix,
        SKIP,
    )
    sys.stderr.write(message)
    sys.stderr.flush()
    raise SystemExit(1)


def _print_info() -> None:
    """``ZIPAPP_INFO=1`` on a refused interpreter: the build information still prints (it says what to run)."""
    loader = sys.modules["__main__"].__dict__.get("__loader__")
    archive = getattr(loader, "archive", None)
    if archive is None:
        return
    data = loader.get_data(os.path.join(archive, "hatch-zipapp.json"))  # type: ignore[union-attr]
    sys.stdout.write(data.decode("utf-8"))
    sys.stdout.flush()
    raise SystemExit(0)


def check(required: "Requirement") -> None:
    """Return when this interpreter can run the .pyz; else write one line to stderr and exit with status 1."""
    if os.environ.get(SKIP, "").strip().lower() in ("1", "true", "yes", "on"):
        return
    problem = _platform_problem(required)
    platform = problem is not None
    if problem is None:
        needs = _python_problem(required)
        if needs is None:
            return
        name = sys.implementation.name
        problem = needs, "%s %s" % (_NAMES.get(name, name), _version_text(sys.version_info[:3]))
    if os.environ.get("ZIPAPP_INFO", "").strip().lower() in ("1", "true", "yes", "on"):
        _print_info()
    _refuse(required, problem[0], problem[1], platform)


#: The record of the .pyz's members (archive.py, bootstrap/documents.py: RECORD), and what a damaged start says
#: (bootstrap/documents.py: Damaged; this module cannot import the runtime's, which it is about to check).
RECORD = "hatch-zipapp.sha256"
_DAMAGED = "%s: damaged .pyz (%s), rebuild or download it again\n"


def _runtime_problem(loader: "object", archive: "str", record: "bytes", package: "str", modules: "list[str]") -> str:
    """What is wrong with the runtime's modules in ``archive`` (``package/MODULE.py`` and, when compiled, ``.pyc``),
    compared with ``record``; "" when nothing is."""
    import hashlib

    needle = ("  %s/" % package).encode()
    found: dict[str, str] = {}
    start = record.find(needle)
    while start != -1:
        end = record.find(b"\n", start)
        if start >= 64 and (start == 64 or record[start - 65 : start - 64] == b"\n") and end != -1:
            name = record[start + 2 : end].decode("utf-8", "replace")
            found[name] = record[start - 64 : start].decode("ascii", "replace")
        start = record.find(needle, start + 1)
    suffixes = (".py", ".pyc") if any(name.endswith(".pyc") for name in found) else (".py",)
    for module in modules:
        for suffix in suffixes:
            if "%s/%s%s" % (package, module, suffix) not in found:
                return "%s has no sha256 of %s/%s%s" % (RECORD, package, module, suffix)
    for name in sorted(found):
        data = loader.get_data(os.path.join(archive, name))  # type: ignore[attr-defined]
        if hashlib.sha256(data).hexdigest() != found[name]:
            return "%s differs from its sha256 in %s" % (name, RECORD)
    return ""


def runtime_record(package: "str", modules: "list[str]") -> "bytes | None":
    """The .pyz's record, once the runtime's modules (``package``: ``modules``) are what it says: else one line on
    stderr and exit status 1, nothing of them run. None when ``__main__`` is not run from a zip (nothing to check)."""
    loader = sys.modules["__main__"].__dict__.get("__loader__")
    archive = getattr(loader, "archive", None)
    if not isinstance(archive, str):
        return None
    try:
        record = loader.get_data(os.path.join(archive, RECORD))  # type: ignore[union-attr]
        problem = _runtime_problem(loader, archive, record, package, modules)
    except Exception as e:  # zipimport's ZipImportError, OSError, zlib.error, EOFError: the bytes are not as built
        problem = "%s is unreadable: %s" % (package, type(e).__name__)
    if not problem:
        return record  # type: ignore[no-any-return]
    program = sys.argv[0] if sys.argv and sys.argv[0] else archive
    sys.stderr.write(_DAMAGED % (os.path.basename(program), problem))
    sys.stderr.flush()
    raise SystemExit(1)
