"""The engine configuration: ``models_config.yaml`` overridden by environment variables."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings

# The stages each sentence goes through (and a revision is rendered with), after the LLM.
SENTENCE_STAGES: tuple[str, ...] = ("sentiment", "tts", "lipsync", "motion")
STAGES: tuple[str, ...] = ("llm", *SENTENCE_STAGES)

# Environment variables that override the file (documented in the README).
ENV_ENGINE = {
    "llm": "AVATAR_LLM_ENGINE",
    "sentiment": "AVATAR_SENTIMENT_ENGINE",
    "tts": "AVATAR_TTS_ENGINE",
    "lipsync": "AVATAR_LIPSYNC_ENGINE",
    "motion": "AVATAR_MOTION_ENGINE",
}
ENV_OPTION = {("llm", "model"): "AVATAR_LLM_MODEL"}
# AVATAR_LLM_TIMEOUT_S, AVATAR_TTS_TIMEOUT_S, ...: override a stage's time limit.
ENV_TIMEOUT = {stage: f"AVATAR_{stage.upper()}_TIMEOUT_S" for stage in ENV_ENGINE}
DEFAULT_TIMEOUTS = {"llm": 30.0, "sentiment": 10.0, "tts": 60.0, "lipsync": 20.0, "motion": 10.0}


class ConfigError(Exception):
    pass


@dataclass(frozen=True)
class StageConfig:
    stage: str
    engine: str
    fallbacks: tuple[str, ...]
    timeout_s: float
    options: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)  # stage-level settings

    @property
    def engines(self) -> tuple[str, ...]:
        """The configured engine first, then its fallbacks, without repeats."""
        return tuple(dict.fromkeys((self.engine, *self.fallbacks)))


def _stage(stage: str, raw: Mapping[str, Any]) -> StageConfig:
    if not isinstance(raw, Mapping) or not raw.get("engine"):
        raise ConfigError(f"{stage}: an `engine` is required")
    engine = os.environ.get(ENV_ENGINE[stage]) or str(raw["engine"])
    options = dict(raw.get("options") or {})
    for (st, key), var in ENV_OPTION.items():
        if st == stage and os.environ.get(var):
            options[key] = os.environ[var]
    known = {"engine", "fallbacks", "timeout_s", "options"}
    return StageConfig(
        stage=stage,
        engine=engine,
        fallbacks=tuple(str(f) for f in raw.get("fallbacks") or ()),
        timeout_s=float(os.environ.get(ENV_TIMEOUT[stage]) or raw.get("timeout_s", DEFAULT_TIMEOUTS[stage])),
        options=options,
        extra={k: v for k, v in raw.items() if k not in known},
    )


def load(path: Path) -> dict[str, StageConfig]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read engine config {path}: {exc}") from exc
    missing = [s for s in STAGES if s not in raw]
    if missing:
        raise ConfigError(f"{path}: missing sections {missing}")
    return {stage: _stage(stage, raw[stage]) for stage in STAGES}


@functools.cache
def _cached(path: str, env_key: tuple[tuple[str, str], ...]) -> dict[str, StageConfig]:
    return load(Path(path))


def stage_config(stage: str) -> StageConfig:
    env_key = tuple(
        (v, os.environ.get(v, "")) for v in (*ENV_ENGINE.values(), *ENV_OPTION.values(), *ENV_TIMEOUT.values())
    )
    return _cached(str(settings.AVATAR_CONFIG_FILE), env_key)[stage]
