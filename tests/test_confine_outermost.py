"""`bootstrap/confine._outermost`: one Landlock rule per tree, none for a path another rule covers (one open and one
system call fewer at every confined start), compared with the last path kept only: by components, what is beneath a
path sorts right after it."""

from __future__ import annotations

import pytest

from hatch_zipapp.bootstrap.confine import _outermost


@pytest.mark.parametrize(
    ("paths", "kept"),
    [
        (["/usr/lib", "/usr", "/usr/lib/python3.11"], ["/usr"]),
        # by text "/usr-x" sorts between "/usr" and "/usr/lib": a path beneath "/usr" must still be dropped
        (["/usr/lib", "/usr-x", "/usr", "/usr-x/a"], ["/usr", "/usr-x"]),
        (["/usr/lib", "/usr-x", "/usr/lib/python3", "/usr/lib/"], ["/usr-x", "/usr/lib"]),
        (["/srv/a", "/srv/ab", "/srv/a/b", "/srv/a.b"], ["/srv/a", "/srv/a.b", "/srv/ab"]),
        (["/lib", "/", "/usr"], ["/"]),
        (["/var/lib/site/", "/var/lib/site", "", "/var/lib/site/db"], ["/var/lib/site"]),
    ],
)
def test_a_path_beneath_another_gets_no_rule(paths: list[str], kept: list[str]) -> None:
    assert sorted(_outermost(paths)) == kept
