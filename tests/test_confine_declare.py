"""The confinement declaration the build records in hatch-zipapp.json (`"confine"`): the pyproject table
`[tool.hatch.build.targets.zipapp.confine]`, each bad entry one line naming the file, the key, the value and the fix;
and what a Django site's settings say it writes and connects to, read while collectstatic has them imported. Real
builds: tiny projects, and the stand-in Django of test_django_hermetic with a settings module per case."""

from __future__ import annotations

import json
import os
import subprocess
import zipfile
from pathlib import Path

import pytest

from hatch_zipapp.bootstrap.documents import INFO_CONFINE, INFO_JSON
from hatch_zipapp.errors import ConfigError
from hatch_zipapp.pyz.confine import Declaration
from tests.helpers import IndexServer, build, build_fails, make_project, make_wheel, pylock_text
from tests.test_config import config_for
from tests.test_django_hermetic import DJANGO

KEY = "tool.hatch.build.targets.zipapp.confine"
FIX_WRITE = "write an absolute path such as '/var/lib/app/media'"
FIX_CONNECT = (
    "write HOST:PORT ('db.internal:5432', '[2001:db8::5]:6379') or the absolute path of a unix socket "
    "('/run/postgresql/.s.PGSQL.5432')"
)
FIX_BIND = "write ADDR:PORT ('127.0.0.1:8000', '[::]:8000')"


def _info(pyz: Path) -> dict[str, object]:
    with zipfile.ZipFile(pyz) as archive:
        info: dict[str, object] = json.loads(archive.read(INFO_JSON))
    return info


# -- the pyproject table ---------------------------------------------------------------------------------------------


class TestTable:
    def test_default_is_nothing_and_the_settings(self, tmp_path: Path) -> None:
        confine = config_for(tmp_path).confine
        assert confine.declaration == Declaration() and not confine.declaration and confine.settings is True

    def test_entries_and_boundaries(self, tmp_path: Path) -> None:
        sock = "/run/" + "s" * 102  # 107 bytes: what sun_path holds
        table = f"""
[tool.hatch.build.targets.zipapp.confine]
write = ["/var/lib/app/media", "/srv/uploads"]
connect = ["db.internal:5432", "10.0.0.5:1", "[2001:db8::5]:65535", "/run/postgresql/.s.PGSQL.5432", "{sock}"]
bind = ["127.0.0.1:8000", "[::]:8000"]
settings = false
"""
        confine = config_for(tmp_path, table).confine
        assert confine.settings is False
        assert confine.declaration.to_json() == {
            "bind": ["127.0.0.1:8000", "[::]:8000"],
            "connect": ["/run/postgresql/.s.PGSQL.5432", sock, "10.0.0.5:1", "[2001:db8::5]:65535", "db.internal:5432"],
            "write": ["/srv/uploads", "/var/lib/app/media"],
        }

    @pytest.mark.parametrize(
        ("kind", "value", "problem", "fix"),
        [
            ("write", "media", "is not absolute", FIX_WRITE),
            ("write", "./media", "is not absolute", FIX_WRITE),
            ("write", "/srv/a:b", "holds ':', which separates the paths the runtime is given", FIX_WRITE),
            ("write", "/srv/../etc", "is not written plainly (no '.', '..', '//' or trailing '/': '/etc')", FIX_WRITE),
            (
                "write",
                "/srv/media/",
                "is not written plainly (no '.', '..', '//' or trailing '/': '/srv/media')",
                FIX_WRITE,
            ),
            ("write", "//srv", "is not written plainly (no '.', '..', '//' or trailing '/': '//srv')", FIX_WRITE),
            ("write", "/", "is the whole file system", FIX_WRITE),
            ("write", "/srv/a\nb", "holds a control character", FIX_WRITE),
            ("connect", "db.internal", "has no port", FIX_CONNECT),
            ("connect", "db.internal:0", "has the port 0, outside 1-65535", FIX_CONNECT),
            ("connect", "db.internal:65536", "has the port 65536, outside 1-65535", FIX_CONNECT),
            ("connect", "db.internal:x", "has the port 'x', not a number", FIX_CONNECT),
            ("connect", "db.internal:080", "has the port '080', not a number", FIX_CONNECT),
            ("connect", "db.internal:", "has the port '', not a number", FIX_CONNECT),
            ("connect", ":5432", "has no host", FIX_CONNECT),
            ("connect", "::1:5432", "has an IPv6 address without brackets", FIX_CONNECT),
            ("connect", "[db]:5432", "has [db], not an IPv6 address", FIX_CONNECT),
            ("connect", "300.1.1.1:80", "has 300.1.1.1, not an IPv4 address", FIX_CONNECT),
            ("connect", "db internal:80", "has the host 'db internal', not a host name or an address", FIX_CONNECT),
            ("connect", "run/redis.sock", "is not absolute", FIX_CONNECT),
            ("connect", "/run/" + "s" * 103, "is 108 bytes long; a unix socket's path holds at most 107", FIX_CONNECT),
            ("bind", "127.0.0.1", "has no port", FIX_BIND),
            ("bind", "0.0.0.0:0", "has the port 0, outside 1-65535", FIX_BIND),
            ("bind", "/run/app.sock", "has no port", FIX_BIND),
        ],
    )
    def test_a_bad_entry_is_one_line_naming_the_file_key_value_and_fix(
        self, tmp_path: Path, kind: str, value: str, problem: str, fix: str
    ) -> None:
        table = f'[tool.hatch.build.targets.zipapp.confine]\n{kind} = ["/ok", {json.dumps(value)}]'
        if kind != "write":
            table = f'[tool.hatch.build.targets.zipapp.confine]\n{kind} = ["ok:1", {json.dumps(value)}]'
        with pytest.raises(ConfigError) as raised:
            _ = config_for(tmp_path, table).confine
        assert str(raised.value) == (f"Entry #2 in field `{KEY}.{kind}` of pyproject.toml: {value!r} {problem}; {fix}")

    @pytest.mark.parametrize(
        ("table", "message"),
        [
            (
                'confine = "/srv"',
                f"Field `{KEY}` of pyproject.toml must be a table of `write`, `connect`, `bind` (arrays of strings) "
                f"and `settings` (a boolean), got '/srv'",
            ),
            (
                '[tool.hatch.build.targets.zipapp.confine]\nwrites = ["/srv"]',
                f"Unknown field `{KEY}.writes` of pyproject.toml: did you mean `write`?",
            ),
            (
                "[tool.hatch.build.targets.zipapp.confine]\nlisten = 1",
                f"Unknown field `{KEY}.listen` of pyproject.toml: known keys: bind, connect, settings, write",
            ),
            (
                '[tool.hatch.build.targets.zipapp.confine]\nwrite = "/srv"',
                f"Field `{KEY}.write` of pyproject.toml must be an array of strings, got '/srv'",
            ),
            (
                "[tool.hatch.build.targets.zipapp.confine]\nconnect = [5432]",
                f"Entry #1 in field `{KEY}.connect` of pyproject.toml must be a string, got 5432: {FIX_CONNECT}",
            ),
            (
                '[tool.hatch.build.targets.zipapp.confine]\nsettings = "no"',
                f"Field `{KEY}.settings` of pyproject.toml must be a boolean, got 'no'",
            ),
            (
                "[tool.hatch.build.targets.zipapp.confine]\nsettings = 0",
                f"Field `{KEY}.settings` of pyproject.toml must be a boolean, got 0",
            ),
        ],
    )
    def test_a_bad_table(self, tmp_path: Path, table: str, message: str) -> None:
        with pytest.raises(ConfigError) as raised:
            _ = config_for(tmp_path, table).confine
        assert str(raised.value) == message

    def test_a_bad_entry_stops_the_build_before_any_work(
        self, tmp_path: Path, wheelhouse: Path, index: IndexServer
    ) -> None:
        project = _plain(tmp_path, wheelhouse, index, 'connect = ["db.internal"]')
        build_fails(
            project, ConfigError, f"Entry #1 in field `{KEY}.connect` of pyproject.toml: 'db.internal' has no port"
        )
        assert index.requests == []


def _plain(tmp_path: Path, wheelhouse: Path, index: IndexServer, table: str | None) -> Path:
    alpha = make_wheel(wheelhouse, "alpha", "1.0")
    zipapp = "" if table is None else f"[tool.hatch.build.targets.zipapp.confine]\n{table}"
    project = make_project(tmp_path / "p", dependencies=["alpha"], zipapp=zipapp)
    (project / "pylock.toml").write_text(pylock_text([[alpha]], base_url=index.url))
    return project


class TestRecorded:
    def test_the_table_is_recorded_sorted_and_unique_and_shown_by_zipapp_info(
        self, tmp_path: Path, wheelhouse: Path, index: IndexServer
    ) -> None:
        table = (
            'write = ["/var/lib/app", "/srv/media", "/var/lib/app"]\n'
            'connect = ["redis.internal:6379", "db.internal:5432", "db.internal:5432"]\n'
            'bind = ["127.0.0.1:8000"]'
        )
        pyz = build(_plain(tmp_path, wheelhouse, index, table))
        expected = {
            "bind": ["127.0.0.1:8000"],
            "connect": ["db.internal:5432", "redis.internal:6379"],
            "write": ["/srv/media", "/var/lib/app"],
        }
        assert _info(pyz)[INFO_CONFINE] == expected
        shown = subprocess.run(
            [os.fspath(pyz)], env={**os.environ, "ZIPAPP_INFO": "1"}, capture_output=True, text=True, timeout=120
        )
        assert shown.returncode == 0 and json.loads(shown.stdout)["confine"] == expected

    @pytest.mark.parametrize("table", [None, "settings = false", "write = []\nconnect = []\nbind = []"])
    def test_nothing_declared_no_key(
        self, tmp_path: Path, wheelhouse: Path, index: IndexServer, table: str | None
    ) -> None:
        assert INFO_CONFINE not in _info(build(_plain(tmp_path, wheelhouse, index, table)))


# -- the Django settings ---------------------------------------------------------------------------------------------

BASE = """\
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
STATIC_ROOT = BASE_DIR / "staticfiles"
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
"""

SETTINGS = {
    "postgres-host-and-port": (
        """
DATABASES = {
    "default": {"ENGINE": "django.db.backends.postgresql", "HOST": "db.internal", "PORT": "6432"},
    "replica": {"ENGINE": "django.db.backends.postgresql", "HOST": "10.0.0.5", "PORT": ""},
    "v6": {"ENGINE": "django.contrib.gis.db.backends.postgis", "HOST": "2001:db8::5", "PORT": 5433},
    "several": {"ENGINE": "django.db.backends.postgresql", "HOST": "pg1,pg2", "PORT": "5432,5433"},
    "local": {"ENGINE": "django.db.backends.postgresql", "HOST": "", "PORT": ""},
}
""",
        {"connect": ["10.0.0.5:5432", "[2001:db8::5]:5433", "db.internal:6432", "pg1:5432", "pg2:5433"]},
    ),
    "postgres-unix-socket": (
        """
DATABASES = {
    "default": {"ENGINE": "django.db.backends.postgresql", "HOST": "/run/postgresql"},
    "other": {"ENGINE": "django.db.backends.postgresql", "HOST": "/var/run/pg/", "PORT": "5433"},
}
""",
        {"connect": ["/run/postgresql/.s.PGSQL.5432", "/var/run/pg/.s.PGSQL.5433"]},
    ),
    "mysql-and-oracle-default-ports": (
        """
DATABASES = {
    "default": {"ENGINE": "django.db.backends.mysql", "HOST": "mysql.internal"},
    "socket": {"ENGINE": "django.db.backends.mysql", "HOST": "/var/run/mysqld/mysqld.sock"},
    "oracle": {"ENGINE": "django.db.backends.oracle", "HOST": "ora.internal", "PORT": ""},
}
""",
        {"connect": ["/var/run/mysqld/mysqld.sock", "mysql.internal:3306", "ora.internal:1521"]},
    ),
    "redis-cache-list": (
        """
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": ["redis://cache1:6380/0", "rediss://user:s3cr3t@cache2/1", "unix:///run/redis/redis.sock?db=0"],
    },
    "string": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": "redis://a.internal;redis://[::1]:6381,"},
}
""",
        {"connect": ["/run/redis/redis.sock", "[::1]:6381", "a.internal:6379", "cache1:6380", "cache2:6379"]},
    ),
    "memcached": (
        """
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache", "LOCATION": "127.0.0.1:11211"},
    "more": {
        "BACKEND": "django.core.cache.backends.memcached.PyLibMCCache",
        "LOCATION": ["mc1", "[::1]:11212", "unix:/tmp/memcached.sock", "/run/memcached.sock"],
    },
}
""",
        {"connect": ["/run/memcached.sock", "/tmp/memcached.sock", "127.0.0.1:11211", "[::1]:11212", "mc1:11211"]},
    ),
    "file-cache-and-others": (
        """
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": "/var/tmp/django_cache"},
    "local": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "unique-snowflake"},
    "table": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "my_cache_table"},
}
""",
        {"write": ["/var/tmp/django_cache"]},
    ),
    "smtp-email": (
        """
EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = "smtp.example.com"
EMAIL_PORT = 587
""",
        {"connect": ["smtp.example.com:587"]},
    ),
    "smtp-email-by-default": ("del EMAIL_BACKEND\n", {"connect": ["localhost:25"]}),
    "console-email": ('EMAIL_HOST = "smtp.example.com"\n', {}),
    "places-written": (
        """
MEDIA_ROOT = "/srv/site/media"
FILE_UPLOAD_TEMP_DIR = "/var/tmp/uploads"
LOGGING = {"version": 1, "handlers": {
    "file": {"class": "logging.FileHandler", "filename": "/var/log/site/site.log"},
    "console": {"class": "logging.StreamHandler"},
}}
""",
        {"write": ["/srv/site/media", "/var/log/site", "/var/tmp/uploads"]},
    ),
    "relative-and-inside-the-package": (
        """
MEDIA_ROOT = "media"
FILE_UPLOAD_TEMP_DIR = str(Path.home() / "uploads")
LOGGING = {"version": 1, "handlers": {"file": {"class": "logging.FileHandler", "filename": BASE_DIR / "x.log"}}}
""",
        {},
    ),
    "sqlite": (
        """
DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "/var/lib/site/db.sqlite3"},
    "memory": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
    "relative": {"ENGINE": "django.db.backends.sqlite3", "NAME": "db.sqlite3"},
}
""",
        {"write": ["/var/lib/site"]},
    ),
    "from-the-build-environment": (
        """
DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", "HOST": os.environ.get("DB_HOST", "")}}
MEDIA_ROOT = os.environ.get("MEDIA_ROOT", "/srv/media")
""",
        {"connect": ["build-db:5432"], "write": ["/srv/media"]},
    ),
}


@pytest.fixture
def site(tmp_path: Path, wheelhouse: Path, index: IndexServer) -> Path:
    """A project with the stand-in Django; write its settings, then build."""
    django = make_wheel(wheelhouse, "django", "5.2", files=DJANGO)
    project = make_project(
        tmp_path / "site",
        dependencies=["django"],
        zipapp=(
            '[tool.hatch.build.targets.zipapp.django]\nsettings = "app.settings"\n'
            'allow = ["log-file"]\nenvironment = { DB_HOST = "build-db" }\n'
        ),
    )
    (project / "pylock.toml").write_text(pylock_text([[django]], base_url=index.url))
    return project


def _settings(project: Path, text: str, table: str = "") -> None:
    (project / "src" / "app" / "settings.py").write_text(BASE + text)
    if table:
        pyproject = project / "pyproject.toml"
        pyproject.write_text(pyproject.read_text() + f"\n[tool.hatch.build.targets.zipapp.confine]\n{table}\n")


def _expected(lists: dict[str, list[str]]) -> dict[str, list[str]]:
    return {"bind": [], "connect": [], "write": [], **lists}


@pytest.mark.parametrize("case", sorted(SETTINGS))
def test_what_the_settings_say_is_recorded(site: Path, case: str) -> None:
    text, lists = SETTINGS[case]
    _settings(site, text)
    info = _info(build(site))
    if not lists:
        assert INFO_CONFINE not in info
    else:
        assert info[INFO_CONFINE] == _expected(lists)
    assert "s3cr3t" not in json.dumps(info) and os.fspath(site) not in json.dumps(info)


def test_a_warm_cache_records_the_same(site: Path) -> None:
    _settings(site, SETTINGS["places-written"][0])
    first = _info(build(site))[INFO_CONFINE]
    assert _info(build(site))[INFO_CONFINE] == first == _expected(SETTINGS["places-written"][1])


def test_a_value_the_declaration_cannot_hold_is_a_warning_naming_the_setting(
    site: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    _settings(
        site,
        """
DATABASES = {
    "default": {"ENGINE": "django.db.backends.postgresql", "HOST": "db.internal", "PORT": "abc"},
    "custom": {"ENGINE": "some.backend", "HOST": "custom.internal"},
}
MEDIA_ROOT = "/srv/media"
""",
    )
    info = _info(build(site))
    assert info[INFO_CONFINE] == _expected({"write": ["/srv/media"]})
    err = capfd.readouterr().err
    for setting, value, reason in [
        ('DATABASES["default"]["HOST"]', "db.internal:abc", "has the port 'abc', not a number"),
        ('DATABASES["custom"]["HOST"]', "custom.internal", "has no port"),
    ]:
        assert (
            f"settings {setting} of 'app.settings' gives {value!r}, which {reason}: not recorded in the .pyz's "
            f"confinement declaration. If the site needs it, declare it in "
            f"[tool.hatch.build.targets.zipapp.confine] connect ({FIX_CONNECT})"
        ) in " ".join(err.split())


def test_settings_of_a_shape_the_build_cannot_read_are_one_warning_not_a_failed_build(
    site: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Django does not look at CACHES during collectstatic: a shape it would refuse at run time reaches the reading."""
    _settings(site, 'MEDIA_ROOT = "/srv/media"\nCACHES = ["redis://cache:6379"]\n', 'connect = ["db.prod:5432"]')
    assert _info(build(site))[INFO_CONFINE] == _expected({"connect": ["db.prod:5432"]})
    assert (
        "settings 'app.settings' could not be read for the .pyz's confinement declaration (AttributeError: 'list' "
        "object has no attribute 'items'): nothing of them is recorded. Declare what the site writes and connects to "
        "in [tool.hatch.build.targets.zipapp.confine] (write, connect), or set `settings = false` there"
    ) in " ".join(capfd.readouterr().err.split())


def test_the_table_adds_to_the_settings(site: Path) -> None:
    _settings(
        site,
        SETTINGS["smtp-email"][0] + 'MEDIA_ROOT = "/srv/media"\n',
        'write = ["/srv/exports", "/srv/media"]\nconnect = ["api.example.com:443"]\nbind = ["127.0.0.1:8000"]',
    )
    assert _info(build(site))[INFO_CONFINE] == {
        "bind": ["127.0.0.1:8000"],
        "connect": ["api.example.com:443", "smtp.example.com:587"],
        "write": ["/srv/exports", "/srv/media"],
    }


def test_settings_false_keeps_the_table_alone(site: Path, capfd: pytest.CaptureFixture[str]) -> None:
    text = SETTINGS["smtp-email"][0] + 'MEDIA_ROOT = "/srv/media"\nDATABASES = {"d": {"ENGINE": "x", "HOST": "h"}}\n'
    _settings(site, text, 'settings = false\nconnect = ["db.prod:5432"]')
    assert _info(build(site))[INFO_CONFINE] == _expected({"connect": ["db.prod:5432"]})
    assert "not recorded" not in capfd.readouterr().err  # what is not used is not warned of


def test_settings_false_and_no_entries_no_key(site: Path) -> None:
    _settings(site, SETTINGS["smtp-email"][0], "settings = false")
    assert INFO_CONFINE not in _info(build(site))


def test_collectstatic_false_reads_nothing(site: Path) -> None:
    _settings(site, SETTINGS["smtp-email"][0], 'write = ["/srv/media"]')
    pyproject = site / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace('allow = ["log-file"]', 'allow = ["log-file"]\ncollectstatic = false')
    )
    assert _info(build(site))[INFO_CONFINE] == _expected({"write": ["/srv/media"]})


REAL = """
MEDIA_ROOT = "/srv/mysite/media"
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": ["redis://cache1:6380/0", "rediss://u:s3cr3t@cache2/1"],
    },
    "files": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": "/var/tmp/mysite-cache"},
    "mc": {
        "BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache",
        "LOCATION": "unix:/run/memcached/memcached.sock",
    },
}
LOGGING["handlers"]["file"] = {"class": "logging.FileHandler", "filename": "/var/log/mysite/site.log", "delay": True}
"""


@pytest.mark.network
def test_the_example_site_with_real_django(tmp_path: Path) -> None:
    """Real Django's settings object: its defaults where the settings say nothing (smtp to localhost:25), and what
    the example site's settings say once they name a cache, MEDIA_ROOT and a log file."""
    from tests.test_django import _copy

    project = _copy(tmp_path / "mysite")
    assert _info(build(project))[INFO_CONFINE] == _expected({"connect": ["localhost:25"]})
    settings = project / "src" / "mysite" / "settings.py"
    settings.write_text(settings.read_text() + REAL + 'EMAIL_HOST = "smtp.example.com"\nEMAIL_PORT = 587\n')
    info = _info(build(project))
    assert info[INFO_CONFINE] == {
        "bind": [],
        "connect": ["/run/memcached/memcached.sock", "cache1:6380", "cache2:6379", "smtp.example.com:587"],
        "write": ["/srv/mysite/media", "/var/log/mysite", "/var/tmp/mysite-cache"],
    }
    assert "s3cr3t" not in json.dumps(info)


class TestFromJson:
    """What the deploy side reads back (`hatch-zipapp systemd --read PYZ --confine`): the recorded document, checked
    with the same grammar."""

    def test_round_trip(self) -> None:
        data = {"bind": ["[::]:8000"], "connect": ["/run/pg/.s.PGSQL.5432", "db:5432"], "write": ["/srv/media"]}
        assert Declaration.from_json(data).to_json() == data
        assert Declaration.from_json({"write": ["/srv/media"]}).to_json() == {
            "bind": [],
            "connect": [],
            "write": ["/srv/media"],
        }

    @pytest.mark.parametrize(
        ("data", "message"),
        [
            (["/srv"], "not a table of bind, connect, write: ['/srv']"),
            ({"listen": []}, "not a table of bind, connect, write: {'listen': []}"),
            ({"write": "/srv"}, "write is not a list of strings: '/srv'"),
            ({"connect": [5432]}, "connect is not a list of strings: [5432]"),
            ({"connect": ["db:0"]}, "connect entry 'db:0' has the port 0, outside 1-65535"),
            ({"write": ["srv"]}, "write entry 'srv' is not absolute"),
        ],
    )
    def test_not_a_declaration(self, data: object, message: str) -> None:
        with pytest.raises(ValueError) as raised:
            Declaration.from_json(data)
        assert str(raised.value) == message
