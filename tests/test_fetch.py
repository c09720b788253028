"""Fetching: the sha256-keyed cache, offline rebuilds, tampering, credentials, proxies, unreachable indexes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hatch_zipapp.errors import FetchError, HashMismatchError
from hatch_zipapp.fetch import redact
from tests.helpers import (
    IndexServer,
    Proxy,
    build,
    build_fails,
    make_project,
    make_wheel,
    pylock_text,
    requirements_text,
    run_pyz,
    sha256_file,
)


class TestCache:
    @pytest.mark.parametrize("lock", ["pylock.toml", "requirements.txt"])
    def test_second_build_downloads_nothing_and_works_offline(
        self, tmp_path: Path, wheelhouse: Path, lock: str
    ) -> None:
        alpha = make_wheel(wheelhouse, "alpha", "1.0")
        windows = make_wheel(wheelhouse, "alpha", "1.0", tag="cp311-cp311-win_amd64")  # locked, never chosen here
        both = [alpha, windows]
        server = IndexServer(wheelhouse)
        project = make_project(tmp_path / "p", dependencies=["alpha"])
        text = (
            pylock_text([both], base_url=server.url)
            if lock == "pylock.toml"
            else requirements_text([both], index_url=server.simple)
        )
        (project / lock).write_text(text)
        try:
            first = build(project, tmp_path / "out1")
            assert any(path.startswith("/files/") for path in server.requests)
            server.requests.clear()
            second = build(project, tmp_path / "out2")
            assert server.requests == []
        finally:
            server.stop()
        third = build(project, tmp_path / "out3")  # the index is gone: everything comes from the cache
        assert sha256_file(first) == sha256_file(second) == sha256_file(third)
        assert run_pyz(third, "alpha").startswith("alpha: alpha 1.0")

    def test_cache_location_from_the_environment(
        self, tmp_path: Path, wheelhouse: Path, index: IndexServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        alpha = make_wheel(wheelhouse, "alpha", "1.0")
        project = make_project(tmp_path / "p", dependencies=["alpha"])
        (project / "pylock.toml").write_text(pylock_text([[alpha]], base_url=index.url))
        monkeypatch.setenv("HATCH_ZIPAPP_CACHE_DIR", os.fspath(tmp_path / "elsewhere"))
        build(project)
        assert (
            tmp_path / "elsewhere" / "files" / "sha256" / alpha.sha256[:2] / alpha.sha256
        ).read_bytes() == alpha.path.read_bytes()

    def test_tampered_cache_entry_is_an_error(self, tmp_path: Path, wheelhouse: Path, index: IndexServer) -> None:
        alpha = make_wheel(wheelhouse, "alpha", "1.0")
        project = make_project(tmp_path / "p", dependencies=["alpha"])
        (project / "pylock.toml").write_text(pylock_text([[alpha]], base_url=index.url))
        build(project, tmp_path / "warm")
        cached = tmp_path / "cache" / "files" / "sha256" / alpha.sha256[:2] / alpha.sha256
        cached.write_bytes(cached.read_bytes() + b"tampered")
        message = build_fails(project, HashMismatchError)
        assert os.fspath(cached) in message and "Delete that file" in message


class TestIntegrity:
    def test_served_file_with_another_hash_is_refused(
        self, tmp_path: Path, wheelhouse: Path, index: IndexServer
    ) -> None:
        alpha = make_wheel(wheelhouse, "alpha", "1.0")
        project = make_project(tmp_path / "p", dependencies=["alpha"])
        (project / "pylock.toml").write_text(pylock_text([[alpha]], base_url=index.url))
        index.state.tampered[alpha.filename] = alpha.path.read_bytes().replace(b"alpha 1.0", b"alpha 6.6")
        message = build_fails(project, HashMismatchError)
        assert alpha.filename in message and alpha.sha256 in message and "not used" in message
        assert not (tmp_path / "cache" / "files").exists()  # nothing unverified was cached

    def test_local_file_with_another_hash_is_refused(self, tmp_path: Path) -> None:
        project = make_project(tmp_path / "p", dependencies=["alpha"])
        alpha = make_wheel(project / "vendor", "alpha", "1.0")
        text = pylock_text([[alpha]], base_url=None)
        alpha.path.write_bytes(alpha.path.read_bytes() + b"\0")
        (project / "pylock.toml").write_text(text)
        message = build_fails(project, HashMismatchError)
        assert os.fspath(alpha.path) in message


class TestIndexAccess:
    def test_credentials_in_the_index_url_are_sent_and_never_shown(self, tmp_path: Path, wheelhouse: Path) -> None:
        alpha = make_wheel(wheelhouse, "alpha", "1.0")
        server = IndexServer(wheelhouse, auth=("deploy", "s3cr3t-t0ken"))
        try:
            url = f"http://deploy:s3cr3t-t0ken@127.0.0.1:{server.port}/simple/"
            project = make_project(tmp_path / "p", dependencies=["alpha"], zipapp=f'index-url = "{url}"')
            (project / "requirements.txt").write_text(requirements_text([[alpha]]))
            assert run_pyz(build(project), "alpha").startswith("alpha: alpha 1.0")
            assert b"s3cr3t-t0ken" not in (project / "dist" / "app-1.0-py3-none-any.pyz").read_bytes()
        finally:
            server.stop()

    def test_unreachable_index_names_the_url_without_credentials(self, tmp_path: Path, wheelhouse: Path) -> None:
        alpha = make_wheel(wheelhouse, "alpha", "1.0")
        server = IndexServer(wheelhouse)
        port = server.port
        server.stop()
        url = f"http://deploy:s3cr3t-t0ken@127.0.0.1:{port}/simple/"
        project = make_project(tmp_path / "p", dependencies=["alpha"], zipapp=f'index-url = "{url}"')
        (project / "requirements.txt").write_text(requirements_text([[alpha]]))
        message = build_fails(project, FetchError)
        assert f"http://deploy:****@127.0.0.1:{port}/simple/alpha/" in message
        assert "s3cr3t-t0ken" not in message

    def test_wrong_credentials(self, tmp_path: Path, wheelhouse: Path) -> None:
        alpha = make_wheel(wheelhouse, "alpha", "1.0")
        server = IndexServer(wheelhouse, auth=("deploy", "right"))
        try:
            url = f"http://deploy:wrong@127.0.0.1:{server.port}/simple/"
            project = make_project(tmp_path / "p", dependencies=["alpha"], zipapp=f'index-url = "{url}"')
            (project / "requirements.txt").write_text(requirements_text([[alpha]]))
            message = build_fails(project, FetchError)
            assert "401" in message and "wrong" not in message
        finally:
            server.stop()

    def test_proxy_from_the_environment(
        self, tmp_path: Path, wheelhouse: Path, index: IndexServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        alpha = make_wheel(wheelhouse, "alpha", "1.0")
        proxy = Proxy({"index.invalid": f"127.0.0.1:{index.port}"})
        try:
            monkeypatch.setenv("http_proxy", proxy.url)
            project = make_project(tmp_path / "p", dependencies=["alpha"])
            (project / "requirements.txt").write_text(
                requirements_text([[alpha]], index_url="http://index.invalid/simple/")
            )
            assert run_pyz(build(project), "alpha").startswith("alpha: alpha 1.0")
            assert "http://index.invalid/simple/alpha/" in proxy.seen
        finally:
            proxy.stop()


class TestRedact:
    @pytest.mark.parametrize(
        ("url", "shown"),
        [
            ("https://user:pw@host/simple/", "https://user:****@host/simple/"),
            ("https://token@host/simple/", "https://****@host/simple/"),
            ("https://host/simple/", "https://host/simple/"),
            ("file:///srv/wheels", "file:///srv/wheels"),
        ],
    )
    def test_redact(self, url: str, shown: str) -> None:
        assert redact(url) == shown

    @pytest.mark.parametrize(
        ("url", "shown"),
        [
            ("https://u:t0k@host/simple/", "https://u:****@host/simple/"),
            ("https://t0k@host/simple/", "https://****@host/simple/"),
            ("https://host/t0k/simple/", "https://host/****/simple/"),
            ("https://host/simple/?key=t0k", "https://host/simple/?key=****"),
        ],
    )
    def test_redact_secrets(self, url: str, shown: str) -> None:
        assert redact(url, {"t0k", ""}) == shown
