"""A fake OpenAI-compatible server on loopback (llama-server / vLLM wire format).

* ``GET /v1/models`` -> ``{"object": "list", "data": [{"id", "object": "model", ...}]}``.
* ``POST /v1/chat/completions`` with ``"stream": true`` -> ``text/event-stream``: a
  first chunk with ``delta.role``, one ``data: {chat.completion.chunk}`` event per
  content piece, a chunk with ``finish_reason: "stop"``, then ``data: [DONE]``; a
  ``: keep-alive`` comment line first, as some servers send.
* Errors: unknown model (when ``strict_model``) -> 404 with an OpenAI error object;
  wrong or missing key (when ``api_key`` is set) -> 401.

Failure modes: ``mode = "cut"`` (connection drops after ``cut_after`` chunks),
``"error"`` (a ``data: {"error": ...}`` event midway), ``"no_done"`` (ends without
finish_reason or [DONE]), ``"stall"`` (waits ``stall_s`` before chunk ``cut_after``).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

from tests.fakes.http_base import FakeHTTPServer, StreamingHandler


class _Handler(StreamingHandler):
    server: FakeOpenAIServer

    def _authorized(self) -> bool:
        key = self.server.api_key
        if key and self.headers.get("Authorization") != f"Bearer {key}":
            self.send_json(401, {"error": {"message": "Invalid API Key", "type": "authentication_error",
                                           "code": "invalid_api_key"}})
            return False
        return True

    def do_GET(self) -> None:
        self.server.requests.append({"path": self.path, "method": "GET", "headers": dict(self.headers)})
        if not self._authorized():
            return
        if self.path == "/v1/models":
            self.send_json(200, {"object": "list", "data": [
                {"id": m, "object": "model", "created": 1_700_000_000, "owned_by": "llamacpp"}
                for m in self.server.models
            ]})
        else:
            self.send_json(404, {"error": {"message": "File Not Found", "type": "not_found_error", "code": 404}})

    def do_POST(self) -> None:
        body = self.read_json()
        if not self._authorized():
            return
        if self.path != "/v1/chat/completions":
            self.send_json(404, {"error": {"message": "File Not Found", "type": "not_found_error", "code": 404}})
            return
        model = str(body.get("model", ""))
        if self.server.strict_model and model not in self.server.models:
            self.send_json(404, {"error": {"message": f"The model `{model}` does not exist.",
                                           "type": "NotFoundError", "code": 404}})
            return
        self._stream(model)

    def _event(self, payload: str) -> bool:
        return self.chunk(f"data: {payload}\n\n".encode())

    def _chunk(self, model: str, delta: dict[str, Any], finish: str | None = None) -> str:
        return json.dumps({"id": "chatcmpl-fake1", "object": "chat.completion.chunk", "created": int(time.time()),
                           "model": model, "system_fingerprint": "b6000-fake",
                           "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]},
                          ensure_ascii=False)

    def _stream(self, model: str) -> None:
        srv = self.server
        self.start_chunked("text/event-stream")
        self.chunk(b": keep-alive\n\n")
        self._event(self._chunk(model, {"role": "assistant", "content": None}))
        for i, piece in enumerate(srv.reply):
            if srv.mode == "cut" and i == srv.cut_after:
                self.cut()
                return
            if srv.mode == "error" and i == srv.cut_after:
                self._event(json.dumps({"error": {"message": "the model crashed", "type": "server_error"}}))
                self.end_chunked()
                return
            if srv.mode == "stall" and i == srv.cut_after:
                time.sleep(srv.stall_s)
            if not self._event(self._chunk(model, {"content": piece})):
                srv.stopped_early.set()
                return
            srv.sent += 1
            if srv.delay_s:
                time.sleep(srv.delay_s)
        if srv.mode != "no_done":
            self._event(self._chunk(model, {}, "stop"))
            self._event("[DONE]")
        self.end_chunked()


class FakeOpenAIServer(FakeHTTPServer):
    def __init__(self, models: list[str] | None = None, reply: list[str] | None = None, port: int = 0) -> None:
        super().__init__(_Handler, port)
        self.models = list(models or ["qwen2.5-7b-instruct"])
        self.reply = list(reply or ["Привет", "! Я ", "Алиса", ". Как", " дела?"])
        self.api_key = ""
        self.strict_model = False  # llama-server accepts any name; vLLM does not
        self.mode = "ok"
        self.cut_after = 2
        self.delay_s = 0.0
        self.stall_s = 5.0
        self.sent = 0
        self.stopped_early = threading.Event()

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def chats(self) -> list[dict[str, Any]]:
        return [r["json"] for r in self.requests if r["path"] == "/v1/chat/completions"]


if __name__ == "__main__":
    server = FakeOpenAIServer(port=int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    print(f"fake OpenAI-compatible server on {server.base_url}", flush=True)
    server.serve_forever()
