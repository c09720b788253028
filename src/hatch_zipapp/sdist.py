"""Source distributions: a locked package that has only an sdist for the target is built into a wheel.

The sdist's bytes are verified against the lock like any file; it is built in an isolated build environment
(`uv build`, else `pip wheel`) on the build host, and the wheel is accepted only if its tags fit the target:
pure Python fits anywhere, a native extension only a target that the build host can stand for.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from hatch_zipapp import scratch
from hatch_zipapp.errors import NoMatchingFileError, ZipappError
from hatch_zipapp.lock import LockedFile, Pin, find_uv

if TYPE_CHECKING:
    from hatch_zipapp.context import BuildContext

__all__ = ["wheel_from_sdist"]

_SHOWN_LINES = 20  # of the build's output, when it fails: the backend's error and the installer's summary
_EARLIER_ERRORS = 10


def wheel_from_sdist(context: BuildContext, pin: Pin, locked: LockedFile, data: bytes) -> tuple[str, bytes]:
    """The wheel built from a verified sdist (``locked``'s bytes; cached by its sha256), if it fits the target."""
    filename, sha256, target, cache = locked.filename, locked.sha256, context.target, context.fetcher.cache
    built = cache.built_wheel(sha256)
    if built is None:
        built = _build(filename, data, pin, epoch=context.epoch)
        cache.store_built_wheel(sha256, *built)
    wheel_name, wheel = built
    if target.rank(wheel_name) is None:
        where = "for the build host" if not target.is_host else "here"
        message = (
            f"Package {pin.name} {pin.version} ({pin.origin}) has no wheel for {target.describe()}, and its source "
            f"distribution {filename} builds a native wheel {where} ({wheel_name}) that does not fit that target. "
            f"Build on a runner of the target's platform, or build a wheel there (`pip wheel --no-deps "
            f"{pin.name}=={pin.version}`) and add its directory to `wheel-dirs`"
        )
        raise NoMatchingFileError(message)
    return wheel_name, wheel


def _build(filename: str, data: bytes, pin: Pin, *, epoch: int) -> tuple[str, bytes]:
    with scratch.directory("sdist") as temp:
        sdist = Path(temp, filename)
        sdist.write_bytes(data)
        out = Path(temp, "out")
        uv = find_uv()
        if uv is not None:
            # Not --quiet: it hides the backend's own output, which is what says why a build failed.
            command = [uv, "build", "--wheel", "--no-progress", "--python", sys.executable, "--out-dir", str(out)]
            command.append(str(sdist))
        else:
            command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(sdist)]
        # Unbuffered, so a Python backend's log and its error reach uv (which relays both) in the order written.
        env = {**os.environ, "SOURCE_DATE_EPOCH": str(epoch), "PYTHONHASHSEED": "0", "PYTHONUNBUFFERED": "1"}
        try:
            result = subprocess.run(
                command, cwd=temp, env=env, capture_output=True, text=True, check=False, timeout=1800
            )
        except OSError as e:
            message = f"Could not run `{command[0]}` to build {filename}: {e}"
            raise ZipappError(message) from e
        wheels = sorted(out.glob("*.whl")) if out.is_dir() else []
        if result.returncode != 0 or len(wheels) != 1:
            output = _tail((result.stderr or result.stdout).strip().splitlines())
            no_tool = "No module named pip" in result.stderr
            fix = (
                "install uv in the build environment (`hatch-zipapp[uv]` in [build-system] requires)"
                if no_tool
                else f"fix the build, or build a wheel of {pin.name} and add its directory to `wheel-dirs`"
            )
            message = (
                f"Building a wheel of {pin.name} {pin.version} from its source distribution {filename} failed "
                f"({' '.join(command[:3])} ...):\n  " + "\n  ".join(output) + f"\nTo fix: {fix}"
            )
            raise ZipappError(message)
        return wheels[0].name, wheels[0].read_bytes()


def _tail(lines: list[str]) -> list[str]:
    """What a failed build's output shows: its last lines, after the earlier lines that mention an error (uv relays a
    backend's stdout and stderr as two streams, so its error may come out before the end of its log)."""
    earlier = [line for line in lines[:-_SHOWN_LINES] if "error" in line.lower()][-_EARLIER_ERRORS:]
    return [*earlier, "...", *lines[-_SHOWN_LINES:]] if earlier else lines[-_SHOWN_LINES:]
