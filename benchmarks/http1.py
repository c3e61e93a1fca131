"""A minimal keep-alive HTTP/1.1 client and one-image server, for the load generator.

Hand-written on asyncio streams because the load generator shares the CPU with the
gateway it measures: a request is bytes built once and written, a response is a
status line, headers and a Content-Length, chunked or read-to-close body. Nothing
else of HTTP is needed, so nothing else is here.
"""

from __future__ import annotations

import asyncio
import contextlib
import urllib.parse
from dataclasses import dataclass
from pathlib import Path


class ProtocolError(ValueError):
    """The server's answer is not HTTP/1.x as this client reads it."""


class ServerClosed(ConnectionError):
    """The server closed the connection before answering."""


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    keep_alive: bool


async def read_response(reader: asyncio.StreamReader) -> Response:
    """One HTTP/1.x response: status line, headers, then a chunked, Content-Length or
    read-to-close body."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            raise ServerClosed("the server closed the connection") from None
        raise
    status_line, *lines = head[:-4].decode("latin-1").split("\r\n")
    version, _, rest = status_line.partition(" ")
    if not version.startswith("HTTP/1.") or not rest[:3].isdigit():
        raise ProtocolError(f"bad status line {status_line!r}")
    status = int(rest[:3])
    headers: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip().lower()
    connection = headers.get("connection", "")
    keep_alive = "close" not in connection and (version == "HTTP/1.1" or "keep-alive" in connection)
    if status in (204, 304) or 100 <= status < 200:
        return Response(status, b"", keep_alive)
    if "chunked" in headers.get("transfer-encoding", ""):
        return Response(status, await read_chunked(reader), keep_alive)
    if "content-length" in headers:
        length = int(headers["content-length"])
        return Response(status, await reader.readexactly(length), keep_alive)
    return Response(status, await reader.read(), False)


async def read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
                pass
            return b"".join(chunks)
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)


class Connection:
    """One keep-alive HTTP/1.1 connection, opened when first needed and again after
    the server closed it. A request on a reused connection that the server had
    closed meanwhile (EOF before any answer, reset, broken pipe) is sent once more."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, data: bytes) -> Response:
        reused = self.writer is not None
        try:
            return await self._exchange(data)
        except (ServerClosed, ConnectionResetError, BrokenPipeError):
            if not reused:
                raise
        return await self._exchange(data)

    async def _exchange(self, data: bytes) -> Response:
        if self.reader is None or self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        try:
            self.writer.write(data)
            await self.writer.drain()
            response = await read_response(self.reader)
        except BaseException:
            self.close()
            raise
        if not response.keep_alive:
            self.close()
        return response

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


class ImageServer:
    """One image over HTTP/1.1 on 127.0.0.1, whatever the GET path, for the `url` form."""

    def __init__(self, image: Path) -> None:
        data = image.read_bytes()
        head = f"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: {len(data)}\r\n"
        self.answer = head.encode() + b"\r\n" + data
        self.name = image.name
        self.server: asyncio.Server | None = None
        self.clients: set[asyncio.StreamWriter] = set()

    async def start(self) -> str:
        self.server = await asyncio.start_server(self.serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/{urllib.parse.quote(self.name)}"

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.clients.add(writer)
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while True:  # keep-alive
                await reader.readuntil(b"\r\n\r\n")  # a GET has no body
                writer.write(self.answer)
                await writer.drain()
        self.clients.discard(writer)
        writer.close()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            for writer in self.clients:  # else wait_closed() waits for them (3.12+)
                writer.close()
            await self.server.wait_closed()
