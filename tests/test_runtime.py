"""The .pyz at run time: where it extracts, concurrency and crashes, cleanup, isolation, bytecode, introspection."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from hatch_zipapp.__main__ import main as cli
from tests.helpers import IndexServer, build, make_project, make_wheel, pylock_text, run_pyz


@pytest.fixture
def pyz(tmp_path: Path, wheelhouse: Path, index: IndexServer) -> Path:
    alpha = make_wheel(wheelhouse, "alpha", "1.0")
    project = make_project(tmp_path / "p", dependencies=["alpha"])
    (project / "pylock.toml").write_text(pylock_text([[alpha]], base_url=index.url))
    return build(project)


@pytest.fixture
def big(tmp_path: Path, wheelhouse: Path, index: IndexServer) -> Path:
    """An app whose extraction takes long enough to be killed midway."""
    files = {f"bulk/m{i:04d}.py": f"X = {i}\n" + "# padding\n" * 100 for i in range(3000)}
    files["bulk/__init__.py"] = 'VALUE = "bulk"\n'
    bulk = make_wheel(wheelhouse, "bulk", "1.0", files=files)
    project = make_project(tmp_path / "big", dependencies=["bulk"], zipapp="bytecode = false")
    (project / "pylock.toml").write_text(pylock_text([[bulk]], base_url=index.url))
    return build(project)


def _env(root: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"SHIV_ROOT", "ZIPAPP_ROOT", "CACHE_DIRECTORY"}}
    env["ZIPAPP_ROOT"] = os.fspath(root)
    env.update(extra)
    return env


def _entries(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir())


class TestWhere:
    def test_zipapp_root_first(self, pyz: Path, tmp_path: Path) -> None:
        run_pyz(pyz, env=_env(tmp_path / "r", SHIV_ROOT=os.fspath(tmp_path / "shiv")))
        (extracted,) = [n for n in _entries(tmp_path / "r") if not n.startswith(".")]
        assert extracted.startswith("app_")
        assert not (tmp_path / "shiv").exists()

    def test_cache_directory_without_a_home(self, pyz: Path, tmp_path: Path) -> None:
        env = {k: v for k, v in os.environ.items() if k not in {"HOME", "SHIV_ROOT", "ZIPAPP_ROOT", "XDG_CACHE_HOME"}}
        env["CACHE_DIRECTORY"] = f"{tmp_path / 'cache-dir'}:{tmp_path / 'second'}"
        assert run_pyz(pyz, "alpha", env=env).endswith("app ok\n")
        assert any(n.startswith("app_") for n in _entries(tmp_path / "cache-dir"))
        assert not (tmp_path / "second").exists()

    def test_read_only_home_with_cache_directory(self, pyz: Path, tmp_path: Path) -> None:
        env = {k: v for k, v in os.environ.items() if k not in {"SHIV_ROOT", "ZIPAPP_ROOT", "XDG_CACHE_HOME"}}
        env.update({"HOME": "/proc/no-home", "CACHE_DIRECTORY": os.fspath(tmp_path / "svc")})
        assert run_pyz(pyz, env=env).endswith("app ok\n")

    def test_nothing_writable_is_a_clear_error(self, pyz: Path) -> None:
        env = {k: v for k, v in os.environ.items() if k not in {"SHIV_ROOT", "ZIPAPP_ROOT", "CACHE_DIRECTORY"}}
        env.update({"HOME": "/proc/no-home", "XDG_CACHE_HOME": "/proc/no-cache"})
        result = subprocess.run([os.fspath(pyz)], env=env, capture_output=True, text=True, check=False)
        assert result.returncode == 1
        assert "no writable directory to extract app into" in result.stderr
        assert "Set ZIPAPP_ROOT" in result.stderr and "CacheDirectory=" in result.stderr
        assert "Traceback" not in result.stderr

    def test_unwritable_explicit_root_names_the_variable(self, pyz: Path) -> None:
        result = subprocess.run(
            [os.fspath(pyz)], env=_env(Path("/proc/nope")), capture_output=True, text=True, check=False
        )
        assert (
            result.returncode == 1 and "$ZIPAPP_ROOT=/proc/nope" in result.stderr and "Traceback" not in result.stderr
        )


class TestConcurrency:
    def test_32_cold_starts_at_once_20_rounds(self, pyz: Path, tmp_path: Path) -> None:
        for round_number in range(20):
            root = tmp_path / f"round-{round_number}"
            env = _env(root)
            processes = [
                subprocess.Popen([os.fspath(pyz), "alpha"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                for _ in range(32)
            ]
            results = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in processes]  # type: ignore[union-attr]
            for process in processes:
                process.stdout.close()  # type: ignore[union-attr]
                process.stderr.close()  # type: ignore[union-attr]
            assert all(code == 0 and out.endswith(b"app ok\n") for code, out, _ in results), results[0][2]
            visible = [n for n in _entries(root) if not n.startswith(".")]
            assert len(visible) == 1 and visible[0].startswith("app_")
            assert not [n for n in _entries(root) if ".tmp-" in n or ".old-" in n]

    @pytest.mark.parametrize("delay", [0.05, 0.15, 0.3, 0.5])
    def test_killed_while_extracting(self, big: Path, tmp_path: Path, delay: float) -> None:
        root = tmp_path / "root"
        env = _env(root)
        process = subprocess.Popen(
            [os.fspath(big), "bulk"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        extracted = [n for n in _entries(root) if not n.startswith(".")] if root.exists() else []
        if extracted:  # it finished before the kill: then it is complete
            assert len(list((root / extracted[0] / "site-packages" / "bulk").glob("m*.py"))) == 3000
        out = run_pyz(big, "bulk", env=env)
        assert out.startswith("bulk: bulk from site-packages")
        (final,) = [n for n in _entries(root) if not n.startswith(".")]
        assert len(list((root / final / "site-packages" / "bulk").glob("m*.py"))) == 3000
        assert not [n for n in _entries(root) if ".tmp-" in n]

    def test_waiting_for_another_extraction_is_bounded(self, pyz: Path, tmp_path: Path) -> None:
        import fcntl

        with zipfile.ZipFile(pyz) as archive:
            environment = json.loads(archive.read("environment.json"))
        root = tmp_path / "root"
        root.mkdir()
        lock = root / f".app_{environment['build_id']}.lock"
        with lock.open("w") as held:
            fcntl.flock(held, fcntl.LOCK_EX)
            started = time.monotonic()
            result = subprocess.run(
                [os.fspath(pyz)], env=_env(root, ZIPAPP_LOCK_TIMEOUT="1"), capture_output=True, text=True, check=False
            )
        assert result.returncode == 1 and time.monotonic() - started < 10
        assert "waited 1 s for another process extracting app_" in result.stderr
        assert os.fspath(lock) in result.stderr and "Traceback" not in result.stderr


class TestCleanup:
    def test_ten_builds_leave_the_configured_number(self, tmp_path: Path, wheelhouse: Path, index: IndexServer) -> None:
        alpha = make_wheel(wheelhouse, "alpha", "1.0")
        project = make_project(tmp_path / "p", dependencies=["alpha"], zipapp="bytecode = false")
        (project / "pylock.toml").write_text(pylock_text([[alpha]], base_url=index.url))
        root = tmp_path / "root"
        for version in range(10):
            (project / "src" / "app" / "version.py").write_text(f"N = {version}\n")
            run_pyz(build(project), env=_env(root))
            assert len([n for n in _entries(root) if not n.startswith(".")]) == min(version + 1, 2)
        assert len([n for n in _entries(root) if n.endswith(".lock")]) == 2

    def test_an_extraction_in_use_is_kept(self, tmp_path: Path, wheelhouse: Path, index: IndexServer) -> None:
        alpha = make_wheel(wheelhouse, "alpha", "1.0")
        project = make_project(tmp_path / "p", dependencies=["alpha"], zipapp="bytecode = false\nkeep-extractions = 1")
        (project / "pylock.toml").write_text(pylock_text([[alpha]], base_url=index.url))
        root = tmp_path / "root"
        first = build(project, tmp_path / "first")
        (tmp_path / "sleep.py").write_text("import time\ntime.sleep(60)\n")
        sleeper = subprocess.Popen(
            [os.fspath(first), os.fspath(tmp_path / "sleep.py")], env=_env(root, SHIV_INTERPRETER="1")
        )
        try:
            deadline = time.monotonic() + 30
            while not (root.exists() and [n for n in _entries(root) if not n.startswith(".")]):
                assert time.monotonic() < deadline
                time.sleep(0.05)
            (in_use,) = [n for n in _entries(root) if not n.startswith(".")]
            for version in range(3):
                (project / "src" / "app" / "version.py").write_text(f"N = {version}\n")
                run_pyz(build(project, tmp_path / f"b{version}"), env=_env(root))
            names = [n for n in _entries(root) if not n.startswith(".")]
            assert in_use in names and len(names) == 2  # the one in use, and the newest (keep-extractions = 1)
        finally:
            sleeper.kill()
            sleeper.wait()


class TestIsolation:
    @pytest.fixture
    def venv_python(self, tmp_path: Path) -> Path:
        """A virtualenv whose site-packages has a module the .pyz does not carry."""
        venv = tmp_path / "host-venv"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", os.fspath(venv)], check=True)
        site_packages = next(venv.glob("lib/python3*/site-packages"))
        (site_packages / "hostonly.py").write_text("VALUE = 'from the host'\n")
        return venv / "bin" / "python"

    def test_host_site_packages_are_not_importable(self, pyz: Path, tmp_path: Path, venv_python: Path) -> None:
        result = subprocess.run(
            [os.fspath(venv_python), os.fspath(pyz), "hostonly"],
            env=_env(tmp_path / "r"),
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode != 0 and "No module named 'hostonly'" in result.stderr

    def test_opt_back_in(self, pyz: Path, tmp_path: Path, venv_python: Path) -> None:
        env = _env(tmp_path / "r", ZIPAPP_INHERIT_SITE="1")
        result = subprocess.run(
            [os.fspath(venv_python), os.fspath(pyz), "hostonly"], env=env, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0 and "hostonly: from the host" in result.stdout


class TestBytecodeAtExtraction:
    def test_compiled_once_when_the_archive_has_none(self, big: Path, tmp_path: Path) -> None:
        root = tmp_path / "root"
        run_pyz(big, env=_env(root, SHIV_COMPILE_PYC="1"))
        (final,) = [n for n in _entries(root) if not n.startswith(".")]
        pycs = list((root / final / "site-packages" / "bulk" / "__pycache__").glob("*.pyc"))
        assert len(pycs) == 3001
        stamp = pycs[0].stat().st_mtime_ns
        run_pyz(big, env=_env(root, SHIV_COMPILE_PYC="1"))
        assert pycs[0].stat().st_mtime_ns == stamp


class TestInfo:
    def test_zipapp_info_prints_json_without_extracting(self, pyz: Path, tmp_path: Path) -> None:
        root = tmp_path / "root"
        out = run_pyz(pyz, "--help", env=_env(root, ZIPAPP_INFO="1"))
        info = json.loads(out)
        assert info["project"] == "app" and info["version"] == "1.0"
        assert info["target"]["tag"] == "py3-none-any" and info["target"]["build_host"] is True
        (alpha,) = [d for d in info["distributions"] if d["name"] == "alpha"]
        assert alpha["version"] == "1.0" and len(alpha["sha256"]) == 64 and alpha["file"].endswith(".whl")
        assert info["lock"]["file"] == "pylock.toml" and len(info["lock"]["sha256"]) == 64
        assert info["source_date_epoch"] == 1580601600 and info["builder"].startswith("hatch-zipapp ")
        assert not root.exists() or _entries(root) == []

    def test_info_command(self, pyz: Path, capsys: pytest.CaptureFixture[str]) -> None:
        assert cli(["info", os.fspath(pyz)]) == 0
        assert json.loads(capsys.readouterr().out)["build_id"]

    def test_info_command_on_another_file(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        (tmp_path / "x.pyz").write_bytes(b"not a zip")
        assert cli(["info", os.fspath(tmp_path / "x.pyz")]) == 2
        assert "is not a .pyz built by hatch-zipapp" in capsys.readouterr().err


def test_cleanup_leaves_other_directories_alone(tmp_path: Path, wheelhouse: Path, index: IndexServer) -> None:
    alpha = make_wheel(wheelhouse, "alpha", "1.0")
    project = make_project(tmp_path / "p", dependencies=["alpha"], zipapp="bytecode = false\nkeep-extractions = 1")
    (project / "pylock.toml").write_text(pylock_text([[alpha]], base_url=index.url))
    root = tmp_path / "root"
    (root / "app_backups").mkdir(parents=True)  # not an extraction: a name that merely starts like one
    (root / "app-admin_" / "x").mkdir(parents=True)
    for version in range(3):
        (project / "src" / "app" / "version.py").write_text(f"N = {version}\n")
        run_pyz(build(project, tmp_path / f"b{version}"), env=_env(root))
    assert (root / "app_backups").is_dir() and (root / "app-admin_" / "x").is_dir()
    assert len([n for n in _entries(root) if n.startswith("app_") and n != "app_backups"]) == 1
