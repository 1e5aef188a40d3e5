"""A fake Ollama server on loopback speaking the real HTTP API the ``ollama`` client uses.

* ``GET /`` -> ``Ollama is running``; ``GET /api/version``; ``GET /api/tags`` -> the pulled models.
* ``POST /api/chat`` with no messages loads the model (``done_reason: "load"``).
* ``POST /api/chat`` with ``"stream": true`` -> ``application/x-ndjson``, chunked: one JSON
  object per line ``{"model", "created_at", "message": {"role": "assistant", "content"},
  "done": false}``, then a last one with ``"done": true, "done_reason": "stop"`` and the
  eval counters. Unknown model -> HTTP 404 ``{"error": "model \\"x\\" not found, try
  pulling it first"}`` (Ollama's wording).

Failure modes, set on the server object: ``mode = "cut"`` (the connection drops after
``cut_after`` chunks, no final object), ``"error"`` (an ``{"error": ...}`` line midway,
as Ollama sends when the runner crashes), ``"no_done"`` (the stream ends cleanly without
``done: true``), ``"stall"`` (chunks stop coming for ``stall_s``); ``delay_s`` between chunks.

Run by hand: ``python -m tests.fakes.ollama_server [port]``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from tests.fakes.http_base import FakeModelServer, ModelHandler, serve_from_command_line


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _model_entry(name: str) -> dict[str, Any]:
    return {
        "name": name, "model": name, "modified_at": _now(), "size": 4_683_087_332,
        "digest": "845dbda0ea48ed749caafd9e6037047aa19acfcfd82e704d7ca97d631a0b697e",
        "details": {"parent_model": "", "format": "gguf", "family": "qwen2", "families": ["qwen2"],
                    "parameter_size": "7.6B", "quantization_level": "Q4_K_M"},
    }


class _Handler(ModelHandler):
    server: FakeOllamaServer

    def do_GET(self) -> None:
        self.record()
        if self.path == "/":
            self.send_text(200, "Ollama is running")
        elif self.path == "/api/version":
            self.send_json(200, {"version": "0.12.6"})
        elif self.path == "/api/tags":
            self.send_json(200, {"models": [_model_entry(m) for m in self.server.models]})
        else:
            self.send_text(404, "404 page not found")

    def do_POST(self) -> None:
        body = self.read_json()
        if self.path != "/api/chat":
            self.send_text(404, "404 page not found")
            return
        model = str(body.get("model", ""))
        if not model:
            self.send_json(400, {"error": "model is required"})
            return
        if not any(_same(model, m) for m in self.server.models):
            self.send_json(404, {"error": f'model "{model}" not found, try pulling it first'})
            return
        if not body.get("messages"):  # Ollama: an empty chat loads the model
            self.server.loaded.append(model)
            self.send_json(200, {"model": model, "created_at": _now(),
                                 "message": {"role": "assistant", "content": ""},
                                 "done_reason": "load", "done": True})
            return
        if body.get("stream") is False:
            self.send_json(200, self._final(model, "".join(self.server.reply)))
            return
        self._stream(model)

    def _chunk_obj(self, model: str, content: str) -> dict[str, Any]:
        return {"model": model, "created_at": _now(), "message": {"role": "assistant", "content": content},
                "done": False}

    def _final(self, model: str, content: str = "") -> dict[str, Any]:
        return {"model": model, "created_at": _now(), "message": {"role": "assistant", "content": content},
                "done": True, "done_reason": "stop", "total_duration": 1_234_567_890,
                "load_duration": 12_345_678, "prompt_eval_count": 26, "prompt_eval_duration": 130_000_000,
                "eval_count": len(self.server.reply), "eval_duration": 1_000_000_000}

    def _line(self, obj: dict[str, Any]) -> bool:
        return self.chunk(json.dumps(obj, ensure_ascii=False).encode() + b"\n")

    def _stream(self, model: str) -> None:
        self.start_chunked("application/x-ndjson")
        self.stream_reply(
            lambda piece: self._line(self._chunk_obj(model, piece)),
            lambda: self._line({"error": "llama runner process has terminated: signal: killed"}),
            lambda: self._line(self._final(model)),
        )


def _same(wanted: str, have: str) -> bool:
    def full(name: str) -> str:
        return name if ":" in name else f"{name}:latest"

    return full(wanted) == full(have)


class FakeOllamaServer(FakeModelServer):
    chat_path = "/api/chat"

    def __init__(self, models: list[str] | None = None, reply: list[str] | None = None, port: int = 0) -> None:
        super().__init__(_Handler, models or ["qwen2.5:7b-instruct-q4_K_M"], reply, port)
        self.loaded: list[str] = []


if __name__ == "__main__":
    serve_from_command_line(lambda port: FakeOllamaServer(port=port), lambda s: f"fake ollama on {s.url}")
