"""SileroTTS: loading a ``torch.package`` model file the way Silero documents for local
use, on a package built here with Silero's object interface (the real weights need a
download: ``manage.py download_models silero``).

Heavy: run in .venv-gpu (``-m heavy``); the light run deselects these by marker.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from synthesis.audio import read_wav, rms
from synthesis.gpu import MODELS
from synthesis.interfaces import EngineError, EngineUnavailable

pytestmark = pytest.mark.heavy


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if importlib.util.find_spec("torch") is None:
        pytest.fail("heavy test needs torch: run it in .venv-gpu (pip install -r requirements-gpu.txt); "
                    "the light run deselects it with -m 'not heavy'")
    from tests.fakes.tiny_models import build_fake_silero

    return build_fake_silero(tmp_path_factory.mktemp("silero") / "v4_ru.pt")


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    MODELS.unload_all()
    yield
    MODELS.unload_all()


def silero(path: Path, **options: Any) -> Any:
    from synthesis.engines.tts.silero import SileroTTS

    options.setdefault("device", "cpu")
    return SileroTTS(model_path=str(path), **options)


def test_speaks_russian_into_a_wav(package: Path) -> None:
    engine = silero(package, sample_rate=48000, speaker="baya")
    audio = engine.synthesize("Привет, мир!", timeout=10)
    samples, rate = read_wav(audio.wav)
    assert rate == audio.sample_rate == 48000 and len(samples) > 0 and rms(samples) > 0.01
    assert audio.voice == "silero:baya" and audio.phones is None
    stats = engine.pop_load_stats()
    assert stats is not None and stats["device"] == "cpu"


def test_bad_speaker_text_and_rate(package: Path) -> None:
    with pytest.raises(EngineError, match="no speaker 'alice'"):
        silero(package, speaker="alice").synthesize("Привет.", timeout=10)
    with pytest.raises(EngineError, match="nothing speakable"):
        silero(package).synthesize("...", timeout=10)
    with pytest.raises(EngineError, match="too long"):
        silero(package).synthesize("а" * 1200, timeout=10)
    with pytest.raises(ValueError):
        silero(package, sample_rate=22050)


def test_missing_and_corrupt_files(tmp_path: Path) -> None:
    from synthesis.engines.tts.silero import SileroTTS

    avail = SileroTTS.availability(model_path=str(tmp_path / "v4_ru.pt"))
    assert not avail.ok and "download_models silero" in avail.reason
    with pytest.raises(EngineUnavailable, match="download_models silero"):
        silero(tmp_path / "v4_ru.pt").synthesize("Привет.", timeout=10)
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(EngineError, match="cannot load"):
        silero(corrupt).synthesize("Привет.", timeout=10)


def test_default_path_is_under_the_models_dir(package: Path, settings: Any) -> None:
    from synthesis.engines.tts.silero import SileroTTS

    settings.AVATAR_MODELS_DIR = package.parent.parent
    (package.parent.parent / "silero").mkdir(exist_ok=True)
    target = package.parent.parent / "silero" / "v4_ru.pt"
    if not target.exists():
        target.symlink_to(package)
    assert SileroTTS.availability().ok
    assert SileroTTS(device="cpu").synthesize("Проверка.", timeout=10).duration_ms > 0
