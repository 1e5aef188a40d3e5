from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.conf import settings

from synthesis import dispatch
from tests.helpers import EngineConfig


@pytest.fixture
def engine_config(tmp_path: Path, settings: Any) -> Iterator[EngineConfig]:
    """A writable copy of the engine config; call ``apply()`` after changing it."""
    raw = yaml.safe_load(Path(settings.AVATAR_CONFIG_FILE).read_text(encoding="utf-8"))
    yield EngineConfig(raw, path=tmp_path / "models_config.yaml", settings=settings)


@pytest.fixture(autouse=True)
def _drain_in_process_queues() -> Iterator[None]:
    yield
    if settings.AVATAR_TASK_MODE == "in-process":
        dispatch.wait_idle(120)
