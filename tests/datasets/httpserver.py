"""A small HTTP file server on 127.0.0.1 for download tests: Range support and fault injection."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Files:
    """What the server serves, and the faults it injects.

    Attributes:
        content: URL path (``/name``) -> bytes.
        drop_after: path -> number of bytes after which the next responses are cut off (the
            connection closes early), for as many responses as ``drops`` allows.
        drops: path -> how many responses are still to be cut off.
        ignore_range: serve the whole file with 200 even when a Range is asked for.
        requests: ``(path, Range header or None)`` of every request, in order.
        bytes_sent: total body bytes written.
    """

    content: dict[str, bytes]
    drop_after: dict[str, int] = field(default_factory=dict)
    drops: dict[str, int] = field(default_factory=dict)
    ignore_range: bool = False
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    bytes_sent: int = 0


def _handler(files: Files) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = 10  # a stuck client cannot hold a server thread for ever

        def log_message(self, format: str, *args: object) -> None:  # silence stderr
            return

        def do_GET(self) -> None:
            rng = self.headers.get("Range")
            files.requests.append((self.path, rng))
            body = files.content.get(self.path)
            if body is None:
                self.send_error(404)
                return
            start = 0
            if rng and not files.ignore_range:
                start = int(rng.removeprefix("bytes=").split("-")[0])
                if start >= len(body):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            rest = body[start:]
            self.send_header("Content-Length", str(len(rest)))
            self.end_headers()
            if files.drops.get(self.path, 0) > 0:
                files.drops[self.path] -= 1
                rest = rest[: files.drop_after[self.path]]
                self.close_connection = True
            self.wfile.write(rest)
            files.bytes_sent += len(rest)

    return Handler


@contextmanager
def serve(files: Files) -> Iterator[str]:
    """Serve ``files`` on 127.0.0.1 (a free port) in a thread; yield the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(files))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
