"""`hatch-zipapp` (or `python -m hatch_zipapp`): the commands a build machine needs besides `hatch build`.

hatch-zipapp lock [--format pylock|requirements] [-o FILE] [--project DIR] [-- TOOL ARGS...]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from hatch_zipapp.lock import find_uv

__all__ = ["main"]


def _lock(options: argparse.Namespace) -> int:
    project = Path(options.project).resolve()
    pyproject = project / "pyproject.toml"
    if not pyproject.is_file():
        print(f"hatch-zipapp lock: no pyproject.toml in {project}", file=sys.stderr)
        return 2
    extra = [arg for arg in options.tool_args if arg != "--"]
    if options.format == "pylock":
        output = options.output or "pylock.toml"
        uv = find_uv()
        if uv is None:
            print(
                "hatch-zipapp lock: a universal pylock.toml is made by uv, which is not installed: "
                "`pip install 'hatch-zipapp[uv]'` (or `--format requirements` for a pip-compile lock)",
                file=sys.stderr,
            )
            return 2
        command = [uv, "pip", "compile", "--universal", "--generate-hashes", "--quiet", "-o", output]
        command += [*extra, "pyproject.toml"]
    else:
        output = options.output or "requirements.txt"
        command = [sys.executable, "-m", "piptools", "compile", "--generate-hashes", "--quiet", "--output-file", output]
        command += ["--strip-extras", *extra, "pyproject.toml"]
    result = subprocess.run(command, cwd=project, check=False)
    if result.returncode == 0:
        print(f"hatch-zipapp lock: wrote {project / output}")
    return result.returncode


def _info(options: argparse.Namespace) -> int:
    import zipfile

    try:
        with zipfile.ZipFile(options.file) as archive:
            sys.stdout.write(archive.read("hatch-zipapp.json").decode("utf-8"))
    except (OSError, zipfile.BadZipFile, KeyError) as e:
        print(f"hatch-zipapp info: {options.file} is not a .pyz built by hatch-zipapp ({e})", file=sys.stderr)
        return 2
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hatch-zipapp", description="Tools for hatch-zipapp builds.")
    commands = parser.add_subparsers(dest="command", required=True)
    lock = commands.add_parser(
        "lock",
        help="write a hashed lock of the project's dependencies",
        description=(
            "Write a lock of [project] dependencies with the sha256 of every file: a universal PEP 751 pylock.toml "
            "(every platform and Python version the project supports; made by uv), or a pip-compile requirements "
            "file (for the interpreter running it). Arguments after `--` go to the tool (uv pip compile / pip-compile)."
        ),
    )
    lock.add_argument("--format", choices=["pylock", "requirements"], default="pylock")
    lock.add_argument("-o", "--output", help="the file to write (default: pylock.toml or requirements.txt)")
    lock.add_argument("--project", default=".", help="the project directory (default: the current one)")
    lock.add_argument("tool_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    info = commands.add_parser(
        "info",
        help="print a .pyz's build information as JSON",
        description="Print what a .pyz carries (project, target, lock digest, distributions and their hashes), "
        "as `ZIPAPP_INFO=1 ./app.pyz` does on a server.",
    )
    info.add_argument("file", help="the .pyz")
    options = parser.parse_args(argv)
    return _info(options) if options.command == "info" else _lock(options)


if __name__ == "__main__":
    sys.exit(main())
