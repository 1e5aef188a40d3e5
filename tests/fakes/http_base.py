"""A threaded HTTP/1.1 server on loopback for the fake model servers (chunked streaming).

``FakeModelServer`` and ``ModelHandler`` hold what the fake model servers share: the
recorded requests, the scripted reply and its failure modes (``mode = "cut"``,
``"error"``, ``"no_done"``, ``"stall"``; ``cut_after``, ``stall_s``, ``delay_s``).
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, TypeVar

DEFAULT_REPLY = ["Привет", "! Я ", "Алиса", ". Как", " дела?"]


class StreamingHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeHTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet in tests
        pass

    def record(self, **extra: Any) -> None:
        """Add this request (path, method, headers and ``extra``) to ``server.requests``."""
        self.server.requests.append({"path": self.path, "method": self.command, "headers": dict(self.headers),
                                     **extra})

    def read_json(self) -> Any:
        """The request's JSON body (recorded as ``json``)."""
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            data = json.loads(body or b"null")
        except ValueError:
            data = {"_raw": body.decode("utf-8", "replace")}
        self.record(json=data)
        return data

    def send_json(self, status: int, payload: Any) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_text(self, status: int, text: str) -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def start_chunked(self, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def chunk(self, data: bytes) -> bool:
        """Write one HTTP chunk; False when the client has gone."""
        try:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
            return True
        except (BrokenPipeError, ConnectionResetError):
            self.server.client_gone.set()
            return False

    def end_chunked(self) -> None:
        try:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.server.client_gone.set()

    def cut(self) -> None:
        """Drop the connection mid-stream, as a crashing server would."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class FakeHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, handler: type[StreamingHandler], port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), handler)
        self.requests: list[dict[str, Any]] = []
        self.client_gone = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}" if isinstance(host, str) else f"http://{host.decode()}:{port}"

    def start(self) -> FakeHTTPServer:
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def __enter__(self) -> FakeHTTPServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class FakeModelServer(FakeHTTPServer):
    """A fake model server: models, a scripted reply with failure modes, the chats received."""

    chat_path: ClassVar[str]

    def __init__(self, handler: type[ModelHandler], models: list[str], reply: list[str] | None, port: int) -> None:
        super().__init__(handler, port)
        self.models = list(models)
        self.reply = list(reply or DEFAULT_REPLY)
        self.mode = "ok"
        self.cut_after = 2
        self.delay_s = 0.0
        self.stall_s = 5.0
        self.sent = 0
        self.stopped_early = threading.Event()

    @property
    def chats(self) -> list[dict[str, Any]]:
        """The JSON bodies of the chat requests received, oldest first."""
        return [r["json"] for r in self.requests if r["path"] == self.chat_path]


class ModelHandler(StreamingHandler):
    server: FakeModelServer

    def stream_reply(
        self, send: Callable[[str], bool], fail: Callable[[], object], finish: Callable[[], object]
    ) -> None:
        """Send ``server.reply`` piece by piece with ``send``, playing ``server.mode``; end the body.

        ``send`` returns False when the client has gone; ``fail`` writes the server's
        mid-stream error; ``finish`` writes what ends a complete reply.
        """
        srv = self.server
        for i, piece in enumerate(srv.reply):
            if srv.mode == "cut" and i == srv.cut_after:
                self.cut()
                return
            if srv.mode == "error" and i == srv.cut_after:
                fail()
                self.end_chunked()
                return
            if srv.mode == "stall" and i == srv.cut_after:
                time.sleep(srv.stall_s)
            if not send(piece):
                srv.stopped_early.set()
                return
            srv.sent += 1
            if srv.delay_s:
                time.sleep(srv.delay_s)
        if srv.mode != "no_done":
            finish()
        self.end_chunked()


S = TypeVar("S", bound=FakeHTTPServer)


def serve_from_command_line(make: Callable[[int], S], banner: Callable[[S], str]) -> None:
    """``python -m tests.fakes.<server> [port]``: serve until interrupted."""
    server = make(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    print(banner(server), flush=True)
    server.serve_forever()


def free_port() -> int:
    """A loopback port nothing listens on (for connection-refused tests)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
