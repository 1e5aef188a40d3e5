"""RuBertSentiment through the real ``transformers`` loading and inference path, on tiny
BERT classifiers built here and saved with ``save_pretrained`` (no download).

Heavy: run in .venv-gpu (``-m heavy``); the light run deselects these by marker.
"""

from __future__ import annotations

import importlib
import importlib.util
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from synthesis.gpu import MODELS
from synthesis.interfaces import EMOTIONS, EngineError, EngineUnavailable

pytestmark = pytest.mark.heavy

QUESTION = "Как дела?"
TEXTS = ["Привет!", "Это хорошо.", "", QUESTION, "Мне грустно.", "Да."]


def _require() -> None:
    missing = [m for m in ("torch", "transformers") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.fail(f"heavy test needs {missing}: run it in .venv-gpu (pip install -r requirements-gpu.txt); "
                    "the light run deselects it with -m 'not heavy'")


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    _require()
    from tests.fakes.tiny_models import build_tiny_bert

    root = tmp_path_factory.mktemp("bert")
    return {
        "positive": build_tiny_bert(root / "positive", bias=(0.0, 6.0, 0.0)),
        "neutral": build_tiny_bert(root / "neutral", bias=(6.0, 0.0, 0.0)),
        "negative": build_tiny_bert(root / "negative", bias=(0.0, 0.0, 6.0)),
        "emotions": build_tiny_bert(root / "emotions", bias=(0.0, 6.0, 0.0), labels=("no_emotion", "joy", "anger")),
        "odd": build_tiny_bert(root / "odd", labels=("AMBIGUOUS", "POSITIVE", "NEGATIVE")),
    }


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    MODELS.unload_all()
    yield
    MODELS.unload_all()


def engine(path: Path, **options: Any) -> Any:
    from synthesis.engines.sentiment.rubert import RuBertSentiment

    options.setdefault("device", "cpu")
    return RuBertSentiment(model=str(path), **options)


def test_labels_map_to_emotions_one_result_per_text(models: dict[str, Path]) -> None:
    for name, expected in (("positive", "happy"), ("negative", "sad")):
        results = engine(models[name]).analyze(TEXTS)
        assert len(results) == len(TEXTS)
        assert [r.label for i, r in enumerate(results) if TEXTS[i]] == [expected] * 5
        for r in results:
            assert set(r.scores) == set(EMOTIONS) and abs(sum(r.scores.values()) - 1) < 1e-6
    assert engine(models["positive"]).analyze([""])[0].label == "neutral"


def test_neutral_questions_become_thinking(models: dict[str, Path]) -> None:
    results = engine(models["neutral"]).analyze(["Понятно.", QUESTION, "Хм, может быть..."])
    assert [r.label for r in results] == ["neutral", "thinking", "thinking"]


def test_batches_give_the_same_results(models: dict[str, Path]) -> None:
    one = engine(models["positive"], batch_size=16).analyze(TEXTS)
    two = engine(models["positive"], batch_size=2).analyze(TEXTS)
    for a, b in zip(one, two, strict=True):
        assert a.label == b.label
        assert all(abs(a.scores[e] - b.scores[e]) < 1e-4 for e in EMOTIONS)


def test_other_label_sets_and_label_map(models: dict[str, Path]) -> None:
    assert engine(models["emotions"]).analyze(["Ура!"])[0].label == "happy"
    with pytest.raises(EngineError, match="label_map"):
        engine(models["odd"]).analyze(["Привет"])
    assert engine(models["odd"], label_map={"AMBIGUOUS": "thinking"}).analyze(["Привет"])[0].scores["thinking"] > 0
    with pytest.raises(ValueError):
        engine(models["odd"], label_map={"AMBIGUOUS": "angry"})


def test_loaded_once_per_process_and_load_stats_reported_once(models: dict[str, Path]) -> None:
    first = engine(models["positive"])
    first.analyze(["Привет"])
    stats = first.pop_load_stats()
    assert stats is not None and stats["device"] == "cpu" and stats["load_ms"] > 0
    assert first.pop_load_stats() is None
    second = engine(models["positive"])
    second.analyze(["Привет"])
    assert second.pop_load_stats() is None  # the same model, already loaded
    assert sum(k.startswith("rubert:") for k in MODELS.loaded()) == 1


def test_availability_and_missing_model(models: dict[str, Path], tmp_path: Path) -> None:
    from synthesis.engines.sentiment.rubert import RuBertSentiment

    assert RuBertSentiment.availability(model=str(models["positive"])).ok
    missing = RuBertSentiment.availability(model="blanchefort/rubert-base-cased-sentiment", models_dir=str(tmp_path))
    assert not missing.ok and "download_models rubert" in missing.reason
    with pytest.raises(EngineUnavailable, match="download_models rubert"):
        RuBertSentiment(model="blanchefort/rubert-base-cased-sentiment", models_dir=tmp_path).analyze(["x"])


def test_hub_name_resolves_to_the_models_dir(models: dict[str, Path], tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from synthesis.engines.sentiment.rubert import RuBertSentiment

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    shutil.copytree(models["negative"], tmp_path / "rubert-base-cased-sentiment")
    assert RuBertSentiment.availability(models_dir=str(tmp_path)).ok
    result = RuBertSentiment(models_dir=tmp_path, device="cpu").analyze(["Плохо."])
    assert result[0].label == "sad"


def test_device_option(models: dict[str, Path]) -> None:
    torch = importlib.import_module("torch")

    auto = engine(models["positive"])
    auto.device = "auto"
    auto.analyze(["Привет"])
    stats = auto.pop_load_stats()
    assert stats is not None
    if torch.cuda.is_available():
        assert stats["device"].startswith("cuda") and "vram_mb" in stats
    else:
        assert stats["device"] == "cpu"
        with pytest.raises(EngineUnavailable, match="no CUDA GPU"):
            engine(models["neutral"], device="cuda").analyze(["Привет"])


def test_chosen_by_the_pipeline(models: dict[str, Path], tmp_path: Path, settings: Any) -> None:
    import yaml

    from synthesis import factory, pipeline
    from tests.helpers import EngineConfig

    raw = yaml.safe_load(Path(settings.AVATAR_CONFIG_FILE).read_text(encoding="utf-8"))
    config = EngineConfig(raw, path=tmp_path / "models_config.yaml", settings=settings)
    config["sentiment"] = {"engine": "rubert", "fallbacks": ["rules"],
                           "options": {"model": str(models["negative"]), "device": "cpu"}}
    config.apply()
    factory._instance.cache_clear()
    attempt = pipeline.run_engines("sentiment", lambda e: e.analyze(["Всё плохо."])[0], session_id="s",
                                   turn_id="t", index=0, degraded="neutral")
    assert attempt.engine == "rubert" and attempt.result.label == "sad" and not attempt.failures
