"""The settings pitfalls caught at build time, while collectstatic has the settings imported: relative paths Django
reads (a warning naming the setting and the fix) and places data is written inside the package, which the next
deploy deletes (an error, unless `allow` names it). Real builds with the stand-in Django of test_django_hermetic;
the real-Django case is in test_django.py."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

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


def test_relative_paths_are_warnings_naming_the_setting_and_the_fix(
    site: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    _settings(site, RELATIVE)
    assert build(site).is_file()
    err = capfd.readouterr().err
    for setting, value in [
        ('TEMPLATES[0]["DIRS"]', "templates"),
        ("STATICFILES_DIRS", "vendor/static"),
        ("LOCALE_PATHS", "locale"),
        ("FIXTURE_DIRS", "more-fixtures"),
    ]:
        expected = (
            f"settings {setting} of 'app.settings' holds the relative path {value!r}, which resolves against the "
            f"server's working directory, not the package: Django will not find what is there. Make it absolute: "
            f"BASE_DIR / {value!r}"
        )
        assert expected in err
    assert err.count("holds the relative path") == 4  # absolute ones are fine


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
    _settings(site, OUTSIDE)
    assert build(site).is_file()
    err = capfd.readouterr().err
    assert "settings " not in err


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
def test_the_issues_site_with_real_django(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The example site with the two settings a large real site had: relative template DIRS (every page a 500,
    TemplateDoesNotExist) and MEDIA_ROOT in the package (uploads deleted by the next deploy)."""
    from tests.test_django import _copy

    project = _copy(tmp_path / "mysite")
    settings = project / "src" / "mysite" / "settings.py"
    text = settings.read_text()
    assert '"DIRS": [BASE_DIR / "templates"],' in text
    text = text.replace('"DIRS": [BASE_DIR / "templates"],', '"DIRS": ["mysite/templates"],')
    settings.write_text(text + '\nMEDIA_ROOT = BASE_DIR / "media"\n')
    with pytest.raises(DjangoError, match=r"^settings MEDIA_ROOT of 'mysite.settings' is 'mysite/media' inside"):
        build(project)
    assert "settings TEMPLATES[0][\"DIRS\"] of 'mysite.settings' holds the relative path 'mysite/templates'" in (
        capfd.readouterr().err
    )
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + 'allow = ["media-root"]\n')
    monkeypatch.setenv("SECRET_KEY", "unused")
    assert build(project).is_file()
