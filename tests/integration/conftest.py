from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.conf import settings

from synthesis import dispatch


@pytest.fixture
def engine_config(tmp_path: Path, settings: Any) -> Iterator[dict[str, Any]]:
    """A writable copy of the engine config; call ``apply()`` after changing it."""
    raw = yaml.safe_load(Path(settings.AVATAR_CONFIG_FILE).read_text(encoding="utf-8"))
    path = tmp_path / "models_config.yaml"

    class Config(dict):  # type: ignore[type-arg]
        def apply(self) -> None:
            path.write_text(yaml.safe_dump(dict(self), allow_unicode=True), encoding="utf-8")
            settings.AVATAR_CONFIG_FILE = path

    yield Config(raw)


@pytest.fixture(autouse=True)
def _drain_in_process_queues() -> Iterator[None]:
    yield
    if settings.AVATAR_TASK_MODE == "in-process":
        dispatch.wait_idle(120)
