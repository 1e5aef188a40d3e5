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
import time
from typing import Any

from tests.fakes.http_base import FakeModelServer, ModelHandler, serve_from_command_line


class _Handler(ModelHandler):
    server: FakeOpenAIServer

    def _authorized(self) -> bool:
        key = self.server.api_key
        if key and self.headers.get("Authorization") != f"Bearer {key}":
            self.send_json(401, {"error": {"message": "Invalid API Key", "type": "authentication_error",
                                           "code": "invalid_api_key"}})
            return False
        return True

    def do_GET(self) -> None:
        self.record()
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
        self.start_chunked("text/event-stream")
        self.chunk(b": keep-alive\n\n")
        self._event(self._chunk(model, {"role": "assistant", "content": None}))
        self.stream_reply(
            lambda piece: self._event(self._chunk(model, {"content": piece})),
            lambda: self._event(json.dumps({"error": {"message": "the model crashed", "type": "server_error"}})),
            lambda: self._finish(model),
        )

    def _finish(self, model: str) -> None:
        self._event(self._chunk(model, {}, "stop"))
        self._event("[DONE]")


class FakeOpenAIServer(FakeModelServer):
    chat_path = "/v1/chat/completions"

    def __init__(self, models: list[str] | None = None, reply: list[str] | None = None, port: int = 0) -> None:
        super().__init__(_Handler, models or ["qwen2.5-7b-instruct"], reply, port)
        self.api_key = ""
        self.strict_model = False  # llama-server accepts any name; vLLM does not

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"


if __name__ == "__main__":
    serve_from_command_line(
        lambda port: FakeOpenAIServer(port=port), lambda s: f"fake OpenAI-compatible server on {s.base_url}"
    )
