"""An HTTP/1.1 server on 127.0.0.1 for the delta fetch's tests and bench/delta.py: it serves a directory's files,
honours a single ``Range: bytes=A-B`` (206, ``Content-Range``) on a kept-alive connection, and counts what it sends.
Python's http.server ignores ``Range`` (it is the tests' "no Range support" server); this one can also cut a body
short, redirect, and require an ``Authorization``."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["RangeServer"]


@dataclass
class RangeServer:
    """``with RangeServer(directory) as server:`` serves ``directory`` at ``server.url``; ``sent`` is the body bytes
    sent, ``requests`` the requests answered, ``seen`` each request's (path, headers)."""

    directory: Path
    ranges: bool = True  # False: every GET is answered 200 with the whole file, whatever its Range
    cut: dict[str, int] = field(default_factory=dict)  # path -> body bytes sent before the connection is closed
    redirects: dict[str, str] = field(default_factory=dict)  # path -> Location (302)
    authorization: str | None = None  # when set, any other Authorization is answered 401
    statuses: dict[str, int] = field(default_factory=dict)  # path -> the status it is answered with, no body
    range_status: int | None = None  # when set, every Range request is answered with it, no body
    rate: float | None = None  # bytes a second a body is sent at (a slower link than the loopback), when set
    delay: float = 0.0  # seconds each answer waits first (a round trip), for bench/delta.py
    overlong: int = 0  # bytes sent after each 206's range (its Content-Range the range asked, its Content-Length all)
    port: int = 0  # the port on 127.0.0.1 (0: any free one)
    sent: int = 0
    requests: int = 0
    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def __enter__(self) -> RangeServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # (headers then body: no 40 ms delayed-ACK wait on each answer)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

            def do_GET(self) -> None:
                owner.requests += 1
                owner.seen.append((self.path, dict(self.headers.items())))
                path = self.path.split("?", 1)[0]
                if path in owner.redirects:
                    self._answer(302, b"", {"Location": owner.redirects[path]})
                    return
                if owner.authorization is not None and self.headers.get("Authorization") != owner.authorization:
                    self._answer(401, b"no\n", {})
                    return
                if path in owner.statuses:
                    self._answer(owner.statuses[path], b"", {})
                    return
                if owner.range_status is not None and "Range" in self.headers:
                    self._answer(owner.range_status, b"", {})
                    return
                file = owner.directory / path.lstrip("/")
                if "/" in path.lstrip("/") or not file.is_file():
                    self._answer(404, b"not found\n", {})
                    return
                size = file.stat().st_size
                wanted = re.fullmatch(r"bytes=(\d+)-(\d+)", self.headers.get("Range", ""))
                if owner.ranges and wanted:
                    first, last = int(wanted[1]), min(int(wanted[2]), size - 1)
                    if first > last:
                        self._answer(416, b"", {"Content-Range": f"bytes */{size}"})
                        return
                    with file.open("rb") as f:  # (the range only: a large file is not read whole for each)
                        f.seek(first)
                        data = f.read(last + 1 - first) + b"x" * owner.overlong
                    self._answer(206, data, {"Content-Range": f"bytes {first}-{last}/{size}"}, path)
                    return
                self._answer(200, file.read_bytes(), {}, path)

            def _answer(self, status: int, body: bytes, headers: dict[str, str], path: str = "") -> None:
                time.sleep(owner.delay)
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(name, value)
                self.end_headers()
                if path in owner.cut:
                    body = body[: owner.cut[path]]
                    self.close_connection = True
                step = len(body) if owner.rate is None else 1 << 16
                for start in range(0, len(body), max(step, 1)):
                    self.wfile.write(body[start : start + step])
                    owner.sent += len(body[start : start + step])
                    if owner.rate is not None:
                        time.sleep(step / owner.rate)

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


if __name__ == "__main__":  # `python3 rangeserver.py DIRECTORY PORT [/PATH=BYTES ...]`: serve until stopped, each
    import sys  # answer for /PATH cut after BYTES (tests/test_deploy_real.py)

    cuts = {path: int(size) for path, _, size in (argument.partition("=") for argument in sys.argv[3:])}
    with RangeServer(Path(sys.argv[1]), port=int(sys.argv[2]), cut=cuts) as served:
        served._thread.join()
