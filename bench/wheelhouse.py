"""Copy the files a lock selects for this machine into a directory, and write `name==version` pins for them.

Run by bench/build.py inside its own virtualenv (where hatch-zipapp is installed), so that shiv and pex install
the very same wheels, offline: `python bench/wheelhouse.py PROJECT WHEELHOUSE PINS`.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

from packaging.utils import canonicalize_name

from hatch_zipapp.cache import Cache
from hatch_zipapp.fetch import Fetcher
from hatch_zipapp.lock import load_lock
from hatch_zipapp.target import Target


def main(project: Path, wheelhouse: Path, pins_file: Path) -> None:
    name = tomllib.loads((project / "pyproject.toml").read_text())["project"]["name"]
    target = Target.host()
    pins = load_lock(project / "pylock.toml", wheelhouse).select(target, canonicalize_name(name))
    fetcher = Fetcher(Cache.default(), index_urls=[], wheel_dirs=[])
    for pin in pins:
        locked = fetcher.choose(pin, target)
        (wheelhouse / locked.filename).write_bytes(fetcher.fetch(locked, pin))
    pins_file.write_text("".join(f"{pin.name}=={pin.version}\n" for pin in pins))


if __name__ == "__main__":
    main(*(Path(arg) for arg in sys.argv[1:4]))
