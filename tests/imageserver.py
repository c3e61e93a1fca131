"""A tiny HTTP server on 127.0.0.1 serving test images, for `?image=` URL inputs."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote


@contextmanager
def serve_images(
    files: dict[str, bytes], host: str = "127.0.0.1", hits: list[str] | None = None
) -> Iterator[str]:
    """Serve `files` by path; `/redirect/<path>` redirects there, `/goto/<url>` to any
    (percent-encoded) URL, `/slow/<seconds>/<path>` answers after a delay. Requested
    paths are appended to `hits`. Yields the base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:  # clients check URLs with HEAD before sending them
            self.do_GET(head=True)

        def do_GET(self, head: bool = False) -> None:
            if hits is not None:
                hits.append(self.path)
            if self.path.startswith("/slow/"):
                seconds, _, rest = self.path.removeprefix("/slow/").partition("/")
                time.sleep(float(seconds))
                self.path = "/" + rest
            if self.path.startswith(("/redirect/", "/goto/")):
                self.send_response(302)
                target = self.path.removeprefix("/redirect")
                if self.path.startswith("/goto/"):
                    target = unquote(self.path.removeprefix("/goto/"))
                self.send_header("Location", target)
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

    server = ThreadingHTTPServer((host, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
