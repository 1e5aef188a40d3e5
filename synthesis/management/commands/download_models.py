"""``python manage.py download_models [rubert] [xtts] [silero] [--all]``: fetch production weights.

The only place where the production engines' weights are downloaded (never at
run time). Needs network; offline it fails with what to copy where instead.

* ``rubert``: ``blanchefort/rubert-base-cased-sentiment`` (Hugging Face, ~0.7 GB)
  -> ``AVATAR_MODELS_DIR/rubert-base-cased-sentiment/``.
* ``xtts``: ``coqui/XTTS-v2`` (Hugging Face, ~1.9 GB; Coqui Public Model License,
  non-commercial: pass ``--agree-cpml``) -> ``AVATAR_MODELS_DIR/xtts_v2/``.
* ``silero``: ``v4_ru.pt`` from models.silero.ai (~40 MB; CC BY-NC-SA 4.0)
  -> ``AVATAR_MODELS_DIR/silero/v4_ru.pt``.

RuBERT and XTTS need ``huggingface_hub`` (part of requirements-gpu.txt).
"""

from __future__ import annotations

import importlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from synthesis.engines.sentiment.rubert import DEFAULT_MODEL as RUBERT_REPO
from synthesis.engines.sentiment.rubert import local_dir_name
from synthesis.engines.tts.silero import DEFAULT_FILE as SILERO_FILE
from synthesis.engines.tts.silero import DOWNLOAD_URL as SILERO_URL
from synthesis.engines.tts.xtts import DEFAULT_DIR_NAME as XTTS_DIR
from synthesis.engines.tts.xtts import REQUIRED_FILES as XTTS_FILES
from synthesis.gpu import GPU_INSTALL_HINT

XTTS_REPO = "coqui/XTTS-v2"
RUBERT_FILES = ("config.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json",
                "model.safetensors", "pytorch_model.bin")
MODELS = ("rubert", "xtts", "silero")
OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


class Command(BaseCommand):
    help = "Download RuBERT / XTTS-v2 / Silero weights into AVATAR_MODELS_DIR (needs network)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("models", nargs="*", metavar="MODEL", help=f"{', '.join(MODELS)} (default: all)")
        parser.add_argument("--all", action="store_true", help="all three")
        parser.add_argument("--models-dir", help="default: AVATAR_MODELS_DIR")
        parser.add_argument("--agree-cpml", action="store_true",
                            help="agree to the Coqui Public Model License (non-commercial) for XTTS-v2")
        parser.add_argument("--force", action="store_true", help="download even if the files are there")

    def handle(self, *args: Any, **options: Any) -> None:
        wanted = list(dict.fromkeys(options["models"]))
        unknown = [m for m in wanted if m not in MODELS]
        if unknown:
            raise CommandError(f"unknown model(s) {', '.join(unknown)}: choose from {', '.join(MODELS)}")
        if options["all"] or not wanted:
            wanted = list(MODELS)
        models_dir = Path(options["models_dir"] or settings.AVATAR_MODELS_DIR)
        models_dir.mkdir(parents=True, exist_ok=True)
        if "xtts" in wanted and not options["agree_cpml"]:
            raise CommandError(
                "XTTS-v2 is licensed under the Coqui Public Model License (non-commercial use only, "
                "https://coqui.ai/cpml); re-run with --agree-cpml to download it"
            )
        for name in wanted:
            getattr(self, f"_{name}")(models_dir, options["force"])

    # -- each model --

    def _rubert(self, models_dir: Path, force: bool) -> None:
        target = models_dir / local_dir_name(RUBERT_REPO)
        if (target / "config.json").is_file() and not force:
            self.stdout.write(f"rubert: already in {target}")
            return
        self._hub_download(RUBERT_REPO, target, list(RUBERT_FILES))
        if not (target / "config.json").is_file():
            raise CommandError(f"rubert: {target} has no config.json after the download")
        self.stdout.write(self.style.SUCCESS(f"rubert: {RUBERT_REPO} -> {target}"))

    def _xtts(self, models_dir: Path, force: bool) -> None:
        target = models_dir / XTTS_DIR
        required = [*XTTS_FILES, "speakers_xtts.pth"]
        if all((target / f).is_file() for f in required) and not force:
            self.stdout.write(f"xtts: already in {target}")
            return
        self._hub_download(XTTS_REPO, target, required)
        missing = [f for f in required if not (target / f).is_file()]
        if missing:
            raise CommandError(f"xtts: {target} lacks {', '.join(missing)} after the download")
        self.stdout.write(self.style.SUCCESS(f"xtts: {XTTS_REPO} -> {target} (licence: CPML, non-commercial)"))

    def _silero(self, models_dir: Path, force: bool) -> None:
        target = models_dir / SILERO_FILE
        if target.is_file() and not force:
            self.stdout.write(f"silero: already at {target}")
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        self.stdout.write(f"silero: downloading {SILERO_URL}")
        try:
            with urllib.request.urlopen(SILERO_URL, timeout=30) as response, tempfile.NamedTemporaryFile(
                dir=target.parent, delete=False, suffix=".part"
            ) as part:
                shutil.copyfileobj(response, part)
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            raise CommandError(self._offline(f"cannot download {SILERO_URL}: {exc}", target)) from exc
        os.replace(part.name, target)
        self.stdout.write(self.style.SUCCESS(f"silero: -> {target} (licence: CC BY-NC-SA 4.0)"))

    # -- helpers --

    def _hub_download(self, repo: str, target: Path, files: list[str]) -> None:
        offline = [v for v in OFFLINE_VARS if os.environ.get(v, "").strip() not in ("", "0", "false", "False")]
        if offline:
            raise CommandError(self._offline(f"{', '.join(offline)} is set: downloads are off", target, repo))
        try:
            hub = importlib.import_module("huggingface_hub")
        except ImportError as exc:
            raise CommandError(f"huggingface_hub is not installed ({GPU_INSTALL_HINT})") from exc
        self.stdout.write(f"downloading {repo} -> {target}")
        try:
            hub.snapshot_download(repo_id=repo, local_dir=str(target), allow_patterns=files)
        except Exception as exc:  # HTTP, DNS, proxy and hub errors all land here
            raise CommandError(self._offline(f"cannot download {repo}: {type(exc).__name__}: {exc}", target, repo)) \
                from exc

    @staticmethod
    def _offline(problem: str, target: Path, repo: str | None = None) -> str:
        source = f"the files of {repo}" if repo else "the file"
        return (
            f"{problem}. This command needs network access. On an offline machine, run it on one that "
            f"has network and copy {source} to {target} (or point the engine's options at them)."
        )
