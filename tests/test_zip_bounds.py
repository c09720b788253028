"""A wheel's members copied into the .pyz as they are (their compressed bytes) are read by the build exactly as the
runtime reads them (issue 22: a deflate stream longer than its member built, passed `verify`, and failed at every
start), and a member of any size is extracted by the runtime and checked by `verify` in constant memory."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import pytest

from hatch_zipapp.errors import UnsafeWheelError
from tests.helpers import IndexServer, Wheel, build, build_fails, make_project, pylock_text
from tests.test_zip_differential import Member, deflated, stored, zip_bytes

CONTENT = b"x = 1\n" * 40
#: alpha 1.0's files besides the one each test adds
FILES = {
    "alpha/__init__.py": b'VALUE = "alpha 1.0"\n',
    "alpha-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: alpha\nVersion: 1.0\n",
    "alpha-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")


def _wheel(wheelhouse: Path, data: Member, content: bytes) -> Wheel:
    """``alpha`` 1.0 written by this test's own zip writer: its module, its metadata, and ``data`` (whose content, as
    zipfile reads it, is ``content``: its RECORD line says so)."""
    files = FILES
    record = "".join(f"{path},{_record_hash(body)},{len(body)}\n" for path, body in files.items())
    record += f"{data.name.decode()},{_record_hash(content)},{len(content)}\nalpha-1.0.dist-info/RECORD,,\n"
    members = [deflated(path.encode(), body) for path, body in files.items()]
    members += [data, stored(b"alpha-1.0.dist-info/RECORD", record.encode())]
    path = wheelhouse / "alpha-1.0-py3-none-any.whl"
    path.write_bytes(zip_bytes(members))
    with zipfile.ZipFile(path) as archive:
        assert archive.read(data.name.decode()) == content  # zipfile reads it (and installer would)
    return Wheel(path, "alpha", "1.0")


def _stream(content: bytes, *, flush: int = zlib.Z_FINISH) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(content) + compressor.flush(flush)


@pytest.mark.parametrize(
    ("stream", "why"),
    [
        (_stream(CONTENT + b"y = 2\n"), f"its deflate stream inflates past its declared {len(CONTENT)} bytes"),
        (_stream(CONTENT, flush=zlib.Z_SYNC_FLUSH), "its deflate stream is cut short"),
        (_stream(CONTENT) + b"\0\0", "2 bytes after the end of its deflate stream"),
    ],
    ids=["longer", "no final block", "bytes after it"],
)
def test_a_member_the_runtime_would_read_otherwise_fails_the_build(
    tmp_path: Path, wheelhouse: Path, index: IndexServer, stream: bytes, why: str
) -> None:
    """zipfile reads each of these members as ``CONTENT`` (it stops at the declared size, ignores what follows the
    stream's end, and accepts a stream without its final block); the runtime reading their copies would not. The build
    names the wheel, the member, why, and the fix, and leaves dist/ as it was."""
    alpha = _wheel(wheelhouse, deflated(b"alpha/data.py", CONTENT, stream), CONTENT)
    project = make_project(tmp_path / "p", dependencies=["alpha"])
    (project / "pylock.toml").write_text(pylock_text([[alpha]], base_url=index.url))
    message = build_fails(project, UnsafeWheelError)
    assert message == (
        f"Wheel alpha-1.0-py3-none-any.whl has a member 'alpha/data.py' that the .pyz's runtime would refuse ({why}): "
        "refusing to install it. Lock a release of that package whose wheel is intact, or rebuild the wheel"
    )


def test_an_intact_member_written_the_same_way_builds_and_runs(
    tmp_path: Path, wheelhouse: Path, index: IndexServer
) -> None:
    """The same wheel with an ordinary deflate stream: built, its member copied, and run."""
    alpha = _wheel(wheelhouse, deflated(b"alpha/data.py", CONTENT), CONTENT)
    project = make_project(tmp_path / "p", dependencies=["alpha"])
    (project / "pylock.toml").write_text(pylock_text([[alpha]], base_url=index.url))
    pyz = build(project)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIV_", "ZIPAPP_"))}
    env["ZIPAPP_ROOT"] = os.fspath(tmp_path / "root")
    result = subprocess.run(
        [sys.executable, os.fspath(pyz), "alpha"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert (result.returncode, result.stdout) == (0, "alpha: alpha 1.0 from site-packages\napp ok\n"), result.stderr


# -- memory ---------------------------------------------------------------------------------------------------------

BIG = 256 << 20  # a member of 256 MiB of zeros: 256 KB deflated
LIMIT = 120 << 20  # the peak resident memory allowed to the process that extracts or checks it


def _big_wheel(wheelhouse: Path) -> Wheel:
    """``alpha`` with ``alpha/zeros.bin``, written by zipfile a MiB at a time (never whole in memory here either)."""
    files = FILES
    digest = hashlib.sha256()
    for _ in range(BIG >> 20):
        digest.update(bytes(1 << 20))
    zeros = "sha256=" + base64.urlsafe_b64encode(digest.digest()).decode().rstrip("=")
    record = "".join(f"{path},{_record_hash(body)},{len(body)}\n" for path, body in files.items())
    record += f"alpha/zeros.bin,{zeros},{BIG}\nalpha-1.0.dist-info/RECORD,,\n"
    path = wheelhouse / "alpha-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, body in files.items():
            archive.writestr(name, body)
        with archive.open("alpha/zeros.bin", "w") as out:
            for _ in range(BIG >> 20):
                out.write(bytes(1 << 20))
        archive.writestr("alpha-1.0.dist-info/RECORD", record)
    assert path.stat().st_size < 2 << 20
    return Wheel(path, "alpha", "1.0")


def _peak(command: list[str], env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run ``command`` as the only child of a fresh interpreter, which then says its peak resident memory (the most
    any of its children reached, in bytes: Linux gives KiB)."""
    probe = (
        "import resource, subprocess, sys\n"
        "r = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "sys.stderr.write(r.stderr); sys.stdout.write(r.stdout)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "sys.exit(r.returncode)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, *command], env=env, capture_output=True, text=True, timeout=600, check=False
    )
    *output, peak = result.stdout.splitlines()
    return subprocess.CompletedProcess(command, result.returncode, "\n".join(output), result.stderr), int(peak) * 1024


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss in KiB, and the disk space: Linux")
def test_a_large_member_in_constant_memory(tmp_path: Path, wheelhouse: Path, index: IndexServer) -> None:
    alpha = _big_wheel(wheelhouse)
    project = make_project(tmp_path / "p", dependencies=["alpha"], zipapp="bytecode = false")
    (project / "pylock.toml").write_text(pylock_text([[alpha]], base_url=index.url))
    pyz = build(project)
    assert pyz.stat().st_size < 4 << 20
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIV_", "ZIPAPP_"))}
    env["ZIPAPP_ROOT"] = os.fspath(tmp_path / "root")

    started, peak = _peak([sys.executable, os.fspath(pyz), "alpha"], env)
    assert (started.returncode, started.stdout) == (0, "alpha: alpha 1.0 from site-packages\napp ok"), started.stderr
    assert peak < LIMIT, f"the runtime's peak: {peak >> 20} MiB"
    (final,) = [n for n in os.listdir(tmp_path / "root") if not n.startswith(".")]
    extracted = tmp_path / "root" / final / "site-packages" / "alpha" / "zeros.bin"
    assert extracted.stat().st_size == BIG
    with extracted.open("rb") as f:
        assert all(piece == bytes(len(piece)) for piece in iter(lambda: f.read(1 << 20), b""))

    checked, peak = _peak([sys.executable, "-m", "hatch_zipapp", "verify", os.fspath(pyz)], env)
    assert (checked.returncode, checked.stdout) == (0, f"hatch-zipapp verify: {pyz}: every member matches its record")
    assert peak < LIMIT, f"verify's peak: {peak >> 20} MiB"
