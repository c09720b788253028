"""A damaged .pyz, a changed extraction, odd variable values (issue 12, items 4 and 5): each is one line, exit status
1, nothing extracted, nothing of the damaged bytes run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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
