"""A tiny HTTP server on 127.0.0.1 serving test images, for `?image=` URL inputs."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextmanager
def serve_images(files: dict[str, bytes]) -> Iterator[str]:
    """Serve `files` by path; `/redirect/<path>` redirects there. Yields the base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:  # clients check URLs with HEAD before sending them
            self.do_GET(head=True)

        def do_GET(self, head: bool = False) -> None:
            if self.path.startswith("/redirect/"):
                self.send_response(302)
                self.send_header("Location", self.path.removeprefix("/redirect"))
                self.end_headers()
                return
            body = files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
