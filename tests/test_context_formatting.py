"""Options through hatchling's context formatting, end to end: a token from `{env:...}` reaches the index and nothing
else: not the build's output, not any member of the .pyz, not any file in dist/, not `hatch-zipapp info`."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from hatch_zipapp.errors import ConfigError, FetchError, NoMatchingFileError
from hatch_zipapp.layout import PyzReader
from tests.helpers import (
    IndexServer,
    build,
    build_fails,
    make_project,
    make_wheel,
    requirements_text,
    run_pyz,
)

TOKEN = "tok-5e1f0c9a7d3b"
#: Every form the token could take on the way: as given, percent-encoded, inside a basic-auth header.
FORMS = (
    TOKEN.encode(),
    urllib.parse.quote(TOKEN, safe="").encode(),
    base64.b64encode(f"deploy:{TOKEN}".encode()),
)


@pytest.fixture
def private_index(wheelhouse: Path) -> Iterator[IndexServer]:
    """An index that answers only basic auth `deploy:TOKEN`."""
    server = IndexServer(wheelhouse, auth=("deploy", TOKEN))
    try:
        yield server
    finally:
        server.stop()


def private_project(tmp_path: Path, wheelhouse: Path, index_url: str) -> Path:
    alpha = make_wheel(wheelhouse, "alpha", "1.0")
    project = make_project(tmp_path / "p", dependencies=["alpha"], zipapp=f'index-url = "{index_url}"')
    (project / "requirements.txt").write_text(requirements_text([[alpha]]))  # no URLs: the index is asked
    return project


def assert_no_token(where: str, data: bytes) -> None:
    for form in FORMS:
        assert form not in data, f"{form!r} in {where}"


def test_token_from_the_environment_is_sent_and_never_written(
    tmp_path: Path, wheelhouse: Path, private_index: IndexServer
) -> None:
    url = f"http://deploy:{{env:PRIVATE_TOKEN}}@127.0.0.1:{private_index.port}/simple/"
    project = private_project(tmp_path, wheelhouse, url)
    result = subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "zipapp"],
        cwd=project,
        env={**os.environ, "PRIVATE_TOKEN": TOKEN},
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    # The index refuses anything without the token's basic auth: the build got alpha, so the token was sent.
    assert "/simple/alpha/" in private_index.requests
    assert any(path.startswith("/files/alpha-1.0") for path in private_index.requests)
    assert_no_token("the build's output", result.stdout + result.stderr)

    dist = project / "dist"
    pyz = dist / "app-1.0-py3-none-any.pyz"
    assert sorted(path.name for path in dist.iterdir()) == [
        "app-1.0-py3-none-any.pyz",
        "app-1.0-py3-none-any.pyz.cdx.json",
        "app-1.0-py3-none-any.pyz.index",
        "app-1.0-py3-none-any.pyz.sha256",
        "app-1.0-py3-none-any.whl",
    ]
    for path in dist.rglob("*"):
        assert_no_token(os.fspath(path), path.read_bytes())
    with PyzReader(pyz) as archive:
        members = archive.namelist()
        assert "environment.json" in members and "sbom.cdx.json" in members and "hatch-zipapp.json" in members
        assert any(name.startswith("site-packages/alpha/") for name in members)  # inner site-packages.zip read too
        for name in members:
            assert_no_token(f"{pyz.name}:{name}", archive.read(name))
    for directory in (tmp_path / "cache", project):  # the download cache, and nothing left beside the project
        for path in directory.rglob("*"):
            if path.is_file() and path.name != "pyproject.toml":
                assert_no_token(os.fspath(path), path.read_bytes())
    info = subprocess.run(
        [sys.executable, "-m", "hatch_zipapp", "info", os.fspath(pyz)], capture_output=True, timeout=60, check=True
    )
    assert b'"project": "app"' in info.stdout
    assert_no_token("hatch-zipapp info", info.stdout + info.stderr)
    assert run_pyz(pyz, "alpha").startswith("alpha: alpha 1.0")


def test_wrong_token_is_refused_and_not_shown(
    tmp_path: Path, wheelhouse: Path, private_index: IndexServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "wrong-8c2d4e6f"
    monkeypatch.setenv("PRIVATE_TOKEN", wrong)
    url = f"http://deploy:{{env:PRIVATE_TOKEN}}@127.0.0.1:{private_index.port}/simple/"
    message = build_fails(private_project(tmp_path, wheelhouse, url), FetchError, "HTTP 401", "deploy:****@127.0.0.1")
    assert wrong not in message


@pytest.mark.parametrize(("auth", "error"), [(True, FetchError), (False, NoMatchingFileError)])
def test_token_in_the_path_is_not_shown(
    tmp_path: Path,
    wheelhouse: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    auth: bool,
    error: type[Exception],
) -> None:
    """Not only userinfo: whatever `{env:...}` put anywhere in an index URL is kept out of messages: the URL of a
    refused request (HTTP 401), and the indexes looked in when none has the file (HTTP 404)."""
    monkeypatch.setenv("PRIVATE_TOKEN", TOKEN)
    server = IndexServer(wheelhouse, auth=("deploy", TOKEN) if auth else None)
    try:
        url = f"http://127.0.0.1:{server.port}/{{env:PRIVATE_TOKEN}}/simple/"
        project = private_project(tmp_path, wheelhouse, url)
        message = build_fails(project, error, f"http://127.0.0.1:{server.port}/****/simple/")
        assert f"/{TOKEN}/simple/alpha/" in server.requests  # the token was used
    finally:
        server.stop()
    assert TOKEN not in message
    captured = capfd.readouterr()
    assert TOKEN not in captured.out + captured.err


@pytest.mark.parametrize("token", ["k7Qx/Zr9-5e1f", "k7Qx#Zr9-5e1f", "k7Qx?Zr9-5e1f", "k7Qx Zr9-5e1f"])
def test_token_that_would_split_the_url_is_refused_unsent_and_unshown(
    tmp_path: Path, wheelhouse: Path, private_index: IndexServer, monkeypatch: pytest.MonkeyPatch, token: str
) -> None:
    """A `/` (base64 tokens hold them), `#`, `?` or a space in the password would end the userinfo there: the
    request would go to another host (`deploy`, port `k7Qx`) with the rest of the token in its path. Refused before
    any request, naming the variable and the fix, showing no part of the token."""
    monkeypatch.setenv("PRIVATE_TOKEN", token)
    url = f"http://deploy:{{env:PRIVATE_TOKEN}}@127.0.0.1:{private_index.port}/simple/"
    message = build_fails(
        private_project(tmp_path, wheelhouse, url),
        ConfigError,
        "environment variable PRIVATE_TOKEN goes into the user name or password of the URL",
        "percent-encode them in the variable",
    )
    assert private_index.requests == []
    for fragment in token.replace("/", " ").replace("#", " ").replace("?", " ").split():
        assert fragment not in message, message


def test_percent_encoded_token_is_decoded_for_basic_auth(
    tmp_path: Path, wheelhouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fix the refusal gives works: `ab%2Fcd` in the variable is sent as the password `ab/cd`."""
    token = "ab/cd+ef=5e1f"
    monkeypatch.setenv("PRIVATE_TOKEN", urllib.parse.quote(token, safe=""))
    server = IndexServer(wheelhouse, auth=("deploy", token))
    try:
        url = f"http://deploy:{{env:PRIVATE_TOKEN}}@127.0.0.1:{server.port}/simple/"
        pyz = build(private_project(tmp_path, wheelhouse, url))
    finally:
        server.stop()
    assert run_pyz(pyz, "alpha").startswith("alpha: alpha 1.0")


def test_whole_url_from_the_environment(
    tmp_path: Path, wheelhouse: Path, private_index: IndexServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A variable holding the whole index URL (slashes, `@` and all) is not mistaken for a split token."""
    monkeypatch.setenv("PRIVATE_INDEX", f"http://deploy:{TOKEN}@127.0.0.1:{private_index.port}/simple/")
    pyz = build(private_project(tmp_path, wheelhouse, "{env:PRIVATE_INDEX}"))
    assert run_pyz(pyz, "alpha").startswith("alpha: alpha 1.0")


def test_missing_variable_is_one_clear_error(tmp_path: Path, wheelhouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PRIVATE_TOKEN", raising=False)
    project = private_project(tmp_path, wheelhouse, "https://deploy:{env:PRIVATE_TOKEN}@pypi.example/simple/")
    build_fails(
        project,
        ConfigError,
        "Field `tool.hatch.build.targets.zipapp.index-url` uses environment variable PRIVATE_TOKEN, which is not set",
        "{env:PRIVATE_TOKEN:default}",
    )


def test_root_in_lock_and_wheel_dirs(tmp_path: Path) -> None:
    """`{root}` finds a lock and a wheel directory outside the defaults; no index is reachable, so the wheel can only
    come from `wheel-dirs`."""
    zipapp = (
        'lock = "{root}/locks/prod.txt"\nwheel-dirs = ["{root}{/}vendor"]\nindex-url = "http://127.0.0.1:9/simple/"\n'
    )
    project = make_project(tmp_path / "p", dependencies=["alpha"], zipapp=zipapp)
    alpha = make_wheel(project / "vendor", "alpha", "1.0")
    (project / "locks").mkdir()
    (project / "locks" / "prod.txt").write_text(requirements_text([[alpha]]))
    assert run_pyz(build(project), "alpha").startswith("alpha: alpha 1.0")
