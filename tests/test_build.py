"""Building a .pyz in-process from a generated project, lock and index, then running it for real."""

from __future__ import annotations

import os
import socket
import zipfile
from pathlib import Path

import pytest

from hatch_zipapp.archive import RUNTIME_MODULES
from hatch_zipapp.errors import ConfigError, EntryPointError, LockError, NoMatchingFileError, UnsafeWheelError
from hatch_zipapp.layout import PyzReader
from tests.helpers import (
    IndexServer,
    build,
    build_fails,
    make_project,
    make_wheel,
    pylock_text,
    requirements_text,
    run_pyz,
)


@pytest.fixture
def locked_project(tmp_path: Path, wheelhouse: Path, index: IndexServer) -> Path:
    """`app` depending on alpha and beta, locked in pylock.toml against the local index."""
    alpha = make_wheel(wheelhouse, "alpha", "1.0")
    beta = make_wheel(wheelhouse, "beta", "2.0")
    project = make_project(tmp_path / "project", dependencies=["alpha>=1", "beta"])
    (project / "pylock.toml").write_text(pylock_text([[alpha], [beta]], base_url=index.url))
    return project


class TestBuild:
    def test_pyz_runs_entry_point_with_every_locked_dependency(self, locked_project: Path) -> None:
        pyz = build(locked_project)
        assert pyz.name == "app-1.0-py3-none-any.pyz"
        assert pyz.read_bytes().startswith(b"#!/usr/bin/env python3\n")
        assert os.access(pyz, os.X_OK)
        out = run_pyz(pyz, "alpha", "beta")
        assert out.splitlines() == [
            "alpha: alpha 1.0 from site-packages",
            "beta: beta 2.0 from site-packages",
            "app ok",
        ]

    def test_project_wheel_written_beside_the_pyz(self, locked_project: Path) -> None:
        pyz = build(locked_project)
        assert sorted(p.name for p in pyz.parent.iterdir()) == [
            "app-1.0-py3-none-any.pyz",
            "app-1.0-py3-none-any.pyz.cdx.json",
            "app-1.0-py3-none-any.pyz.index",
            "app-1.0-py3-none-any.pyz.sha256",
            "app-1.0-py3-none-any.whl",
        ]
        with zipfile.ZipFile(pyz.parent / "app-1.0-py3-none-any.whl") as wheel:
            assert "app/cli.py" in wheel.namelist()

    def test_layout_is_shiv_compatible(self, locked_project: Path) -> None:
        pyz = build(locked_project)
        with PyzReader(pyz) as archive:
            names = archive.namelist()
            environment = archive.read("environment.json").decode()
        assert names == sorted(names)
        assert "__main__.py" in names and "_bootstrap/__init__.py" in names
        with zipfile.ZipFile(pyz) as outer:  # what Python reads at every start: a few members, site-packages in one
            top = ["__main__.py", "__main__.pyc", "_bootstrap/__init__.py", "_bootstrap/__init__.pyc"]
            top += [f"_bootstrap/{m}.{suffix}" for m in RUNTIME_MODULES for suffix in ("py", "pyc")]
            top += ["environment.json"]
            top += ["hatch-zipapp.json", "hatch-zipapp.sha256", "sbom.cdx.json", "site-packages.zip"]
            assert outer.namelist() == top
            assert outer.getinfo("site-packages.zip").compress_type == zipfile.ZIP_STORED
        assert "site-packages/alpha/__init__.py" in names
        assert "site-packages/app/cli.py" in names
        assert "site-packages/bin/app" in names
        assert '"entry_point": "app.cli:main"' in environment
        assert not any(name.endswith(("direct_url.json", "/INSTALLER")) for name in names)

    def test_shiv_runtime_variables_keep_working(self, locked_project: Path, tmp_path: Path) -> None:
        pyz = build(locked_project)
        root = tmp_path / "custom-root"
        env = {**os.environ, "SHIV_ROOT": os.fspath(root)}
        run_pyz(pyz, "alpha", env=env)
        assert [p.name.split("_")[0] for p in root.iterdir() if not p.name.startswith(".")] == ["app"]
        # SHIV_MODULE / SHIV_ENTRY_POINT replace the entry point, as with any shiv app.
        (root.parent / "probe.py").write_text("def main():\n    print('probe ran')\n")
        env = {**env, "SHIV_ENTRY_POINT": "probe:main", "SHIV_PREPEND_PYTHONPATH": os.fspath(root.parent)}
        assert run_pyz(pyz, env=env) == "probe ran\n"

    def test_dependency_markers_are_evaluated_for_the_target(
        self, tmp_path: Path, wheelhouse: Path, index: IndexServer
    ) -> None:
        alpha = make_wheel(wheelhouse, "alpha", "1.0")
        windows_only = make_wheel(wheelhouse, "winonly", "1.0", marker='sys_platform == "win32"')
        project = make_project(tmp_path / "p", dependencies=["alpha", 'winonly; sys_platform == "win32"'])
        (project / "pylock.toml").write_text(pylock_text([[alpha], [windows_only]], base_url=index.url))
        with PyzReader(build(project)) as archive:
            names = archive.namelist()
        assert "site-packages/alpha/__init__.py" in names
        assert not any("winonly" in name for name in names)

    def test_best_wheel_for_the_host_is_chosen(self, tmp_path: Path, wheelhouse: Path, index: IndexServer) -> None:
        from packaging.tags import sys_tags

        host = next(iter(sys_tags()))
        native = make_wheel(
            wheelhouse / "n", "fast", "1.0", tag=str(host), files={"fast/__init__.py": 'VALUE = "native"\n'}
        )
        pure = make_wheel(wheelhouse / "p", "fast", "1.0", files={"fast/__init__.py": 'VALUE = "pure"\n'})
        windows = make_wheel(wheelhouse / "w", "fast", "1.0", tag="cp311-cp311-win_amd64")
        for wheel in (native, pure, windows):
            wheel.path.rename(wheelhouse / wheel.filename)
        wheels = [w.__class__(wheelhouse / w.filename, w.name, w.version) for w in (windows, pure, native)]
        project = make_project(tmp_path / "p", dependencies=["fast"])
        (project / "pylock.toml").write_text(pylock_text([wheels], base_url=index.url))
        pyz = build(project)
        assert run_pyz(pyz, "fast").startswith("fast: native")
        assert pyz.name == f"app-1.0-{host.interpreter}-{host.abi}-{host.platform}.pyz"

    def test_requirements_txt_lock_resolved_through_the_index(
        self, tmp_path: Path, wheelhouse: Path, index: IndexServer
    ) -> None:
        alpha = make_wheel(wheelhouse, "alpha", "1.0")
        other = make_wheel(wheelhouse, "alpha", "0.9")  # listed by the index, not locked
        assert other.path.exists()
        project = make_project(tmp_path / "p", dependencies=["alpha"])
        (project / "requirements.txt").write_text(requirements_text([[alpha]], index_url=index.simple))
        assert run_pyz(build(project), "alpha").startswith("alpha: alpha 1.0")

    def test_html_only_index(self, tmp_path: Path, wheelhouse: Path) -> None:
        alpha = make_wheel(wheelhouse, "alpha", "1.0")
        server = IndexServer(wheelhouse, json_api=False)
        try:
            project = make_project(tmp_path / "p", dependencies=["alpha"], zipapp=f'index-url = "{server.simple}"')
            (project / "requirements.txt").write_text(requirements_text([[alpha]]))
            assert run_pyz(build(project), "alpha").startswith("alpha: alpha 1.0")
        finally:
            server.stop()

    def test_local_wheel_directory(self, tmp_path: Path) -> None:
        wheels = tmp_path / "wheels"
        alpha = make_wheel(wheels, "alpha", "1.0")
        project = make_project(tmp_path / "p", dependencies=["alpha"], zipapp='wheel-dirs = ["../wheels"]')
        # No index at all: the index URL points at a closed port and is never asked.
        (project / "requirements.txt").write_text(
            requirements_text([[alpha]], index_url=f"http://127.0.0.1:{_closed_port()}/simple/")
        )
        assert run_pyz(build(project), "alpha").startswith("alpha: alpha 1.0")

    def test_pylock_with_relative_paths(self, tmp_path: Path) -> None:
        project = make_project(tmp_path / "p", dependencies=["alpha"])
        alpha = make_wheel(project / "vendor", "alpha", "1.0")
        text = pylock_text([[alpha]], base_url=None).replace(os.fspath(alpha.path), "vendor/" + alpha.filename)
        (project / "pylock.toml").write_text(text)
        assert run_pyz(build(project), "alpha").startswith("alpha: alpha 1.0")

    def test_the_project_itself_in_the_lock_is_built_from_source(
        self, tmp_path: Path, wheelhouse: Path, index: IndexServer
    ) -> None:
        alpha = make_wheel(wheelhouse, "alpha", "1.0")
        stale_self = make_wheel(wheelhouse, "app", "0.1", files={"app/cli.py": "def main():\n    print('old')\n"})
        project = make_project(tmp_path / "p", dependencies=["alpha"])
        (project / "pylock.toml").write_text(pylock_text([[alpha], [stale_self]], base_url=index.url))
        assert run_pyz(build(project), "alpha").endswith("app ok\n")

    def test_clean_removes_what_it_built(self, locked_project: Path) -> None:
        from hatch_zipapp.builder import ZipappBuilder

        pyz = build(locked_project)
        (pyz.parent / "keep.txt").write_text("not ours")
        ZipappBuilder(os.fspath(locked_project)).clean(os.fspath(pyz.parent), ["standard"])
        assert sorted(p.name for p in pyz.parent.iterdir()) == ["keep.txt"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TestBadInputLeavesDistUnchanged:
    """Each bad input: a clear error, and `dist/` exactly as it was (no partial artifact, no temp file)."""

    def test_no_lock_file(self, locked_project: Path) -> None:
        (locked_project / "pylock.toml").unlink()
        build_fails(
            locked_project,
            LockError,
            "No lock file found",
            "pylock.toml, requirements.txt, uv.lock",
            "hatch-zipapp lock",
        )

    @pytest.mark.parametrize("lock_name", ["pylock.toml", "requirements.txt"])
    def test_lock_entry_without_hashes(
        self, tmp_path: Path, wheelhouse: Path, index: IndexServer, lock_name: str
    ) -> None:
        alpha = make_wheel(wheelhouse, "alpha", "1.0")
        project = make_project(tmp_path / "p", dependencies=["alpha"])
        if lock_name == "pylock.toml":
            text = pylock_text([[alpha]], base_url=index.url, hashes=False)
        else:
            text = requirements_text([[alpha]], index_url=index.simple, hashes=False)
        (project / lock_name).write_text(text)
        build_fails(project, LockError, lock_name, "hashes", "--generate-hashes")

    def test_mistyped_option(self, locked_project: Path) -> None:
        text = (locked_project / "pyproject.toml").read_text()
        (locked_project / "pyproject.toml").write_text(text + 'shebnag = "/usr/bin/python3"\n')
        build_fails(locked_project, ConfigError, "`tool.hatch.build.targets.zipapp.shebnag`", "did you mean `shebang`?")

    def test_option_of_the_wrong_type(self, locked_project: Path) -> None:
        text = (locked_project / "pyproject.toml").read_text()
        (locked_project / "pyproject.toml").write_text(text + 'wheel-dirs = "wheels"\n')
        build_fails(locked_project, ConfigError, "`tool.hatch.build.targets.zipapp.wheel-dirs` must be an array")

    def test_entry_point_module_missing(self, locked_project: Path) -> None:
        text = (locked_project / "pyproject.toml").read_text()
        (locked_project / "pyproject.toml").write_text(text + 'entry-point = "app.nope:main"\n')
        build_fails(locked_project, EntryPointError, "'app.nope:main'", "module 'app.nope'")

    def test_entry_point_function_missing(self, locked_project: Path) -> None:
        text = (locked_project / "pyproject.toml").read_text()
        (locked_project / "pyproject.toml").write_text(text + 'entry-point = "app.cli:mian"\n')
        build_fails(locked_project, EntryPointError, "defines no 'mian'")

    def test_no_file_fits_the_host(self, tmp_path: Path, wheelhouse: Path, index: IndexServer) -> None:
        windows = make_wheel(wheelhouse, "winlib", "3.1", tag="cp311-cp311-win_amd64")
        project = make_project(tmp_path / "p", dependencies=["winlib"])
        (project / "pylock.toml").write_text(pylock_text([[windows]], base_url=index.url))
        build_fails(project, NoMatchingFileError, "winlib 3.1", "(the build host)", windows.filename, "Best tags tried")

    def test_no_file_fits_the_host_requirements(self, tmp_path: Path, wheelhouse: Path, index: IndexServer) -> None:
        windows = make_wheel(wheelhouse, "winlib", "3.1", tag="cp311-cp311-win_amd64")
        project = make_project(tmp_path / "p", dependencies=["winlib"])
        (project / "requirements.txt").write_text(requirements_text([[windows]], index_url=index.simple))
        build_fails(project, NoMatchingFileError, "winlib 3.1", "requirements.txt line", windows.filename)

    def test_wheel_escaping_the_staging_root(self, tmp_path: Path, wheelhouse: Path, index: IndexServer) -> None:
        evil = make_wheel(wheelhouse, "evil", "1.0", members={"../../escaped.py": "print('owned')\n"})
        project = make_project(tmp_path / "p", dependencies=["evil"])
        (project / "pylock.toml").write_text(pylock_text([[evil]], base_url=index.url))
        build_fails(project, UnsafeWheelError, evil.filename, "../../escaped.py")
        assert not list(tmp_path.rglob("escaped.py"))

    def test_wheel_data_escaping_the_staging_root(self, tmp_path: Path, wheelhouse: Path, index: IndexServer) -> None:
        evil = make_wheel(
            wheelhouse, "evil", "1.0", members={"evil-1.0.data/purelib/../../../../escaped.py": "x = 1\n"}
        )
        project = make_project(tmp_path / "p", dependencies=["evil"])
        (project / "pylock.toml").write_text(pylock_text([[evil]], base_url=index.url))
        build_fails(project, UnsafeWheelError, "escaped.py")
        assert not list(tmp_path.rglob("escaped.py"))


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("def main():\n    pass\n", True),
        ("main = lambda: 0\n", True),
        ("from .cli import main\n", True),
        ("from .cli import run as main\n", True),
        ("from .cli import *\n", True),
        ("def __getattr__(name):\n    return 1\n", True),
        ("try:\n    from fast import main\nexcept ImportError:\n    def main():\n        pass\n", True),
        ("if True:\n    main = 1\n", True),
        ("def mainly():\n    pass\nx = 'main'\n", False),
        ("class C:\n    def main(self):\n        pass\n", False),
    ],
)
def test_entry_point_function_detection(source: str, found: bool) -> None:
    from hatch_zipapp.install import _defines

    assert _defines(source.encode(), "main") is found
