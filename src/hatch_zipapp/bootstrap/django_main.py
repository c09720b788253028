"""The entry point of a Django site's .pyz (written into it as ``_hatch_zipapp_django.py``).

    ./site.pyz <command> [args]   is manage.py: the settings module is preset (DJANGO_SETTINGS_MODULE overrides it)
    ./site.pyz serve [args]       runs gunicorn on the site's WSGI application; args and GUNICORN_CMD_ARGS are
                                  gunicorn's (--bind, --workers, ...); systemd socket activation (LISTEN_FDS) works

Standard library only at import; Django and gunicorn are imported when a command needs them.
"""

from __future__ import annotations

import os
import sys

#: Replaced at build time with `[tool.hatch.build.targets.zipapp.django] settings`.
SETTINGS_MODULE = "__HATCH_ZIPAPP_SETTINGS__"


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS_MODULE)
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        return serve(sys.argv[2:])
    if len(sys.argv) > 1 and sys.argv[1] == "runserver":
        _restartable_as_a_file()
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
    return 0


def _restartable_as_a_file() -> None:
    """Let runserver's autoreloader restart `python site.pyz runserver ...`.

    Python runs a zipapp's `__main__.py` with ``__main__.__spec__.name == "__main__"`` and no parent, which Django
    would restart as `python -m __main__` (an error). Without a spec it restarts ``sys.argv``: the .pyz itself.
    """
    main_module = sys.modules.get("__main__")
    spec = getattr(main_module, "__spec__", None)
    if spec is not None and spec.name == "__main__" and not spec.parent:
        main_module.__spec__ = None  # type: ignore[union-attr]


def _program() -> str:
    return os.path.basename(sys.argv[0]) or "site.pyz"


def serve(args: list[str]) -> int:
    """gunicorn, in this process, on ``settings.WSGI_APPLICATION``."""
    try:
        from gunicorn.app.wsgiapp import WSGIApplication
    except ImportError:
        sys.stderr.write(
            f"{_program()} serve: gunicorn is not in this .pyz. Add `gunicorn` to [project] dependencies, refresh "
            f"the lock (`hatch-zipapp lock`) and build again; or run another server on the WSGI application.\n"
        )
        return 2
    from django.conf import settings

    wsgi = getattr(settings, "WSGI_APPLICATION", None) or ""
    module, _, attribute = wsgi.rpartition(".")
    if not module:
        sys.stderr.write(f"{_program()} serve: settings.WSGI_APPLICATION is not set (e.g. 'mysite.wsgi.application')\n")
        return 2
    original = sys.argv[:]
    # gunicorn parses sys.argv; it re-executes itself (USR2) from sys.argv as it is when it starts: the original.
    sys.argv = [f"{_program()} serve", *args, f"{module}:{attribute}"]
    try:
        application = WSGIApplication("%(prog)s [OPTIONS]")
    finally:
        sys.argv = original
    application.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
