"""The same bytes whatever zlib the build machine has: a locked wheel's members are copied with their own compressed
bytes, and everything the build compresses goes through one pinned compressor (libdeflate, the `deflate` package).

Tested the way it fails: the same project built by this Python with its own zlib, by this Python with `zlib` replaced
by zlib-ng's compatible module (another deflate implementation, whose output differs: checked first), and by another
Python minor version running hatchling (same target, same bytecode interpreter). The three .pyz files must have one
sha256, and `verify`, `info`, the runtime's extraction (which checks every CRC) and PyzReader must work on it."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import pytest

from hatch_zipapp.layout import PyzReader
from tests.helpers import (
    Wheel,
    build_fails,
    interpreters,
    make_project,
    make_wheel,
    pylock_text,
    run_pyz,
    sha256_file,
)

#: hatchling run in a subprocess; with "swap", `zlib` is zlib-ng's compatible module before anything imports it.
BUILD = """\
import sys
if sys.argv[1] == "swap":
    import zlib_ng.zlib_ng
    sys.modules["zlib"] = zlib_ng.zlib_ng
from hatchling.cli import hatchling
sys.argv = ["hatchling", "build", "-t", "zipapp", "-d", sys.argv[2]]
hatchling()
"""
#: What hatchling and hatch-zipapp need to run (for another Python minor version, from this one's site-packages:
#: all pure Python, and `deflate` is built for the stable ABI of 3.11 and later).
NEEDED = ("hatchling", "hatch-zipapp", "installer", "packaging", "pathspec", "pluggy", "trove-classifiers", "deflate")
#: A module big and repetitive enough that two deflate implementations compress it differently.
MODULE = "".join(f"def f{i}(x):\n    return x * {i} + {i * i} - len(str(x)) // {i + 1}\n\n" for i in range(400))


def deflated(wheel: Wheel) -> Wheel:
    """``wheel`` rewritten with its members deflated (as publishers' wheels are), by this process's zlib."""
    data = {info: zipfile.ZipFile(wheel.path).read(info) for info in zipfile.ZipFile(wheel.path).infolist()}
    with zipfile.ZipFile(wheel.path, "w", zipfile.ZIP_DEFLATED) as out:
        for info, content in data.items():
            info.compress_type = zipfile.ZIP_DEFLATED
            out.writestr(info, content)
    return wheel


@pytest.fixture
def project(tmp_path: Path, wheelhouse: Path) -> Path:
    alpha = deflated(
        make_wheel(wheelhouse, "alpha", files={"alpha/__init__.py": "VALUE = 'alpha'\n", "alpha/big.py": MODULE})
    )
    tool = make_wheel(  # stored members, and a script that the install rewrites
        wheelhouse,
        "tool",
        files={"tool/__init__.py": "VALUE = 'tool'\n"},
        members={"tool-1.0.data/scripts/tool-run": "#!python\nprint('hi')\n"},
    )
    target = f'{{ python = "3.11", platform = "manylinux_2_17_x86_64", interpreter = {json.dumps(sys.executable)} }}'
    project = make_project(tmp_path / "project", dependencies=["alpha", "tool"], zipapp=f"targets = [{target}]")
    (project / "src" / "app" / "big.py").write_text(MODULE, encoding="utf-8")  # the project's own: compressed here
    (project / "pylock.toml").write_text(pylock_text([[alpha], [tool]], base_url=None))
    return project


def build_in_subprocess(project: Path, output: Path, python: str, *, swap: bool, env: dict[str, str]) -> Path:
    environment = {**os.environ, **env, "HATCH_ZIPAPP_CACHE_DIR": os.fspath(output.parent / f"{output.name}-cache")}
    result = subprocess.run(
        [python, "-c", BUILD, "swap" if swap else "own", os.fspath(output)],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (pyz,) = output.glob("*.pyz")
    return pyz


def other_minor() -> tuple[str, Path] | None:
    """Another CPython 3.11+ minor version than this one's, and its path."""
    mine = f"{sys.version_info[0]}.{sys.version_info[1]}"
    others = {version: path for version, path in interpreters().items() if version != mine}
    usable = sorted((v for v in others if tuple(map(int, v.split("."))) >= (3, 11)), key=lambda v: v.split("."))
    return (usable[0], Path(others[usable[0]])) if usable else None


def path_for_other_python(where: Path) -> str:
    """A directory with only the packages (and their metadata) that hatchling and hatch-zipapp need, linked from this
    Python's environment: for another Python version's PYTHONPATH, so that nothing but those is shared."""
    where.mkdir()
    for name in NEEDED:
        distribution = importlib.metadata.distribution(name)
        files = distribution.files or []
        tops = {Path(str(f)).parts[0] for f in files if not str(f).startswith("..")}
        root = Path(str(distribution.locate_file("")))
        for top in tops:
            if top.endswith(".pth"):  # an editable install: its source directory
                for line in (root / top).read_text().splitlines():
                    source = Path(line.strip())
                    if source.is_dir():
                        for package in source.iterdir():
                            if (package / "__init__.py").exists() and not (where / package.name).exists():
                                (where / package.name).symlink_to(package)
                continue
            if (root / top).exists() and not (where / top).exists():
                (where / top).symlink_to(root / top)
    return os.fspath(where)


def test_zlib_ng_is_another_deflate() -> None:
    """The swap changes what deflate gives (else the test below would prove nothing): zlib-ng's output differs."""
    import zlib_ng.zlib_ng

    data = MODULE.encode()
    ours, theirs = zlib.compressobj(6, zlib.DEFLATED, -15), zlib_ng.zlib_ng.compressobj(6, zlib.DEFLATED, -15)
    assert ours.compress(data) + ours.flush() != theirs.compress(data) + theirs.flush()


def test_the_same_bytes_with_another_zlib_and_another_python(project: Path, tmp_path: Path) -> None:
    own = build_in_subprocess(project, tmp_path / "own", sys.executable, swap=False, env={})
    swapped = build_in_subprocess(project, tmp_path / "swapped", sys.executable, swap=True, env={})
    # The project's wheel, compressed by each zlib, differs: the .pyz must not.
    wheels = [sha256_file(next(pyz.parent.glob("*.whl"))) for pyz in (own, swapped)]
    assert wheels[0] != wheels[1]
    assert sha256_file(swapped) == sha256_file(own)
    other = other_minor()
    assert other is not None, "no other CPython 3.11+ on this machine to run hatchling with"
    version, python = other
    path = path_for_other_python(tmp_path / "other-python-path")
    by_other = build_in_subprocess(project, tmp_path / "other", os.fspath(python), swap=False, env={"PYTHONPATH": path})
    with PyzReader(by_other) as archive:
        assert json.loads(archive.read("hatch-zipapp.json"))["target"]["python"] == "3.11"
    assert sha256_file(by_other) == sha256_file(own), f"hatchling on Python {version} gave other bytes"


def test_wheel_members_are_copied_and_the_rest_compressed_by_the_pinned_compressor(
    project: Path, tmp_path: Path
) -> None:
    import deflate

    from hatch_zipapp.reproducible import COMPRESS_LEVEL

    pyz = build_in_subprocess(project, tmp_path / "out", sys.executable, swap=False, env={})
    alpha = next((project.parent / "wheelhouse").glob("alpha-*.whl"))
    with zipfile.ZipFile(alpha) as wheel, PyzReader(pyz) as archive:
        source = wheel.getinfo("alpha/big.py")
        copied = archive.getinfo("site-packages/alpha/big.py")
        assert (copied.compress_type, copied.CRC, copied.compress_size, copied.file_size) == (
            source.compress_type,
            source.CRC,
            source.compress_size,
            source.file_size,
        )
        raw_in_wheel = alpha.read_bytes()[_data_start(alpha, source) :][: source.compress_size]
        raw_in_pyz = pyz.read_bytes()[archive.data_offset(copied.filename) :][: copied.compress_size]
        assert raw_in_pyz == raw_in_wheel  # the wheel's own compressed bytes
        stored = archive.getinfo("site-packages/tool/__init__.py")  # a stored member stays stored
        assert stored.compress_type == zipfile.ZIP_STORED
        own = archive.getinfo("site-packages/app/big.py")  # the project's own file: the pinned compressor's bytes
        pinned = bytes(deflate.deflate_compress(MODULE.encode(), COMPRESS_LEVEL))
        assert own.compress_type == zipfile.ZIP_DEFLATED
        assert pyz.read_bytes()[archive.data_offset(own.filename) :][: own.compress_size] == pinned
        pycs = [info for info in archive.infolist() if info.filename.endswith(".pyc")]
        assert pycs and all(info.compress_type in {zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED} for info in pycs)
        for info in archive.infolist():  # every member reads back, CRC checked
            assert zlib.crc32(archive.read(info)) == info.CRC
    verify = subprocess.run(
        [sys.executable, "-m", "hatch_zipapp", "verify", os.fspath(pyz)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    shown = subprocess.run(
        [sys.executable, "-m", "hatch_zipapp", "info", os.fspath(pyz)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert shown.returncode == 0 and json.loads(shown.stdout)["target"]["python"] == "3.11", shown.stderr
    env = {**os.environ, "ZIPAPP_ROOT": os.fspath(tmp_path / "root"), "ZIPAPP_VERIFY": "1"}
    assert "alpha" in run_pyz(pyz, "alpha", "tool", env=env)  # extracted (every CRC checked), then run


def _data_start(path: Path, info: zipfile.ZipInfo) -> int:
    header = path.read_bytes()[info.header_offset : info.header_offset + 30]
    return info.header_offset + 30 + int.from_bytes(header[26:28], "little") + int.from_bytes(header[28:30], "little")


def test_the_pinned_compressor_is_what_compresses() -> None:
    """What the build compresses is the deflate package's output at the pinned level, not zlib's."""
    import deflate

    from hatch_zipapp.reproducible import COMPRESS_LEVEL, DEFLATE_VERSION, deflate_member

    assert importlib.metadata.version("deflate") == DEFLATE_VERSION
    method, data = deflate_member(MODULE.encode())
    assert method == zipfile.ZIP_DEFLATED and data == bytes(deflate.deflate_compress(MODULE.encode(), COMPRESS_LEVEL))
    assert zlib.decompress(data, -15) == MODULE.encode()
    assert deflate_member(b"") == (zipfile.ZIP_STORED, b"")  # no smaller deflated: stored
    noise = os.urandom(1000)  # incompressible
    assert deflate_member(noise)[0] == zipfile.ZIP_STORED


def test_another_deflate_version_stops_the_build(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A build whose `deflate` is not the pinned version could give other bytes: it stops first, in one line."""
    from hatch_zipapp import reproducible
    from hatch_zipapp.errors import ConfigError

    installed = importlib.metadata.version("deflate")
    monkeypatch.setattr(reproducible, "DEFLATE_VERSION", "0.0.1")
    message = build_fails(project, ConfigError, "`deflate` package 0.0.1", f"this environment has {installed}")
    assert "\n" not in message and "pip install deflate==0.0.1" in message
