"""The deploy's fetch (hatch_zipapp/deploy/fetch.py) against real .pyz files built here and a server on 127.0.0.1
that honours Range and counts what it sends (tests/rangeserver.py), or Python's http.server, which ignores Range.

Three releases of one small project (app, with dependencies alpha and beta): 1.1 changes one line of app's code,
1.2 upgrades beta; each built with its own SOURCE_DATE_EPOCH, as CI builds them. A delta is bit for bit the
published file, counted byte for byte by the server; anything wrong with the delta is one line and the whole
download; anything wrong with the transfer is one line and nothing in releases/; credentials are never printed."""

from __future__ import annotations

import functools
import hashlib
import http.server
import itertools
import lzma
import os
import random
import shutil
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hatch_zipapp.bootstrap import zipread
from hatch_zipapp.bootstrap.documents import SITE_PACKAGES_ZIP
from hatch_zipapp.deploy import fetch as fetch_module
from hatch_zipapp.deploy.fetch import Fetched, fetch
from hatch_zipapp.errors import FetchError, HashMismatchError
from hatch_zipapp.pyz import index as index_module
from tests.helpers import build, make_project, make_wheel, pylock_text, sha256_file
from tests.rangeserver import RangeServer

EPOCHS = {"1.0": 1_700_000_000, "1.1": 1_700_086_400, "1.2": 1_700_172_800}


def _modules(name: str, version: str, count: int) -> dict[str, str]:
    """``count`` modules of a few kB of words (deflate leaves them a few kB): a dependency worth reusing."""
    words = random.Random(name).choices(["alpha", "beta", "gamma", "delta", "zipapp", "x1", "y2"], k=900)  # noqa: S311
    files = {f"{name}/__init__.py": f'VALUE = "{name} {version}"\n'}
    for number in range(count):
        rng = random.Random(f"{name} {number} {version if number % 2 else ''}")  # noqa: S311 - an upgrade changes half
        files[f"{name}/m{number:02}.py"] = "\n".join(" ".join(rng.sample(words, 12)) for _ in range(60)) + "\n"
    return files


@dataclass
class Releases:
    """The three releases (their dist/ directories: .pyz, .sha256, .index) and the projects' wheels."""

    dist: dict[str, Path]

    def pyz(self, version: str) -> Path:
        return next(self.dist[version].glob("*.pyz"))


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Releases]:
    root = tmp_path_factory.mktemp("releases")
    wheels = root / "wheelhouse"
    alpha = make_wheel(wheels, "alpha", "1.0", files=_modules("alpha", "1.0", 24))
    beta = {v: make_wheel(wheels, "beta", v, files=_modules("beta", v, 12)) for v in ("1.0", "2.0")}
    dist: dict[str, Path] = {}
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("HATCH_ZIPAPP_CACHE_DIR", os.fspath(root / "cache"))
        for version, epoch in EPOCHS.items():
            project = make_project(root / version, dependencies=["alpha", "beta"], version=version)
            if version != "1.0":  # one line of the project's code changed
                cli = project / "src" / "app" / "cli.py"
                cli.write_text(cli.read_text().replace('print("app ok")', 'print("app ok!")'))
            upgraded = beta["2.0" if version == "1.2" else "1.0"]
            (project / "pylock.toml").write_text(pylock_text([[alpha], [upgraded]], base_url=None))
            monkeypatch.setenv("SOURCE_DATE_EPOCH", str(epoch))
            dist[version] = build(project, root / "dist" / version).parent
    yield Releases(dist)


def _publish(releases: Releases, version: str, directory: Path) -> Path:
    """Release ``version``'s .pyz, .sha256 and .index copied into ``directory`` (the server's); the .pyz there."""
    directory.mkdir(exist_ok=True)
    pyz = releases.pyz(version)
    for path in (pyz, Path(f"{pyz}.sha256"), Path(f"{pyz}.index")):
        shutil.copy(path, directory / path.name)
    return directory / pyz.name


def _holding(releases: Releases, tmp_path: Path, *versions: str) -> Path:
    """A releases/ directory holding these earlier releases."""
    directory = tmp_path / "releases"
    directory.mkdir()
    for version in versions:
        shutil.copy(releases.pyz(version), directory / releases.pyz(version).name)
    return directory


def _files(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


def _ranges(server: RangeServer) -> list[tuple[int, int]]:
    found = []
    for _, headers in server.seen:
        if "Range" in headers:
            first, last = headers["Range"].removeprefix("bytes=").split("-")
            found.append((int(first), int(last) + 1))
    return found


def _members_in(pyz: Path, ranges: list[tuple[int, int]]) -> set[str]:
    """The members of ``pyz`` (outer and site-packages.zip's) whose data a fetched range overlaps."""
    with zipread.Reader(os.fspath(pyz)) as reader:
        _, outer = zipread.directory(reader, 0, reader.size(), "pyz", prefix=True)
        inner_zip = next(m for m in outer if m[0] == SITE_PACKAGES_ZIP)
        base = inner_zip[4] + len(inner_zip[7])
        _, inner = zipread.directory(reader, base, base + inner_zip[2], "inner", under="site-packages")
    found = set()
    for name, _, size, _, offset, _, _, header in [*inner, *outer]:
        start, end = offset + len(header), offset + len(header) + size
        if name != SITE_PACKAGES_ZIP and any(a < end and start < b for a, b in ranges):
            found.add(name)
    return found


class TestDelta:
    def test_a_one_line_change_is_the_published_file_for_a_few_kb(self, releases: Releases, tmp_path: Path) -> None:
        published = _publish(releases, "1.1", tmp_path / "published")
        directory = _holding(releases, tmp_path, "1.0")
        said: list[str] = []
        with RangeServer(published.parent) as server:
            result = fetch(f"{server.url}/{published.name}", directory, sha256=None, say=said.append)
        assert result.how == "delta"
        assert result.path == directory / published.name
        assert result.path.read_bytes() == published.read_bytes()
        assert result.sha256 == sha256_file(published)
        assert result.transferred == server.sent
        index_size = Path(f"{published}.index").stat().st_size
        fetched = sum(b - a for a, b in _ranges(server))
        assert result.transferred == index_size + fetched + Path(f"{published}.sha256").stat().st_size
        assert fetched < 0.05 * published.stat().st_size, fetched  # changed members, changed chunks of the record
        assert result.reused > 0.9 * published.stat().st_size
        fetched_members = _members_in(published, _ranges(server))
        top = {name for name in fetched_members if not name.startswith("site-packages/")}
        assert top <= {"environment.json", "hatch-zipapp.json", "hatch-zipapp.sha256", "sbom.cdx.json"}, top
        assert all(name.startswith(("site-packages/app/", "site-packages/app-1.1.dist-info/"))
                   for name in fetched_members - top), fetched_members  # fmt: skip
        assert "site-packages/app/cli.py" in _members_in(published, _ranges(server))
        assert _files(directory) == sorted(
            [releases.pyz("1.0").name, published.name, f"{published.name}.sha256"]
        )  # no temporary file left
        assert said[-1].startswith(f"fetched {published.name}: delta, ")
        assert said[-1].endswith("over the network (" + f"{result.transferred / published.stat().st_size:.1%}), "
                                 "the rest from 1 earlier release")  # fmt: skip

    def test_pieces_closer_than_gap_are_one_range(self, releases: Releases, tmp_path: Path) -> None:
        """The one-line change's pieces (app's module, its RECORD, the record's chunks, environment.json...) lie
        close together: each Range request is at least GAP from the next, none overlap, and there are fewer
        requests than the pieces they cover."""
        published = _publish(releases, "1.1", tmp_path / "published")
        directory = _holding(releases, tmp_path, "1.0")
        with RangeServer(published.parent) as server:
            result = fetch(f"{server.url}/{published.name}", directory, sha256=None, say=lambda line: None)
        assert result.how == "delta" and result.path.read_bytes() == published.read_bytes()
        ranges = _ranges(server)
        assert ranges == sorted(ranges)
        gaps = [b[0] - a[1] for a, b in itertools.pairwise(ranges)]
        assert all(gap >= fetch_module.GAP for gap in gaps), (gaps, ranges)
        index = index_module.read_index(Path(f"{published}.index").read_bytes())
        earlier = {p.key for p in index_module.describe(releases.pyz("1.0")) if p.literal is None}
        needed = [p for p in index.pieces if p.literal is None and p.key not in earlier]
        assert len(ranges) < len(needed), (len(ranges), len(needed))
        assert server.requests == 2 + len(ranges)  # the .sha256, the index, the ranges

    def test_a_dependency_upgrade_fetches_that_dependency_only(
        self, releases: Releases, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(fetch_module, "GAP", 0)  # no range joined with its neighbours: each range is one need
        published = _publish(releases, "1.2", tmp_path / "published")
        directory = _holding(releases, tmp_path, "1.1")
        with RangeServer(published.parent) as server:
            result = fetch(f"{server.url}/{published.name}", directory, sha256=None, say=lambda line: None)
        assert result.how == "delta" and result.path.read_bytes() == published.read_bytes()
        fetched = _members_in(published, _ranges(server))
        site = {name for name in fetched if name.startswith("site-packages/")}
        assert site and all(
            name.startswith(("site-packages/beta", "site-packages/app-1.2.dist-info")) for name in site
        ), site
        changed = {f"site-packages/beta/m{n:02}.py" for n in range(1, 12, 2)}  # the modules 2.0 changed
        assert changed <= fetched
        assert not {f"site-packages/beta/m{n:02}.py" for n in range(0, 12, 2)} & fetched  # the same in 1.0 and 2.0
        assert not any(name.startswith("site-packages/alpha") for name in fetched)

    def test_the_earlier_releases_are_the_source(self, releases: Releases, tmp_path: Path) -> None:
        """Back to 1.1 with 1.0 and 1.2 here: beta 1.0's modules come from 1.0, app's changed line from 1.2."""
        published = _publish(releases, "1.1", tmp_path / "published")
        directory = _holding(releases, tmp_path, "1.0", "1.2")
        said: list[str] = []
        with RangeServer(published.parent) as server:
            result = fetch(f"{server.url}/{published.name}", directory, sha256=None, say=said.append)
        assert result.how == "delta" and result.path.read_bytes() == published.read_bytes()
        assert said[-1].endswith("the rest from 2 earlier releases")

    def test_already_here_fetches_nothing_but_the_checksum(self, releases: Releases, tmp_path: Path) -> None:
        published = _publish(releases, "1.1", tmp_path / "published")
        directory = _holding(releases, tmp_path, "1.0", "1.1")
        said: list[str] = []
        with RangeServer(published.parent) as server:
            result = fetch(f"{server.url}/{published.name}", directory, sha256=None, say=said.append)
        assert result.how == "already here" and [path for path, _ in server.seen] == [f"/{published.name}.sha256"]
        assert said[-1] == f"fetched {published.name}: already here (sha256 {result.sha256[:12]}…)"


class TestWholeDownload:
    def test_a_server_without_range_support_gives_the_whole_file_once(self, releases: Releases, tmp_path: Path) -> None:
        """Python's http.server ignores Range: its 200 answer to the first range is the whole download."""
        published = _publish(releases, "1.1", tmp_path / "published")
        directory = _holding(releases, tmp_path, "1.0")
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=os.fspath(published.parent))
        handler.log_message = lambda *args: None  # type: ignore[attr-defined]
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        said: list[str] = []
        try:
            url = f"http://127.0.0.1:{server.server_address[1]}/{published.name}"
            result = fetch(url, directory, sha256=None, say=said.append)
        finally:
            server.shutdown()
            server.server_close()
            thread.join()
        assert result.how == "whole download" and result.path.read_bytes() == published.read_bytes()
        size = published.stat().st_size
        assert result.transferred == size + sum(Path(f"{published}{s}").stat().st_size for s in (".sha256", ".index"))
        assert f"{url}: the server answered a Range request with the whole file (no Range support)" in said
        assert _files(directory) == sorted([releases.pyz("1.0").name, published.name, f"{published.name}.sha256"])

    def test_no_index_is_the_whole_download(self, releases: Releases, tmp_path: Path) -> None:
        published = _publish(releases, "1.1", tmp_path / "published")
        Path(f"{published}.index").unlink()
        directory = _holding(releases, tmp_path, "1.0")
        said: list[str] = []
        with RangeServer(published.parent) as server:
            result = fetch(f"{server.url}/{published.name}", directory, sha256=None, say=said.append)
        assert result.how == "whole download" and result.path.read_bytes() == published.read_bytes()
        assert f"{server.url}/{published.name}.index: not found (publish the .index the build writes beside the " \
               f".pyz, and a deploy fetches only what changed): downloading {published.name} whole" in said  # fmt: skip

    def test_no_earlier_release_is_the_whole_download(self, releases: Releases, tmp_path: Path) -> None:
        published = _publish(releases, "1.1", tmp_path / "published")
        directory = tmp_path / "releases"
        with RangeServer(published.parent) as server:
            result = fetch(f"{server.url}/{published.name}", directory, sha256=None, say=lambda line: None)
            assert [path for path, _ in server.seen] == [f"/{published.name}.sha256", f"/{published.name}"]
        assert result.how == "whole download" and result.path.read_bytes() == published.read_bytes()

    @pytest.mark.parametrize("damage", ["flipped", "truncated", "magic", "another file"])
    def test_a_damaged_index_is_one_line_and_the_whole_download(
        self, releases: Releases, tmp_path: Path, damage: str
    ) -> None:
        published = _publish(releases, "1.1", tmp_path / "published")
        index = Path(f"{published}.index")
        data = index.read_bytes()
        if damage == "flipped":
            data = data[:200] + bytes([data[200] ^ 1]) + data[201:]
        elif damage == "truncated":
            data = data[: len(data) // 2]
        elif damage == "magic":
            data = b"hatch-zipapp index 2\n" + data[len(index_module.MAGIC) :]
        else:
            data = Path(f"{releases.pyz('1.0')}.index").read_bytes()
        index.write_bytes(data)
        directory = _holding(releases, tmp_path, "1.0")
        said: list[str] = []
        with RangeServer(published.parent) as server:
            result = fetch(f"{server.url}/{published.name}", directory, sha256=None, say=said.append)
        assert result.how == "whole download" and result.path.read_bytes() == published.read_bytes()
        expected = {
            "flipped": "damaged (its compressed body is damaged",
            "truncated": "damaged (its compressed body is",
            "magic": "damaged (does not start with 'hatch-zipapp index 1')",
            "another file": f"describes a file of sha256 {sha256_file(releases.pyz('1.0'))}, not",
        }[damage]
        line = next(line for line in said if ".index:" in line)
        assert line.startswith(f"{server.url}/{published.name}.index: {expected}"), line
        assert line.endswith(f"downloading {published.name} whole")

    def test_a_lying_index_is_caught_by_the_sha256(self, releases: Releases, tmp_path: Path) -> None:
        """An index that names the published file's sha256 but describes other bytes (here: another shebang line of
        the same length): the delta's result has another sha256, so the whole file is downloaded, and is right."""
        published = _publish(releases, "1.1", tmp_path / "published")
        other = tmp_path / "other.pyz"
        data = published.read_bytes()
        newline = data.index(b"\n")
        other.write_bytes(
            data[: newline - 1] + (b"X" if data[newline - 1 : newline] != b"X" else b"Y") + data[newline:]
        )
        body = bytearray(lzma.decompress(index_module.write_index(other)[len(index_module.MAGIC) :]))
        body[8:40] = hashlib.sha256(data).digest()  # (its header: the file's size, then its sha256)
        Path(f"{published}.index").write_bytes(index_module.MAGIC + lzma.compress(bytes(body)))
        directory = _holding(releases, tmp_path, "1.0")
        said: list[str] = []
        with RangeServer(published.parent) as server:
            result = fetch(f"{server.url}/{published.name}", directory, sha256=None, say=said.append)
        assert result.how == "whole download" and result.path.read_bytes() == data
        digest = hashlib.sha256(other.read_bytes()).hexdigest()
        assert f"{published.name}: the delta made a file of sha256 {digest}, not {result.sha256}: downloading it " \
               "whole" in said  # fmt: skip

    @pytest.mark.parametrize("status", [416, 503])
    def test_a_range_refused_is_one_line_and_the_whole_download(
        self, releases: Releases, tmp_path: Path, status: int
    ) -> None:
        published = _publish(releases, "1.1", tmp_path / "published")
        directory = _holding(releases, tmp_path, "1.0")
        said: list[str] = []
        with RangeServer(published.parent, range_status=status) as server:
            result = fetch(f"{server.url}/{published.name}", directory, sha256=None, say=said.append)
        assert result.how == "whole download" and result.path.read_bytes() == published.read_bytes()
        reason = {416: "Requested Range Not Satisfiable", 503: "Service Unavailable"}[status]
        assert f"{server.url}/{published.name}: HTTP {status} {reason} to a Range request: downloading " \
               f"{published.name} whole" in said  # fmt: skip

    @pytest.mark.parametrize("refusal", ["403", "too large"])
    def test_an_index_refused_or_too_large_is_one_line_and_the_whole_download(
        self, releases: Releases, tmp_path: Path, refusal: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        published = _publish(releases, "1.1", tmp_path / "published")
        directory = _holding(releases, tmp_path, "1.0")
        statuses = {f"/{published.name}.index": 403} if refusal == "403" else {}
        if refusal == "too large":
            monkeypatch.setattr(fetch_module, "MAX_INDEX", 1000)
        said: list[str] = []
        with RangeServer(published.parent, statuses=statuses) as server:
            result = fetch(f"{server.url}/{published.name}", directory, sha256=None, say=said.append)
        assert result.how == "whole download" and result.path.read_bytes() == published.read_bytes()
        why = "HTTP 403 Forbidden: give credentials" if refusal == "403" else "more than 1000 bytes"
        line = next(line for line in said if ".index" in line)
        assert line.startswith(f"{server.url}/{published.name}.index: {why}"), line
        assert line.endswith(f": downloading {published.name} whole")

    def test_a_damaged_copy_of_the_same_name_is_not_trusted(self, releases: Releases, tmp_path: Path) -> None:
        """releases/NAME is there but damaged (another sha256): the delta takes what it needs from the earlier
        release first, and the result replaces it."""
        published = _publish(releases, "1.1", tmp_path / "published")
        directory = _holding(releases, tmp_path, "1.0")
        damaged = bytearray(published.read_bytes())
        damaged[len(damaged) // 2] ^= 0xFF
        (directory / published.name).write_bytes(bytes(damaged))
        with RangeServer(published.parent) as server:
            result = fetch(f"{server.url}/{published.name}", directory, sha256=None, say=lambda line: None)
        assert result.how == "delta" and result.path.read_bytes() == published.read_bytes()

    def test_more_than_half_new_is_one_whole_download(self, releases: Releases, tmp_path: Path) -> None:
        """2.0 adds a dependency of 1 MB of random bytes: most of it is in no earlier release (1.0 here), so it is
        downloaded whole (one request), not by many ranges."""
        root = tmp_path / "big"
        big = make_wheel(root / "wheels", "big", "1.0", members={"big/data.bin": random.Random(5).randbytes(1 << 20)})  # noqa: S311
        project = make_project(root / "p", dependencies=["big"], version="2.0")
        (project / "pylock.toml").write_text(pylock_text([[big]], base_url=None))
        with pytest.MonkeyPatch.context() as monkeypatch:
            monkeypatch.setenv("HATCH_ZIPAPP_CACHE_DIR", os.fspath(root / "cache"))
            built = build(project, root / "dist")
        published = tmp_path / "published" / built.name
        published.parent.mkdir()
        for path in (built, Path(f"{built}.sha256"), Path(f"{built}.index")):
            shutil.copy(path, published.parent / path.name)
        directory = _holding(releases, tmp_path, "1.0")
        index = index_module.read_index(Path(f"{published}.index").read_bytes())
        earlier = {p.key for p in index_module.describe(releases.pyz("1.0")) if p.literal is None}
        missing = sum(p.size for p in index.pieces if p.literal is None and p.key not in earlier)
        assert 0.5 * index.size < missing < index.size
        said: list[str] = []
        with RangeServer(published.parent) as server:
            result = fetch(f"{server.url}/{published.name}", directory, sha256=None, say=said.append)
        assert result.how == "whole download" and result.path.read_bytes() == published.read_bytes()
        size = fetch_module._size
        assert f"{published.name}: {size(missing)} of its {size(index.size)} are in no earlier release: " \
               "downloading it whole" in said  # fmt: skip
        assert _ranges(server) == [] and server.requests == 3  # the .sha256, the index, the file


class TestFailures:
    @pytest.mark.parametrize("earlier", [False, True], ids=["whole", "delta"])
    @pytest.mark.parametrize("how", ["pinned", "sidecar"])
    def test_a_wrong_digest_names_both_and_leaves_nothing(
        self, releases: Releases, tmp_path: Path, how: str, earlier: bool
    ) -> None:
        published = _publish(releases, "1.1", tmp_path / "published")
        wrong = "ab" * 32
        if how == "sidecar":
            Path(f"{published}.sha256").write_text(f"{wrong}  {published.name}\n")
        directory = _holding(releases, tmp_path, *(["1.0"] if earlier else []))
        before = _files(directory)
        with RangeServer(published.parent) as server, pytest.raises(HashMismatchError) as caught:
            fetch(f"{server.url}/{published.name}", directory, sha256=wrong if how == "pinned" else None,
                  say=lambda line: None)  # fmt: skip
        assert str(caught.value) == (
            f"{server.url}/{published.name}: sha256 {sha256_file(published)}, not the expected {wrong}: a damaged or "
            f"different file (publish it again, or check the pinned --sha256)"
        )
        assert _files(directory) == before

    @pytest.mark.parametrize("earlier", [False, True], ids=["whole", "delta"])
    def test_a_cut_off_transfer_is_one_line_and_leaves_nothing(
        self, releases: Releases, tmp_path: Path, earlier: bool
    ) -> None:
        published = _publish(releases, "1.1", tmp_path / "published")
        directory = _holding(releases, tmp_path, *(["1.0"] if earlier else []))
        before = _files(directory)
        cut = {f"/{published.name}": 100}
        with RangeServer(published.parent, cut=cut) as server, pytest.raises(FetchError) as caught:
            fetch(f"{server.url}/{published.name}", directory, sha256=None, say=lambda line: None)
        message = str(caught.value)
        assert message.startswith(f"{server.url}/{published.name}: transfer cut off after 100 of ")
        assert message.endswith("bytes: run the deploy again")
        assert _files(directory) == before

    def test_a_range_answered_with_more_bytes_is_refused_and_leaves_nothing(
        self, releases: Releases, tmp_path: Path
    ) -> None:
        """A 206 whose body runs past the range asked (its Content-Range right, its Content-Length longer): refused
        at the range's end, one line, nothing written past it, nothing left in releases/."""
        published = _publish(releases, "1.1", tmp_path / "published")
        directory = _holding(releases, tmp_path, "1.0")
        before = _files(directory)
        with RangeServer(published.parent, overlong=1 << 20) as server, pytest.raises(FetchError) as caught:
            fetch(f"{server.url}/{published.name}", directory, sha256=None, say=lambda line: None)
        first, last = _ranges(server)[0]
        assert str(caught.value) == f"{server.url}/{published.name}: sent more than the {last - first} bytes of a range"
        assert _files(directory) == before

    def test_a_server_that_does_not_answer_times_out(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(fetch_module, "TIMEOUT", 0.3)
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        try:
            url = f"http://127.0.0.1:{listener.getsockname()[1]}/app.pyz"
            with pytest.raises(FetchError) as caught:
                fetch(url, tmp_path / "releases", sha256="ab" * 32, say=lambda line: None)
        finally:
            listener.close()
        assert str(caught.value) == f"{url}: no answer within 0.3 s"
        assert _files(tmp_path / "releases") == []

    def test_no_sha256_beside_it(self, releases: Releases, tmp_path: Path) -> None:
        published = _publish(releases, "1.1", tmp_path / "published")
        Path(f"{published}.sha256").unlink()
        with RangeServer(published.parent) as server, pytest.raises(FetchError) as caught:
            fetch(f"{server.url}/{published.name}", tmp_path / "releases", sha256=None, say=lambda line: None)
        assert str(caught.value) == (
            f"{server.url}/{published.name}.sha256: HTTP 404 Not Found: publish {published.name}.sha256 beside it "
            f"or pass --sha256"
        )

    @pytest.mark.parametrize(
        "name", ["app", ".app.pyz", "a%20b.pyz", "%2e%2e%2fapp.pyz", "app.pyz%00", "app.PYZ.sh", "-app.pyz"]
    )
    def test_a_name_that_is_not_a_plain_pyz_name_is_refused(self, tmp_path: Path, name: str) -> None:
        with pytest.raises(FetchError, match=r"is not a plain \.pyz file name"):
            fetch(f"http://127.0.0.1:9/dir/{name}", tmp_path / "releases", sha256="ab" * 32, say=lambda line: None)
        assert not (tmp_path / "releases").exists() or _files(tmp_path / "releases") == []

    def test_a_path_is_copied_then_already_here(self, releases: Releases, tmp_path: Path) -> None:
        published = _publish(releases, "1.1", tmp_path / "published")
        directory = tmp_path / "releases"
        said: list[str] = []
        first = fetch(os.fspath(published), directory, sha256=None, say=said.append)
        second = fetch(os.fspath(published), directory, sha256=None, say=said.append)
        assert (first.how, second.how) == ("copied", "already here")
        assert first.path.read_bytes() == published.read_bytes() and first.transferred == 0
        assert said[0] == f"sha256 of {published.name}: {first.sha256} (from {published}.sha256)"
        assert said[1] == f"fetched {published.name}: copied, {fetch_module._size(published.stat().st_size)}"
        missing = tmp_path / "missing.pyz"
        with pytest.raises(FetchError) as caught:
            fetch(os.fspath(missing), directory, sha256="cd" * 32, say=said.append)
        assert str(caught.value) == (
            f"{missing}: cannot be read (No such file or directory): give the path of the .pyz the build wrote"
        )
        wrong = tmp_path / "elsewhere"
        with pytest.raises(HashMismatchError, match=f"^{published}: sha256 {first.sha256}, not the expected"):
            fetch(os.fspath(published), wrong, sha256="cd" * 32, say=said.append)
        assert _files(wrong) == []


class TestCredentials:
    SECRET = "s3cr3t-pa55"

    def test_userinfo_is_sent_as_basic_and_never_printed(self, releases: Releases, tmp_path: Path) -> None:
        published = _publish(releases, "1.1", tmp_path / "published")
        directory = _holding(releases, tmp_path, "1.0")
        said: list[str] = []
        basic = "Basic " + __import__("base64").b64encode(f"deployer:{self.SECRET}".encode()).decode()
        with RangeServer(published.parent, authorization=basic) as server:
            netloc = server.url.replace("http://", f"http://deployer:{self.SECRET}@")
            url = f"{netloc}/{published.name}?token={self.SECRET}"
            result = fetch(url, directory, sha256=None, say=said.append)
            assert result.how == "delta"
            assert all(headers.get("Authorization") == basic for _, headers in server.seen)
            (published.parent / published.name).unlink()  # a failure's message: no secret in it either
            with pytest.raises(FetchError) as caught:
                fetch(url, tmp_path / "other", sha256=None, say=said.append)
        assert str(caught.value) == f"{server.url}/{published.name}: HTTP 404 Not Found"
        assert said and not any(self.SECRET in line or "deployer" in line for line in said), said

    def test_the_token_and_netrc(self, releases: Releases, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        published = _publish(releases, "1.1", tmp_path / "published")
        netrc = tmp_path / "netrc"
        netrc.write_text(f"machine 127.0.0.1 login deployer password {self.SECRET}\n")
        netrc.chmod(0o600)
        monkeypatch.setenv("NETRC", os.fspath(netrc))
        monkeypatch.delenv(fetch_module.TOKEN, raising=False)
        basic = "Basic " + __import__("base64").b64encode(f"deployer:{self.SECRET}".encode()).decode()
        said: list[str] = []
        with RangeServer(published.parent, authorization=basic) as server:
            result = fetch(f"{server.url}/{published.name}", tmp_path / "a", sha256=None, say=said.append)
            assert result.how == "whole download"
        monkeypatch.setenv(fetch_module.TOKEN, self.SECRET)
        with RangeServer(published.parent, authorization=f"Bearer {self.SECRET}") as server:
            result = fetch(f"{server.url}/{published.name}", tmp_path / "b", sha256=None, say=said.append)
            assert result.how == "whole download"
        with RangeServer(published.parent, authorization="Bearer other") as server, pytest.raises(FetchError) as caught:
            fetch(f"{server.url}/{published.name}", tmp_path / "c", sha256=None, say=said.append)
        assert str(caught.value) == (
            f"{server.url}/{published.name}.sha256: HTTP 401 Unauthorized: give credentials ({fetch_module.TOKEN}, a "
            f"~/.netrc entry for 127.0.0.1, or user:password@ in the URL)"
        )
        assert not any(self.SECRET in line for line in said), said

    def test_a_redirect_to_another_host_gets_no_credentials(
        self, releases: Releases, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        published = _publish(releases, "1.1", tmp_path / "published")
        monkeypatch.setenv(fetch_module.TOKEN, self.SECRET)
        with RangeServer(published.parent) as storage:
            elsewhere = storage.url.replace("127.0.0.1", "localhost")  # another origin, the same server
            redirects = {f"/{published.name}{s}": f"{elsewhere}/{published.name}{s}" for s in ("", ".sha256")}
            with RangeServer(published.parent, redirects=redirects) as front:
                result = fetch(f"{front.url}/{published.name}", tmp_path / "r", sha256=None, say=lambda line: None)
            assert result.how == "whole download" and result.path.read_bytes() == published.read_bytes()
            assert [h.get("Authorization") for _, h in front.seen] == [f"Bearer {self.SECRET}"] * 2
            assert [h.get("Authorization") for _, h in storage.seen] == [None, None]


def test_shown_drops_userinfo_query_and_fragment() -> None:
    shown = fetch_module.shown
    assert shown("https://u:p@example.com:8443/a/b.pyz?X-Amz-Signature=s#f") == "https://example.com:8443/a/b.pyz"
    assert shown("http://tok@[::1]/b.pyz") == "http://[::1]/b.pyz"


def test_fetched_is_the_documented_shape() -> None:
    assert list(Fetched.__dataclass_fields__) == ["path", "sha256", "transferred", "reused", "how"]
