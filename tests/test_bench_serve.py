"""bench/serve.py is bounded in time: a server that stops answering midway is reported, with its log, within the
bench's limits, and the run goes on; one that answers gives figures. A stand-in HTTP server on 127.0.0.1 (no
Django, no package index)."""

from __future__ import annotations

import argparse
import importlib.util
import socket
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: An HTTP server on 127.0.0.1:PORT that answers for STALL_AFTER seconds, then accepts connections and never
#: answers them (as the .pyz's uWSGI worker did, forked while another thread held the GIL).
SERVER = """
import http.server, socketserver, sys, time
port, stall_after = int(sys.argv[1]), float(sys.argv[2])
started = time.monotonic()

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        if time.monotonic() - started > stall_after:
            print("stalling", flush=True)
            time.sleep(3600)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *args):
        pass

class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True

Server(("127.0.0.1", port), Handler).serve_forever()
"""


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_serve", ROOT / "bench" / "serve.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _measure(bench: ModuleType, tmp_path: Path, stall_after: float) -> tuple[dict[str, Any], float]:
    port = _free_port()
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    options = argparse.Namespace(seconds=2.0, path="/", concurrency=2)
    started = time.monotonic()
    figures = bench.measure([sys.executable, str(script), str(port), str(stall_after)], {}, tmp_path, options, port)
    return figures, time.monotonic() - started


def test_a_server_that_stops_answering_is_reported_in_bounded_time(bench: ModuleType, tmp_path: Path) -> None:
    figures, elapsed = _measure(bench, tmp_path, stall_after=1.5)
    assert "failed" in figures and "failed or took over 5 s" in str(figures["failed"])
    assert "stalling" in str(figures["failed"])  # the server's log comes with it
    # 1 s uncounted + 2 s measured + the last request's timeout (twice, at most) + the stop (SIGTERM ends it)
    assert elapsed < 1 + 2 + 2 * bench.REQUEST_TIMEOUT + bench.STOP_TIMEOUT


def test_a_server_that_answers_gives_figures(bench: ModuleType, tmp_path: Path) -> None:
    figures, _ = _measure(bench, tmp_path, stall_after=3600)
    assert "failed" not in figures, figures
    assert figures["requests"] > 0 and figures["requests_per_second"] > 0
    assert 0 < figures["p50_ms"] <= figures["p99_ms"]
