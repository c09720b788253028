"""`embed-python`: one executable per target with python-build-standalone's CPython inside (docs/embedded-python.md).

The archive choice is tested offline against pbs-installer's own table. The executables are built with a real
interpreter: an archive in python-build-standalone's layout made from a CPython on this machine (tests/pbs_archive.py),
given as `python-archive`, and run with every Python on the machine hidden (a mount namespace in which pyenv's
directory and the system's interpreters are masked).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from importlib.resources import files
from pathlib import Path

import pytest

from hatch_zipapp.builder import ZipappBuilder
from hatch_zipapp.config import ZipappBuilderConfig
from hatch_zipapp.embed import interpreter_dir, select
from hatch_zipapp.errors import ConfigError, FetchError, HashMismatchError
from hatch_zipapp.layout import PyzReader
from hatch_zipapp.pyz.verify import verify
from hatch_zipapp.target import Target
from tests.helpers import IndexServer, build, build_fails, interpreters, make_project, make_wheel, pylock_text
from tests.pbs_archive import make_archive
from tests.shared import Shared
from tests.test_hatch_e2e import checkout_wheel, hatch_build, installer_cache  # noqa: F401 - fixtures

VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"
#: The app's cli: what it runs with, and whether the host's PYTHONPATH reached it.
CLI = """\
import os, sys

def main():
    import alpha
    print("executable", sys.executable)
    print("isolated", sys.flags.isolated, "ignore_environment", sys.flags.ignore_environment)
    print(alpha.VALUE)
    print("host module", "hostonly" in sys.modules or any("hostonly" in p for p in sys.path))
    print("argv", sys.argv[1:])
    return 0
"""


# -- the archive choice, offline -------------------------------------------------------------------------------------


def _table() -> list[dict[str, object]]:
    """pbs-installer's versions.json, read directly (not through the function under test)."""
    data: list[dict[str, object]] = json.loads(files("pbs_installer").joinpath("versions.json").read_text("utf-8"))
    return data


def _expected(minor: int, arch: str, micro: int | None = None) -> dict[str, str]:
    """The newest (or the given) 3.<minor> CPython's Linux install_only file of ``arch`` in the table."""
    best: tuple[int, dict[str, str]] | None = None
    for entry in _table():
        version: dict[str, object] = entry["python_version"]  # type: ignore[assignment]
        if version["implementation"] != "cpython" or version["freethreaded"] or version["minor"] != minor:
            continue
        if micro is not None and version["micro"] != micro:
            continue
        for file in entry["files"]:  # type: ignore[attr-defined]
            wanted = file["platform"] == "linux" and file["arch"] == arch and file["install_only"]
            if wanted and (best is None or int(version["micro"]) > best[0]):  # type: ignore[call-overload]
                best = (int(version["micro"]), file)  # type: ignore[call-overload]
    assert best is not None
    return best[1]


class TestSelect:
    @pytest.mark.parametrize(
        ("python", "platform", "arch"),
        [
            ("3.12", "manylinux_2_28_x86_64", "x86_64"),
            ("3.13", "manylinux_2_17_aarch64", "aarch64"),
            ("3.11", "manylinux2014_x86_64", "x86_64"),
            ("3.10", "linux_x86_64", "x86_64"),
        ],
    )
    def test_newest_install_only_stripped_of_the_version(self, python: str, platform: str, arch: str) -> None:
        source = select(Target.from_spec(python, platform))
        expected = _expected(int(python.split(".")[1]), arch)
        assert (source.url, source.sha256) == (expected["url"], expected["sha256"])
        assert f"-{arch}-unknown-linux-gnu-install_only_stripped.tar.gz" in source.url
        assert source.version is not None and source.version.startswith(f"{python}.")
        assert source.origin.startswith("pbs-installer 20")

    def test_exact_version(self) -> None:
        source = select(Target.from_spec("3.12.4", "manylinux_2_28_x86_64"))
        expected = _expected(12, "x86_64", micro=4)
        assert (source.url, source.sha256, source.version) == (expected["url"], expected["sha256"], "3.12.4")
        assert "cpython-3.12.4%2B" in source.url

    @pytest.mark.parametrize(
        ("python", "platform", "fragment"),
        [
            ("3.12", "musllinux_1_2_x86_64", "only on Linux with glibc"),
            ("3.12", "macosx_14_0_arm64", "only on Linux with glibc"),
            ("3.12", "manylinux_2_12_x86_64", "needs glibc 2.17 or newer"),
            ("3.12", "manylinux1_x86_64", "needs glibc 2.17 or newer"),
            ("3.12", "manylinux_2_28_ppc64le", "no archive for the architecture 'ppc64le'"),
            ("3.4", "manylinux_2_28_x86_64", "has no x86_64 Linux python-build-standalone install_only archive"),
        ],
    )
    def test_no_archive_is_one_clear_error(self, python: str, platform: str, fragment: str) -> None:
        with pytest.raises(ConfigError) as info:
            select(Target.from_spec(python, platform))
        message = str(info.value)
        assert fragment in message and "\n" not in message
        assert message.startswith(f"Target CPython {python} on ")


# -- configuration ---------------------------------------------------------------------------------------------------


def _config(tmp_path: Path, zipapp: str) -> ZipappBuilderConfig:
    project = make_project(tmp_path / "c", zipapp=zipapp)
    config = ZipappBuilder(os.fspath(project)).config
    assert isinstance(config, ZipappBuilderConfig)
    return config


_SHA = "ab" * 32
_TARGETS = """
targets = [
  { python = "3.12", platform = "manylinux_2_28_x86_64" },
  { python = "3.12", platform = "manylinux_2_28_aarch64", embed-python = false },
  { python = "3.13", platform = "manylinux_2_28_x86_64", python-archive = { url = "py/313.tar.gz", sha256 = "%s" } },
]
""" % ("cd" * 32)


class TestConfig:
    def test_default_is_a_plain_pyz(self, tmp_path: Path) -> None:
        config = _config(tmp_path, "")
        assert config.embed_python is False and config.python_archive is None
        assert set(config.embedded.values()) == {None}

    def test_default_and_per_target(self, tmp_path: Path) -> None:
        config = _config(tmp_path, "embed-python = true\n" + _TARGETS)
        x86, arm, py313 = (t.name for t in config.targets)
        assert config.embedded[arm] is None
        chosen = config.embedded[x86]
        assert chosen is not None and chosen.sha256 == _expected(12, "x86_64")["sha256"]
        given = config.embedded[py313]
        assert given is not None and (given.url, given.sha256, given.origin) == (
            "py/313.tar.gz",
            "cd" * 32,
            "`python-archive`",
        )

    def test_archive_default_for_all_targets(self, tmp_path: Path) -> None:
        zipapp = (
            f'embed-python = true\npython-archive = {{ url = "https://mirror.invalid/a.tar.gz", sha256 = "{_SHA}" }}'
        )
        config = _config(tmp_path, zipapp)
        (source,) = config.embedded.values()
        assert source is not None and source.url == "https://mirror.invalid/a.tar.gz" and source.sha256 == _SHA

    def test_default_archive_applies_to_the_targets_that_embed(self, tmp_path: Path) -> None:
        config = _config(
            tmp_path,
            'targets = [{ python = "3.12", platform = "manylinux_2_28_x86_64", embed-python = true },\n'
            '  { python = "3.12", platform = "manylinux_2_28_aarch64" }]\n'
            f'python-archive = {{ url = "vendor/a.tar.gz", sha256 = "{_SHA}" }}',
        )
        embedding, plain = config.embedded.values()
        assert embedding is not None and embedding.url == "vendor/a.tar.gz" and plain is None

    def test_a_targets_own_archive_needs_embed_python(self, tmp_path: Path) -> None:
        config = _config(
            tmp_path,
            'targets = [{ python = "3.12", platform = "manylinux_2_28_x86_64", '
            f'python-archive = {{ url = "a.tar.gz", sha256 = "{_SHA}" }} }}]',
        )
        with pytest.raises(ConfigError, match=r"Target #1 in field .*: `python-archive` has no effect without"):
            config.validate()

    @pytest.mark.parametrize(
        ("zipapp", "fragment"),
        [
            ('embed-python = "yes"', "Field `tool.hatch.build.targets.zipapp.embed-python` must be a boolean"),
            (
                f'python-archive = {{ url = "a.tar.gz", sha256 = "{_SHA}" }}',
                "`tool.hatch.build.targets.zipapp.python-archive` has no effect: no target has `embed-python = true`",
            ),
            ('embed-python = true\npython-archive = "a.tar.gz"', "must be a table such as"),
            ('embed-python = true\npython-archive = { url = "a.tar.gz", sha256 = "abc" }', "needs `sha256` (64 hex"),
            (f'embed-python = true\npython-archive = {{ sha256 = "{_SHA}" }}', "needs `url`"),
            (
                f'embed-python = true\npython-archive = {{ url = "a", sha256 = "{_SHA}", sha = 1 }}',
                "has an unknown key `sha`: did you mean `sha256`?",
            ),
            (
                f'embed-python = true\npython-archive = {{ url = "ftp://h/a", sha256 = "{_SHA}" }}',
                "must be an http(s):// or file:// URL",
            ),
            (
                'targets = [{ python = "3.12", platform = "macosx_14_0_arm64", embed-python = true }]',
                "only on Linux with glibc",
            ),
            (
                'targets = [{ python = "3.12", platform = "manylinux_2_28_x86_64", embed-python = 1 }]',
                "Target #1 in field `tool.hatch.build.targets.zipapp.targets`: `embed-python` must be a boolean",
            ),
        ],
    )
    def test_bad_values(self, tmp_path: Path, zipapp: str, fragment: str) -> None:
        config = _config(tmp_path, zipapp)
        with pytest.raises(ConfigError) as info:
            config.validate()
        assert fragment in str(info.value) and "\n" not in str(info.value)


# -- building and running, with a real interpreter -------------------------------------------------------------------


@pytest.fixture(scope="session")
def archive(shared: Shared) -> Path:
    """An install_only archive of a CPython of the running Python's version, from this machine (made once per run:
    seven modules use it)."""
    python = interpreters().get(VERSION)
    if python is None:
        pytest.fail(f"no CPython {VERSION} on this machine to make an archive from")
    name = f"cpython-{VERSION}-install_only.tar.gz"

    def make(directory: Path) -> None:
        directory.mkdir()
        make_archive(python, directory / name)

    return shared.made("pbs", make) / name


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _project(root: Path, archive: Path, index: IndexServer, wheelhouse: Path, url: str | None = None) -> Path:
    """The test app (depending on one locked wheel) with ``archive`` as `python-archive`: copied into the project
    and named by a relative path, or named by ``url``."""
    alpha = make_wheel(wheelhouse, "alpha", "1.0")
    url = url or f"python/{archive.name}"
    project = make_project(
        root,
        dependencies=["alpha"],
        zipapp=f'embed-python = true\npython-archive = {{ url = "{url}", sha256 = "{_sha256(archive)}" }}\n',
    )
    (project / "python").mkdir()
    shutil.copy(archive, project / "python" / archive.name)
    (project / "src" / "app" / "cli.py").write_text(CLI)
    (project / "pylock.toml").write_text(pylock_text([[alpha]], base_url=index.url))
    return project


def _needed_tag(glibc: str = "2_17") -> str:
    """The tag of a build-host .pyz embedding CPython: that CPython and python-build-standalone's glibc floor (2.17),
    or a wheel's higher one, on this machine's architecture; never the build machine's own glibc."""
    host = Target.host()
    return f"{host.interpreter_tag}-{host.abi_tag}-manylinux_{glibc}_{host.platform.split('_', 3)[3]}"


@pytest.fixture(scope="module")
def built_executable(tmp_path_factory: pytest.TempPathFactory, archive: Path) -> Path:
    """The test app built once for the module (a 25 MB file: seconds of CPU to embed and write); each test takes its
    own copy (`executable`)."""
    base = tmp_path_factory.mktemp("executable")
    (base / "wheelhouse").mkdir()
    server = IndexServer(base / "wheelhouse")
    try:
        with pytest.MonkeyPatch.context() as monkeypatch:  # as tests/conftest.py's _isolated does for a test
            monkeypatch.setenv("HATCH_ZIPAPP_CACHE_DIR", os.fspath(base / "cache"))
            monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
            for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
                monkeypatch.delenv(name, raising=False)
                monkeypatch.delenv(name.upper(), raising=False)
            return build(_project(base / "p", archive, server, base / "wheelhouse"))
    finally:
        server.stop()


@pytest.fixture
def executable(tmp_path: Path, built_executable: Path) -> Path:
    """This test's copy of the built app (with its `.sha256` and `.cdx.json`), in tmp_path/p/dist."""
    dist = shutil.copytree(built_executable.parent, tmp_path / "p" / "dist", copy_function=shutil.copy2)
    return dist / built_executable.name


def _python_paths() -> tuple[list[str], list[str], list[str]]:
    """What to mask so that no Python on this machine can run: pyenv's tree (every interpreter the tests may use) and
    the system's standard library (directories), every other python* file on PATH and in the usual places (files);
    and the interpreters to try afterwards."""
    directories = {os.path.expanduser("~/.pyenv"), *map(os.fspath, Path("/usr/lib").glob("python3*"))}
    directories = {d for d in directories if os.path.isdir(d) and not os.path.islink(d)}
    probes = set(interpreters().values()) | {sys.executable}
    for directory in [*os.environ.get("PATH", "").split(os.pathsep), "/usr/bin", "/usr/local/bin", "/bin"]:
        for candidate in Path(directory).glob("python*"):
            if candidate.is_file() and os.access(candidate, os.X_OK):
                probes.add(os.fspath(candidate))
    real = {os.path.realpath(p) for p in probes}
    masked = sorted(f for f in real if not any(f.startswith(d + "/") for d in directories))
    return sorted(directories), masked, sorted(probes)


def no_python(command: list[str]) -> list[str]:
    """``command`` in a new mount namespace with every Python on the machine masked (tmpfs over pyenv's tree and the
    system's stdlib, /dev/null over each interpreter file); it first proves that none of them runs any more."""
    if shutil.which("unshare") is None or shutil.which("mount") is None or os.geteuid() != 0:
        pytest.fail("these tests need unshare(1) and root, to hide the machine's Pythons in a mount namespace")
    directories, masked, probes = _python_paths()
    mount = shutil.which("mount")
    script = "set -e\n"
    script += "".join(f"{mount} -t tmpfs tmpfs '{d}'\n" for d in directories)
    script += "".join(f"{mount} --bind /dev/null '{f}'\n" for f in masked)
    script += "set +e\n"
    script += "".join(
        f"if '{p}' -c pass 2>/dev/null; then echo 'a Python still runs: {p}' >&2; exit 99; fi\n" for p in probes
    )
    script += "for p in python3 python; do\n"
    script += '  if command -v "$p" >/dev/null && "$p" -c pass 2>/dev/null; then echo "$p runs" >&2; exit 99; fi\n'
    script += "done\n"
    script += 'exec "$@"\n'
    unshare = shutil.which("unshare")
    assert unshare is not None and mount is not None
    return [unshare, "-m", "--propagation", "private", "/bin/sh", "-c", script, "sh", *command]


def _env(root: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.pop("SHIV_ROOT", None)
    env.update({"ZIPAPP_ROOT": os.fspath(root), "PYTHONPATH": os.fspath(root.parent / "hostonly"), **extra})
    return env


def _build_with_no_python_on_path(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Build ``project`` with PATH an empty directory: no python3.X to find, only the embedded interpreter."""
    empty = tmp_path / "no-python-on-path"
    empty.mkdir()
    with monkeypatch.context() as patched:
        patched.setenv("PATH", os.fspath(empty))
        return build(project)


def _run(command: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, check=False)


class TestRun:
    def test_runs_with_no_python_on_the_machine(self, executable: Path, archive: Path, tmp_path: Path) -> None:
        root = tmp_path / "root"
        (tmp_path / "hostonly").mkdir()
        (tmp_path / "hostonly" / "sitecustomize.py").write_text("import sys; sys.modules['hostonly'] = sys\n")
        assert executable.name == f"app-1.0-{_needed_tag()}.pyz"  # not py3-none-any: it holds an x86_64 CPython
        result = _run(no_python([os.fspath(executable), "a b", "c"]), _env(root))
        assert result.returncode == 0, result.stderr
        unpacked = root / interpreter_dir(_sha256(archive))
        lines = result.stdout.splitlines()
        assert lines[0] == f"executable {unpacked}/python/bin/python{VERSION}"
        assert lines[1:] == ["isolated 1 ignore_environment 1", "alpha 1.0", "host module False", "argv ['a b', 'c']"]
        assert (unpacked / "python" / "lib" / f"python{VERSION}" / "os.py").is_file()
        assert sorted(p.name for p in root.iterdir() if p.name.startswith((".cpython", "cpython"))) == [
            f".{unpacked.name}.lock",
            unpacked.name,
        ]
        # the warm start reuses it; `python3 app` runs the same file where a Python exists
        assert _run(no_python([os.fspath(executable)]), _env(root)).stdout.splitlines()[0] == lines[0]
        host = _run([sys.executable, os.fspath(executable)], _env(root))
        assert host.returncode == 0 and "alpha 1.0" in host.stdout, host.stderr

    def test_reproducible_across_directories(
        self, tmp_path: Path, archive: Path, index: IndexServer, wheelhouse: Path
    ) -> None:
        first = build(_project(tmp_path / "one", archive, index, wheelhouse))
        second = build(_project(tmp_path / "elsewhere" / "two", archive, index, wheelhouse))
        assert first.name == second.name
        assert first.read_bytes() == second.read_bytes()
        data = first.read_bytes()
        assert data.startswith(b"#!/bin/sh\n") and archive.read_bytes() in data
        assert os.fspath(tmp_path).encode() not in data

    def test_info_verify_and_sbom(self, executable: Path, archive: Path, tmp_path: Path) -> None:
        assert verify(executable) == []
        info = _run([sys.executable, "-m", "hatch_zipapp", "info", os.fspath(executable)], dict(os.environ))
        assert info.returncode == 0, info.stderr
        embedded = json.loads(info.stdout)["target"]["embedded_python"]
        assert embedded["version"].startswith(f"{VERSION}.") and embedded["sha256"] == _sha256(archive)
        assert embedded["executable"] == f"python/bin/python{VERSION}" and embedded["size"] == archive.stat().st_size
        sbom = json.loads(Path(f"{executable}.cdx.json").read_text())
        (python,) = [c for c in sbom["components"] if c["name"] == "cpython"]
        assert python["version"].startswith(f"{VERSION}.")
        assert python["hashes"] == [{"alg": "SHA-256", "content": _sha256(archive)}]
        assert python["externalReferences"][0]["url"] == f"python/{archive.name}"
        # a flipped byte in the interpreter's archive: verify says so, and the launcher refuses to unpack it
        data = bytearray(executable.read_bytes())
        data[data.index(archive.read_bytes()[:4096]) + 2048] ^= 1
        damaged = tmp_path / "damaged"
        damaged.write_bytes(bytes(data))
        damaged.chmod(0o755)
        assert any("the shebang line" in problem for problem in verify(damaged))
        result = _run([os.fspath(damaged)], _env(tmp_path / "root-damaged"))
        assert result.returncode == 70 and "damaged file: its Python archive is" in result.stderr
        assert not (tmp_path / "root-damaged" / interpreter_dir(_sha256(archive))).exists()


class TestCoverage:
    def test_sbom_is_valid_cyclonedx(self, executable: Path) -> None:
        from cyclonedx.schema import SchemaVersion
        from cyclonedx.validation.json import JsonStrictValidator

        error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(Path(f"{executable}.cdx.json").read_text())
        assert error is None, error

    def test_systemd_runs_the_file_itself(
        self, executable: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        from hatch_zipapp.__main__ import main as cli

        # docs/embedded-python.md's command: the server's path, and the local copy to read
        on_server = ["--name", "app", "--pyz", "/srv/app/current.pyz", "--read", os.fspath(executable)]
        assert cli(["systemd", *on_server, "-o", os.fspath(tmp_path / "documented")]) == 0
        assert "ExecStart=/srv/app/current.pyz\n" in (tmp_path / "documented" / "app.service").read_text()
        captured = capsys.readouterr()
        said = captured.out + captured.err
        assert "(an executable: no Python on the server): ExecStart=/srv/app/current.pyz" in said, said
        output = tmp_path / "units"
        assert cli(["systemd", "--name", "app", "--pyz", os.fspath(executable), "-o", os.fspath(output)]) == 0
        service = (output / "app.service").read_text()
        assert f"ExecStart={executable}\n" in service
        analyze = shutil.which("systemd-analyze")
        assert analyze is not None, "systemd-analyze is missing: apt-get install systemd (as .ci/run does)"
        result = subprocess.run(
            [analyze, "verify", os.fspath(output / "app.service")], capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0 and result.stderr == "", result.stderr
        prepared = tmp_path / "units-prepared"
        args = ["systemd", "--name", "app", "--pyz", os.fspath(executable), "--prepared-root", "/srv/app/extracted"]
        assert cli([*args, "-o", os.fspath(prepared)]) == 0
        assert (
            f"# Deploy: ZIPAPP_ROOT=/srv/app/extracted ZIPAPP_PREPARE=1 {executable}\n"
            in (prepared / "app.service").read_text()
        )

    def test_archive_from_a_url_goes_through_the_download_cache(
        self, tmp_path: Path, archive: Path, index: IndexServer, wheelhouse: Path
    ) -> None:
        served = tmp_path / "mirror" / archive.name
        served.parent.mkdir()
        shutil.copy(archive, served)
        first = _project(tmp_path / "one", archive, index, wheelhouse, url=served.as_uri())
        built = build(first)
        cached = Path(os.environ["HATCH_ZIPAPP_CACHE_DIR"], "files", "sha256", _sha256(archive)[:2], _sha256(archive))
        assert cached.read_bytes() == archive.read_bytes()
        served.unlink()  # the second build finds it in the cache
        shutil.rmtree(first / "dist")
        assert build(first).read_bytes() == built.read_bytes()
        cached.write_bytes(archive.read_bytes()[:-1])  # a damaged cache entry is an error naming it, not embedded
        shutil.rmtree(first / "dist")
        build_fails(first, HashMismatchError, f"Cached file {cached} has sha256")


class TestOneName:
    @pytest.mark.parametrize("native", [None, "manylinux_2_28"], ids=["pure", "a-manylinux_2_28-wheel"])
    def test_the_name_and_the_record_say_what_it_needs(
        self, tmp_path: Path, archive: Path, index: IndexServer, wheelhouse: Path, native: str | None
    ) -> None:
        """`embed-python = true` for the build host (glibc 2.36 here): the file's name, hatch-zipapp.json's tag and
        the tag the runtime checks (`__main__.py`) are one: python-build-standalone's glibc floor, or a wheel's
        higher one (was: named by the build machine's glibc, recorded by the wheels'). The local python-archive is
        said to be read, not downloaded, as `hatchling build` prints it."""
        host = Target.host()
        assert host.platform.startswith("manylinux_") and host.platform > "manylinux_2_28", host.platform
        project = _project(tmp_path / "p", archive, index, wheelhouse)
        if native is not None:
            arch = host.platform.split("_", 3)[3]
            tag = f"{host.interpreter_tag}-{host.abi_tag}-{native}_{arch}"
            wheel = make_wheel(wheelhouse, "beta", "1.0", tag=tag)
            alpha = make_wheel(wheelhouse, "alpha", "1.0")
            pyproject = project / "pyproject.toml"
            pyproject.write_text(pyproject.read_text().replace('"alpha"', '"alpha", "beta"'))
            (project / "pylock.toml").write_text(pylock_text([[alpha], [wheel]], base_url=index.url))
        result = subprocess.run(
            [sys.executable, "-m", "hatchling", "build", "-t", "zipapp"],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        needed = _needed_tag("2_28" if native else "2_17")
        (built,) = (project / "dist").glob("*.pyz")
        assert built.name == f"app-1.0-{needed}.pyz"
        info = json.loads(subprocess.run(
            [sys.executable, "-m", "hatch_zipapp", "info", os.fspath(built)],
            capture_output=True, text=True, timeout=60, check=True,
        ).stdout)  # fmt: skip
        assert info["target"]["tag"] == info["target"]["requires"]["tag"] == needed
        assert info["target"]["requires"]["minimum"] == ([2, 28] if native else [2, 17])
        with PyzReader(built) as pyz:
            assert f"'tag': {needed!r}," in pyz.read("__main__.py").decode()
        lines = result.stderr.splitlines()
        cache = os.environ["HATCH_ZIPAPP_CACHE_DIR"]
        assert f"Read 1 local file (python-archive) into {cache}" in lines, result.stderr
        downloaded = 2 if native else 1  # the locked wheels, from 127.0.0.1
        assert f"Downloaded {downloaded} files into {cache}".replace("1 files", "1 file") in lines, result.stderr


class TestBuildWithIt:
    def test_a_foreign_target_compiles_bytecode_with_the_embedded_interpreter(
        self, tmp_path: Path, archive: Path, index: IndexServer, wheelhouse: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """No python3.X on PATH: the embedded interpreter, unpacked at build time, compiles the bytecode."""
        project = _project(tmp_path / "p", archive, index, wheelhouse)
        platform = f"manylinux_2_17_{os.uname().machine}"
        with (project / "pyproject.toml").open("a") as f:
            f.write(f'targets = [{{ python = "{VERSION}", platform = "{platform}" }}]\n')
        executable = _build_with_no_python_on_path(project, tmp_path, monkeypatch)
        from hatch_zipapp.layout import PyzReader

        with PyzReader(executable) as reader:
            names = reader.namelist()
            info = json.loads(reader.read("hatch-zipapp.json"))
        assert info["bytecode"] is True
        assert any(n.startswith("site-packages/alpha/__pycache__/") and n.endswith(".pyc") for n in names)
        result = _run(no_python([os.fspath(executable)]), _env(tmp_path / "root"))
        assert result.returncode == 0 and "alpha 1.0" in result.stdout, result.stderr

    def test_a_django_site_of_another_python_collects_its_static_files_with_the_embedded_interpreter(
        self,
        tmp_path: Path,
        tmp_path_factory: pytest.TempPathFactory,
        index: IndexServer,
        wheelhouse: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A target of another Python version than the build's, with a wheel only that version installs, no
        python3.X on PATH: collectstatic runs with the embedded interpreter over the target's own packages (before,
        the lock was staged again for the build's Python, which has no such wheel: the build failed)."""
        from tests.test_django_hermetic import DJANGO

        other = next((v for v in ("3.12", "3.13", "3.10") if v != VERSION and v in interpreters()), None)
        assert other is not None, f"no CPython 3.10, 3.12 or 3.13 besides {VERSION} here (tests/helpers.interpreters())"
        archive = make_archive(interpreters()[other], tmp_path_factory.mktemp("pbs") / f"cpython-{other}.tar.gz")
        cp = "cp" + other.replace(".", "")
        django = make_wheel(wheelhouse, "django", "5.2", files=DJANGO)
        only = make_wheel(wheelhouse, "only", "1.0", tag=f"{cp}-none-any")  # no wheel the build's Python installs
        platform = f"manylinux_2_17_{os.uname().machine}"
        zipapp = (
            "embed-python = true\n"
            f'python-archive = {{ url = "python/{archive.name}", sha256 = "{_sha256(archive)}" }}\n'
            f'targets = [{{ python = "{other}", platform = "{platform}" }}]\n'
            '[tool.hatch.build.targets.zipapp.django]\nsettings = "app.settings"\n'
        )
        project = make_project(tmp_path / "site", dependencies=["django", "only"], zipapp=zipapp)
        (project / "python").mkdir()
        shutil.copy(archive, project / "python" / archive.name)
        (project / "pylock.toml").write_text(pylock_text([[django], [only]], base_url=index.url))
        (project / "src" / "app" / "settings.py").write_text(
            "import sys\nfrom pathlib import Path\n\nBASE_DIR = Path(__file__).resolve().parent\n"
            'STATIC_ROOT = BASE_DIR / "staticfiles"\nWSGI_APPLICATION = "app.wsgi.application"\n'
            "STATIC_ROOT.mkdir(exist_ok=True)\n"
            '(STATIC_ROOT / "python.txt").write_text("%d.%d" % sys.version_info[:2])\n'
        )
        executable = _build_with_no_python_on_path(project, tmp_path, monkeypatch)
        from hatch_zipapp.layout import PyzReader

        with PyzReader(executable) as reader:
            assert reader.read("site-packages/app/staticfiles/python.txt") == other.encode()


def test_launcher_passes_shellcheck_as_posix_sh() -> None:
    shellcheck = shutil.which("shellcheck") or os.path.join(os.path.dirname(sys.executable), "shellcheck")
    launcher = str(files("hatch_zipapp").joinpath("launcher.sh"))
    result = subprocess.run(
        [shellcheck, "--shell=sh", "--severity=style", launcher],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout


def test_a_token_in_the_archive_url_is_never_shown_or_written(
    tmp_path: Path, archive: Path, index: IndexServer, wheelhouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MIRROR_TOKEN", "s3cr3t-t0k3n")
    project = _project(tmp_path / "p", archive, index, wheelhouse, url=f"{archive.as_uri()}?token={{env:MIRROR_TOKEN}}")
    executable = build(project)
    for written in (executable, Path(f"{executable}.cdx.json")):
        assert b"s3cr3t-t0k3n" not in written.read_bytes()
    sbom = json.loads(Path(f"{executable}.cdx.json").read_text())
    (python,) = [c for c in sbom["components"] if c["name"] == "cpython"]
    assert python["externalReferences"][0]["url"] == f"{archive.as_uri()}?token=****"
    missing = _project(
        tmp_path / "q", archive, index, wheelhouse, url=f"{archive.as_uri()}.gone?t={{env:MIRROR_TOKEN}}"
    )
    monkeypatch.setenv("HATCH_ZIPAPP_CACHE_DIR", os.fspath(tmp_path / "empty-cache"))  # not served from the cache
    message = build_fails(missing, FetchError, "Could not")
    assert "s3cr3t-t0k3n" not in message and "?t=****" in message


# -- the launcher's safety: concurrent first starts, SIGKILL, untrusted directories ----------------------------------


def _tools(
    directory: Path,
    *,
    tar_before: str = "",
    tar_after: str = "",
    without: tuple[str, ...] = (),
    busybox: bool = False,
) -> Path:
    """A PATH directory: the tools the launcher uses (coreutils and util-linux, or busybox's applets), and a `tar` that
    runs ``tar_before`` and ``tar_after`` around the real one, logging each call to ``directory/tar.log``;
    ``without`` leaves those tools out."""
    directory.mkdir(exist_ok=True)
    needed = ["sh", "id", "ls", "wc", "mkdir", "tail", "head", "gzip", "chmod", "mv", "rm", "cat", "sleep", "sha256sum"]
    box = shutil.which("busybox") if busybox else None
    if busybox and box is None:
        pytest.fail("busybox is missing: apt-get install busybox (as .ci/run does)")
    applets = (
        set(subprocess.run([box, "--list"], capture_output=True, text=True, timeout=60).stdout.split())
        if box
        else set()
    )
    for name in [*needed, "flock", "touch"]:
        if name in without:
            continue
        if box is not None:
            if name in applets:
                (directory / name).symlink_to(box)
            continue
        real = shutil.which(name)
        assert real is not None, name
        (directory / name).symlink_to(real)
    real_tar = [box, "tar"] if box else [shutil.which("tar")]
    (directory / "tar").write_text(
        f'#!/bin/sh\necho "$$" >> "{directory}/tar.log"\n{tar_before}\n'
        + " ".join(f'"{word}"' for word in real_tar)
        + f' "$@" || exit $?\n{tar_after}\n'
    )
    (directory / "tar").chmod(0o755)
    return directory


class TestLauncherSafety:
    @pytest.mark.parametrize("without", [(), ("flock", "sha256sum")], ids=["flock", "mkdir-lock-and-gzip-check"])
    def test_concurrent_first_starts_unpack_once(
        self, executable: Path, archive: Path, tmp_path: Path, without: tuple[str, ...]
    ) -> None:
        tools = _tools(tmp_path / "bin", tar_before="sleep 1", without=without)
        root = tmp_path / "root"
        env = _env(root, PATH=os.fspath(tools))
        processes = [
            subprocess.Popen(
                [os.fspath(executable)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            for _ in range(6)
        ]
        for process in processes:
            out, err = process.communicate(timeout=180)
            assert process.returncode == 0, err
            assert "alpha 1.0" in out
        assert len((tools / "tar.log").read_text().splitlines()) == 1
        assert [p.name for p in root.iterdir() if ".tmp-" in p.name] == []

    def test_busybox_alone(self, executable: Path, archive: Path, tmp_path: Path) -> None:
        """busybox's sh and applets (no flock there: the lock directory), with no Python: concurrent first starts
        unpack once, then a warm start."""
        tools = _tools(tmp_path / "bin", tar_before="sleep 1", busybox=True)
        assert not (tools / "flock").exists() or os.path.realpath(tools / "flock") == shutil.which("busybox")
        env = _env(tmp_path / "root", PATH=os.fspath(tools))
        command = no_python([os.fspath(tools / "sh"), os.fspath(executable)])
        processes = [
            subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(4)
        ]
        for process in processes:
            out, err = process.communicate(timeout=180)
            assert process.returncode == 0 and "alpha 1.0" in out, err
        assert len((tools / "tar.log").read_text().splitlines()) == 1
        warm = _run(command, env)
        assert warm.returncode == 0 and "alpha 1.0" in warm.stdout, warm.stderr
        assert (tmp_path / "root" / interpreter_dir(_sha256(archive))).is_dir()

    @pytest.mark.parametrize("without", [(), ("flock",)], ids=["flock", "mkdir-lock"])
    @pytest.mark.parametrize("point", ["during tar", "after tar, before the rename"])
    def test_sigkill_mid_unpack_then_a_start_is_fine(
        self, executable: Path, archive: Path, tmp_path: Path, point: str, without: tuple[str, ...]
    ) -> None:
        """A start killed while it unpacks leaves no interpreter directory; the next start (with the same tools: a
        lock directory left by the killed start is taken over once its PID is gone) unpacks and runs."""
        marker = tmp_path / "unpacking"
        hold = f'touch "{marker}"; sleep 60'
        during = point == "during tar"
        tools = _tools(
            tmp_path / "bin", tar_before=hold if during else "", tar_after="" if during else hold, without=without
        )
        root = tmp_path / "root"
        env = _env(root, PATH=os.fspath(tools))
        process = subprocess.Popen([os.fspath(executable)], env=env, start_new_session=True)
        try:
            deadline = time.monotonic() + 60
            while not marker.exists():
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
        unpacked = root / interpreter_dir(_sha256(archive))
        assert not unpacked.exists()
        assert [p.name for p in root.iterdir() if ".tmp-" in p.name] != []  # the killed start's work directory
        if without:
            assert (root / f".{unpacked.name}.lock.d").is_dir()  # the killed start's lock directory
        after = _tools(tmp_path / "bin-after", without=without)
        result = _run(no_python([os.fspath(executable)]), _env(root, PATH=os.fspath(after)), timeout=60)
        assert result.returncode == 0 and "alpha 1.0" in result.stdout, result.stderr
        assert unpacked.is_dir() and [p.name for p in root.iterdir() if ".tmp-" in p.name] == []

    def test_untrusted_root_and_interpreter_directory(self, executable: Path, archive: Path, tmp_path: Path) -> None:
        root = tmp_path / "root"
        root.mkdir(mode=0o700)
        root.chmod(0o777)  # writable by all, not sticky
        result = _run([os.fspath(executable)], _env(root))
        assert result.returncode == 70
        assert "refusing $ZIPAPP_ROOT=" in result.stderr and "writable by group or others" in result.stderr
        root.chmod(0o700)
        assert _run([os.fspath(executable)], _env(root)).returncode == 0
        unpacked = root / interpreter_dir(_sha256(archive))
        os.chown(unpacked, 4321, 4321)
        result = _run([os.fspath(executable)], _env(root))
        assert result.returncode == 70
        assert f"{unpacked} is owned by another user (uid 4321)" in result.stderr
        os.chown(unpacked, 0, 0)
        unpacked.rename(tmp_path / "elsewhere")
        unpacked.symlink_to(tmp_path / "elsewhere")
        result = _run([os.fspath(executable)], _env(root))
        assert result.returncode == 70 and f"{unpacked} is a symbolic link" in result.stderr

    def test_a_prepared_root_serves_another_user(self, executable: Path, archive: Path) -> None:
        """`ZIPAPP_PREPARE=1` as root (a deploy), then a service user that may only read the root: the interpreter
        and the site are used as prepared, nothing is written."""
        setpriv = shutil.which("setpriv")
        assert setpriv is not None, "setpriv (util-linux) is missing"
        base = Path(tempfile.mkdtemp(prefix="hatch-zipapp-prepared-", dir="/tmp"))
        try:
            base.chmod(0o755)
            deployed = base / "app.pyz"
            shutil.copy(executable, deployed)
            root = base / "extracted"
            prepare = _run([os.fspath(deployed)], _env(root, ZIPAPP_PREPARE="1"))
            assert prepare.returncode == 0, prepare.stderr
            unpacked = root / interpreter_dir(_sha256(archive))
            assert (unpacked.stat().st_mode & 0o777) == 0o755 and (root.stat().st_mode & 0o777) == 0o755
            before = sorted(p.name for p in root.iterdir())
            service = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", os.fspath(deployed)]
            result = _run(no_python(service), {**_env(root), "HOME": "/nonexistent"})
            assert result.returncode == 0 and "alpha 1.0" in result.stdout, result.stderr
            assert sorted(p.name for p in root.iterdir()) == before
        finally:
            shutil.rmtree(base)

    def test_sticky_world_writable_root_gets_a_private_directory(self, executable: Path, tmp_path: Path) -> None:
        shared = tmp_path / "shared"
        shared.mkdir()
        shared.chmod(0o1777)
        result = _run([os.fspath(executable)], _env(shared))
        assert result.returncode == 0, result.stderr
        private = shared / f"hatch-zipapp-{os.geteuid()}"
        assert (private.stat().st_mode & 0o777) == 0o700
        assert any(p.name.startswith("cpython-") for p in private.iterdir())


# -- the launcher under hostile or broken conditions (the review of issue 15) ----------------------------------------


def _one_line(result: subprocess.CompletedProcess[str], executable: Path, *fragments: str) -> str:
    """The launcher failed with exit status 70 and exactly one line on stderr, ``NAME: ...`` holding ``fragments``."""
    assert result.returncode == 70, (result.returncode, result.stderr)
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(f"{executable.name}: "), result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr
    return result.stderr.rstrip("\n").removeprefix(f"{executable.name}: ")


def _runtime_message(variable: str, value: str, env: dict[str, str]) -> str:
    """What the runtime's roots.py explicit() says of ``$variable=value`` (the launcher says the same)."""
    from hatch_zipapp.bootstrap.documents import BootstrapError
    from hatch_zipapp.bootstrap.roots import explicit

    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(env)
        explicit(variable, value)
    except BootstrapError as e:
        return str(e)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    raise AssertionError(f"the runtime accepts ${variable}={value}")


def _archive_offset(executable: Path) -> int:
    match = re.search(rb"\nhz_offset=(\d+) *\n", executable.read_bytes()[:20000])
    assert match is not None, "no hz_offset= line in the launcher"
    return int(match[1])


class TestLauncherReview:
    def test_the_offset_is_zero_padded(self, executable: Path) -> None:
        """No blank a flipped byte could turn into a command separator: `hz_offset=000000012345`."""
        assert re.search(rb"\nhz_offset=\d{12}\n", executable.read_bytes()[:20000])
        offset = _archive_offset(executable)
        assert executable.read_bytes()[offset : offset + 2] == b"\x1f\x8b"

    @pytest.mark.parametrize(
        "value",
        ["$a}; touch MARKER; : ${a", "${a`touch MARKER`}", "$HOME/x", "$"],
        ids=["brace", "backquote", "path", "bare"],
    )
    def test_shiv_root_indirection_evaluates_nothing(self, executable: Path, tmp_path: Path, value: str) -> None:
        marker = tmp_path / "pwned"
        value = value.replace("MARKER", os.fspath(marker))
        env = _env(tmp_path / "unused", SHIV_ROOT=value, a="/x")
        del env["ZIPAPP_ROOT"]
        result = _run([os.fspath(executable)], env, timeout=60)
        message = _one_line(result, executable, "names the variable")
        assert not marker.exists()
        assert message == _runtime_message("SHIV_ROOT", value, env)

    def test_a_newline_in_a_value_is_still_one_line(self, executable: Path, tmp_path: Path) -> None:
        env = _env(tmp_path / "unused", ZIPAPP_ROOT="relative\n/second line")
        result = _run([os.fspath(executable)], env, timeout=60)
        _one_line(result, executable, "$ZIPAPP_ROOT=relative /second line is not an absolute path")

    def test_a_lock_directory_with_no_pid_is_taken_over(self, executable: Path, archive: Path, tmp_path: Path) -> None:
        """No flock (busybox): a lock directory left with no PID in it (disk full, or SIGKILL between mkdir and
        writing the PID) is stale after a few seconds, not a 10-minute wait."""
        root = tmp_path / "root"
        root.mkdir(mode=0o700)
        (root / f".{interpreter_dir(_sha256(archive))}.lock.d").mkdir()
        tools = _tools(tmp_path / "bin", without=("flock",))
        started = time.monotonic()
        result = _run([os.fspath(executable)], _env(root, PATH=os.fspath(tools)), timeout=60)
        assert result.returncode == 0 and "alpha 1.0" in result.stdout, result.stderr
        assert time.monotonic() - started < 30
        assert (root / interpreter_dir(_sha256(archive))).is_dir()
        assert [
            p.name for p in root.iterdir() if p.name.endswith(".lock.d") or ".tmp-" in p.name or ".stale-" in p.name
        ] == []

    def test_waiting_long_for_a_live_holder_says_so_once(self, executable: Path, archive: Path, tmp_path: Path) -> None:
        root = tmp_path / "root"
        root.mkdir(mode=0o700)
        lock = root / f".{interpreter_dir(_sha256(archive))}.lock.d"
        lock.mkdir()
        holder = subprocess.Popen(["sleep", "60"])
        try:
            (lock / "pid").write_text(f"{holder.pid}\n")
            tools = _tools(tmp_path / "bin", without=("flock",))
            start = subprocess.Popen(
                [os.fspath(executable)],
                env=_env(root, PATH=os.fspath(tools)),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            time.sleep(4)
            assert start.poll() is None  # still waiting
            holder.kill()
            holder.wait(timeout=30)  # not a zombie, which `kill -0` still finds
            out, err = start.communicate(timeout=60)
        finally:
            holder.kill()
            holder.wait(timeout=30)
        assert start.returncode == 0 and "alpha 1.0" in out, err
        assert err == (
            f"{executable.name}: waiting for another start to unpack Python (held by PID {holder.pid}, lock {lock}), "
            f"for at most 300 s (ZIPAPP_LOCK_TIMEOUT)\n"
        )

    @pytest.mark.parametrize("without", [(), ("flock",)], ids=["flock", "mkdir-lock"])
    def test_a_full_disk_is_one_line_and_leaves_nothing(
        self, executable: Path, archive: Path, tmp_path: Path, without: tuple[str, ...]
    ) -> None:
        """ZIPAPP_ROOT on a 2 MB tmpfs: one line naming the first error, no work directory and no lock directory."""
        root = tmp_path / "root"
        root.mkdir()
        tools = _tools(tmp_path / "bin", without=without)
        unshare, mount = shutil.which("unshare"), shutil.which("mount")
        assert unshare is not None and mount is not None and os.geteuid() == 0, "needs unshare(1) and root"
        script = f'{mount} -t tmpfs -o size=2m,mode=0700 tmpfs "$1" || exit 99\n"$2"\necho "rc=$?"\nls -A "$1"\n'
        command = [unshare, "-m", "--propagation", "private", "/bin/sh", "-c", script, "sh", os.fspath(root)]
        result = _run([*command, os.fspath(executable)], _env(root, PATH=os.fspath(tools)), timeout=120)
        assert result.stderr.count("\n") == 1, result.stderr
        assert result.stderr.startswith(f"{executable.name}: cannot unpack Python into {root}: "), result.stderr
        assert "No space left on device" in result.stderr
        left = [name for name in result.stdout.splitlines()[1:] if name != f".{interpreter_dir(_sha256(archive))}.lock"]
        assert result.stdout.splitlines()[0] == "rc=70" and left == []

    @pytest.mark.parametrize("without", [(), ("flock", "sha256sum")], ids=["sha256sum", "mkdir-lock-and-gzip-check"])
    def test_a_damaged_archive_creates_nothing(
        self, executable: Path, tmp_path: Path, without: tuple[str, ...]
    ) -> None:
        data = bytearray(executable.read_bytes())
        data[_archive_offset(executable) + 5000] ^= 0x40
        damaged = tmp_path / executable.name
        damaged.write_bytes(bytes(data))
        damaged.chmod(0o755)
        root = tmp_path / "root"
        tools = _tools(tmp_path / "bin", without=without)
        result = _run([os.fspath(damaged)], _env(root, PATH=os.fspath(tools)), timeout=60)
        _one_line(result, damaged, "damaged file", "download it again")
        assert [p.name for p in root.iterdir() if not p.name.endswith(".lock")] == []

    @pytest.mark.parametrize("cut", ["in the zip", "appended"])
    def test_a_file_of_another_size_is_one_line(self, executable: Path, tmp_path: Path, cut: str) -> None:
        """A download cut off in the zip part (the launcher and the archive whole): one line before anything, not
        the interpreter's SyntaxError on a zip it cannot read."""
        data = executable.read_bytes()
        data = data[: len(data) - 1000] if cut == "in the zip" else data + b"\n"
        damaged = tmp_path / executable.name
        damaged.write_bytes(data)
        damaged.chmod(0o755)
        root = tmp_path / "root"
        result = _run([os.fspath(damaged)], _env(root), timeout=60)
        _one_line(result, damaged, f"damaged file ({len(data)} bytes, expected {executable.stat().st_size})")
        assert not root.exists()

    def test_a_damaged_interpreter_directory_is_one_line(self, executable: Path, archive: Path, tmp_path: Path) -> None:
        root = tmp_path / "root"
        assert _run([os.fspath(executable)], _env(root), timeout=60).returncode == 0
        unpacked = root / interpreter_dir(_sha256(archive))
        (unpacked / "python" / "bin" / f"python{VERSION}").unlink()
        result = _run([os.fspath(executable)], _env(root), timeout=60)
        _one_line(result, executable, f"{unpacked} is damaged", f"rm -rf '{unpacked}'")
        shutil.rmtree(unpacked)
        unpacked.write_text("")
        result = _run([os.fspath(executable)], _env(root), timeout=60)
        _one_line(result, executable, f"{unpacked} is damaged")

    def test_ls_settings_and_a_trailing_blank_do_not_matter(
        self, executable: Path, archive: Path, tmp_path: Path
    ) -> None:
        root = tmp_path / "root "
        env = _env(root, TIME_STYLE="long-iso", QUOTING_STYLE="c", LS_COLORS="di=01;34", POSIXLY_CORRECT="1")
        for _ in ("cold", "warm"):
            result = _run([os.fspath(executable)], env, timeout=60)
            assert result.returncode == 0 and "alpha 1.0" in result.stdout, result.stderr
        assert (root / interpreter_dir(_sha256(archive))).is_dir()

    def test_sh_file_runs_this_file_not_one_on_path(self, executable: Path, tmp_path: Path) -> None:
        decoy = tmp_path / "decoy"
        decoy.mkdir()
        (decoy / executable.name).write_text("#!/bin/sh\necho decoy\n")
        (decoy / executable.name).chmod(0o755)
        env = _env(tmp_path / "root", PATH=f"{decoy}:{os.environ['PATH']}")
        result = subprocess.run(
            ["sh", executable.name], env=env, cwd=executable.parent, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0 and "alpha 1.0" in result.stdout, result.stderr

    def test_tilde_as_the_runtime_reads_it(self, executable: Path, archive: Path, tmp_path: Path) -> None:
        home = tmp_path / "home"
        home.mkdir()
        env = _env(tmp_path, HOME=os.fspath(home), ZIPAPP_ROOT="~nosuch-hz-user/x")
        result = _run([os.fspath(executable)], env, timeout=60)
        assert _one_line(result, executable) == _runtime_message("ZIPAPP_ROOT", "~nosuch-hz-user/x", env)
        assert list(tmp_path.glob("home*")) == [home] and list(home.iterdir()) == []
        import pwd

        me = pwd.getpwuid(os.geteuid())
        value = f"~{me.pw_name}/" + os.path.relpath(tmp_path / "root", me.pw_dir)
        result = _run([os.fspath(executable)], {**env, "ZIPAPP_ROOT": value}, timeout=60)
        assert result.returncode == 0 and "alpha 1.0" in result.stdout, result.stderr
        assert (tmp_path / "root" / interpreter_dir(_sha256(archive))).is_dir()

    def test_a_missing_home_is_never_created(self, executable: Path, tmp_path: Path) -> None:
        env = _env(tmp_path, HOME=os.fspath(tmp_path / "nonexistent"))
        for name in ("ZIPAPP_ROOT", "XDG_CACHE_HOME", "CACHE_DIRECTORY"):
            env.pop(name, None)
        result = _run([os.fspath(executable)], env, timeout=60)
        _one_line(result, executable, "no writable directory", "$HOME is not a directory")
        assert not (tmp_path / "nonexistent").exists()

    @pytest.mark.parametrize(("path", "tool"), [("/nonexistent", "ls"), ("BIN", "gzip")])
    def test_a_missing_tool_is_named(self, executable: Path, tmp_path: Path, path: str, tool: str) -> None:
        tools = _tools(tmp_path / "bin", without=("gzip",))
        env = _env(tmp_path / "root", PATH=path.replace("BIN", os.fspath(tools)))
        result = _run([os.fspath(executable)], env, timeout=60)
        _one_line(result, executable, f"no '{tool}' on PATH")
        assert [p for p in (tmp_path / "root").glob("*") if ".tmp-" in p.name] == []

    def test_a_dangling_link_at_the_lock_file_is_not_followed(
        self, executable: Path, archive: Path, tmp_path: Path
    ) -> None:
        """Refused in one line, as the runtime refuses a link at its lock file (tests/test_launcher_lock.py)."""
        root = tmp_path / "root"
        root.mkdir(mode=0o700)
        target = tmp_path / "elsewhere"
        lock = root / f".{interpreter_dir(_sha256(archive))}.lock"
        lock.symlink_to(target)
        result = _run([os.fspath(executable)], _env(root), timeout=60)
        _one_line(result, executable, f"refusing the lock {lock}: it is a symbolic link. Delete it")
        assert not target.exists()

    def test_an_interpreter_owned_by_another_user_is_refused(
        self, executable: Path, archive: Path, tmp_path: Path
    ) -> None:
        root = tmp_path / "root"
        assert _run([os.fspath(executable)], _env(root), timeout=60).returncode == 0
        unpacked = root / interpreter_dir(_sha256(archive))
        for path in (unpacked / "python" / "bin" / f"python{VERSION}", unpacked / "python" / "bin"):
            os.chown(path, 4321, 4321)
            result = _run([os.fspath(executable)], _env(root), timeout=60)
            _one_line(result, executable, f"{path} is owned by another user (uid 4321)")
            os.chown(path, 0, 0)


# -- build errors ----------------------------------------------------------------------------------------------------


class TestBuildErrors:
    def test_wrong_sha256(self, tmp_path: Path, archive: Path, index: IndexServer, wheelhouse: Path) -> None:
        project = _project(tmp_path / "p", archive, index, wheelhouse)
        (project / "python" / archive.name).write_bytes(archive.read_bytes()[:-1] + b"\0")
        build_fails(project, HashMismatchError, "has sha256", f"not the {_sha256(archive)} expected")

    def test_archive_of_another_python(self, tmp_path: Path, index: IndexServer, wheelhouse: Path) -> None:
        other = next((p for v, p in sorted(interpreters().items()) if v != VERSION and v >= "3.8"), None)
        if other is None:
            pytest.fail("no second CPython version on this machine")
        made = make_archive(other, tmp_path / "other.tar.gz")
        project = _project(tmp_path / "p", made, index, wheelhouse)
        build_fails(project, ConfigError, "holds CPython 3.", f"is for Python {VERSION}")

    def test_not_a_tar_gz(self, tmp_path: Path, index: IndexServer, wheelhouse: Path) -> None:
        fake = tmp_path / "fake.tar.gz"
        fake.write_bytes(b"not an archive")
        build_fails(_project(tmp_path / "p", fake, index, wheelhouse), ConfigError, "is not a .tar.gz")


# -- the Django example site, with no Python on the machine ----------------------------------------------------------


@pytest.mark.network
def test_django_site_migrates_and_serves_with_no_python(tmp_path: Path, archive: Path) -> None:
    """fixtures/mysite with `embed-python`: `migrate`, then `serve` answers 200 on 127.0.0.1, every Python hidden."""
    from tests.test_django import _copy, _env, _free_port, _get, _server

    site = _copy(tmp_path / "mysite")
    (site / "python").mkdir()
    shutil.copy(archive, site / "python" / archive.name)
    with (site / "pyproject.toml").open("a") as f:
        f.write(
            f"\n[tool.hatch.build.targets.zipapp]\nembed-python = true\n"
            f'python-archive = {{ url = "python/{archive.name}", sha256 = "{_sha256(archive)}" }}\n'
        )
    executable = build(site)
    env = {k: v for k, v in _env(tmp_path, ZIPAPP_ROOT=os.fspath(tmp_path / "root")).items() if k != "SHIV_ROOT"}
    migrate = _run(no_python([os.fspath(executable), "migrate"]), {**env, "PYTHONPATH": "/nonexistent"}, timeout=300)
    assert migrate.returncode == 0 and "Applying notes.0001_initial... OK" in migrate.stdout, migrate.stderr
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    command = no_python([os.fspath(executable), "serve", "--bind", f"127.0.0.1:{port}", "--workers", "2"])
    with _server(command, env, base, cwd=tmp_path):
        status, _, body = _get(base + "/")
        assert status == 200 and b"<h1>Notes</h1>" in body
    assert (tmp_path / "root" / interpreter_dir(_sha256(archive))).is_dir()


@pytest.mark.network
def test_a_real_python_build_standalone_archive(tmp_path: Path, index: IndexServer, wheelhouse: Path) -> None:
    """The archive pbs-installer's table names for this machine's Python version, downloaded by the build, runs the
    app with no Python on the machine. Skipped when python-build-standalone's release host cannot be reached (as on
    machines that reach only the package registries)."""
    import urllib.request

    source = select(Target.host())
    try:
        request = urllib.request.Request(source.url, method="HEAD")
        with urllib.request.build_opener().open(request, timeout=15):
            pass
    except OSError as e:
        pytest.skip(f"python-build-standalone's archive {source.url} cannot be reached here: {e}")
    alpha = make_wheel(wheelhouse, "alpha", "1.0")
    project = make_project(tmp_path / "p", dependencies=["alpha"], zipapp="embed-python = true\n")
    (project / "src" / "app" / "cli.py").write_text(CLI)
    (project / "pylock.toml").write_text(pylock_text([[alpha]], base_url=index.url))
    executable = build(project)
    result = _run(no_python([os.fspath(executable)]), _env(tmp_path / "root"), timeout=300)
    assert result.returncode == 0 and "alpha 1.0" in result.stdout, result.stderr
    assert f"/{interpreter_dir(source.sha256)}/python/bin/python{VERSION}" in result.stdout


@pytest.mark.network
@pytest.mark.slow
def test_end_to_end_through_hatch_build(
    tmp_path: Path,
    archive: Path,
    index: IndexServer,
    wheelhouse: Path,
    checkout_wheel: Path,  # noqa: F811 - the fixture of tests/test_hatch_e2e.py
    installer_cache: Path,  # noqa: F811
) -> None:
    """`hatch build -t zipapp` (hatch's build environment installs this checkout and pbs-installer) writes the
    executable, which runs with no Python on the machine."""
    project = _project(tmp_path / "p", archive, index, wheelhouse)
    text = (project / "pyproject.toml").read_text()
    (project / "pyproject.toml").write_text(
        text.replace('requires = ["hatchling"]', 'requires = ["hatchling", "hatch-zipapp"]')
    )
    assert 'requires = ["hatchling", "hatch-zipapp"]' in (project / "pyproject.toml").read_text()
    result = hatch_build(project, checkout_wheel, installer_cache, tmp_path / "hatch-data")
    assert result.returncode == 0, result.stderr
    executable = project / "dist" / f"app-1.0-{_needed_tag()}.pyz"
    assert executable.read_bytes().startswith(b"#!/bin/sh\n")
    run = _run(no_python([os.fspath(executable)]), _env(tmp_path / "root"))
    assert run.returncode == 0 and "alpha 1.0" in run.stdout, run.stderr
