"""Only files whose sha256 the lock records are embedded, even when the index offers a better-fitting one."""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

from tests.helpers import IndexServer, build, make_project, make_wheel, requirements_text, run_pyz


def test_an_unlocked_file_of_the_same_version_is_never_used(
    tmp_path: Path, wheelhouse: Path, index: IndexServer
) -> None:
    """A pip-compile lock pins ``alpha==1.0`` to its ``py3-none-any`` hash; the index serves that wheel and also a
    ``py3X-none-any`` one (a tag that ranks higher for this interpreter) whose hash no lock records. The .pyz must
    embed the locked one."""
    locked = make_wheel(wheelhouse, "alpha", "1.0")
    tag = f"py{sys.version_info[0]}{sys.version_info[1]}-none-any"
    unlocked = make_wheel(wheelhouse, "alpha", "1.0", tag=tag, files={"alpha/__init__.py": 'VALUE = "unlocked"\n'})
    assert unlocked.sha256 != locked.sha256
    project = make_project(tmp_path / "p", dependencies=["alpha"])
    (project / "requirements.txt").write_text(requirements_text([[locked]], index_url=index.simple))
    pyz = build(project)
    assert any("/alpha/" in request for request in index.requests)  # the index was asked, and listed both files
    with zipfile.ZipFile(pyz) as archive:
        info = json.loads(archive.read("hatch-zipapp.json"))
    (alpha,) = [d for d in info["distributions"] if d["name"] == "alpha"]
    assert (alpha["file"], alpha["sha256"]) == (locked.filename, locked.sha256)
    assert run_pyz(pyz, "alpha").startswith("alpha: alpha 1.0 from site-packages")
