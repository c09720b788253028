"""`[tool.hatch.build.targets.zipapp]`: one class per option; errors name the full key, the value and the fix."""

from __future__ import annotations

import os
import re
import sys
import tomllib
from functools import cached_property
from pathlib import Path

import pytest

from hatch_zipapp.builder import ZipappBuilder
from hatch_zipapp.config import OPTIONS, ZipappBuilderConfig
from hatch_zipapp.errors import ConfigError, LockError
from tests.helpers import build, build_fails, make_project, pylock_text, run_pyz

DOCS = Path(__file__).parent.parent / "docs" / "configuration.md"


def config_for(tmp_path: Path, zipapp: str = "", scripts: str = 'app = "app.cli:main"') -> ZipappBuilderConfig:
    project = make_project(tmp_path / "p", zipapp=zipapp, scripts=scripts)
    builder = ZipappBuilder(os.fspath(project))
    config = builder.config
    assert isinstance(config, ZipappBuilderConfig)
    return config


class TestUnknownKeys:
    def test_typo_gets_did_you_mean(self, tmp_path: Path) -> None:
        config = config_for(tmp_path, 'entrypoint = "app.cli:main"')
        with pytest.raises(
            ConfigError,
            match=r"Unknown field `tool.hatch.build.targets.zipapp.entrypoint`: did you mean `entry-point`\?",
        ):
            config.validate_keys()

    def test_unrelated_key_lists_the_options(self, tmp_path: Path) -> None:
        config = config_for(tmp_path, "zzz = 1")
        with pytest.raises(ConfigError, match=r"known options: .*entry-point.*shebang"):
            config.validate_keys()

    def test_wheel_key_points_at_the_wheel_target(self, tmp_path: Path) -> None:
        config = config_for(tmp_path, 'packages = ["src/app"]')
        with pytest.raises(ConfigError, match=r"set `tool.hatch.build.targets.wheel.packages` instead"):
            config.validate_keys()

    def test_hatchling_keys_are_accepted(self, tmp_path: Path) -> None:
        config_for(tmp_path, 'versions = ["standard"]\ndependencies = []').validate_keys()


class TestLock:
    def test_default_prefers_pylock(self, tmp_path: Path) -> None:
        config = config_for(tmp_path)
        (config.root_path / "requirements.txt").write_text("")
        (config.root_path / "pylock.toml").write_text("")
        assert config.lock.name == "pylock.toml"

    def test_default_falls_back_to_requirements(self, tmp_path: Path) -> None:
        config = config_for(tmp_path)
        (config.root_path / "requirements.txt").write_text("")
        assert config.lock.name == "requirements.txt"

    def test_none_found(self, tmp_path: Path) -> None:
        config = config_for(tmp_path)
        with pytest.raises(
            LockError, match=r"No lock file found in .*pylock.toml, requirements.txt, uv.lock.*hatch-zipapp lock"
        ):
            _ = config.lock

    def test_explicit(self, tmp_path: Path) -> None:
        config = config_for(tmp_path, 'lock = "locks/prod.txt"')
        (config.root_path / "locks").mkdir()
        (config.root_path / "locks" / "prod.txt").write_text("")
        assert config.lock == config.root_path / "locks" / "prod.txt"

    def test_missing(self, tmp_path: Path) -> None:
        with pytest.raises(
            LockError, match=r"Lock file 'prod.txt' from field `tool.hatch.build.targets.zipapp.lock` does not exist"
        ):
            _ = config_for(tmp_path, 'lock = "prod.txt"').lock

    def test_not_a_string(self, tmp_path: Path) -> None:
        with pytest.raises(
            ConfigError,
            match=r"Field `tool.hatch.build.targets.zipapp.lock` must be a non-empty string \(a path\), got 3",
        ):
            _ = config_for(tmp_path, "lock = 3").lock


class TestEntryPoint:
    def test_default_is_the_only_script(self, tmp_path: Path) -> None:
        assert config_for(tmp_path).entry_point == "app.cli:main"

    def test_default_with_several_scripts(self, tmp_path: Path) -> None:
        config = config_for(tmp_path, scripts='a = "app.cli:main"\nb = "app.cli:other"')
        with pytest.raises(
            ConfigError, match=r"`tool.hatch.build.targets.zipapp.entry-point` is needed.*it has 2: a, b"
        ):
            _ = config.entry_point

    def test_default_without_scripts(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match=r"it has none"):
            _ = config_for(tmp_path, scripts="").entry_point

    def test_script_name(self, tmp_path: Path) -> None:
        config = config_for(tmp_path, 'entry-point = "b"', scripts='a = "app.cli:main"\nb = "app.cli:other"')
        assert config.entry_point == "app.cli:other"

    def test_module_function(self, tmp_path: Path) -> None:
        assert config_for(tmp_path, 'entry-point = "app.server:run.forever"').entry_point == "app.server:run.forever"

    def test_another_name_is_a_locked_package_s_script_checked_at_build(self, tmp_path: Path) -> None:
        # tests/test_applications.py: resolved against the installed entry_points.txt, or one error listing them
        assert config_for(tmp_path, 'entry-point = "ansible-playbook"').entry_point == "ansible-playbook"

    @pytest.mark.parametrize("value", ["bin/tool", "a tool", "-x"])
    def test_not_a_script_name(self, tmp_path: Path, value: str) -> None:
        with pytest.raises(ConfigError, match=r"must be `module:function` or the name of a console script"):
            _ = config_for(tmp_path, f'entry-point = "{value}"').entry_point

    @pytest.mark.parametrize("value", ["app.cli:", ":main", "app-cli:main", "app.cli:ma in"])
    def test_malformed(self, tmp_path: Path, value: str) -> None:
        with pytest.raises(ConfigError, match=r"not of the form `module:function`"):
            _ = config_for(tmp_path, f'entry-point = "{value}"').entry_point

    def test_not_a_string(self, tmp_path: Path) -> None:
        with pytest.raises(
            ConfigError, match=r"`tool.hatch.build.targets.zipapp.entry-point` must be a non-empty string, got \['a'\]"
        ):
            _ = config_for(tmp_path, 'entry-point = ["a"]').entry_point


class TestShebang:
    def test_default(self, tmp_path: Path) -> None:
        assert config_for(tmp_path).shebang is None  # the default follows the target: Target.shebang

    def test_explicit_with_or_without_hash_bang(self, tmp_path: Path) -> None:
        assert config_for(tmp_path, 'shebang = "/usr/bin/python3.12"').shebang == "/usr/bin/python3.12"
        assert config_for(tmp_path / "2", 'shebang = "#!/opt/py/bin/python"').shebang == "/opt/py/bin/python"

    def test_relative(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match=r"must be an absolute interpreter path"):
            _ = config_for(tmp_path, 'shebang = "python3"').shebang

    def test_too_long(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match=r"Linux reads at most 125"):
            _ = config_for(tmp_path, f'shebang = "/{"x" * 130}"').shebang

    @pytest.mark.parametrize("hash_bang", ["", "#!"])
    def test_the_longest_line_linux_reads_whole_and_one_more(self, tmp_path: Path, hash_bang: str) -> None:
        """Linux before 5.1 reads 128 bytes of a script and cuts its first line at the 127th: `#!`, 125 characters
        and the newline fit; 126 are refused, by their number (whether written with `#!` or without)."""
        longest = "/" + "x" * 124
        assert config_for(tmp_path / "125", f'shebang = "{hash_bang}{longest}"').shebang == longest
        with pytest.raises(ConfigError) as refused:
            _ = config_for(tmp_path / "126", f'shebang = "{hash_bang}{longest}x"').shebang
        assert str(refused.value) == (
            "Field `tool.hatch.build.targets.zipapp.shebang` is 126 characters long; Linux reads at most 125 of a "
            "shebang line: use a shorter path or `/usr/bin/env python3`"
        )

    def test_a_shebang_of_the_longest_length_runs(self, tmp_path: Path) -> None:
        """The real thing: a .pyz built with a 125-character interpreter path (a link to this Python) runs through
        its shebang line, the kernel reading it."""
        interpreter = tmp_path / "i"
        interpreter = interpreter.with_name("i" * (125 - len(os.fspath(tmp_path)) - 1))
        assert len(os.fspath(interpreter)) == 125
        interpreter.symlink_to(os.path.realpath(sys.executable))
        project = make_project(tmp_path / "p", zipapp=f'shebang = "{interpreter}"')
        (project / "requirements.txt").write_text("")  # no dependency: a lock with nothing in it
        pyz = build(project)
        assert pyz.read_bytes().split(b"\n", 1)[0] == b"#!" + os.fsencode(interpreter)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIV_", "ZIPAPP_", "PYTHON"))}
        env["ZIPAPP_ROOT"] = os.fspath(tmp_path / "root")
        assert run_pyz(pyz, env=env) == "app ok\n"

    def test_multi_line(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match=r"must be one line"):
            _ = config_for(tmp_path, 'shebang = "/usr/bin/python3\\nrm -rf /"').shebang

    def test_not_a_string(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match=r"must be a non-empty string, got True"):
            _ = config_for(tmp_path, "shebang = true").shebang


class TestIndexUrl:
    def test_default(self, tmp_path: Path) -> None:
        assert config_for(tmp_path).index_url is None

    def test_explicit(self, tmp_path: Path) -> None:
        assert (
            config_for(tmp_path, 'index-url = "https://pypi.example/simple/"').index_url
            == "https://pypi.example/simple/"
        )

    def test_not_a_url_is_shown_redacted(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match=r"must be an http\(s\):// or file:// URL, got 'ftp://u:\*\*\*\*@host/'"):
            _ = config_for(tmp_path, 'index-url = "ftp://u:pw@host/"').index_url


class TestExtraIndexUrls:
    def test_default(self, tmp_path: Path) -> None:
        assert config_for(tmp_path).extra_index_urls == []

    def test_explicit(self, tmp_path: Path) -> None:
        config = config_for(tmp_path, 'extra-index-urls = ["https://a.example/simple/", "file:///srv/simple"]')
        assert config.extra_index_urls == ["https://a.example/simple/", "file:///srv/simple"]

    def test_not_an_array(self, tmp_path: Path) -> None:
        with pytest.raises(
            ConfigError, match=r"`tool.hatch.build.targets.zipapp.extra-index-urls` must be an array of strings"
        ):
            _ = config_for(tmp_path, 'extra-index-urls = "https://a.example/simple/"').extra_index_urls

    def test_bad_item(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match=r"URL #2 in field `tool.hatch.build.targets.zipapp.extra-index-urls`"):
            _ = config_for(tmp_path, 'extra-index-urls = ["https://a.example/", "nope"]').extra_index_urls


class TestWheelDirs:
    def test_default(self, tmp_path: Path) -> None:
        assert config_for(tmp_path).wheel_dirs == []

    def test_relative_to_the_project(self, tmp_path: Path) -> None:
        config = config_for(tmp_path, 'wheel-dirs = ["wheels"]')
        (config.root_path / "wheels").mkdir()
        assert config.wheel_dirs == [config.root_path / "wheels"]

    def test_missing(self, tmp_path: Path) -> None:
        with pytest.raises(
            ConfigError,
            match=r"Directory #1 in field `tool.hatch.build.targets.zipapp.wheel-dirs` does not exist: 'wheels'",
        ):
            _ = config_for(tmp_path, 'wheel-dirs = ["wheels"]').wheel_dirs

    def test_bad_item(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match=r"Directory #1 .* must be a non-empty string, got 1"):
            _ = config_for(tmp_path, "wheel-dirs = [1]").wheel_dirs


class TestDjango:
    def test_default(self, tmp_path: Path) -> None:
        assert config_for(tmp_path).django is None

    def test_table(self, tmp_path: Path) -> None:
        zipapp = (
            '[tool.hatch.build.targets.zipapp.django]\nsettings = "app.settings"\nenvironment = { SECRET_KEY = "x" }'
        )
        config = config_for(tmp_path, zipapp)
        assert config.django is not None
        assert (config.django.settings, config.django.environment, config.django.collectstatic) == (
            "app.settings",
            {"SECRET_KEY": "x"},
            True,
        )
        assert config.entry_point == "_hatch_zipapp_django:main"  # replaces the only script
        config.validate_keys()

    def test_explicit_entry_point_wins(self, tmp_path: Path) -> None:
        zipapp = 'entry-point = "app.cli:main"\n[tool.hatch.build.targets.zipapp.django]\nsettings = "app.settings"'
        assert config_for(tmp_path, zipapp).entry_point == "app.cli:main"

    def test_bad_settings(self, tmp_path: Path) -> None:
        zipapp = '[tool.hatch.build.targets.zipapp.django]\nsettings = "app/settings.py"'
        with pytest.raises(
            ConfigError, match=r"`tool.hatch.build.targets.zipapp.django.settings` must be a module name"
        ):
            _ = config_for(tmp_path, zipapp).django

    def test_bad_environment(self, tmp_path: Path) -> None:
        zipapp = '[tool.hatch.build.targets.zipapp.django]\nsettings = "app.settings"\nenvironment = { DEBUG = 1 }'
        with pytest.raises(ConfigError, match=r"django.environment` must be a table of strings"):
            _ = config_for(tmp_path, zipapp).django

    def test_typo(self, tmp_path: Path) -> None:
        zipapp = '[tool.hatch.build.targets.zipapp.django]\nsettings = "app.settings"\ncollect-static = false'
        with pytest.raises(
            ConfigError,
            match=r"`tool.hatch.build.targets.zipapp.django.collect-static`: did you mean `collectstatic`\?",
        ):
            _ = config_for(tmp_path, zipapp).django


class TestKeepExtractions:
    """The documented rule is "a whole number of at least 1": 0 (the first bad value) is refused at build like -1,
    in one line naming the key and the range (0 was accepted and the runtime silently kept 1: unseen round 3, #38)."""

    @pytest.mark.parametrize("value", [0, -1])
    def test_below_one_is_refused_at_build(self, tmp_path: Path, value: int) -> None:
        project = make_project(tmp_path / "p", zipapp=f"keep-extractions = {value}")
        (project / "pylock.toml").write_text(pylock_text([], base_url=None) + "packages = []\n")
        message = build_fails(project, ConfigError)
        assert message == (
            "Field `tool.hatch.build.targets.zipapp.keep-extractions` must be a whole number of at least 1, "
            f"got {value}"
        )

    def test_one_is_built(self, tmp_path: Path) -> None:
        project = make_project(tmp_path / "p", zipapp="keep-extractions = 1")
        (project / "pylock.toml").write_text(pylock_text([], base_url=None) + "packages = []\n")
        assert build(project).is_file()
        assert config_for(tmp_path / "q", "keep-extractions = 1").keep_extractions == 1


class TestReexec:
    def test_default(self, tmp_path: Path) -> None:
        assert config_for(tmp_path).reexec is False

    def test_on(self, tmp_path: Path) -> None:
        assert config_for(tmp_path, "reexec = true").reexec is True

    def test_not_a_boolean(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match=r"`tool.hatch.build.targets.zipapp.reexec` must be a boolean, got 'yes'"):
            _ = config_for(tmp_path, 'reexec = "yes"').reexec


class TestContextFormatting:
    """Paths and URLs go through hatchling's context formatting, as `[project] dependencies` do."""

    def test_env_in_index_url_is_a_secret(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("PRIVATE_TOKEN", "t0k3n")
        config = config_for(tmp_path, 'index-url = "https://__token__:{env:PRIVATE_TOKEN}@pypi.example/simple/"')
        assert config.index_url == "https://__token__:t0k3n@pypi.example/simple/"
        assert config.secrets == {"t0k3n"}

    def test_env_default(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("MIRROR", raising=False)
        config = config_for(tmp_path, 'extra-index-urls = ["{env:MIRROR:https://mirror.example/simple/}"]')
        assert config.extra_index_urls == ["https://mirror.example/simple/"]
        assert config.secrets == set()  # a default is written in pyproject.toml: nothing to hide

    def test_root_uri(self, tmp_path: Path) -> None:
        config = config_for(tmp_path, 'extra-index-urls = ["{root:uri}/simple"]')
        assert config.extra_index_urls == [config.root_path.as_uri() + "/simple"]

    def test_root_and_home_paths(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("HOME", os.fspath(tmp_path / "home"))
        (tmp_path / "home" / "wheels").mkdir(parents=True)
        config = config_for(tmp_path, 'lock = "{root}/locks/prod.txt"\nwheel-dirs = ["{home}/wheels", "{root}{/}w"]')
        (config.root_path / "locks").mkdir()
        (config.root_path / "locks" / "prod.txt").write_text("")
        (config.root_path / "w").mkdir()
        assert config.lock == config.root_path / "locks" / "prod.txt"
        assert config.wheel_dirs == [tmp_path / "home" / "wheels", config.root_path / "w"]

    def test_target_interpreter(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("PYTHON312", "/opt/python3.12/bin/python3.12")
        zipapp = 'targets = [{ python = "3.12", platform = "manylinux_2_28_x86_64", interpreter = "{env:PYTHON312}" }]'
        assert [t.interpreter for t in config_for(tmp_path, zipapp).targets] == ["/opt/python3.12/bin/python3.12"]

    def test_literal_braces(self, tmp_path: Path) -> None:
        assert config_for(tmp_path, 'index-url = "https://a.example/{{x}}/"').index_url == "https://a.example/{x}/"

    @pytest.mark.parametrize(
        ("zipapp", "where"),
        [
            ('lock = "{env:NOPE_VAR}/pylock.toml"', "Field `tool.hatch.build.targets.zipapp.lock`"),
            ('index-url = "https://u:{env:NOPE_VAR}@h/simple/"', "Field `tool.hatch.build.targets.zipapp.index-url`"),
            (
                'extra-index-urls = ["https://a/", "https://{env:NOPE_VAR}@b/"]',
                "URL #2 in field `tool.hatch.build.targets.zipapp.extra-index-urls`",
            ),
            ('wheel-dirs = ["{env:NOPE_VAR}"]', "Directory #1 in field `tool.hatch.build.targets.zipapp.wheel-dirs`"),
            (
                'targets = [{ python = "3.12", platform = "manylinux_2_28_x86_64", interpreter = "{env:NOPE_VAR}" }]',
                "Target #1 in field `tool.hatch.build.targets.zipapp.targets`: `interpreter`",
            ),
        ],
    )
    def test_missing_variable_names_the_option_and_the_variable(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, zipapp: str, where: str
    ) -> None:
        monkeypatch.delenv("NOPE_VAR", raising=False)
        config = config_for(tmp_path, zipapp)
        option = zipapp.split(" ", 1)[0].replace("-", "_")
        with pytest.raises(ConfigError) as info:
            getattr(config, option)
        assert str(info.value) == (
            f"{where} uses environment variable NOPE_VAR, which is not set: set it, or give a default with "
            f"`{{env:NOPE_VAR:default}}`"
        )

    @pytest.mark.parametrize("value", ["{nope}", "{0}", "{root.x}", "{root:bad}", "a}b", "{env}"])
    def test_bad_field(self, tmp_path: Path, value: str) -> None:
        with pytest.raises(
            ConfigError, match=r"^Field `tool.hatch.build.targets.zipapp.index-url`: .* cannot be formatted \("
        ):
            _ = config_for(tmp_path, f'index-url = "https://h/{value}"').index_url

    def test_shell_syntax_points_at_env(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match=r"\(`\$\{TOKEN\}` is not expanded: write `\{env:TOKEN\}`\)"):
            _ = config_for(tmp_path, 'index-url = "https://u:${TOKEN}@h/simple/"').index_url

    def test_formatted_non_url_hides_the_secret(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("INDEX", "pypi.example/t0k3n/simple/")
        with pytest.raises(ConfigError) as info:
            _ = config_for(tmp_path, 'index-url = "{env:INDEX}"').index_url
        assert "t0k3n" not in str(info.value)
        assert "got '{env:INDEX} (formatted: ****)'" in str(info.value)


class TestDocs:
    def test_options_table_matches_the_config(self) -> None:
        """docs/configuration.md lists exactly the options, with the defaults the code documents."""
        rows = re.findall(r"^\| `([a-z-]+)` \| (.+?) \| .+ \|$", DOCS.read_text(encoding="utf-8"), flags=re.MULTILINE)
        assert dict(rows) == OPTIONS

    def test_every_option_has_a_validated_property(self) -> None:
        for option in OPTIONS:
            assert isinstance(getattr(ZipappBuilderConfig, option.replace("-", "_"), None), cached_property), option

    def test_toml_blocks_are_accepted(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Every TOML block of docs/configuration.md parses, and its options pass the validator (in a project that
        has the files they name, with the variables they read set)."""
        blocks = re.findall(r"^```toml\n(.*?)^```$", DOCS.read_text(encoding="utf-8"), flags=re.MULTILINE | re.DOTALL)
        assert blocks
        monkeypatch.setenv("PRIVATE_TOKEN", "t0k3n")
        for number, text in enumerate(blocks, 1):
            data = tomllib.loads(text)
            options = data.get("tool", {}).get("hatch", {}).get("build", {}).get("targets", {}).get("zipapp")
            if options is None:
                continue
            root = tmp_path / f"block{number}"
            root.mkdir()
            if "project" not in data:
                text += '\n[project]\nname = "mysite"\nversion = "1.0"\nrequires-python = ">=3.11"\n'
            (root / "pyproject.toml").write_text(text, encoding="utf-8")
            (root / options.get("lock", "pylock.toml")).write_text("")  # the default when a block names none
            for directory in options.get("wheel-dirs", []):
                (root / directory).mkdir()
            config = ZipappBuilder(os.fspath(root)).config
            assert isinstance(config, ZipappBuilderConfig)
            config.validate_keys()
            for option in OPTIONS:
                getattr(config, option.replace("-", "_"))
            if "{env:PRIVATE_TOKEN}" in text:
                assert config.secrets == {"t0k3n"}
