"""`hatch-zipapp deploy` without systemd: its arguments, what it needs of the machine, its lock, its fetch and verify
steps, each failure one line; and that it runs with the standard library alone (`python -I -S`, only this checkout's
``src/`` on the path: the command a server with Debian's python3 runs). The steps against a real systemd are in
tests/test_deploy_real.py."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import small_pyz

SRC = Path(__file__).parent.parent / "src"
#: The deploy command as a server runs it: the standard library and src/ only; then the modules it imported that are
#: neither (none may be).
RUN = (
    f"import sys; sys.path[:] = [{str(SRC)!r}] + [p for p in sys.path[1:] if 'site-packages' not in p]; "
    "from hatch_zipapp.__main__ import main; status = main(sys.argv[1:]); "
    "foreign = sorted(m for m in sys.modules if m.split('.')[0] not in set(sys.stdlib_module_names) | "
    "{'__main__', 'hatch_zipapp'}); print('foreign:', foreign, file=sys.stderr); sys.exit(status)"
)


def _deploy(*arguments: str, env: dict[str, str] | None = None, user: str | None = None) -> subprocess.Popen[str]:
    command = [sys.executable, "-I", "-S", "-c", RUN, "deploy", *arguments]
    if user is not None:
        command = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *command]
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env or {"PATH": os.environ["PATH"]}
    )


def run(*arguments: str, env: dict[str, str] | None = None, user: str | None = None) -> tuple[int, str, list[str]]:
    """(exit status, stdout, stderr's lines less the import report), and that nothing foreign was imported."""
    process = _deploy(*arguments, env=env, user=user)
    out, err = process.communicate(timeout=60)
    lines = err.splitlines()
    assert lines and lines[-1] == "foreign: []", err
    return process.returncode, out, lines[:-1]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--dir", "srv/mysite"], "--dir 'srv/mysite' is not an absolute, normal path: give the site's directory, "
         "e.g. /srv/mysite"),
        (["--dir", "/srv/../mysite"], "--dir '/srv/../mysite' is not an absolute, normal path"),
        (["--dir", "/"], "--dir '/' is not an absolute, normal path"),
        (["--dir", "/srv/my site"], "Unit name 'my site' (--name) holds ' '"),
        (["--dir", "/srv/x", "--name=-x"], "Unit name '-x' (--name) starts with '-'"),
        (["--dir", "/srv/x", "--service", "a b"], "--service 'a b' is not a unit name"),
        (["--dir", "/srv/x", "--sha256", "ab" * 31], f"--sha256 '{'ab' * 31}' is not a sha256 (64 hexadecimal"),
        (["--dir", "/srv/x", "--sha256", "g" * 64], f"--sha256 '{'g' * 64}' is not a sha256"),
        (["--dir", "/srv/x", "--timeout", "0"], "--timeout 0.0 is not a number of seconds above 0: e.g. --timeout 60"),
        (["--dir", "/srv/x", "--timeout", "-1"], "--timeout -1.0 is not a number of seconds above 0"),
        (["--dir", "/srv/x", "--timeout", "nan"], "--timeout nan is not a number of seconds above 0"),
        (["--dir", "/srv/x", "--timeout", "inf"], "--timeout inf is not a number of seconds above 0"),
        (["--dir", "/srv/x", "--timeout", "soon"], "--timeout 'soon' is not a number: e.g. --timeout 60"),
        (["--dir", "/srv/x", "--settle", "-1"], "--settle -1.0 is not a number of seconds from 0 to --timeout (60): "
         "e.g. --settle 5"),
        (["--dir", "/srv/x", "--settle", "61"], "--settle 61.0 is not a number of seconds from 0 to --timeout (60)"),
        (["--dir", "/srv/x", "--settle", "20", "--timeout", "10"], "--settle 20.0 is not a number of seconds from 0 "
         "to --timeout (10)"),
        (["--dir", "/srv/x", "--settle", "nan"], "--settle nan is not a number of seconds"),
        (["--dir", "/srv/x", "--settle", "a while"], "--settle 'a while' is not a number: e.g. --settle 5"),
        (["--dir", "/srv/x", "--keep", "1"], "--keep 1 keeps fewer than 2 releases: the previous one is kept for a "
         "rollback"),
        (["--dir", "/srv/x", "--keep", "0"], "--keep 0 keeps fewer than 2 releases"),
        (["--dir", "/srv/x", "--keep", "2.5"], "--keep '2.5' is not a number: e.g. --keep 3"),
        (["--dir", "/srv/x", "--health", "ftp://h/"], "--health 'ftp://h/' is not an http(s) URL"),
        (["--dir", "/srv/x", "--health", "http:///x"], "--health 'http:///x' is not an http(s) URL"),
        (["--dir", "/srv/x", "--check", ""], "--check '' names no command"),
        (["--dir", "/srv/x", "--check", "check 'unclosed"], "--check \"check 'unclosed\" cannot be split into "
         "arguments: No closing quotation"),
        (["--dir", "/srv/x", "--python", "python3"], "--python 'python3' is not an absolute path"),
    ],
)  # fmt: skip
def test_a_bad_argument_is_one_line_and_status_2(arguments: list[str], message: str) -> None:
    status, out, err = run("https://example.invalid/mysite-1.0.pyz", *arguments)
    assert (status, out) == (2, "")
    assert len(err) == 1 and err[0].startswith(f"hatch-zipapp deploy: {message}"), err


@pytest.mark.parametrize("source", ["ftp://example.invalid/mysite-1.0.pyz", "file:///srv/mysite-1.0.pyz"])
def test_a_source_of_another_scheme_is_one_line_and_status_2(source: str) -> None:
    status, out, err = run(source, "--dir", "/srv/x")
    scheme = source.partition(":")[0]
    assert (status, out) == (2, "")
    assert err == [
        f"hatch-zipapp deploy: {source!r} is a {scheme}:// URL: give an http(s) URL or a local path of the .pyz the "
        "build wrote"
    ]


def test_what_the_machine_lacks_is_one_line(tmp_path: Path) -> None:
    source = "https://example.invalid/mysite-1.0.pyz"
    status, _, err = run(source, "--dir", os.fspath(tmp_path / "nowhere"))
    assert status == 2
    assert err == [
        f"hatch-zipapp deploy: --dir {tmp_path / 'nowhere'} is not a directory: create it first (install -d "
        f"{tmp_path / 'nowhere/releases'}), with the units written by `hatch-zipapp systemd --pyz "
        f"{tmp_path / 'nowhere/current.pyz'} --prepared-root {tmp_path / 'nowhere/extracted'}`"
    ]
    status, _, err = run(source, "--dir", "/usr", user="65534")
    assert (status, err) == (1, ["hatch-zipapp deploy: deploy runs as root (it prepares the release and restarts "
                                 "services): run it with sudo"])  # fmt: skip
    empty = tmp_path / "bin"
    empty.mkdir()
    status, _, err = run(source, "--dir", os.fspath(tmp_path), env={"PATH": os.fspath(empty)})
    assert (status, err) == (1, ["hatch-zipapp deploy: no systemctl on PATH: deploy restarts the services through "
                                 "systemd (a systemd host)"])  # fmt: skip
    assert sorted(os.listdir(tmp_path)) == ["bin"]  # nothing made


def _systemctl() -> None:
    if shutil.which("systemctl") is None:
        pytest.skip("no systemctl on this machine (the deploy checks for it first)")


def test_a_damaged_record_is_one_line(tmp_path: Path) -> None:
    _systemctl()
    (tmp_path / "deploy.json").write_text("{not json")
    status, out, err = run("https://example.invalid/mysite-1.0.pyz", "--dir", os.fspath(tmp_path))
    assert out == f"hatch-zipapp deploy: locked {tmp_path}/.deploy.lock\n"
    assert status == 1 and len(err) == 1
    assert err[0].startswith(f"hatch-zipapp deploy: {tmp_path}/deploy.json cannot be read (Expecting property name")
    assert err[0].endswith("): remove it (the next deploy records afresh)")
    for record in ('{"release": 1, "previous": null, "state": "", "releases": []}', '{"release": null}', "[]"):
        (tmp_path / "deploy.json").write_text(record)
        status, _, err = run("https://example.invalid/mysite-1.0.pyz", "--dir", os.fspath(tmp_path))
        assert (status, err) == (1, [f"hatch-zipapp deploy: {tmp_path}/deploy.json is not a deploy record: remove "
                                     "it (the next deploy records afresh)"]), record  # fmt: skip


def test_a_second_deploy_waits_for_the_first_saying_so_once(tmp_path: Path) -> None:
    _systemctl()
    (tmp_path / "deploy.json").write_text("[]")  # the deploy stops right after the lock
    with open(tmp_path / ".deploy.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        process = _deploy("https://example.invalid/mysite-1.0.pyz", "--dir", os.fspath(tmp_path))
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line == (
            f"hatch-zipapp deploy: waiting for another deploy to finish (PID {os.getpid()} holds "
            f"{tmp_path}/.deploy.lock)\n"
        )
        time.sleep(1)
        assert process.poll() is None  # it waits
    out, err = process.communicate(timeout=60)
    assert out == f"hatch-zipapp deploy: locked {tmp_path}/.deploy.lock\n"
    assert process.returncode == 1 and "is not a deploy record" in err


@pytest.fixture(scope="module")
def pyz(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with small_pyz(tmp_path_factory.mktemp("built")) as built:
        yield built


def test_a_wrong_digest_or_a_damaged_release_is_refused_and_not_kept(tmp_path: Path, pyz: Path) -> None:
    """Fetched from a local path (the stand-in fetch): a wrong --sha256, no .sha256 beside it, a .pyz damaged after it
    was published (the digest its own): one line each, nothing left in releases/, no current.pyz."""
    _systemctl()

    site = tmp_path / "site"
    site.mkdir()
    digest = hashlib.sha256(pyz.read_bytes()).hexdigest()
    status, _, err = run(os.fspath(pyz), "--dir", os.fspath(site), "--sha256", "0" * 64)
    expected = (
        f"hatch-zipapp deploy: fetch: {pyz}: sha256 {digest}, not the expected {'0' * 64}: a damaged or different "
        "file (publish it again, or check the pinned --sha256)"
    )
    assert (status, err) == (1, [expected])
    assert os.listdir(site / "releases") == []
    lonely = tmp_path / "lonely" / pyz.name
    lonely.parent.mkdir()
    shutil.copy(pyz, lonely)
    status, _, err = run(os.fspath(lonely), "--dir", os.fspath(site))
    assert status == 1 and len(err) == 1
    assert err[0] == (
        f"hatch-zipapp deploy: fetch: {lonely}.sha256: no such file: publish {pyz.name}.sha256 beside {pyz.name} or "
        "pass --sha256"
    )
    damaged = tmp_path / "damaged" / pyz.name
    damaged.parent.mkdir()
    data = bytearray(pyz.read_bytes())
    data[len(data) // 2] ^= 0x01
    damaged.write_bytes(bytes(data))
    bad = hashlib.sha256(data).hexdigest()
    status, _, err = run(os.fspath(damaged), "--dir", os.fspath(site), "--sha256", bad)
    assert status == 1 and len(err) == 1 and err[0].startswith(f"hatch-zipapp deploy: verify: {site}/releases/")
    assert os.listdir(site / "releases") == []
    assert not (site / "current.pyz").exists()


def test_the_state_file_is_written_whole_or_not_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """deploy.json through short writes (os.write may write less than asked) is whole; a write that fails (a full
    disk) leaves the one before in place and no temporary file."""
    from hatch_zipapp.deploy import release

    target = tmp_path / "deploy.json"
    target.write_bytes(b'{"before": true}\n')
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, bytes(data[:3])))
    release._write_atomically(target, b'{"release": "app-1.1.pyz", "state": "switching"}\n')
    assert target.read_bytes() == b'{"release": "app-1.1.pyz", "state": "switching"}\n'

    def full(fd: int, data: bytes) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(OSError):
        release._write_atomically(target, b'{"release": "app-1.2.pyz"}\n')
    assert target.read_bytes() == b'{"release": "app-1.1.pyz", "state": "switching"}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deploy.json"]
