"""An HTTP/1.1 server on 127.0.0.1 for the delta fetch's tests and bench/delta.py: it serves a directory's files,
honours a single ``Range: bytes=A-B`` (206, ``Content-Range``) on a kept-alive connection, and counts what it sends.
Python's http.server ignores ``Range`` (it is the tests' "no Range support" server); this one can also cut a body
short, redirect, and require an ``Authorization``."""

from __future__ import annotations

import re
import threading
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
    sent: int = 0
    requests: int = 0
    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def __enter__(self) -> RangeServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

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
                file = owner.directory / path.lstrip("/")
                if "/" in path.lstrip("/") or not file.is_file():
                    self._answer(404, b"not found\n", {})
                    return
                data = file.read_bytes()
                wanted = re.fullmatch(r"bytes=(\d+)-(\d+)", self.headers.get("Range", ""))
                if owner.ranges and wanted:
                    first, last = int(wanted[1]), min(int(wanted[2]), len(data) - 1)
                    if first > last:
                        self._answer(416, b"", {"Content-Range": f"bytes */{len(data)}"})
                        return
                    headers = {"Content-Range": f"bytes {first}-{last}/{len(data)}"}
                    self._answer(206, data[first : last + 1], headers, path)
                    return
                self._answer(200, data, {}, path)

            def _answer(self, status: int, body: bytes, headers: dict[str, str], path: str = "") -> None:
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(name, value)
                self.end_headers()
                if path in owner.cut:
                    body = body[: owner.cut[path]]
                    self.close_connection = True
                self.wfile.write(body)
                owner.sent += len(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
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
