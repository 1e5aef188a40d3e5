"""The command line as a user runs it: a separate process on a fresh installation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from django.conf import settings

from conversations.domain.schemas import DATA_SCHEMAS, ENVELOPE_SCHEMA

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def manage(tmp_path_factory: pytest.TempPathFactory) -> Any:
    home = tmp_path_factory.mktemp("avatar-home")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "AVATAR_TASK_MODE")}
    env |= {"AVATAR_HOME": str(home), "AVATAR_MODELS_DIR": str(settings.AVATAR_MODELS_DIR)}

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), *args],
            env=env, capture_output=True, text=True, timeout=300, cwd=ROOT,
        )
        if check:
            assert proc.returncode == 0, proc.stderr
        return proc

    run("migrate", "--noinput", "-v", "0")
    return run


def _without_paths(value: Any) -> Any:
    """The JSON without local file paths (they differ between installations)."""
    if isinstance(value, dict):
        return {k: _without_paths(v) for k, v in value.items() if k != "path"}
    if isinstance(value, list):
        return [_without_paths(v) for v in value]
    return value


def _lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_say_speak_json_prints_every_event_of_the_turn(manage: Any) -> None:
    out = manage("say", "--speak", "--json", "Здравствуйте! Сегодня 12.05.2024, и это среда.").stdout
    events = _lines(out)
    for e in events:
        jsonschema.validate(e, ENVELOPE_SCHEMA)
    assert events[0]["type"] == "UserMessageReceived" and events[-1]["type"] == "TurnCompleted"
    speech = [e for e in events if e["type"] == "SpeechSynthesized"]
    assert len(speech) == 2
    for e in speech:
        path = Path(e["data"]["audio"]["path"])
        assert path.is_file() and path.read_bytes()[:4] == b"RIFF"
        del e["data"]["audio"]["path"]
        jsonschema.validate(e["data"], DATA_SCHEMAS["SpeechSynthesized"])
    assert "двенадцатое мая" in speech[1]["data"]["spoken_text"]

    replayed = _lines(manage("replay", events[0]["session_id"], "--json").stdout)
    assert [e["seq"] for e in replayed] == list(range(1, len(replayed) + 1))
    assert [e["type"] for e in replayed[1:]] == [e["type"] for e in events]


def test_say_prints_progress_and_timings(manage: Any) -> None:
    out = manage("say", "--speak", "Добрый вечер.").stdout
    assert "ответ: Добрый вечер." in out and "ход завершён" in out
    assert "первое аудио" in out and "tts" in out


@pytest.mark.parametrize("text", ["", "   ", "a\x07b"])
def test_say_refuses_bad_text_with_a_clear_error(manage: Any, text: str) -> None:
    proc = manage("say", "--speak", text, check=False)
    assert proc.returncode != 0
    assert "empty" in proc.stderr or "control_characters" in proc.stderr


def test_replay_of_unknown_session_is_an_error(manage: Any) -> None:
    proc = manage("replay", "00000000-0000-0000-0000-000000000000", check=False)
    assert proc.returncode != 0 and "does not exist" in proc.stderr
    proc = manage("replay", "not-a-uuid", check=False)
    assert proc.returncode != 0 and "does not exist" in proc.stderr


def test_export_and_import_move_a_session_to_another_installation(
    manage: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    events = _lines(manage("say", "--speak", "--json", "Переезжаю в новый дом.").stdout)
    session_id = events[0]["session_id"]
    path = tmp_path_factory.mktemp("export") / "session.tar.gz"
    assert "events ->" in manage("export_session", session_id, "-o", str(path)).stdout
    other = tmp_path_factory.mktemp("other-home")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "AVATAR_TASK_MODE")}
    env |= {"AVATAR_HOME": str(other), "AVATAR_MODELS_DIR": str(settings.AVATAR_MODELS_DIR)}

    def there(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=300)

    assert there("migrate", "--noinput", "-v", "0").returncode == 0
    assert session_id in there("import_session", str(path)).stdout
    moved = _lines(there("replay", session_id, "--json").stdout)
    original = _lines(manage("replay", session_id, "--json").stdout)
    assert [_without_paths(e) for e in moved] == [_without_paths(e) for e in original]
    audio = [Path(e["data"]["audio"]["path"]) for e in moved if e["type"] == "SpeechSynthesized"]
    assert audio and all(p.is_file() and str(p).startswith(str(other)) for p in audio)
    assert there("import_session", str(path)).returncode != 0  # already there


def test_rerender_session_renders_a_new_revision_and_replay_original_leaves_it_out(manage: Any) -> None:
    events = _lines(manage("say", "--speak", "--json", "Раз. Два.").stdout)
    session_id = events[0]["session_id"]
    out = manage("rerender_session", session_id, "--wait").stdout
    assert "2/2 (100 %)" in out, out
    everything = _lines(manage("replay", session_id, "--json").stdout)
    for e in everything:
        jsonschema.validate(e["data"], DATA_SCHEMAS[e["type"]])
    revised = [e for e in everything if e["type"] == "SentenceRevised"]
    assert [(e["data"]["index"], e["data"]["revision"], e["data"]["reason"]) for e in revised] == [
        (0, 1, "rerender"), (1, 1, "rerender"),
    ]
    assert sum(e["type"] == "MotionPlanned" and e["data"].get("revision") == 1 for e in everything) == 2
    assert everything[-1]["type"] == "SessionRerenderCompleted"
    original = _lines(manage("replay", session_id, "--json", "--original").stdout)
    assert [_without_paths(e) for e in original[1:]] == [_without_paths(e) for e in events]  # say omits SessionStarted
    assert "правка 1" in manage("replay", session_id).stdout
    proc = manage("rerender_session", "not-a-uuid", check=False)
    assert proc.returncode != 0 and "does not exist" in proc.stderr
