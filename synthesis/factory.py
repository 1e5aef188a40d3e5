"""Engine factory: stage name + configured engine name -> a ready engine instance.

Engines are imported lazily (heavy dependencies load only when used) and kept per
process, so a worker loads each model once.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from .config import SENTENCE_STAGES, StageConfig, stage_config
from .interfaces import Availability

log = logging.getLogger("avatar.factory")

# stage -> engine name -> "module:Class". Add an engine here and name it in the config.
REGISTRY: dict[str, dict[str, str]] = {
    "llm": {
        "llamacpp": "synthesis.engines.llm.llamacpp:LlamaCppLLM",
        "ollama": "synthesis.engines.llm.ollama:OllamaLLM",
        "openai": "synthesis.engines.llm.openai_compat:OpenAICompatLLM",
    },
    "sentiment": {
        "e5-centroids": "synthesis.engines.sentiment.e5:E5CentroidSentiment",
        "rules": "synthesis.engines.sentiment.rules:RuleSentiment",
        "rubert": "synthesis.engines.sentiment.rubert:RuBertSentiment",
    },
    "tts": {
        "festival": "synthesis.engines.tts.festival:FestivalTTS",
        "espeak-ng": "synthesis.engines.tts.espeak:EspeakTTS",
        "xtts": "synthesis.engines.tts.xtts:XttsTTS",
        "silero": "synthesis.engines.tts.silero:SileroTTS",
    },
    "lipsync": {
        "phonemes": "synthesis.engines.lipsync.phonemes:PhonemeLipSync",
        "aligner": "synthesis.engines.lipsync.aligner:TextAudioAligner",
        "rhubarb": "synthesis.engines.lipsync.rhubarb:RhubarbLipSync",
    },
    "motion": {"presets": "animation.motion:PresetMotionGenerator"},
}


class UnknownEngine(Exception):
    pass


def engine_class(stage: str, name: str) -> Any:
    try:
        target = REGISTRY[stage][name]
    except KeyError:
        known = ", ".join(sorted(REGISTRY.get(stage, {})))
        raise UnknownEngine(f"no {stage} engine named {name!r} (known: {known})") from None
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)


def _options(stage: str, name: str, config: StageConfig | None) -> dict[str, Any]:
    """Options in the config apply to the configured engine only; fallbacks run with defaults."""
    config = config or stage_config(stage)
    return dict(config.options) if name == config.engine else {}


def availability(stage: str, name: str, config: StageConfig | None = None) -> Availability:
    """Whether the engine can run here with its configured options (e.g. a binary's path)."""
    try:
        check = engine_class(stage, name).availability
    except UnknownEngine as exc:
        return Availability(False, str(exc))
    except ImportError as exc:
        return Availability(False, f"cannot import: {exc}")
    accepted = inspect.signature(check).parameters
    options = {k: v for k, v in _options(stage, name, config).items() if k in accepted}
    return check(**options)  # type: ignore[no-any-return]


@functools.cache
def _instance(stage: str, name: str, options_json: str) -> Any:
    return engine_class(stage, name)(**json.loads(options_json))


def get_engine(stage: str, name: str, config: StageConfig | None = None) -> Any:
    """The process-wide instance of one engine, built with its configured options."""
    return _instance(stage, name, json.dumps(_options(stage, name, config), sort_keys=True))


@dataclass(frozen=True)
class Candidate:
    name: str
    availability: Availability


def candidates(stage: str) -> Iterator[Candidate]:
    """The stage's engines in order of preference, each with whether it can run here."""
    config = stage_config(stage)
    for name in config.engines:
        yield Candidate(name, availability(stage, name, config))


def engines_in_use(stages: Iterable[str] = SENTENCE_STAGES) -> dict[str, str]:
    """Per stage, the engine that would run now: the first one available here."""
    chosen = {}
    for stage in stages:
        name = next((c.name for c in candidates(stage) if c.availability.ok), None)
        chosen[stage] = name or "none"
    return chosen
