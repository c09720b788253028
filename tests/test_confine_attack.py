"""Attacks on the confinement itself (issue 25): ways a site, or what it ships, could get around ``ZIPAPP_CONFINE=1``
or make the runtime apply less than it says. Each is tried through a real .pyz run by a real interpreter
(tests/test_confine.py's attempts project and its :class:`Place`); the test runs as root, so file modes stop nothing:
only the confinement does."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pytest

from hatch_zipapp.bootstrap.documents import RECORD
from tests.helpers import build, make_project, make_wheel, pylock_text
from tests.test_confine import ATTEMPTS_CLI, Place, _extraction, _run
from tests.test_confine import pyz as _pyz

pyz = _pyz  # the attempts' .pyz (tests/test_confine.py's module fixture)

#: A dependency's start-up hook (a ``.pth`` line that imports, run by ``site.addsitedir``): it writes a file where
#: ``ESCAPE_TO`` says and starts a thread that writes another a moment later, once the entry point runs.
EARLY = """\
import os
import threading
import time

target = os.environ.get("ESCAPE_TO")
if target:
    try:
        with open(os.path.join(target, "from-pth"), "w") as f:
            f.write("x")
    except OSError:
        pass

    def later():
        time.sleep(0.3)
        try:
            with open(os.path.join(target, "from-thread"), "w") as f:
                f.write("x")
        except OSError:
            pass

    threading.Thread(target=later, daemon=True).start()
"""


@pytest.fixture(scope="module")
def hooked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The attempts' .pyz with a dependency that ships a ``.pth`` running code at start (as setuptools' does)."""
    root = tmp_path_factory.mktemp("hooked")
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("HATCH_ZIPAPP_CACHE_DIR", os.fspath(root / "cache"))
        monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
        files = {"hooky/__init__.py": "", "hooky_early.py": EARLY, "hooky-early.pth": "import hooky_early\n"}
        hooky = make_wheel(root / "wheels", "hooky", "1.0", files=files)
        project = make_project(root / "p", dependencies=["hooky"])
        (project / "src" / "app" / "cli.py").write_text(ATTEMPTS_CLI, encoding="utf-8")
        (project / "pylock.toml").write_text(pylock_text([[hooky]], base_url=None))
        return build(project, root / "dist")


@pytest.fixture
def place(tmp_path: Path) -> Place:
    return Place(tmp_path)


class TestBeforeConfinement:
    def test_a_dependencys_pth_runs_confined(self, hooked: Path, place: Place) -> None:
        """A ``.pth`` in the .pyz's packages runs at start, before the entry point: confined, and so is any thread it
        starts (Landlock and seccomp confine the thread that asks, and what it starts afterwards)."""
        beside = place.tmp / "beside"
        code = "import time; time.sleep(0.8)"
        free = _run(hooked, code, place.env(confined=False, extra={"ESCAPE_TO": os.fspath(beside)}))
        assert free.returncode == 0, free.stderr
        assert sorted(p.name for p in beside.iterdir()) == ["from-pth", "from-thread"]  # it would, unconfined
        for p in beside.iterdir():
            p.unlink()
        confined = _run(hooked, code, place.env(extra={"ESCAPE_TO": os.fspath(beside)}))
        assert confined.returncode == 0, confined.stderr
        assert confined.stdout == "RAN\n"
        assert sorted(p.name for p in beside.iterdir()) == []


def _refused(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a start refused with (nothing of the site ran)."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "RAN" not in result.stdout
    (line,) = result.stderr.splitlines()
    return line


class TestCodeReachableFromWritable:
    """A writable directory from which the site could change what runs at its next start (unconfined: a .pyz of its
    own making runs no confinement) is refused at start, however it reaches the code: holding it, beneath it, or
    holding a link on the way to it."""

    def test_a_writable_directory_beneath_its_code(self, pyz: Path, place: Place) -> None:
        _run(pyz, "", place.env(confined=False))  # extracted once
        site_packages = _extraction(place)
        for inside in (site_packages / "app", site_packages, site_packages.parent / "lib"):
            inside.mkdir(exist_ok=True)
            free = _run(
                pyz,
                f"attempt('plant', lambda: open('{inside}/evil.pth', 'w').write('import os'))",
                place.env(confined=False),
            )
            assert "plant: allowed" in free.stdout  # it would, unconfined (as root)
            result = _run(pyz, "", place.env(extra={"ZIPAPP_CONFINE_WRITE": os.fspath(inside)}))
            assert _refused(result) == (
                f"app-1.0-py3-none-any.pyz: ZIPAPP_CONFINE_WRITE={inside} is beneath this site's own code "
                f"({site_packages.parent}): a confined site never writes its code. Declare a directory beside it, "
                "or move the .pyz (or ZIPAPP_ROOT) out of it"
            )

    def test_a_link_to_the_pyz_in_a_writable_directory(self, pyz: Path, place: Place) -> None:
        """Started as ``DATA/current.pyz`` (a link to the release): the site could point the link at its own .pyz."""
        t = place.tmp
        (t / "data" / "current.pyz").symlink_to(pyz)
        (t / "data" / "releases").symlink_to(pyz.parent)  # a directory link on the way, as `current` often is
        (t / "beside" / "via").symlink_to("../data/releases")  # a link outside, through one inside
        started_as = [t / "data" / "current.pyz", t / "data" / "releases" / pyz.name, t / "beside" / "via" / pyz.name]
        for started in started_as:
            result = subprocess.run(
                [sys.executable, os.fspath(started), ""],
                env=place.env(),
                cwd=t,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert _refused(result) == (
                f"{started.name}: ZIPAPP_CONFINE_WRITE={t}/data holds a link on the way to this site's own code "
                f"({started}): a confined site never writes its code. Declare a directory beside it, "
                "or move the .pyz (or ZIPAPP_ROOT) out of it"
            )

    def test_a_link_to_the_root_in_a_writable_directory(self, pyz: Path, place: Place) -> None:
        t = place.tmp
        (t / "state" / "root").symlink_to(t / "root")
        result = _run(pyz, "", place.env(extra={"ZIPAPP_ROOT": f"{t}/state/root"}))
        assert _refused(result) == (
            f"app-1.0-py3-none-any.pyz: STATE_DIRECTORY={t}/state holds a link on the way to this site's own code "
            f"({t}/state/root): a confined site never writes its code. Declare a directory beside it, or move the "
            ".pyz (or ZIPAPP_ROOT) out of it"
        )

    def test_its_interpreter_in_a_writable_directory(self, pyz: Path, place: Place) -> None:
        """A copied interpreter (a virtual environment made with ``--copies``) in the state directory: the site could
        replace it."""
        t = place.tmp
        venv = t / "state" / "venv"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--copies", venv], check=True, timeout=120)
        python = venv / "bin" / "python"
        result = subprocess.run(
            [python, os.fspath(pyz), ""], env=place.env(), capture_output=True, text=True, timeout=120, check=False
        )
        assert _refused(result) == (
            f"app-1.0-py3-none-any.pyz: STATE_DIRECTORY={t}/state holds this site's interpreter ({python}): a "
            "confined site never writes the program that starts it. Use an interpreter outside the directories it "
            "writes"
        )

    def test_a_writable_directory_in_its_standard_library(self, pyz: Path, place: Place) -> None:
        """``json/`` of the standard library writable: the next start's runtime imports it before it confines."""
        venv = place.tmp / "venv"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--copies", venv], check=True, timeout=120)
        python = venv / "bin" / "python"
        library = subprocess.run(
            [python, "-c", "import os; print(os.path.dirname(os.path.realpath(os.__file__)))"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.strip()
        result = subprocess.run(
            [python, os.fspath(pyz), ""],
            env=place.env(extra={"ZIPAPP_CONFINE_WRITE": f"{library}/json"}),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert _refused(result) == (
            f"app-1.0-py3-none-any.pyz: ZIPAPP_CONFINE_WRITE={library}/json is beneath this site's interpreter's "
            f"standard library ({library}): a confined site never writes the modules its next start imports. "
            "Declare a directory elsewhere"
        )


class TestPlantedLinks:
    def test_a_declared_directory_replaced_by_a_link(self, pyz: Path, place: Place) -> None:
        """The declared ``STATE/media`` (in the state directory, which the site writes) replaced by a link to another
        service's state, or to /etc: the next start would give that to the site to write (or read). Refused, as is
        a link on the way (``STATE/up/media``, ``up`` the link)."""
        t = place.tmp
        (t / "state" / "up").symlink_to(t)
        for target in (t / "other-state", Path("/etc")):
            (t / "state" / "media").unlink(missing_ok=True)
            (t / "state" / "media").symlink_to(target)
            code = f"attempt('other', lambda: open('{target}/planted', 'w').write('x'))"
            for variable in ("ZIPAPP_CONFINE_WRITE", "ZIPAPP_CONFINE_READ"):
                free = _run(pyz, code, place.env(confined=False, extra={variable: f"{t}/state/media"}))
                assert "other: allowed" in free.stdout, free.stderr
                (target / "planted").unlink()
                result = _run(pyz, code, place.env(extra={variable: f"{t}/state/media"}))
                assert _refused(result) == (
                    f"app-1.0-py3-none-any.pyz: {variable}={t}/state/media goes through the link {t}/state/media in "
                    f"a directory the site writes (STATE_DIRECTORY={t}/state): it could point it anywhere before "
                    "its next start. Name the real directory, outside the ones it writes"
                )
        result = _run(pyz, "", place.env(extra={"ZIPAPP_CONFINE_WRITE": f"{t}/state/up/data"}))
        assert _refused(result) == (
            f"app-1.0-py3-none-any.pyz: ZIPAPP_CONFINE_WRITE={t}/state/up/data goes through the link {t}/state/up in "
            f"a directory the site writes (STATE_DIRECTORY={t}/state): it could point it anywhere before its next "
            "start. Name the real directory, outside the ones it writes"
        )

    def test_a_link_deeper_in_a_writable_directory_and_one_above_it(self, pyz: Path, place: Place) -> None:
        """A link two levels down in the state directory (``STATE/sub/link``) is the site's to re-point: refused. A
        link in a directory above it (``TMP/above`` → elsewhere), which the site does not write, is not: the start
        goes on (merged-/usr systems' ``/lib`` is such a link above every writable directory)."""
        t = place.tmp
        (t / "state" / "sub").mkdir(exist_ok=True)
        (t / "elsewhere" / "data").mkdir(parents=True, exist_ok=True)
        (t / "state" / "sub" / "link").symlink_to(t / "elsewhere")
        (t / "above").symlink_to(t / "elsewhere")
        result = _run(pyz, "", place.env(extra={"ZIPAPP_CONFINE_READ": f"{t}/state/sub/link/data"}))
        assert _refused(result) == (
            f"app-1.0-py3-none-any.pyz: ZIPAPP_CONFINE_READ={t}/state/sub/link/data goes through the link "
            f"{t}/state/sub/link in a directory the site writes (STATE_DIRECTORY={t}/state): it could point it "
            "anywhere before its next start. Name the real directory, outside the ones it writes"
        )
        result = _run(pyz, "", place.env(extra={"ZIPAPP_CONFINE_READ": f"{t}/above/data"}))
        assert result.returncode == 0, result.stderr

    def test_a_declared_directory_replaced_while_it_starts(self, pyz: Path, place: Place) -> None:
        """The declared ``STATE/media`` is a directory when the start checks it, and a link to another service's state
        when the rule is made (the site's other process, which writes ``STATE``, swaps it meanwhile): the rule would
        be on that state. strace holds the start where it loads ``_ctypes`` (after the checks, before the rules), so
        the swap lands there every time. Refused, for a declared readable and writable path alike."""
        if shutil.which("strace") is None:  # .ci/run installs it: never a silent skip there
            (pytest.fail if os.environ.get("CI") else pytest.skip)("needs strace (its fault injection holds the start)")
        t = place.tmp
        _run(pyz, "", place.env(confined=False))  # extracted once
        ctypes = subprocess.run(
            [sys.executable, "-c", "import _ctypes; print(_ctypes.__file__)"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.strip()
        code = f"attempt('other', lambda: open('{t}/state/media/db.key').read())"
        for variable in ("ZIPAPP_CONFINE_READ", "ZIPAPP_CONFINE_WRITE"):
            media = t / "state" / "media"
            if media.is_symlink():
                media.unlink()
                (t / "state" / "media.old").rename(media)
            media.mkdir(exist_ok=True)
            trace = t / f"trace-{variable}"
            held = ["strace", "-qq", "-o", os.fspath(trace), "-P", ctypes, "-e", "trace=openat"]
            held += ["-e", "inject=openat:delay_exit=1000000"]
            with subprocess.Popen(
                [*held, sys.executable, os.fspath(pyz), code],
                env=place.env(extra={variable: f"{media}"}),
                cwd=t,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ) as started:
                for _ in range(3000):  # until the start opens _ctypes (held there for a second)
                    if trace.exists() and ctypes in trace.read_text():
                        break
                    time.sleep(0.01)
                media.rename(t / "state" / "media.old")
                media.symlink_to(t / "other-state")
                stdout, stderr = started.communicate(timeout=120)
            result = subprocess.CompletedProcess(started.args, started.returncode, stdout, stderr)
            assert _refused(result) == (
                f"app-1.0-py3-none-any.pyz: {variable}={media} was replaced while the site started (its rule would "
                "be on another file than the one checked): start it again, and find out what replaces it"
            )


class TestUserSite:
    def test_the_user_site_packages_in_a_writable_directory(self, pyz: Path, place: Place) -> None:
        """``HOME`` the state directory (a service user's home often is): its ``~/.local/lib/python3.X/site-packages``
        is processed by the interpreter at every start, before the runtime confines anything; a ``.pth`` the site
        plants there would run unconfined at the next start. Refused at start, unless the interpreter skips it
        (``-s``)."""
        t = place.tmp
        python = os.path.realpath(sys.executable)  # outside any virtual environment: the user site is on
        user_site = subprocess.run(
            [python, "-c", "import site; print(site.getusersitepackages())"],
            env={**os.environ, "HOME": f"{t}/state"},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.strip()
        assert user_site.startswith(f"{t}/state/.local/")
        plant = (
            f"os.makedirs('{user_site}', exist_ok=True)\n"
            f"attempt('plant', lambda: open('{user_site}/evil.pth', 'w').write("
            f'\'import os; open("{t}/beside/from-user-site", "w").write("x")\'))'
        )
        env = place.env(extra={"HOME": f"{t}/state"})

        def start(*flags: str) -> subprocess.CompletedProcess[str]:
            command = [python, *flags, os.fspath(pyz), plant]
            return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)

        result = start()
        assert not (t / "beside" / "from-user-site").exists()
        assert _refused(result) == (
            f"app-1.0-py3-none-any.pyz: STATE_DIRECTORY={t}/state holds the interpreter's user site-packages "
            f"({user_site}), whose .pth files it runs at every start before anything is confined. Start it with "
            "python -s (or -I), or give the service a home outside the directories it writes"
        )
        skipped = start("-s")
        assert skipped.returncode == 0, skipped.stderr
        assert "plant: allowed" in skipped.stdout
        again = start("-s")
        assert again.returncode == 0, again.stderr
        assert not (t / "beside" / "from-user-site").exists()  # -s: the planted .pth is never run


class TestAnotherUser:
    def test_a_directory_on_the_way_owned_by_another_user(self, pyz: Path, place: Place) -> None:
        """``SHARED/media`` declared, ``SHARED`` another user's (nobody): that user replaces ``media`` by a link to
        another service's state, and the next start would give it to the site. Refused at start, as an extraction
        root under such a directory is; so is one writable by all without the sticky bit."""
        base = Path(tempfile.mkdtemp(prefix="confine-shared."))  # in /tmp, where uid 65534 can reach it
        base.chmod(0o755)
        shared = base / "shared"
        shared.mkdir()
        (shared / "media").mkdir()
        os.chown(shared, 65534, 65534)
        try:
            self._attempts(pyz, place, shared)
        finally:
            shutil.rmtree(base)

    def test_a_link_s_absolute_target_is_looked_up_from_the_root(self, pyz: Path, place: Place) -> None:
        """A declared path through a link whose target is absolute (``TMP/abs`` → ``/tmp/.../shared``): the
        directories of the target are checked as the kernel walks them, from ``/``, so another user's ``shared``
        is found on the way."""
        base = Path(tempfile.mkdtemp(prefix="confine-shared."))
        base.chmod(0o755)
        shared = base / "shared"
        (shared / "data").mkdir(parents=True)
        os.chown(shared, 65534, 65534)
        link = place.tmp / "absolute-link"
        link.symlink_to(shared)
        try:
            result = _run(pyz, "", place.env(extra={"ZIPAPP_CONFINE_READ": f"{link}/data"}))
            assert _refused(result) == (
                f"app-1.0-py3-none-any.pyz: ZIPAPP_CONFINE_READ={link}/data: {shared} is unsafe: it is owned by "
                "another user (uid 65534), so another user could replace what it names. Use a directory only root "
                "or the service's user can change"
            )
        finally:
            link.unlink()
            shutil.rmtree(base)

    def _attempts(self, pyz: Path, place: Place, shared: Path) -> None:
        t = place.tmp
        swap = f"mv {shared}/media {shared}/old && ln -s {t}/other-state {shared}/media"
        subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "sh", "-c", swap], check=True, timeout=60
        )
        code = f"attempt('other', lambda: open('{t}/other-state/planted', 'w').write('x'))"
        result = _run(pyz, code, place.env(extra={"ZIPAPP_CONFINE_WRITE": f"{shared}/media"}))
        assert _refused(result) == (
            f"app-1.0-py3-none-any.pyz: ZIPAPP_CONFINE_WRITE={shared}/media: {shared} is unsafe: it is owned by "
            "another user (uid 65534), so another user could replace what it names. Use a directory only root "
            "or the service's user can change"
        )
        os.chown(shared, 0, 0)
        shared.chmod(0o777)
        result = _run(pyz, code, place.env(extra={"ZIPAPP_CONFINE_READ": f"{shared}/old"}))
        assert _refused(result) == (
            f"app-1.0-py3-none-any.pyz: ZIPAPP_CONFINE_READ={shared}/old: {shared} is unsafe: it is writable by "
            "group or others (mode 0777), so another user could replace what it names. Use a directory only root "
            "or the service's user can change"
        )


def test_a_user_site_relative_to_the_working_directory(pyz: Path, tmp_path: Path) -> None:
    """A service's user without a passwd entry (a dynamic user whose name the hidden /run cannot resolve) and no
    ``HOME``: Python's user site-packages is ``~/.local/lib/python3.X/site-packages`` unexpanded, relative to the
    working directory, the state directory (``WorkingDirectory=%S/NAME``). A ``.pth`` the site plants in
    ``STATE/~/.local/...`` runs at the next start before anything is confined: that start is refused, and the unit
    ``hatch-zipapp systemd --confine`` writes turns the user site off (``PYTHONNOUSERSITE=1``)."""
    base = Path(tempfile.mkdtemp(prefix="confine-usersite."))  # in /tmp, where uid 4242 can reach it
    try:
        base.chmod(0o755)
        shutil.copy(pyz, base / "app.pyz")
        (base / "app.pyz").chmod(0o644)
        for name in ("state", "root", "beside", "tmp"):
            (base / name).mkdir()
            os.chown(base / name, 4242, 4242)
        planted = base / "state" / "~" / ".local" / "lib" / "python3.11" / "site-packages"
        planted.mkdir(parents=True)  # what the confined site could write in its state directory
        (planted / "evil.pth").write_text(f"import os; open('{base}/beside/escaped', 'w').write('x')\n")
        env = {"PATH": "/usr/bin:/bin", "ZIPAPP_CONFINE": "1", "STATE_DIRECTORY": f"{base}/state"}
        env |= {"ZIPAPP_ROOT": f"{base}/root", "TMPDIR": f"{base}/tmp"}

        def start(extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
            command = ["setpriv", "--reuid=4242", "--regid=4242", "--clear-groups", "/usr/bin/python3.11"]
            return subprocess.run(
                [*command, f"{base}/app.pyz", ""],
                env=env | extra,
                cwd=base / "state",
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )

        assert _refused(start({})) == (
            f"app.pyz: STATE_DIRECTORY={base}/state holds the interpreter's user site-packages "
            "(~/.local/lib/python3.11/site-packages), whose .pth files it runs at every start before anything is "
            "confined. Start it with python -s (or -I), or give the service a home outside the directories it writes"
        )
        (base / "beside" / "escaped").unlink()  # the .pth planted by hand ran, before the refusal: a site never runs
        off = start({"PYTHONNOUSERSITE": "1"})
        assert off.returncode == 0 and off.stdout == "RAN\n", off.stderr
        assert not (base / "beside" / "escaped").exists()
    finally:
        shutil.rmtree(base)
    units = tmp_path / "units"
    subprocess.run([*UNIT, "-o", os.fspath(units)], capture_output=True, timeout=120, check=True)
    assert "Environment=PYTHONNOUSERSITE=1" in (units / "x.service").read_text().splitlines()


#: Runs a copy of ``id`` from a memory file (``memfd_create``), by its /proc path or by its descriptor (``fexecve``):
#: Landlock's rule on programs does not govern a memory file.
MEMORY_PROGRAM = """
def memory_program(how, flags=0):
    def run():
        fd = os.memfd_create("program", flags)
        with open("/usr/bin/id", "rb") as f:
            os.write(fd, f.read())
        pid = os.fork()
        if pid == 0:
            os.dup2(os.open("/dev/null", os.O_WRONLY), 1)
            try:
                os.execve(fd if how == "fd" else f"/proc/self/fd/{fd}", ["id"], {})
            except PermissionError:
                os._exit(13)
            os._exit(1)
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise PermissionError(status)
    return run
def memory_data():
    fd = os.memfd_create("data", 8)  # MFD_NOEXEC_SEAL
    os.write(fd, b"x" * 4096)
    os.close(fd)
attempt("proc path", memory_program("path"))
attempt("fexecve", memory_program("fd"))
attempt("cloexec", memory_program("fd", os.MFD_CLOEXEC))
attempt("data", memory_data)
"""


class TestPrograms:
    def test_no_program_from_a_memory_file(self, pyz: Path, place: Place) -> None:
        """A memory file made to be run is refused (``EACCES``); one sealed against it (``MFD_NOEXEC_SEAL``, what a
        site needs of them) is not."""
        free = _run(pyz, MEMORY_PROGRAM, place.env(confined=False))
        assert free.stdout.splitlines()[1:] == [
            "proc path: allowed",
            "fexecve: allowed",
            "cloexec: allowed",
            "data: allowed",
        ], free.stderr
        confined = _run(pyz, MEMORY_PROGRAM, place.env())
        assert confined.returncode == 0, confined.stderr
        assert confined.stdout.splitlines() == [
            "RAN",
            "proc path: blocked",
            "fexecve: blocked",
            "cloexec: blocked",
            "data: allowed",
        ], confined.stderr


#: ``hatch-zipapp systemd --confine`` for a site run by an interpreter of its own in /opt.
UNIT = [sys.executable, "-m", "hatch_zipapp", "systemd", "--name", "x", "--pyz", "/srv/x/current.pyz", "--confine"]
UNIT += ["--python", "/opt/py/bin/python3", "--command", "serve", "--socket", "127.0.0.1:8000"]


class TestUnitRefuses:
    def test_a_written_directory_holding_the_interpreter(self, tmp_path: Path) -> None:
        """``hatch-zipapp systemd --confine`` refuses a ``--write`` that holds ``--python``: the site could replace
        the program its next start runs."""
        for write in ("/opt/py", "/opt/py/bin", "/opt"):
            result = subprocess.run(
                [*UNIT, "--write", write, "-o", os.fspath(tmp_path / "out")],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert result.returncode == 2, result.stderr
            assert result.stderr == (
                f"hatch-zipapp systemd: --write (or the .pyz's declaration) {write!r} holds the interpreter "
                "(/opt/py/bin/python3): the site could rewrite its own code; declare a directory of its own, "
                "e.g. /srv/x/media\n"
            )
            assert not (tmp_path / "out").exists()


#: Python 3.12's bytecode magic: a .pyc another Python compiled (its marshal format is not this Python's).
OTHER_MAGIC = (3531).to_bytes(2, "little") + b"\r\n"


def _with_members(pyz: Path, out: Path, members: dict[str, bytes]) -> Path:
    """A copy of ``pyz`` (its shebang kept) with ``members`` replaced, their sha256 in the record with them."""
    data = pyz.read_bytes()
    with zipfile.ZipFile(pyz) as z:
        infos = z.infolist()
        items = {i.filename: z.read(i.filename) for i in infos}
    record = items[RECORD]
    for name, body in members.items():
        record = record.replace(
            hashlib.sha256(items[name]).hexdigest().encode(), hashlib.sha256(body).hexdigest().encode()
        )
        items[name] = body
    items[RECORD] = record
    written = io.BytesIO(data[: infos[0].header_offset])  # the shebang: the members' offsets count it, as built
    with zipfile.ZipFile(written, "a") as w:
        for info in infos:
            w.writestr(info, items[info.filename])
    out.write_bytes(written.getvalue())
    return out


class TestRuntimeModules:
    def test_bytecode_of_another_python(self, pyz: Path, place: Place) -> None:
        """``_bootstrap/confine.pyc`` and ``seccomp.pyc`` compiled by another Python (recorded as built): a confined
        start never unmarshals them; it loads their source (checked at start too) and confines, one module at a time
        and both."""
        t = place.tmp
        code = f"attempt('other', lambda: open('{t}/other-state/db.key').read())"
        foreign = OTHER_MAGIC + bytes(12) + b"\xe3not this Python's marshal format"
        for names in (["confine"], ["seccomp"], ["confine", "seccomp"]):
            members = {f"_bootstrap/{name}.pyc": foreign for name in names}
            other = _with_members(pyz, t / f"{'-'.join(names)}.pyz", members)
            free = _run(other, code, place.env(confined=False))
            assert free.stdout == "RAN\nother: allowed\n", free.stderr
            confined = _run(other, code, place.env())
            assert (confined.returncode, confined.stdout, confined.stderr) == (0, "RAN\nother: blocked\n", "")


#: Runs the rest of the command in a mount namespace of its own where /proc is not the process's (an empty file
#: system) or hides other processes (``hidepid=2``): the kernel's name of a path is then not asked of /proc.
WITHOUT_PROC = {
    "no /proc": [
        "unshare",
        "-m",
        "--propagation",
        "private",
        "sh",
        "-c",
        'mount -t tmpfs none /proc && exec "$@"',
        "-",
    ],
    "hidepid=2": [
        "unshare",
        "-m",
        "--propagation",
        "private",
        "sh",
        "-c",
        'mount -t proc -o hidepid=2 proc /proc && exec "$@"',
        "-",
    ],
}


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare (util-linux)")
def test_the_start_checks_without_proc(pyz: Path, place: Place) -> None:
    """Without /proc (or with another user's processes hidden), the real names of the declared paths come from
    their links: a declared path through a link the site could re-point is still refused, and a start confines."""
    t = place.tmp
    (t / "state" / "media").symlink_to(t / "other-state")
    code = f"attempt('other', lambda: open('{t}/other-state/db.key').read())"

    def start(prefix: list[str], extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
        command = [*prefix, sys.executable, os.fspath(pyz), code]
        env = place.env(extra=extra)
        return subprocess.run(command, env=env, cwd=t, capture_output=True, text=True, timeout=120, check=False)

    for how, prefix in WITHOUT_PROC.items():
        assert _refused(start(prefix, {"ZIPAPP_CONFINE_READ": f"{t}/state/media"})) == (
            f"app-1.0-py3-none-any.pyz: ZIPAPP_CONFINE_READ={t}/state/media goes through the link {t}/state/media in "
            f"a directory the site writes (STATE_DIRECTORY={t}/state): it could point it anywhere before its next "
            "start. Name the real directory, outside the ones it writes"
        ), how
        confined = start(prefix, {})
        assert (confined.returncode, confined.stdout, confined.stderr) == (0, "RAN\nother: blocked\n", ""), how
