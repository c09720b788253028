"""The settings pitfalls caught at build time, while collectstatic has the settings imported: relative paths Django
reads (an error naming the setting and the fix, in the terms of the BASE_DIR the settings have), places data is
written inside the package, which the next deploy deletes (an error, unless `allow` names it), a STATIC_ROOT beside
the packages (startproject's BASE_DIR / "staticfiles"), and .br variants asked of whitenoise without brotli (a
warning). Real builds with the stand-in Django of test_django_hermetic; the real-Django case is at the end."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from hatch_zipapp.layout import PyzReader
from hatch_zipapp.static import DjangoError
from tests.helpers import IndexServer, build, make_project, make_wheel, pylock_text, snapshot
from tests.test_django_hermetic import DJANGO

BASE = """\
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
STATIC_ROOT = BASE_DIR / "staticfiles"
WSGI_APPLICATION = "app.wsgi.application"
"""

RELATIVE = """
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "DIRS": ["templates"]}]
STATICFILES_DIRS = [BASE_DIR / "assets", ("vendor", "vendor/static")]
LOCALE_PATHS = ["locale"]
FIXTURE_DIRS = [BASE_DIR / "fixtures", "more-fixtures"]
"""

INSIDE = """
MEDIA_ROOT = BASE_DIR / "media"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"},
             "memory": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
FILE_UPLOAD_TEMP_DIR = str(BASE_DIR / "uploads")
LOGGING = {"version": 1, "handlers": {"file": {"class": "logging.FileHandler", "filename": BASE_DIR / "site.log"}}}
"""

OUTSIDE = """
import os
MEDIA_ROOT = os.environ.get("MEDIA_ROOT", "/var/lib/app/media")
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "db.sqlite3"}}
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "DIRS": [BASE_DIR / "templates"]}]
"""


@pytest.fixture
def site(tmp_path: Path, wheelhouse: Path, index: IndexServer) -> Path:
    """A project with the stand-in Django; write its settings, then build."""
    django = make_wheel(wheelhouse, "django", "5.2", files=DJANGO)
    project = make_project(
        tmp_path / "site",
        dependencies=["django"],
        zipapp='[tool.hatch.build.targets.zipapp.django]\nsettings = "app.settings"',
    )
    (project / "pylock.toml").write_text(pylock_text([[django]], base_url=index.url))
    return project


def _settings(project: Path, text: str, allow: str = "") -> None:
    (project / "src" / "app" / "settings.py").write_text(BASE + text)
    if allow:
        pyproject = project / "pyproject.toml"
        pyproject.write_text(pyproject.read_text() + f"\nallow = {allow}\n")


def test_relative_paths_stop_the_build_each_named_with_the_fix(site: Path) -> None:
    """A relative path resolves against the server's working directory, never the extraction: templates there are
    every page a 500 (TemplateDoesNotExist), so the build stops, one line per setting (absolute ones are fine)."""
    _settings(site, RELATIVE)
    with pytest.raises(DjangoError) as raised:
        build(site)
    lines = str(raised.value).splitlines()
    assert lines == [
        f"settings {setting} of 'app.settings' holds the relative path {value!r}, which resolves against the "
        f"server's working directory, not the package: Django will not find what is there. Make it absolute: "
        f"BASE_DIR / {value!r}"
        for setting, value in [
            ('TEMPLATES[0]["DIRS"]', "templates"),
            ("STATICFILES_DIRS", "vendor/static"),
            ("LOCALE_PATHS", "locale"),
            ("FIXTURE_DIRS", "more-fixtures"),
        ]
    ]


#: BASE_DIR as sites write it, the relative DIRS they had, and the fix the build gives for it: in the settings' own
#: terms (a str BASE_DIR has no `/`), and relative to BASE_DIR when the path is one the package ships.
BASE_DIRS = {
    "str, above the package (bakerydemo)": (
        "import os\nBASE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))\n",
        "app/templates",
        "os.path.join(BASE_DIR, 'app/templates')",
    ),
    "str, the package": (
        "import os\nBASE_DIR = os.path.dirname(os.path.abspath(__file__))\n",
        "app/templates",
        "os.path.join(BASE_DIR, 'templates')",
    ),
    "Path, the package": (
        "from pathlib import Path\nBASE_DIR = Path(__file__).resolve().parent\n",
        "app/templates",
        "BASE_DIR / 'templates'",
    ),
    "Path, above the package (startproject)": (
        "from pathlib import Path\nBASE_DIR = Path(__file__).resolve().parent.parent\n",
        "app/templates",
        "BASE_DIR / 'app/templates'",
    ),
    "none": (
        "import os\n",
        "app/templates",
        "os.path.join(os.path.dirname(os.path.abspath(__file__)), 'templates')",
    ),
    "str above the package, the directory's own name (found in the settings' package)": (
        "import os\nBASE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))\n",
        "templates",
        "os.path.join(BASE_DIR, 'app/templates')",
    ),
    "Path above the package, the directory's own name": (
        "from pathlib import Path\nBASE_DIR = Path(__file__).resolve().parent.parent\n",
        "templates",
        "BASE_DIR / 'app/templates'",
    ),
}


@pytest.mark.parametrize(("base_dir", "value", "fix"), list(BASE_DIRS.values()), ids=list(BASE_DIRS))
def test_relative_template_dirs_get_a_fix_that_fits_base_dir(site: Path, base_dir: str, value: str, fix: str) -> None:
    """The suggested line, pasted in place of the relative path, builds, and names the package's templates."""
    (site / "src" / "app" / "templates").mkdir()
    (site / "src" / "app" / "templates" / "index.html").write_text("<title>app</title>\n")
    settings = site / "src" / "app" / "settings.py"
    common = 'STATIC_ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "staticfiles")\n'
    templates = 'TEMPLATES = [{{"BACKEND": "django.template.backends.django.DjangoTemplates", "DIRS": [{}]}}]\n'
    settings.write_text(f"import os\n{base_dir}{common}{templates.format(repr(value))}")
    with pytest.raises(DjangoError) as raised:
        build(site)
    assert str(raised.value) == (
        f"settings TEMPLATES[0][\"DIRS\"] of 'app.settings' holds the relative path {value!r}, which resolves against "
        f"the server's working directory, not the package: Django will not find what is there. Make it absolute: {fix}"
    )
    check = f"assert os.path.isfile(os.path.join({fix}, 'index.html')), {fix}\n"
    settings.write_text(f"import os\n{base_dir}{common}{templates.format(fix)}{check}")
    assert build(site).is_file()


def test_data_inside_the_package_stops_the_build_each_named(site: Path) -> None:
    _settings(site, INSIDE)
    (site / "dist").mkdir()
    (site / "dist" / "old.pyz").write_bytes(b"earlier")
    before = snapshot(site / "dist")
    with pytest.raises(DjangoError) as raised:
        build(site)
    lines = str(raised.value).splitlines()
    assert [line.split(" is ")[0] for line in lines] == [
        "settings MEDIA_ROOT of 'app.settings'",
        'settings DATABASES["default"]["NAME"] of \'app.settings\'',
        "settings FILE_UPLOAD_TEMP_DIR of 'app.settings'",
        'settings LOGGING["handlers"]["file"]["filename"] of \'app.settings\'',
    ]
    assert lines[0] == (
        "settings MEDIA_ROOT of 'app.settings' is 'app/media' inside the installed package, which the .pyz extracts "
        "and the next deploy deletes: uploaded files written there would be lost. Point it outside the package (a "
        "path from the environment, or the working directory: under systemd the StateDirectory), or, if nothing is "
        'ever written there, allow it: `allow = ["media-root"]` in [tool.hatch.build.targets.zipapp.django]'
    )
    for line, allowance in zip(lines, ["media-root", "sqlite", "file-upload-temp-dir", "log-file"], strict=True):
        assert f'`allow = ["{allowance}"]`' in line
    assert snapshot(site / "dist") == before


def test_a_warm_cache_still_checks(site: Path) -> None:
    """The collected files come from the cache the second time; the findings with them."""
    _settings(site, INSIDE)
    for _ in range(2):
        with pytest.raises(DjangoError, match=r"settings MEDIA_ROOT of 'app.settings' is 'app/media'"):
            build(site)
    assert list(Path(os.environ["HATCH_ZIPAPP_CACHE_DIR"], "static").rglob("*"))


def test_allowed_ones_are_warnings(site: Path, capfd: pytest.CaptureFixture[str]) -> None:
    _settings(site, INSIDE, allow='["file-upload-temp-dir", "log-file", "media-root", "sqlite"]')
    assert build(site).is_file()
    err = capfd.readouterr().err
    assert err.count("(allowed)") == 4 and "settings MEDIA_ROOT of 'app.settings' is 'app/media'" in err


def test_paths_outside_the_package_pass_silently(site: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """Data outside the package, and a template directory inside it that the package ships: nothing is said."""
    (site / "src" / "app" / "templates").mkdir()
    (site / "src" / "app" / "templates" / "index.html").write_text("<title>app</title>\n")
    _settings(site, OUTSIDE)
    assert build(site).is_file()
    err = capfd.readouterr().err
    assert "settings " not in err


#: startproject-style BASE_DIRs, a template directory the settings name with it that the package does not ship, and
#: what the build says of it: the directory the package ships, in the settings' own terms, or that none is.
MISSING = {
    "Path above the package (startproject)": (
        "from pathlib import Path\nBASE_DIR = Path(__file__).resolve().parent.parent\n",
        "BASE_DIR / 'templates'",
        "templates",
        "point it at the directory the package ships: BASE_DIR / 'app/templates'",
    ),
    "str above the package": (
        "BASE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))\n",
        "os.path.join(BASE_DIR, 'templates')",
        "templates",
        "point it at the directory the package ships: os.path.join(BASE_DIR, 'app/templates')",
    ),
    "Path the package, nothing of that name shipped": (
        "from pathlib import Path\nBASE_DIR = Path(__file__).resolve().parent\n",
        "BASE_DIR / 'jinja2'",
        "app/jinja2",
        "ship them there",
    ),
}


@pytest.mark.parametrize(("base_dir", "entry", "shown", "fix"), list(MISSING.values()), ids=list(MISSING))
def test_a_template_directory_the_package_does_not_ship_is_said_with_the_one_it_does(
    site: Path, base_dir: str, entry: str, shown: str, fix: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """startproject's ``BASE_DIR / "templates"`` with the templates in the package (``app/templates``): in the .pyz
    BASE_DIR is site-packages, where no ``templates`` is shipped, and Django says nothing of a missing directory (the
    pages are a 500). The build says so, naming the directory the package ships in the settings' own terms, and the
    named one builds silently. A warning, not an error: an entry meant to be empty (APP_DIRS finds the templates) is
    common."""
    (site / "src" / "app" / "templates").mkdir()
    (site / "src" / "app" / "templates" / "index.html").write_text("<title>app</title>\n")
    settings = site / "src" / "app" / "settings.py"
    common = 'STATIC_ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "staticfiles")\n'
    templates = 'TEMPLATES = [{{"BACKEND": "django.template.backends.django.DjangoTemplates", "DIRS": [{}]}}]\n'
    settings.write_text(f"import os\n{base_dir}{common}{templates.format(entry)}")
    assert build(site).is_file()
    assert (
        f"settings TEMPLATES[0][\"DIRS\"] of 'app.settings' names {shown!r} in the installed packages, which the .pyz "
        "does not ship: what is meant to be there is not found in production (Django says nothing of a missing "
        f"directory). If it is meant to hold files, {fix}"
    ) in " ".join(capfd.readouterr().err.split())
    if fix.startswith("point"):
        named = fix.rpartition(": ")[2]
        check = f"assert os.path.isfile(os.path.join({named}, 'index.html')), {named}\n"
        settings.write_text(f"import os\n{base_dir}{common}{templates.format(named)}{check}")
        assert build(site).is_file()
        assert "settings " not in capfd.readouterr().err


FROM_THE_ENVIRONMENT = """
import os
MEDIA_ROOT = os.environ.get("MEDIA_ROOT") or str(BASE_DIR / "media")
"""


def _migrate(pyz: Path, tmp_path: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"MEDIA_ROOT", "DJANGO_SETTINGS_MODULE"}}
    return subprocess.run(
        [os.fspath(pyz), "migrate"], env={**env, **extra}, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize("allowed", [False, True])
def test_at_run_time_a_place_inside_the_extraction_refuses_to_start(site: Path, tmp_path: Path, allowed: bool) -> None:
    """The settings read the environment, which differs from the build's: MEDIA_ROOT unset on the server puts it
    inside the extraction, and `migrate` (as `serve`) stops with one line instead of writing there."""
    _settings(site, FROM_THE_ENVIRONMENT, allow='["media-root"]' if allowed else "")
    pyproject = site / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace(
            'settings = "app.settings"', 'settings = "app.settings"\nenvironment = { MEDIA_ROOT = "/srv/media" }'
        )
    )
    pyz = build(site)
    elsewhere = _migrate(pyz, tmp_path, MEDIA_ROOT=os.fspath(tmp_path / "media"))
    assert elsewhere.returncode == 0 and elsewhere.stdout == "manage: migrate\n", elsewhere.stderr
    inside = _migrate(pyz, tmp_path)
    if allowed:
        assert inside.returncode == 0 and inside.stdout == "manage: migrate\n", inside.stderr
        return
    assert inside.returncode == 2 and inside.stdout == ""
    line = inside.stderr.strip()
    assert "\n" not in line and line.startswith(f"{pyz.name} migrate: settings MEDIA_ROOT is ")
    assert "/site-packages/app/media, inside the extraction (" in line
    assert '`allow = ["media-root"]`' in line


@pytest.mark.network
def test_the_issues_site_with_real_django(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The example site with the two settings a large real site had: relative template DIRS (every page a 500,
    TemplateDoesNotExist) and MEDIA_ROOT in the package (uploads deleted by the next deploy): both stop the build,
    and with the fix each line gives (MEDIA_ROOT allowed) it builds."""
    from tests.test_django import _copy

    project = _copy(tmp_path / "mysite")
    settings = project / "src" / "mysite" / "settings.py"
    text = settings.read_text()
    assert '"DIRS": [BASE_DIR / "templates"],' in text
    text = text.replace('"DIRS": [BASE_DIR / "templates"],', '"DIRS": ["mysite/templates"],')
    settings.write_text(text + '\nMEDIA_ROOT = BASE_DIR / "media"\n')
    with pytest.raises(DjangoError) as raised:
        build(project)
    first, second = str(raised.value).splitlines()
    assert first.startswith("settings TEMPLATES[0][\"DIRS\"] of 'mysite.settings' holds the relative path 'mysite/")
    assert first.endswith("Make it absolute: BASE_DIR / 'templates'")
    assert second.startswith("settings MEDIA_ROOT of 'mysite.settings' is 'mysite/media' inside")
    settings.write_text(settings.read_text().replace('"mysite/templates"', "BASE_DIR / 'templates'"))
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + 'allow = ["media-root"]\n')
    monkeypatch.setenv("SECRET_KEY", "unused")
    assert build(project).is_file()


COMPRESSED = """
STORAGES = {"staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}}
"""
COMPRESSED_BEFORE_5_1 = """
STATICFILES_STORAGE = "whitenoise.storage.CompressedStaticFilesStorage"
"""


@pytest.mark.parametrize("backend", ["STORAGES", "STATICFILES_STORAGE"])
def test_br_variants_asked_for_without_brotli_are_named_at_build(
    site: Path, wheelhouse: Path, index: IndexServer, capfd: pytest.CaptureFixture[str], backend: str
) -> None:
    """whitenoise's compressed storage makes .br variants only where it imports brotli: without brotli in the lock,
    one line says so and what to add; with it (or with a storage that compresses nothing) nothing is said."""
    setting = 'STORAGES["staticfiles"]["BACKEND"]' if backend == "STORAGES" else "STATICFILES_STORAGE"
    text = COMPRESSED if backend == "STORAGES" else COMPRESSED_BEFORE_5_1
    _settings(site, text)
    assert build(site).is_file()
    err = capfd.readouterr().err
    storage = "CompressedManifestStaticFilesStorage" if backend == "STORAGES" else "CompressedStaticFilesStorage"
    expected = (
        f"settings {setting} of 'app.settings' is whitenoise's {storage}, which writes .br variants only where "
        "it can import brotli, and the lock has none: the .pyz gets .gz variants alone. For .br too, add brotli to "
        "the project's dependencies and lock again (hatch-zipapp lock)"
    )
    assert [line for line in err.splitlines() if "brotli" in line] == [expected]
    _settings(site, '\nSTORAGES = {"staticfiles": {"BACKEND": "whitenoise.storage.ManifestStaticFilesStorage"}}\n')
    assert build(site).is_file()
    assert "brotli" not in capfd.readouterr().err
    _settings(site, text)
    django = make_wheel(wheelhouse, "django", "5.2", files=DJANGO)
    brotli = make_wheel(wheelhouse, "brotli", "1.1.0", files={"brotli.py": "def compress(data):\n    return data\n"})
    (site / "pylock.toml").write_text(pylock_text([[django], [brotli]], base_url=index.url))
    pyproject = (site / "pyproject.toml").read_text()
    assert '["django"]' in pyproject
    (site / "pyproject.toml").write_text(pyproject.replace('["django"]', '["django", "brotli"]'))
    assert build(site).is_file()
    assert "brotli" not in capfd.readouterr().err


STARTPROJECT = """\
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent  # startproject's: the directory above the package
WSGI_APPLICATION = "app.wsgi.application"
"""


@pytest.mark.parametrize(
    ("static_root", "shown"),
    [
        ('BASE_DIR / "staticfiles"', "site-packages/staticfiles"),
        ("BASE_DIR", "site-packages"),
        ('str(BASE_DIR) + "/static/collected"', "site-packages/static/collected"),
    ],
    ids=["BASE_DIR-staticfiles", "BASE_DIR", "nested"],
)
def test_static_root_beside_the_packages_stops_the_build(site: Path, static_root: str, shown: str) -> None:
    """startproject's BASE_DIR is site-packages in the .pyz: STATIC_ROOT = BASE_DIR / "staticfiles" would ship the
    collected files as a directory of their own beside the packages. One line names the setting and the fix."""
    (site / "src" / "app" / "settings.py").write_text(f"{STARTPROJECT}STATIC_ROOT = {static_root}\n")
    (site / "dist").mkdir()
    before = snapshot(site / "dist")
    with pytest.raises(DjangoError) as raised:
        build(site)
    assert str(raised.value) == (
        f"settings.STATIC_ROOT of 'app.settings' is {shown!r}, beside the installed packages, not inside one "
        "(startproject's BASE_DIR is the directory above the package): point it inside the package, e.g. "
        "STATIC_ROOT = Path(__file__).resolve().parent / 'staticfiles'"
    )
    assert snapshot(site / "dist") == before


def test_the_static_root_the_build_suggests_works_with_startprojects_base_dir(site: Path) -> None:
    settings = site / "src" / "app" / "settings.py"
    settings.write_text(f"{STARTPROJECT}STATIC_ROOT = None\n")
    with pytest.raises(DjangoError) as raised:
        build(site)
    suggested = str(raised.value).splitlines()[0].rpartition("e.g. ")[2]
    assert suggested == "STATIC_ROOT = Path(__file__).resolve().parent / 'staticfiles'", raised.value
    settings.write_text(f"{STARTPROJECT}{suggested}\n")
    with PyzReader(build(site)) as archive:
        assert "site-packages/app/staticfiles/staticfiles.json" in archive.namelist()
