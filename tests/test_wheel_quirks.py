"""Wheels as the index serves them, not only as Python's zipfile writes them: the quirk corpus.

Every other test wheel comes from :mod:`zipfile`: no extra fields, no data descriptors, ASCII names, no directory
entries. Real wheels have all of these, and the build copies a locked wheel's compressed bytes from where its local
header says they start (install.RawMember), so a reader that takes the central directory's extra length, or a name's
length in characters, reads the wrong bytes only on such a wheel. Each quirk is made here, small, the way the real
writers make it:

- Info-ZIP ``zip`` (as ``python setup.py bdist_wheel`` of old, and many hand-made wheels): ``UT``/``ux`` extra fields
  in each local header longer than the central directory's, and a directory entry for every directory (the wheel's
  ``.data/scripts/`` too); ``zip -X -D``: neither;
- a streaming writer (as wheel builders that write to a pipe): general purpose bit 3, zero CRC and sizes in the local
  header, a data descriptor after the data (written byte by byte here);
- ZIP64 local headers on small members (zipfile's ``force_zip64``, as writers that cannot know a size ahead do);
- names that are not ASCII (``données.txt``, ``日本/データ.txt``), with the UTF-8 flag;
- a backslash in a name (Windows-made zips): refused, one line naming the wheel and the member;
- modes as writers leave them: 0777, 0700, 0666 from Info-ZIP, no Unix mode at all from a zip made on Windows.

Each quirk is checked in-process (the staged bytes, read back through the wheel's raw members) and once end to end:
one build of a project locking all of them, run as a server runs it, printing what it reads from each.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
import subprocess
import zipfile
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from hatch_zipapp.errors import UnsafeWheelError
from hatch_zipapp.install import StagingTree, install_wheel
from tests.helpers import Wheel, build, make_project, pylock_text, run_pyz

PYTHON = "/usr/bin/python3"
#: Contents compressible enough to be deflated by every writer, different in each member (a wrong offset shows).
TEXT = "quirk {name}: " + "la donnée " * 40 + "\n"


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")


def wheel_files(name: str, version: str, files: Mapping[str, bytes]) -> dict[str, bytes]:
    """A wheel's members (metadata and a correct RECORD included), by name, in the order a writer adds them."""
    dist = f"{name}-{version}"
    contents = dict(files)
    contents[f"{dist}.dist-info/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    wheel = "Wheel-Version: 1.0\nGenerator: quirks\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    contents[f"{dist}.dist-info/WHEEL"] = wheel.encode()
    record = "".join(f"{path},{_record_hash(data)},{len(data)}\n" for path, data in contents.items())
    contents[f"{dist}.dist-info/RECORD"] = (record + f"{dist}.dist-info/RECORD,,\n").encode()
    return contents


def write_infozip(
    path: Path, files: Mapping[str, bytes], *options: str, modes: Mapping[str, int] | None = None
) -> None:
    """The wheel written by Info-ZIP's ``zip -r`` (with ``options``: ``-X -D`` leaves out the extra fields and the
    directory entries) from a tree of the files, each with its mode in ``modes`` (else 0644)."""
    tree = path.with_suffix(".tree")
    for name, data in files.items():
        target = tree.joinpath(*name.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        target.chmod((modes or {}).get(name, 0o644))
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    subprocess.run(["zip", "-q", "-r", *options, os.fspath(path.resolve()), "."], cwd=tree, env=env, check=True,
                   timeout=60)  # fmt: skip


def write_streaming(path: Path, files: Mapping[str, bytes]) -> None:
    """The wheel as a streaming writer writes it, byte by byte: each local header with bit 3 set and zero CRC and
    sizes, the deflated data, then a data descriptor (with its optional signature); the central directory has the
    real values. Names that are not ASCII get the UTF-8 flag."""
    out, central, offset = bytearray(), bytearray(), 0
    for name, data in files.items():
        raw = name.encode("utf-8")
        flags = 0x08 | (0 if name.isascii() else 0x800)
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        deflated = compressor.compress(data) + compressor.flush()
        crc = zlib.crc32(data)
        dos_time, dos_date = 0, (2020 - 1980) << 9 | 1 << 5 | 1
        local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, flags, 8, dos_time, dos_date, 0, 0, 0, len(raw), 0)
        descriptor = struct.pack("<4s3L", b"PK\x07\x08", crc, len(deflated), len(data))
        central += struct.pack(
            "<4s6H3L5H2L", b"PK\x01\x02", 3 << 8 | 20, 20, flags, 8, dos_time, dos_date, crc, len(deflated),
            len(data), len(raw), 0, 0, 0, 0, 0o100644 << 16, offset,
        ) + raw  # fmt: skip
        block = local + raw + deflated + descriptor
        out += block
        offset += len(block)
    count = len(files)
    out += central + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(central), offset, 0)
    path.write_bytes(bytes(out))


def write_zip64(path: Path, files: Mapping[str, bytes]) -> None:
    """The wheel with a ZIP64 extra field in every local header (small members: the central directory has none)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w", force_zip64=True) as member:
                member.write(data)


WRITERS: dict[str, Callable[[Path, Mapping[str, bytes]], None]] = {
    "infozip": lambda path, files: write_infozip(path, files),
    "infozip-X-D": lambda path, files: write_infozip(path, files, "-X", "-D"),
    "streaming": write_streaming,
    "zip64": write_zip64,
}


#: The data files of each quirk wheel: names that are not ASCII where the writer flags them UTF-8 (Info-ZIP's zip
#: 3.0 does not: such a wheel is refused, :func:`test_an_unflagged_name_that_is_not_ascii_is_refused`).
DATA_FILES = ("données.txt", "日本/データ.txt", "plain.txt", "deep/er/file.txt")
ASCII_DATA_FILES = ("plain.txt", "deep/er/file.txt")


def data_files(writer: str) -> tuple[str, ...]:
    return ASCII_DATA_FILES if writer.startswith("infozip") else DATA_FILES


def quirk_files(name: str, data: tuple[str, ...] = DATA_FILES) -> dict[str, bytes]:
    """A package ``name`` with a module, ``data`` files (directories two deep), and a script in the wheel's
    ``.data/scripts/`` (a directory entry there, from Info-ZIP)."""
    files = {
        f"{name}/__init__.py": (
            "import os\n"
            "HERE = os.path.dirname(__file__)\n"
            "def read(path):\n"
            "    with open(os.path.join(HERE, *path.split('/')), encoding='utf-8') as f:\n"
            "        return f.read()\n"
        ),
        **{f"{name}/{path}": TEXT.format(name=f"{name} {path}") for path in data},
        f"{name}-1.0.data/scripts/{name}-tool": f"#!python\nprint('{name} tool')\n",
    }
    return wheel_files(name, "1.0", {path: text.encode() for path, text in files.items()})


def make_quirk_wheel(directory: Path, name: str, writer: str) -> tuple[Wheel, dict[str, bytes]]:
    directory.mkdir(parents=True, exist_ok=True)
    files = quirk_files(name, data_files(writer))
    path = directory / f"{name}-1.0-py3-none-any.whl"
    WRITERS[writer](path, files)
    return Wheel(path, name, "1.0"), files


def _local_extra_lengths(path: Path) -> tuple[list[int], list[int], list[int]]:
    """Each member's extra field length in its local header and in its directory entry, and its flags."""
    data = path.read_bytes()
    local, central, flags = [], [], []
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            local.append(struct.unpack_from("<H", data, info.header_offset + 28)[0])
            central.append(len(info.extra))
            flags.append(info.flag_bits)
    return local, central, flags


class TestTheCorpusHasItsQuirks:
    """Each writer really writes the quirk the tests rely on (else they would test zipfile's output again)."""

    def test_infozip_writes_longer_local_extras_and_directory_entries(self, tmp_path: Path) -> None:
        wheel, _ = make_quirk_wheel(tmp_path, "izip", "infozip")
        local, central, _ = _local_extra_lengths(wheel.path)
        assert all(a > b for a, b in zip(local, central, strict=True)), (local, central)
        with zipfile.ZipFile(wheel.path) as archive:
            names = archive.namelist()
        assert {"izip-1.0.data/scripts/", "izip/deep/", "izip/deep/er/", "izip-1.0.dist-info/"} <= set(names)

    def test_infozip_x_d_writes_neither(self, tmp_path: Path) -> None:
        wheel, _ = make_quirk_wheel(tmp_path, "izipx", "infozip-X-D")
        local, central, _ = _local_extra_lengths(wheel.path)
        assert local == central
        with zipfile.ZipFile(wheel.path) as archive:
            assert not [name for name in archive.namelist() if name.endswith("/")]

    def test_streaming_writes_data_descriptors_and_utf8_flags(self, tmp_path: Path) -> None:
        wheel, _ = make_quirk_wheel(tmp_path, "stream", "streaming")
        with zipfile.ZipFile(wheel.path) as archive:
            infos = {info.filename: info for info in archive.infolist()}
            assert archive.testzip() is None
        assert all(info.flag_bits & 0x08 for info in infos.values())
        assert infos["stream/données.txt"].flag_bits & 0x800
        assert not infos["stream/plain.txt"].flag_bits & 0x800

    def test_zip64_local_headers(self, tmp_path: Path) -> None:
        wheel, _ = make_quirk_wheel(tmp_path, "wide", "zip64")
        local, central, _ = _local_extra_lengths(wheel.path)
        assert all(a == 20 and b == 0 for a, b in zip(local, central, strict=True)), (local, central)


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_each_member_is_staged_byte_for_byte(tmp_path: Path, writer: str) -> None:
    """A locked wheel's members are copied as their compressed bytes (install.RawMember): read back, each is exactly
    the file put in, whatever wrote the wheel (extra fields, data descriptors, names that are not ASCII)."""
    name = writer.replace("-", "_").lower()
    wheel, files = make_quirk_wheel(tmp_path, name, writer)
    tree = StagingTree()
    with wheel.path.open("rb") as f:
        install_wheel(tree, wheel.filename, f, interpreter=PYTHON, locked=True)
        for path in [f"{name}/__init__.py", *(f"{name}/{data}" for data in data_files(writer))]:
            staged = tree.files[f"site-packages/{path}"]
            assert staged.raw is not None, f"{path} was not copied from the wheel"
            assert staged.data == files[path], path
    script = tree.files[f"site-packages/bin/{name}-tool"].data
    assert script == f"#!{PYTHON}\nprint('{name} tool')\n".encode()


@pytest.mark.parametrize(
    "member",
    ["pkg\\evil.py", "pkg/sub\\evil.py", "..\\evil.py", "\\evil.py"],
)
def test_a_backslash_in_a_name_is_refused_in_one_line(tmp_path: Path, member: str) -> None:
    """A backslash is a separator to Windows and a character to POSIX: the member would be one file or another
    depending on who extracts it. Refused, naming the wheel and the member, for every writer's wheel."""
    files = wheel_files("pkg", "1.0", {"pkg/__init__.py": b"", member: b"print('escaped')\n"})
    path = tmp_path / "pkg-1.0-py3-none-any.whl"
    write_streaming(path, files)
    tree = StagingTree()
    with path.open("rb") as f, pytest.raises(UnsafeWheelError) as info:
        install_wheel(tree, path.name, f, interpreter=PYTHON, locked=True)
    assert str(info.value) == (
        f"Wheel {path.name} has a member {member!r} that escapes the staging root; refusing to install it"
    )
    assert not tree.files


#: The project's entry point: reads back the data files named in its argument ({package: [path, ...]}) and tells
#: whether each package's script is executable.
READER = """\
import importlib, json, os, sys

def main():
    out = {}
    for name, paths in json.loads(sys.argv[1]).items():
        module = importlib.import_module(name)
        tool = os.path.join(os.path.dirname(module.HERE), "bin", name + "-tool")
        out[name] = {path: module.read(path) for path in paths}
        out[name]["tool"] = os.access(tool, os.X_OK)
    print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def quirky_pyz(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict[str, str]]]:
    """One .pyz locking one wheel of each writer (built once for the module)."""
    root = tmp_path_factory.mktemp("quirks")
    wheels, contents = [], {}  # contents: {package: {data file: its text}}
    for writer in sorted(WRITERS):
        name = "q_" + writer.replace("-", "_").lower()
        wheel, files = make_quirk_wheel(root / "wheels", name, writer)
        wheels.append(wheel)
        contents[name] = {path: files[f"{name}/{path}"].decode() for path in data_files(writer)}
    project = make_project(root / "p", dependencies=[wheel.name for wheel in wheels])
    (project / "src" / "app" / "cli.py").write_text(READER, encoding="utf-8")
    (project / "pylock.toml").write_text(pylock_text([[wheel] for wheel in wheels], base_url=None))
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("HATCH_ZIPAPP_CACHE_DIR", os.fspath(root / "cache"))
        return build(project), contents


def test_a_pyz_of_quirky_wheels_runs_and_reads_each_file(
    quirky_pyz: tuple[Path, dict[str, dict[str, str]]], tmp_path: Path
) -> None:
    """The .pyz runs as a server runs it; each package reads its data files (names not ASCII) back from its
    extraction, byte for byte what its wheel held, and its .data script is in bin/, executable."""
    pyz, contents = quirky_pyz
    asked = json.dumps({name: sorted(files) for name, files in contents.items()})
    found = json.loads(run_pyz(pyz, asked, env={**os.environ, "ZIPAPP_ROOT": os.fspath(tmp_path / "root")}))
    assert found == {name: {**files, "tool": True} for name, files in contents.items()}


def test_an_unflagged_name_that_is_not_ascii_is_refused(tmp_path: Path) -> None:
    """Info-ZIP's zip 3.0 writes a name that is not ASCII as its UTF-8 bytes without the UTF-8 flag: zipfile (so
    installer) reads it as cp437 (``donn├⌐es.txt``), unzip as its bytes. It was installed under zipfile's name; now
    it is refused in one line naming the wheel and the member as its writer meant it."""
    files = quirk_files("izip", ("données.txt", "plain.txt"))
    path = tmp_path / "izip-1.0-py3-none-any.whl"
    write_infozip(path, files)
    tree = StagingTree()
    with path.open("rb") as f, pytest.raises(UnsafeWheelError) as info:
        install_wheel(tree, path.name, f, interpreter=PYTHON, locked=True)
    assert str(info.value) == (
        f"Wheel {path.name} has a member 'izip/données.txt' whose name is not ASCII and not flagged UTF-8 (zipfile "
        "reads it as 'izip/donn├⌐es.txt', unzip as its bytes): refusing to install it. Rebuild the wheel with a "
        "writer that flags UTF-8 names, or lock another version of it"
    )
    assert not tree.files


def test_modes_as_other_writers_leave_them(tmp_path: Path) -> None:
    """Info-ZIP records each file's mode as it was on disk (0777, 0666, 0700...); a zip made on Windows records no
    Unix mode at all (MS-DOS attributes only). A member with any execute bit is staged executable (its compressed
    bytes copied, as any other), one without is not, whatever else its mode says."""
    modes = {"m/tool": 0o777, "m/private-tool": 0o700, "m/shared.txt": 0o666, "m/data.txt": 0o600}
    files = wheel_files("m", "1.0", {name: name.encode() * 20 for name in modes})
    path = tmp_path / "m-1.0-py3-none-any.whl"
    write_infozip(path, files, modes=modes)
    windows = tmp_path / "w" / "m-1.0-py3-none-any.whl"
    windows.parent.mkdir()
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(windows, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            copy = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            copy.create_system, copy.external_attr, copy.compress_type = 0, 0x20, zipfile.ZIP_DEFLATED
            archive.writestr(copy, source.read(info))
    for wheel, expected in (
        (path, {"m/tool": True, "m/private-tool": True, "m/shared.txt": False, "m/data.txt": False}),
        (windows, dict.fromkeys(modes, False)),
    ):
        tree = StagingTree()
        with wheel.open("rb") as f:
            install_wheel(tree, wheel.name, f, interpreter=PYTHON, locked=True)
            staged = {name: tree.files[f"site-packages/{name}"] for name in modes}
            assert {name: file.executable for name, file in staged.items()} == expected, wheel
            assert all(file.raw is not None and file.data == name.encode() * 20 for name, file in staged.items())
