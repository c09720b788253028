"""`hatch-zipapp deploy` (as root) and `hatch-zipapp systemd` against a hostile server: another local user who can
write in the site's directory, links planted there, a hostile umask, a deploy record that names files outside
``releases/``, what a killed deploy leaves, a full disk, arguments that would inject unit lines. Each is one line
naming the file and the fix, and nothing is written outside DIR. Run through the real command (tests/test_deploy.py's
``run``: the standard library and src/ only), with a stand-in ``systemctl`` that says every unit is active."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import json
import lzma
import os
import shutil
import socket
import ssl
import stat
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hatch_zipapp.bootstrap import zipread
from hatch_zipapp.deploy import fetch as fetch_module
from hatch_zipapp.deploy import release as release_module
from hatch_zipapp.errors import FetchError
from hatch_zipapp.pyz import index as index_module
from hatch_zipapp.pyz.index import MAGIC
from tests.helpers import small_pyz
from tests.rangeserver import RangeServer
from tests.test_deploy import RUN

NOBODY = 65534
#: systemctl and journalctl for a deploy without systemd: every unit active, every command done.
SYSTEMCTL = '#!/bin/sh\n[ "$1" = is-active ] && echo active\nexit 0\n'


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A release and its .sha256 as the build writes them."""
    with small_pyz(tmp_path_factory.mktemp("built")) as built:
        where = tmp_path_factory.mktemp("published") / "app-1.0.pyz"
        shutil.copy(built, where)
        digest = hashlib.sha256(where.read_bytes()).hexdigest()
        where.with_name(where.name + ".sha256").write_text(f"{digest}  {where.name}\n")
        yield where


@pytest.fixture
def bin_path(tmp_path: Path) -> str:
    fake = tmp_path / "fakebin"
    fake.mkdir()
    for name in ("systemctl", "journalctl"):
        (fake / name).write_text(SYSTEMCTL)
        (fake / name).chmod(0o755)
    return f"{fake}:{os.environ['PATH']}"


def deploy(
    source: Path | str, site: Path, path: str, *, umask: int = 0o022, extra: tuple[str, ...] = ()
) -> tuple[int, str, list[str]]:
    """(exit status, stdout, stderr's lines) of `hatch-zipapp deploy SOURCE --dir SITE` as root."""
    command = [sys.executable, "-I", "-S", "-c", RUN, "deploy", os.fspath(source), "--dir", os.fspath(site), *extra]
    done = subprocess.run(command, capture_output=True, text=True, env={"PATH": path}, umask=umask, timeout=120)
    lines = done.stderr.splitlines()
    assert lines and lines[-1] == "foreign: []", done.stderr
    return done.returncode, done.stdout, lines[:-1]


def _site(tmp_path: Path) -> Path:
    site = tmp_path / "app"
    site.mkdir(mode=0o755)
    return site


class TestAnotherUsersDirectory:
    """DIR, releases/ or extracted/ that another user can write in: refused before anything is written (root would
    follow the links that user plants: the lock onto /etc/passwd, truncated)."""

    @pytest.mark.parametrize(
        ("where", "owner", "mode", "why"),
        [
            ("", NOBODY, 0o755, f"it is owned by another user (uid {NOBODY})"),
            ("", 0, 0o775, "it is writable by group or others (mode 0775)"),
            ("", 0, 0o757, "it is writable by group or others (mode 0757)"),
            ("", 0, 0o1777, "it is writable by group or others (mode 1777)"),
            ("releases", NOBODY, 0o755, f"it is owned by another user (uid {NOBODY})"),
            ("releases", 0, 0o775, "it is writable by group or others (mode 0775)"),
            ("extracted", 0, 0o777, "it is writable by group or others (mode 0777)"),
        ],
    )
    def test_refused(
        self, tmp_path: Path, published: Path, bin_path: str, where: str, owner: int, mode: int, why: str
    ) -> None:
        site = _site(tmp_path)
        victim = tmp_path / "passwd"
        victim.write_text("root:x:0:0:root:/root:/bin/sh\n")
        directory = site / where if where else site
        directory.mkdir(exist_ok=True)
        os.chown(directory, owner, owner)
        directory.chmod(mode)
        (directory / ".deploy.lock").symlink_to(victim)  # what that user plants
        status, out, err = deploy(published, site, bin_path)
        assert (status, err) == (1, [
            f"hatch-zipapp deploy: {directory} is unsafe: {why}, so another user could plant links where deploy "
            f"writes as root: chown root:root {directory} && chmod go-w {directory}"
        ]), out  # fmt: skip
        assert victim.read_text() == "root:x:0:0:root:/root:/bin/sh\n"
        assert not (site / "current.pyz").exists() and not (site / "deploy.json").exists()
        if (site / "releases").is_dir():
            assert [p.name for p in (site / "releases").iterdir()] in ([], [".deploy.lock"])


class TestPlantedLinks:
    def test_the_lock_is_never_followed(self, tmp_path: Path, published: Path, bin_path: str) -> None:
        """A link (or a directory) as DIR/.deploy.lock: one line; the file it names untouched (was: truncated, and
        the deploy's PID written into it)."""
        site = _site(tmp_path)
        victim = tmp_path / "passwd"
        victim.write_text("root:x:0:0:root:/root:/bin/sh\n")
        lock = site / ".deploy.lock"
        for planted, why in ((victim, "Too many levels of symbolic links"), (tmp_path / "nothing", "Too many "
                             "levels of symbolic links"), (None, "Is a directory")):  # fmt: skip
            if planted is None:
                lock.mkdir()
            else:
                lock.symlink_to(planted)
            status, out, err = deploy(published, site, bin_path)
            assert (status, out, err) == (1, "", [
                f"hatch-zipapp deploy: {lock} cannot be opened ({why}): remove it (deploy makes it, a regular file)"
            ])  # fmt: skip
            assert victim.read_text() == "root:x:0:0:root:/root:/bin/sh\n"
            assert not (tmp_path / "nothing").exists() and not (site / "current.pyz").exists()
            lock.rmdir() if planted is None else lock.unlink()

    @pytest.mark.parametrize("where", ["releases", "extracted"])
    def test_releases_or_extracted_a_link_out_of_dir(
        self, tmp_path: Path, published: Path, bin_path: str, where: str
    ) -> None:
        """``releases`` → /etc (say): nothing written there, nothing deleted there (was: the release, its .sha256 and
        the retention's deletions in the directory linked to)."""
        site = _site(tmp_path)
        outside = tmp_path / "etc"
        outside.mkdir()
        (site / where).symlink_to(outside)
        status, out, err = deploy(published, site, bin_path)
        assert (status, err) == (1, [
            f"hatch-zipapp deploy: {site / where} is a symbolic link (to {outside}): deploy writes only inside "
            "--dir: move it aside (deploy makes it)"
        ]), out  # fmt: skip
        assert os.listdir(outside) == []
        (site / where).unlink()
        (site / where).write_text("")  # a file in its place
        status, out, err = deploy(published, site, bin_path)
        assert (status, err) == (1, [
            f"hatch-zipapp deploy: {site / where} is not a directory: deploy writes only inside --dir: move it aside "
            "(deploy makes it)"
        ]), out  # fmt: skip

    def test_a_record_naming_a_file_outside_releases(self, tmp_path: Path, published: Path, bin_path: str) -> None:
        """A deploy.json whose release, previous release or list names ``../../x``: refused (was: taken as is, the
        release to roll back to: a failed start switched ``current.pyz`` to ``releases/../../x``, outside DIR)."""
        site = _site(tmp_path)
        for release, previous, releases, bad in (
            ("app-1.0.pyz", "../../../bin/sh", [], "../../../bin/sh"),
            ("../x.pyz", None, [], "../x.pyz"),
            ("app-1.0.pyz", None, ["app-0.9.pyz", "../../etc/x.pyz"], "../../etc/x.pyz"),
            ("app-1.0.pyz", None, [7], 7),
            ("app-1.0.pyz", "", [], ""),
        ):
            record = {"release": release, "previous": previous, "state": "switching", "releases": releases}
            (site / "deploy.json").write_text(json.dumps(record))
            status, out, err = deploy(published, site, bin_path)
            assert (status, err) == (1, [
                f"hatch-zipapp deploy: {site / 'deploy.json'} names {bad!r}, not a release in releases/: remove it "
                "(the next deploy records afresh)"
            ]), out  # fmt: skip
            assert not (site / "current.pyz").exists()


@pytest.mark.parametrize("umask", [0o077, 0o027, 0o000])
def test_a_hostile_umask(tmp_path: Path, published: Path, bin_path: str, umask: int) -> None:
    """root's umask 077 (a hardened shell) made releases/ 0700: the service's user could not read current.pyz; 000
    must not make anything writable by others."""
    site = _site(tmp_path)
    status, out, err = deploy(published, site, bin_path, umask=umask)
    assert (status, err) == (0, []), out
    modes = {p.name: stat.S_IMODE(p.lstat().st_mode) for p in [site / "releases", site / "extracted"]}
    assert modes == {"releases": 0o755, "extracted": 0o755}
    for file in site.rglob("*"):
        if not file.is_symlink():
            assert not file.lstat().st_mode & 0o022, (file, oct(file.lstat().st_mode))
    assert stat.S_IMODE((site / "releases" / "app-1.0.pyz").stat().st_mode) == 0o644


def test_what_a_killed_deploy_left_is_swept(tmp_path: Path, published: Path, bin_path: str) -> None:
    """A fetch killed mid-download leaves ``releases/.NAME.XXXX.part`` (a whole release's size each time), a kill
    while recording or switching ``.deploy.json.tmp-PID``/``.current.pyz.tmp-PID``: the next deploy removes them
    (was: kept for ever)."""
    site = _site(tmp_path)
    (site / "releases").mkdir()
    left = [
        site / "releases" / ".app-1.0.pyz.k2j3h4.part",
        site / "releases" / ".app-0.9.pyz.abcdef.part",
        site / ".deploy.json.tmp-4242",
        site / ".current.pyz.tmp-4242",
    ]
    for file in left[:3]:
        file.write_bytes(b"\0" * 1000)
    left[3].symlink_to(site / "releases" / "app-0.9.pyz")
    kept = site / "releases" / "notes.part"  # not a dot file: not the deploy's
    kept.write_text("mine")
    status, out, err = deploy(published, site, bin_path)
    assert (status, err) == (0, []), out
    assert [f for f in left if os.path.lexists(f)] == []
    assert kept.read_text() == "mine"


@pytest.mark.parametrize(
    ("option", "value", "where", "argument"),
    [
        # a word ending in a backslash continues ExecStart= on the next line (Restart=on-failure became an argument)
        ("--worker", "w=run x\\\\", "--worker 'w' argument", "x\\"),
        ("--timer", "t@daily=run 'a\\'", "--timer 't' argument", "a\\"),
        # a C escape systemd unquotes in ExecStart=: the command would get a newline, not these four characters
        ("--worker", "w=run a\\\\x0aExecStartPre=/bin/sh", "--worker 'w' argument", "a\\x0aExecStartPre=/bin/sh"),
    ],
)
def test_a_backslash_in_a_unit_command_is_refused(
    tmp_path: Path, option: str, value: str, where: str, argument: str
) -> None:
    out = tmp_path / "units"
    command = [sys.executable, "-m", "hatch_zipapp", "systemd", "--pyz", "/srv/app/current.pyz", "--name", "app"]
    done = subprocess.run([*command, option, value, "-o", os.fspath(out)], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (2, ""), done.stderr
    assert done.stderr.splitlines() == [
        f"hatch-zipapp systemd: {where} {argument!r} holds '\\\\', which systemd would split, unquote or expand in "
        "ExecStart=: put such settings in /etc/app/env instead"
    ]
    assert not out.exists()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A site directory on a file system of 200 kB (the release is ~330 kB)."""
    site = _site(tmp_path)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200k,mode=0755", "tmpfs", os.fspath(site)],
                             capture_output=True, text=True, check=False, timeout=60)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield site
    finally:
        subprocess.run(["umount", os.fspath(site)], check=True, timeout=60)


@pytest.mark.parametrize("remote", [False, True])
def test_a_full_disk_is_one_line_naming_releases(
    small_disk: Path, published: Path, bin_path: str, remote: bool
) -> None:
    """ENOSPC mid-copy, or a download larger than the room: one line naming releases/ and the fix, nothing left
    there (was: a path's copy said the *source* "cannot be read (No space left on device): give the path of the
    .pyz", a download "transfer cut off after 333245 of 333245 bytes (No space left on device): run the deploy
    again")."""
    with RangeServer(published.parent) as server:
        source = f"{server.url}/{published.name}" if remote else os.fspath(published)
        status, out, err = deploy(source, small_disk, bin_path)
    releases = small_disk / "releases"
    free = os.statvfs(releases)  # (as the download found it: the lock made, nothing in releases/)
    why = (
        f"is more than the {free.f_bavail * free.f_frsize / 1e3:.1f} kB free there (its file system's reserve is left "
        "to the system): free space"
        if remote
        else "there (No space left on device): free space on its file system"
    )
    assert (status, err) == (1, [
        f"hatch-zipapp deploy: fetch: {releases}: {'' if remote else 'cannot write '}{published.name} {why} "
        f"(df -h {releases}), then deploy again (nothing was kept)"
    ]), out  # fmt: skip
    assert os.listdir(releases) == []
    assert not (small_disk / "current.pyz").exists() and not (small_disk / "deploy.json").exists()


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    return bytes([*out, value])


def _index(regions: int, region: bytes, size: int) -> bytes:
    """An index (pyz/index.py's format, written here byte by byte) of ``regions`` copies of ``region``."""
    body = struct.pack("<Q32s", size, bytes(32)) + _varint(regions) + region * regions
    return MAGIC + lzma.compress(body, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64)


@pytest.mark.parametrize(
    ("regions", "region", "size", "why"),
    [
        # 40,000 literals of 1 kB, each joined to all the ones before it: ~90 s of copying (was); 5 kB of index
        (40_000, b"L" + _varint(1000) + b"x" * 1000, 40_000_000, None),
        # 600,000 chunks known by an earlier release: ~280 MB of memory from a 2 kB index (was)
        (1, b"C" + _varint(600_000) + (_varint(1 << 16) + b"\x11" * 16) * 600_000, 600_000 << 16,
         f"more than {1 << 19} pieces at byte 45 (the build writes one a member or chunk)"),
    ],
)  # fmt: skip
def test_an_index_bomb_is_refused_quickly(
    tmp_path: Path, published: Path, bin_path: str, regions: int, region: bytes, size: int, why: str | None
) -> None:
    """A hostile server's (or a man in the middle's) index, small compressed: one line, the whole download, in
    seconds. The index is read before its sha256 is compared, so a pinned --sha256 does not stop it."""
    served = tmp_path / "served"
    served.mkdir()
    for file in (published, published.with_name(published.name + ".sha256")):
        shutil.copy(file, served / file.name)
    (served / f"{published.name}.index").write_bytes(_index(regions, region, size))
    site = _site(tmp_path)
    (site / "releases").mkdir()
    shutil.copy(published, site / "releases" / "app-0.9.pyz")  # an earlier release: the delta is tried
    with RangeServer(served) as server:
        started = time.monotonic()
        status, out, err = deploy(f"{server.url}/{published.name}", site, bin_path)
        took = time.monotonic() - started
    assert (status, err) == (0, []), out
    lines = out.splitlines()
    index_url = f"{server.url}/{published.name}.index"
    if why is None:  # the literals are joined quickly; the index's sha256 (zeros) is not the release's
        said = f"{index_url}: describes a file of sha256 {'0' * 64}, not "
    else:
        said = f"{index_url}: damaged ({why}): downloading {published.name} whole"
    assert any(line.startswith(f"hatch-zipapp deploy: {said}") for line in lines), out
    assert took < 30, took


def test_an_index_larger_than_the_disk_is_not_assembled(tmp_path: Path, published: Path, bin_path: str) -> None:
    """An index that repeats an earlier release's members 200 times (66 MB from a few kB, no byte over the network)
    on a 20 MB file system: the whole download instead, which is the published file (was: assembled until the disk
    was full, then failed: a lying index filled the server's disk, and the deploy did not happen)."""
    served = tmp_path / "served"
    served.mkdir()
    for file in (published, published.with_name(published.name + ".sha256")):
        shutil.copy(file, served / file.name)
    with zipread.Reader(os.fspath(published)) as reader:
        regions = index_module._walk(reader) * 200
    body = bytearray(struct.pack("<Q32s", 200 * published.stat().st_size, bytes.fromhex(_digest(published))))
    index_module._encode(regions, body)
    (served / f"{published.name}.index").write_bytes(MAGIC + lzma.compress(bytes(body), format=lzma.FORMAT_XZ))
    site = _site(tmp_path)
    if subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=20m,mode=0755", "tmpfs", os.fspath(site)], timeout=60
    ).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        (site / "releases").mkdir()
        shutil.copy(published, site / "releases" / "app-0.9.pyz")
        with RangeServer(served) as server:
            status, out, err = deploy(f"{server.url}/{published.name}", site, bin_path)
        assert (status, err) == (0, []), out
        size = 200 * published.stat().st_size / 1e6
        assert f"hatch-zipapp deploy: {published.name}: its index describes {size:.1f} MB, more than the " in out
        assert f" free in {site / 'releases'}: downloading it whole\n" in out
        assert (site / "releases" / published.name).read_bytes() == published.read_bytes()
    finally:
        subprocess.run(["umount", os.fspath(site)], check=True, timeout=60)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class _Trickle:
    """A server on 127.0.0.1 that answers every request a byte at a time (every 0.05 s, so each read is well within
    the timeout), its headers or its body, for at most ``seconds``, then closes."""

    def __init__(self, headers_too: bool, seconds: float = 12.0) -> None:
        self.headers_too, self.seconds = headers_too, seconds
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/app-1.0.pyz"
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        with contextlib.suppress(OSError):
            connection, _ = self.listener.accept()
            with connection:
                connection.recv(65536)
                head = b"HTTP/1.1 200 OK\r\n" + (b"" if self.headers_too else b"Content-Length: 1000000\r\n\r\n")
                connection.sendall(head)
                ends = time.monotonic() + self.seconds
                while time.monotonic() < ends:
                    connection.sendall(b"X" if self.headers_too else b"\0")
                    time.sleep(0.05)

    def close(self) -> None:
        self.listener.close()
        self.thread.join(timeout=20)


@pytest.mark.parametrize("headers_too", [False, True])
def test_a_trickling_server_is_dropped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, headers_too: bool) -> None:
    """A byte every 0.05 s: each read is within the socket timeout (1 s here, 30 s in use), so only a rate (the
    body: at least MIN_RATE bytes a second over each TIMEOUT) or a deadline (the status and headers) ends it; was:
    waited for as long as the server trickled (12 s here; for ever, holding DIR/.deploy.lock, in use)."""
    monkeypatch.setattr(fetch_module, "TIMEOUT", 1.0)
    server = _Trickle(headers_too)
    started = time.monotonic()
    try:
        with pytest.raises(FetchError) as caught:
            fetch_module.fetch(server.url, tmp_path / "releases", sha256="ab" * 32, say=lambda line: None)
    finally:
        server.close()
    took = time.monotonic() - started
    if headers_too:
        assert str(caught.value) == f"{server.url}: no complete answer (its status and headers) within 2 s"
    else:
        message = str(caught.value)
        assert message.startswith(f"{server.url}: too slow (") and message.endswith(
            f" bytes/s over 1 s, under {fetch_module.MIN_RATE}) after {message.split(' after ')[1].split()[0]} bytes: "
            "run the deploy again"
        ), message
    assert took < 5, took
    assert os.listdir(tmp_path / "releases") == []


@pytest.mark.parametrize(
    "url",
    [
        "http://192.0.2.7/app-1.0.pyz",
        "http://[2001:db8::7]:8080/app-1.0.pyz",
        "http://ci.example.com/app-1.0.pyz",
        "HTTP://user:secret@ci.example.com/app-1.0.pyz?token=secret",
    ],
)
def test_plain_http_from_another_host_needs_a_pinned_sha256(tmp_path: Path, bin_path: str, url: str) -> None:
    """A man in the middle of plain http serves the release and its .sha256 alike, and deploy runs the release as
    root (to prepare it): refused before anything is touched, unless --sha256 pins it (was: fetched, verified
    against the .sha256 that came the same way, and run)."""
    site = _site(tmp_path)
    status, out, err = deploy(url, site, bin_path)
    shown = fetch_module.shown(url)
    assert "secret" not in shown
    assert (status, out, err) == (2, "", [
        f"hatch-zipapp deploy: SOURCE {shown} is plain http and no --sha256 pins it: anyone on the way could serve "
        "another release and its .sha256 (deploy runs the release as root to prepare it): use https, or pass "
        "--sha256 HEX (the build's .sha256)"
    ])  # fmt: skip
    assert os.listdir(site) == []
    # Pinned, or from this machine: fetched (here nothing answers on port 9, the discard port).
    for url, pinned in (("http://127.0.0.1:9/app-1.0.pyz", ()), ("http://localhost:9/app-1.0.pyz", ()),
                        ("http://127.0.0.1:9/app-1.0.pyz", ("--sha256", "ab" * 32))):  # fmt: skip
        status, out, err = deploy(url, site, bin_path, extra=pinned)
        assert status == 1 and len(err) == 1 and err[0].startswith(f"hatch-zipapp deploy: fetch: {url}"), err


def test_a_redirect_from_https_to_plain_http_is_refused(
    tmp_path: Path, published: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """https SOURCE, its .sha256 redirected to plain http (a CDN, say): a man in the middle of that leg serves the
    digest and the file alike (was: followed, and the file taken)."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days",
                    "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"], check=True,
                   capture_output=True, timeout=60)  # fmt: skip
    monkeypatch.setenv("SSL_CERT_FILE", os.fspath(cert))
    with RangeServer(published.parent) as plain:

        class Redirect(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(302)
                self.send_header("Location", plain.url + self.path)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                """Quiet."""

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            url = f"https://127.0.0.1:{server.server_address[1]}/{published.name}"
            with pytest.raises(FetchError) as caught:
                fetch_module.fetch(url, tmp_path / "releases", sha256=None, say=lambda line: None)
        finally:
            server.shutdown()
            server.server_close()
            thread.join()
    assert str(caught.value) == (
        f"{url}.sha256: redirected from https to plain http ({plain.url}/{published.name}.sha256): publish it on https"
    )
    assert os.listdir(tmp_path / "releases") == []


def test_a_download_larger_than_the_disk_stops_before_its_reserve(tmp_path: Path, bin_path: str) -> None:
    """A 20 MB body (a server's endless one, say) onto an 8 MB ext4 file system: the download stops at what is free
    less the file system's reserve, one line, nothing kept (was: root wrote into the reserve, the system's last
    room, until the disk was full)."""
    served = tmp_path / "served"
    served.mkdir()
    big = served / "app-1.0.pyz"
    big.write_bytes(os.urandom(20 << 20))
    (served / "app-1.0.pyz.sha256").write_text(f"{_digest(big)}  app-1.0.pyz\n")
    image, site = tmp_path / "fs.img", _site(tmp_path)
    image.write_bytes(b"")
    os.truncate(image, 8 << 20)
    made = subprocess.run(["mkfs.ext4", "-q", "-F", os.fspath(image)], capture_output=True, check=False, timeout=60)
    if (
        made.returncode
        or subprocess.run(["mount", "-o", "loop", image, site], capture_output=True, timeout=60).returncode
    ):
        pytest.skip("cannot make and mount an ext4 file system here")
    try:
        site.chmod(0o755)
        (site / "lost+found").rmdir()
        free = os.statvfs(site)
        room = free.f_bavail * free.f_frsize
        with RangeServer(served) as server:
            status, out, err = deploy(f"{server.url}/app-1.0.pyz", site, bin_path)
        releases = site / "releases"
        assert (status, err) == (1, [
            f"hatch-zipapp deploy: fetch: {releases}: app-1.0.pyz is more than the {room / 1e6:.1f} MB free there (its "
            f"file system's reserve is left to the system): free space (df -h {releases}), then deploy again (nothing "
            "was kept)"
        ]), out  # fmt: skip
        assert os.listdir(releases) == []
    finally:
        subprocess.run(["umount", os.fspath(site)], check=True, timeout=60)


@pytest.mark.parametrize(
    ("owner", "mode", "why"),
    [
        (NOBODY, 0o755, f"it is owned by another user (uid {NOBODY})"),
        (0, 0o777, "it is writable by group or others (mode 0777)"),
        (0, 0o770, "it is writable by group or others (mode 0770)"),
    ],
)
def test_a_directory_above_dir_that_another_user_can_write(
    tmp_path: Path, published: Path, bin_path: str, owner: int, mode: int, why: str
) -> None:
    """/srv another user's (or writable by all, not sticky): they could rename DIR away and put their own, links
    planted, in its place between the deploy's checks and its writes: refused, nothing touched (was: the lock
    taken, the release fetched and verified there, and only the runtime's prepare refused)."""
    above = tmp_path / "srv"
    above.mkdir()
    site = _site(above)
    os.chown(above, owner, owner)
    above.chmod(mode)
    status, out, err = deploy(published, site, bin_path)
    assert (status, out, err) == (1, "", [
        f"hatch-zipapp deploy: {above} is unsafe: {why}, so another user could replace {site}. Use another directory"
    ])  # fmt: skip
    assert os.listdir(site) == []


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (not gone, not a zombie waiting for its new parent to reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in {"Z", "X"}


@pytest.mark.parametrize("background", ["sleep 300 &", "(sleep 300 >/dev/null 2>&1 &)"])
def test_a_step_too_slow_is_stopped_with_all_it_started(tmp_path: Path, background: str) -> None:
    """A prepare or a check that hangs is stopped after its timeout (1800 s in use, 1 s here), and so is whatever it
    started, its output held open or not (was: only the command itself was killed; its children ran on, as root)."""
    pids = tmp_path / "pids"
    script = f"{background} echo $! > {pids}; echo started; sleep 300"
    if "(" in background:  # (a subshell's $! is not this shell's: the grandchild writes its own)
        script = f"(sh -c 'echo $$ > {pids}; exec sleep 300' >/dev/null 2>&1 &); echo started; sleep 300"
    started = time.monotonic()
    result = release_module._run(["sh", "-c", script], timeout=1)
    assert time.monotonic() - started < 10
    assert (result.returncode, result.stdout) == (124, "started\nsh: still running after 1 s, stopped\n")
    pid = int(pids.read_text())
    deadline = time.monotonic() + 5
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    running = _running(pid)
    if running:
        os.kill(pid, 9)
    assert not running, "the step's child still runs"
