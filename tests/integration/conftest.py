from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import EngineConfig


@pytest.fixture
def engine_config(tmp_path: Path, settings: Any) -> Iterator[EngineConfig]:
    """A writable copy of the engine config; call ``apply()`` after changing it."""
    raw = yaml.safe_load(Path(settings.AVATAR_CONFIG_FILE).read_text(encoding="utf-8"))
    yield EngineConfig(raw, path=tmp_path / "models_config.yaml", settings=settings)

