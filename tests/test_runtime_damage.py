"""A damaged .pyz, a changed extraction, odd variable values (issue 12, items 4 and 5): each is one line, exit status
1, nothing extracted, nothing of the damaged bytes run."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from hatch_zipapp.archive import RUNTIME_MODULES
from tests.helpers import IndexServer, build, make_project, make_wheel, pylock_text

DAMAGED = "damaged .pyz ("
FIX = "), rebuild or download it again"


@pytest.fixture
def pyz(tmp_path: Path, wheelhouse: Path, index: IndexServer) -> Path:
    tiny = make_wheel(wheelhouse, "tiny", "1.0", files={"tiny/__init__.py": 'VALUE = "tiny"\n'})
    project = make_project(tmp_path / "p", dependencies=["tiny"])
    (project / "pylock.toml").write_text(pylock_text([[tiny]], base_url=index.url))
    return build(project)


def _env(root: Path, **variables: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIV_", "ZIPAPP_")) and k != "CACHE_DIRECTORY"}
    env.update(ZIPAPP_ROOT=os.fspath(root), **variables)
    return env


def _start(pyz: Path, root: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, os.fspath(pyz), "tiny"],
        env=_env(root, **variables),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def _one_line(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr
    return result.stderr


def _extractions(root: Path) -> list[str]:
    """What a start left in ``root`` besides lock files (the runtime's private per-user directory included)."""
    return sorted(
        os.path.relpath(os.path.join(parent, name), root)
        for parent, directories, files in os.walk(root)
        for name in directories + files
        if not name.endswith(".lock")
    )


# -- ZIPAPP_VERIFY ---------------------------------------------------------------------------------------------------


def _extracted(pyz: Path, root: Path) -> Path:
    assert _start(pyz, root).stdout == "tiny: tiny from site-packages\napp ok\n"
    (final,) = [root / n for n in os.listdir(root) if not n.startswith(".")]
    return final


def test_verify_refuses_a_changed_file(pyz: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    final = _extracted(pyz, root)
    changed = final / "site-packages" / "tiny" / "__init__.py"
    changed.chmod(0o644)  # extracted files are read-only (0444)
    changed.write_text('VALUE = "edited"\n')
    # The warm path does not re-hash (docs/runtime.md): the edit is run
    assert _start(pyz, root).stdout.startswith("tiny: edited")
    stderr = _one_line(_start(pyz, root, ZIPAPP_VERIFY="1"), f"{changed} is not the file this .pyz holds")
    assert "ZIPAPP_FORCE_EXTRACT=1" in stderr and f"delete {final}" in stderr
    assert _start(pyz, root, ZIPAPP_VERIFY="1", ZIPAPP_FORCE_EXTRACT="1").stdout.startswith("tiny: tiny ")


def test_verify_refuses_an_added_file(pyz: Path, tmp_path: Path) -> None:
    """A planted ``.pth`` runs code at every start: an added file is refused too."""
    root = tmp_path / "root"
    final = _extracted(pyz, root)
    site_packages = final / "site-packages"
    site_packages.chmod(0o755)
    (site_packages / "evil.pth").write_text("import sys; print('planted')\n")
    site_packages.chmod(0o555)
    _one_line(_start(pyz, root, ZIPAPP_VERIFY="1"), f"{site_packages / 'evil.pth'} is not the file")


def test_verify_passes_an_intact_extraction(pyz: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    _extracted(pyz, root)
    result = _start(pyz, root, ZIPAPP_VERIFY="1")
    assert (result.returncode, result.stdout, result.stderr) == (0, "tiny: tiny from site-packages\napp ok\n", "")


# -- variables -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ZIPAPP_KEEP", "two"),
        ("ZIPAPP_KEEP", "0"),
        ("ZIPAPP_KEEP", "-1"),
        ("ZIPAPP_VERIFY", "please"),
        ("ZIPAPP_FORCE_EXTRACT", "2"),
        ("ZIPAPP_INHERIT_SITE", "maybe"),
    ],
)
def test_a_bad_value_is_one_line(pyz: Path, tmp_path: Path, variable: str, value: str) -> None:
    root = tmp_path / "root"
    _one_line(_start(pyz, root, **{variable: value}), f"{variable}={value!r}")
    assert _extractions(root) == []


# -- a truncated copy ------------------------------------------------------------------------------------------------

RUNTIME_MD = Path(__file__).parent.parent / "docs" / "runtime.md"


def test_a_truncated_copy_is_what_the_docs_say(pyz: Path, tmp_path: Path) -> None:
    """A copy cut short has lost the zip's end record, which Python looks for before any of the .pyz runs: Python
    itself says what is wrong (not the runtime's one line), a copy cut right after its `#!` line runs nothing and
    exits 0, nothing is extracted, and `hatch-zipapp verify` refuses every one. docs/runtime.md says exactly that,
    each of Python's lines as it is printed (was: "refused in one line" for "a truncated copy")."""
    data = pyz.read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = sorted(archive.infolist(), key=lambda i: i.header_offset)
        directory = archive.start_dir
    end, last = data.rindex(b"PK\x05\x06"), infos[-1]
    null_bytes = "SyntaxError: source code cannot contain null bytes"
    no_main = f"{sys.executable}: can't find '__main__' module in 'CUT'"
    cuts = {
        "just after the #! line": (data.index(b"\n") + 1, None),
        "inside the first member": (infos[0].header_offset + 40, null_bytes),
        "inside the last member": (last.header_offset + 30 + len(last.filename) + last.compress_size // 2, null_bytes),
        "inside the central directory": (directory + (end - directory) // 2, no_main),
        "inside the end record": (end + 10, null_bytes),
        "one byte short": (len(data) - 1, null_bytes),
    }
    documented = " ".join(RUNTIME_MD.read_text().split())
    for where, (offset, said) in cuts.items():
        cut = tmp_path / "cut" / pyz.name
        cut.parent.mkdir(exist_ok=True)
        cut.write_bytes(data[:offset])
        root = tmp_path / f"root-{offset}"
        result = _start(cut, root)
        last_line = (result.stderr.splitlines() or [""])[-1]
        if said is None:
            assert (result.returncode, result.stdout, result.stderr) == (0, "", ""), where
        else:
            assert (result.returncode, result.stdout) == (1, ""), (where, result)
            assert last_line == said.replace("CUT", os.fspath(cut)), (where, result.stderr)
            assert said.replace(f"{sys.executable}:", "python3:").replace("CUT", "app.pyz") in documented, said
        assert _extractions(root) == [], where
        verify = subprocess.run(
            [sys.executable, "-m", "hatch_zipapp", "verify", os.fspath(cut)],
            capture_output=True, text=True, check=False, timeout=60,
        )  # fmt: skip
        assert verify.returncode == 1, (where, verify)
        refused = (
            "no zip in it: not a .pyz, or a copy cut before its first member"
            if offset <= infos[0].header_offset
            else "no end of central directory record in its last 22 bytes (a truncated copy,"
        )
        assert f"{pyz.name}: {refused}" in verify.stderr, (where, verify.stderr)
        assert f"{cut} is NOT the file that was built" in verify.stderr, (where, verify.stderr)
    for words in ("cut right after its first line (the `#!` line) runs nothing and exits 0", "hatch-zipapp verify"):
        assert words in documented, words


@pytest.mark.skipif(not Path("/usr/bin/python3").is_file(), reason="no /usr/bin/python3")
def test_a_truncated_copy_says_what_the_docs_say_under_the_systems_python(pyz: Path, tmp_path: Path) -> None:
    """Debian 12's python3 (3.11.2, the server the docs have in mind) reads a copy cut inside a member as a script
    too, but says another line than newer Pythons: `invalid non-printable character U+0003`, the byte after the
    member's `PK` (was: docs/runtime.md gave "source code cannot contain null bytes" for every Python 3.11)."""
    data = pyz.read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        first = min(archive.infolist(), key=lambda i: i.header_offset)
    documented = " ".join(RUNTIME_MD.read_text().split())
    for where, offset in {"inside the first member": first.header_offset + 40, "one byte short": len(data) - 1}.items():
        cut = tmp_path / where.replace(" ", "-") / pyz.name
        cut.parent.mkdir()
        cut.write_bytes(data[:offset])
        for python in sorted({sys.executable, "/usr/bin/python3"}):
            version = subprocess.run(
                [python, "-c", "import sys; print(sys.version_info >= (3, 11))"], capture_output=True, text=True,
                check=False, timeout=60,
            )  # fmt: skip
            if version.stdout.strip() != "True":  # a Python the .pyz is not built for: its lines differ (docs say so)
                continue
            result = subprocess.run(
                [python, os.fspath(cut), "tiny"], env=_env(tmp_path / "root"), capture_output=True, text=True,
                check=False, timeout=60,
            )  # fmt: skip
            last_line = (result.stderr.splitlines() or [""])[-1]
            assert (result.returncode, result.stdout) == (1, ""), (where, python, result)
            assert last_line.startswith("SyntaxError: ") and last_line in documented, (where, python, last_line)
    assert not (tmp_path / "root").exists() or _extractions(tmp_path / "root") == []


# -- one flipped bit -------------------------------------------------------------------------------------------------

#: What Python's zipimport reads and runs before anything of the .pyz can check it (zipimport checks no CRC):
#: ``__main__`` itself, and the zip's directory. A flip there is Python's to report. What Python then says, by region
#: (CPython 3.11, seen): a local header whose lengths changed is zipimport's "bad local file header" (or the bytes
#: read as source); a changed central directory or end record is not a zip to Python: it finds no ``__main__`` or
#: reads the file as a script. A changed ``__main__`` source (whose bytecode then no longer matches its hash) or
#: bytecode is the damaged module itself, run: a compile error, or any error of the changed code (a NameError for a
#: renamed constant, bad marshal data, SystemError). A ``__main__`` that still runs is refused by the runtime, which
#: checks it against the record. Such a start must fail, never print a wrong result with exit 0, and leave no
#: extraction. The runtime's own modules (``_bootstrap/``) are checked by ``__main__`` before they are imported.
BEFORE_THE_RUNTIME = ("__main__.py", "__main__.pyc", "(central directory)", "(end of central")
PYTHON_SAYS = {
    "local header": ("bad local file header", "SyntaxError", "IndentationError"),
    # a flipped name in the central directory: zipimport finds no `__main__` (a runtime module's: refused by `__main__`)
    "directory": ("can't find '__main__' module", "SyntaxError"),
}


def _python_refused(region: str, result: subprocess.CompletedProcess[str]) -> bool:
    """Whether ``result`` is Python's own refusal of a flip in ``region`` (BEFORE_THE_RUNTIME), as described above."""
    if result.returncode == 0 or not region.startswith(BEFORE_THE_RUNTIME):
        return False
    if region.endswith((".py", ".pyc")):
        return True  # the damaged module, run: anything but a clean exit
    last = result.stderr.splitlines()[-1] if result.stderr else ""
    kind = "local header" if region.endswith("(local header)") else "directory"
    return any(words in last for words in PYTHON_SAYS[kind])


def _regions(data: bytes) -> list[tuple[str, int, int]]:
    """(name, start, end) of every part of the .pyz: the shebang line, each outer member's local header and its
    bytes, the central directory and its end record."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = sorted(archive.infolist(), key=lambda i: i.header_offset)
        directory = archive.start_dir
    regions = [("(shebang)", 0, infos[0].header_offset)]
    for info in infos:
        start = info.header_offset + 30 + sum(struct.unpack_from("<HH", data, info.header_offset + 26))
        regions.append((f"{info.filename} (local header)", info.header_offset, start))
        regions.append((info.filename, start, start + info.compress_size))
    end = data.rindex(b"PK\x05\x06")
    regions += [("(central directory)", directory, end), ("(end of central directory)", end, len(data))]
    return regions


def _offsets(start: int, end: int, count: int) -> list[int]:
    step = max(1, (end - start) // count)
    return list(range(start, end, step))[:count]


def test_one_flipped_bit_anywhere_is_run_correctly_or_refused(pyz: Path, tmp_path: Path) -> None:
    """One bit flipped at a sample of offsets in every region of a small .pyz (more in site-packages.zip, the
    bulk): the start prints the right output, or refuses in one line saying the .pyz is damaged and leaves no
    extraction; a flip in what Python runs before the runtime (``__main__``, ``_bootstrap``) is Python's own
    error, never the runtime's traceback."""
    data = pyz.read_bytes()
    expected = "tiny: tiny from site-packages\napp ok\n"
    outcomes: dict[str, list[str]] = {}
    problems = []
    for region, start, end in _regions(data):
        count = 40 if region == "site-packages.zip" else 4
        for offset in _offsets(start, end, count):
            damaged = bytearray(data)
            damaged[offset] ^= 1 << (offset % 8)
            copy = tmp_path / f"flip-{offset}.pyz"
            copy.write_bytes(bytes(damaged))
            root = tmp_path / f"root-{offset}"
            result = _start(copy, root)
            copy.unlink()
            lines = result.stderr.splitlines()
            if result.returncode == 0 and result.stdout == expected:
                outcome = "ran"
            elif result.returncode == 1 and len(lines) == 1 and DAMAGED in lines[0] and lines[0].endswith(FIX):
                outcome = "refused"
            elif _python_refused(region, result):
                outcome = "python"
            else:
                outcome = "WRONG"
            if outcome == "WRONG" or (outcome != "ran" and _extractions(root)):
                problems.append(f"{region} @{offset}: {result} left {_extractions(root)}")
            outcomes.setdefault(region, []).append(outcome)
    assert problems == [], "\n".join(problems)
    # Every check of the runtime was reached: the start refused flips in what it reads (the shebang line,
    # environment.json, the record, site-packages.zip)
    for region in ("(shebang)", "environment.json", "hatch-zipapp.sha256", "site-packages.zip"):
        assert "refused" in outcomes[region], (region, outcomes[region])
    assert set(outcomes["site-packages.zip"]) == {"refused"}
    runtime = [region for region in outcomes if region.startswith("_bootstrap/") and not region.endswith(")")]
    assert len(runtime) == 2 * (len(RUNTIME_MODULES) + 1)
    for region in runtime:  # checked by __main__ before it is imported: never run
        assert set(outcomes[region]) == {"refused"}, (region, outcomes[region])


def test_every_runtime_module_is_checked_before_it_is_imported(pyz: Path, tmp_path: Path) -> None:
    """A flip in any of the runtime's modules (source or bytecode: zipimport checks no CRC and would run it) is the
    one-line refusal naming the module, before any of the runtime runs: nothing extracted, no lock file made. A
    flip in ``__main__`` that still runs is refused by the runtime, which checks ``__main__`` in turn."""
    data = pyz.read_bytes()
    regions = [(n, s, e) for n, s, e in _regions(data) if n.startswith(("_bootstrap/", "__main__")) and "(" not in n]
    modules = len(RUNTIME_MODULES) + 1  # and __init__
    assert len([n for n, _, _ in regions if n.startswith("_bootstrap/")]) == 2 * modules  # source and bytecode
    refused_main = 0
    for region, start, end in regions:
        for offset in (start, (start + end) // 2, end - 1):
            damaged = bytearray(data)
            damaged[offset] ^= 1 << (offset % 8)
            copy = tmp_path / "flip.pyz"
            copy.write_bytes(bytes(damaged))
            root = tmp_path / f"root-{offset}"
            result = _start(copy, root)
            if region.startswith("_bootstrap/"):
                _one_line(result, f"{DAMAGED}{region} differs from its sha256 in hatch-zipapp.sha256{FIX}")
                assert not root.exists(), f"{region}: the runtime ran"
            elif result.returncode == 1 and DAMAGED in result.stderr:
                _one_line(result, f"{DAMAGED}{region} differs from its sha256 in hatch-zipapp.sha256{FIX}")
                assert not root.exists()
                refused_main += 1
            else:
                assert _python_refused(region, result) and _extractions(root) == [], (region, offset, result)
    assert refused_main > 0


def test_the_record_name_in_main_is_the_runtime_s() -> None:
    """``__main__`` (check.py) cannot import the runtime it checks: its name of the record is the runtime's."""
    from hatch_zipapp.bootstrap import check, documents

    assert check.RECORD == documents.RECORD
