"""Tiny, randomly initialised models built on the spot, for the heavy (torch) tests.

They exercise the real loading and inference code of ``transformers``, Coqui TTS and
``torch.package`` without any download:

* ``build_tiny_bert``: a 2-layer BERT sequence classifier with RuBERT's labels
  (NEUTRAL, POSITIVE, NEGATIVE), saved with ``save_pretrained``.
* ``build_tiny_xtts``: an XTTS-v2-shaped model (2 GPT layers, 64 channels, 34 audio
  codes; ~23 M parameters, mostly the HiFi-GAN decoder and speaker encoder) with a
  character vocabulary covering Russian, saved as XTTS-v2 ships: ``config.json``,
  ``model.pth``, ``vocab.json``, ``speakers_xtts.pth`` (one built-in voice).
* ``build_fake_silero``: a ``torch.package`` with the object layout Silero ships
  (``tts_models/model`` pickle, ``apply_tts(text, speaker, sample_rate, ...)``).

Only imported by tests that run in the GPU venv; torch is imported lazily.
"""

from __future__ import annotations

import importlib
import math
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

RUSSIAN = "абвгдеёжзийклмнопрстуфхцчшщъыьэюя"
TINY_SPEAKER = "Тестовый Голос"


def _m(name: str) -> Any:
    return importlib.import_module(name)


def build_tiny_bert(directory: Path, *, bias: tuple[float, float, float] = (0.0, 0.0, 0.0),
                    labels: tuple[str, ...] = ("NEUTRAL", "POSITIVE", "NEGATIVE")) -> Path:
    """A BERT classifier whose output is dominated by ``bias`` (classifier weights zeroed)."""
    torch, transformers = _m("torch"), _m("transformers")
    directory.mkdir(parents=True, exist_ok=True)
    words = ["привет", "как", "дела", "хорошо", "плохо", "грустно", "рад", "что", "это", "да", "нет"]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *RUSSIAN, *(f"##{c}" for c in RUSSIAN), *words, "?", "!",
             ".", ","]
    (directory / "vocab.txt").write_text("\n".join(dict.fromkeys(vocab)) + "\n", encoding="utf-8")
    tokenizer = transformers.BertTokenizerFast(vocab_file=str(directory / "vocab.txt"), do_lower_case=True)
    config = transformers.BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=128, num_labels=len(labels),
        id2label=dict(enumerate(labels)), label2id={label: i for i, label in enumerate(labels)},
    )
    torch.manual_seed(0)
    model = transformers.BertForSequenceClassification(config)
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.tensor(bias[: len(labels)]))
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def build_tiny_xtts(directory: Path) -> Path:
    torch = _m("torch")
    tokenizers = _m("tokenizers")
    directory.mkdir(parents=True, exist_ok=True)
    specials = ["[STOP]", "[UNK]", "[SPACE]", "[START]", "[ru]", "[en]"]
    chars = list(RUSSIAN + "abcdefghijklmnopqrstuvwxyz0123456789.,!?-'\":;()")
    tok = tokenizers.Tokenizer(tokenizers.models.BPE(
        vocab={t: i for i, t in enumerate(specials + chars)}, merges=[], unk_token="[UNK]"
    ))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    tok.add_special_tokens(specials)
    tok.save(str(directory / "vocab.json"))

    xtts_config = _m("TTS.tts.configs.xtts_config")
    xtts = _m("TTS.tts.models.xtts")
    tokenizer_module = _m("TTS.tts.layers.xtts.tokenizer")
    args = xtts_config.XttsArgs(
        gpt_layers=2, gpt_n_model_channels=64, gpt_n_heads=2, gpt_num_audio_tokens=34,
        gpt_start_audio_token=32, gpt_stop_audio_token=33, gpt_max_audio_tokens=28, gpt_max_text_tokens=402,
        gpt_max_prompt_tokens=70, decoder_input_dim=64, gpt_use_perceiver_resampler=True,
    )
    config = xtts_config.XttsConfig(model_args=args, languages=["ru", "en"])
    config.save_json(str(directory / "config.json"))
    torch.manual_seed(0)
    model = xtts.Xtts(config)
    model.tokenizer = tokenizer_module.VoiceBpeTokenizer(str(directory / "vocab.json"))
    model.init_models()
    with torch.no_grad():  # never stop early: every sentence decodes to the full 25 codes (~1.2 s)
        model.gpt.mel_head.bias[args.gpt_stop_audio_token] = -1e4
    torch.save({"model": model.state_dict()}, directory / "model.pth")

    # One built-in voice, computed the way XTTS computes a cloned one.
    model.eval()
    model.gpt.init_gpt_for_inference(kv_cache=True)
    audio = reference_voice(torch, seconds=3.0, sample_rate=22050)
    latent = model.get_gpt_cond_latents(audio, 22050, length=30, chunk_length=4)
    embedding = model.get_speaker_embedding(audio, 22050)
    torch.save({TINY_SPEAKER: {"gpt_cond_latent": latent, "speaker_embedding": embedding}},
               directory / "speakers_xtts.pth")
    return directory


def reference_voice(torch: Any, *, seconds: float, sample_rate: int) -> Any:
    """A voiced-sounding test signal: a 150 Hz buzz with harmonics and a 4 Hz syllable rhythm."""
    t = torch.arange(int(seconds * sample_rate)) / sample_rate
    buzz = sum(torch.sin(2 * math.pi * 150 * k * t) / k for k in range(1, 6))
    return (0.2 * buzz * (0.6 + 0.4 * torch.sin(2 * math.pi * 4 * t))).unsqueeze(0)


FAKE_SILERO_SOURCE = '''
import math

import torch


class FakeSileroModel(torch.nn.Module):
    """The interface of Silero's TTS package objects (v3/v4)."""

    speakers = ["aidar", "baya", "kseniya", "xenia", "eugene", "random"]

    def __init__(self):
        super().__init__()
        self.gain = torch.nn.Parameter(torch.tensor(0.3))

    def apply_tts(self, text=None, speaker="xenia", sample_rate=48000, put_accent=True, put_yo=True,
                  ssml_text=None, voice_path=None):
        if speaker not in self.speakers:
            raise ValueError(f"`speaker` should be in {', '.join(self.speakers)}")
        if sample_rate not in (8000, 24000, 48000):
            raise ValueError("`sample_rate` should be in [8000, 24000, 48000]")
        if not text or len(text) > 1000:
            raise ValueError("Text is empty or too long")
        n = int(sample_rate * 0.06 * len(text))
        t = torch.arange(n, dtype=torch.float32, device=self.gain.device) / sample_rate
        return (self.gain * torch.sin(2 * math.pi * 220 * t)).detach().cpu()
'''


def build_fake_silero(path: Path, module_name: str = "fake_silero_tts") -> Path:
    """A ``torch.package`` file laid out like Silero's ``v4_ru.pt``."""
    torch = _m("torch")
    package = _m("torch.package")
    src = path.parent / "_src"
    src.mkdir(parents=True, exist_ok=True)
    (src / f"{module_name}.py").write_text(textwrap.dedent(FAKE_SILERO_SOURCE), encoding="utf-8")
    sys.path.insert(0, str(src))
    try:
        module = importlib.import_module(module_name)
        with warnings.catch_warnings(), package.PackageExporter(str(path)) as exporter:
            warnings.simplefilter("ignore", UserWarning)  # torch's own TypedStorage deprecation
            exporter.extern(["torch", "torch.**", "math"])
            exporter.intern(module_name)
            exporter.save_pickle("tts_models", "model", module.FakeSileroModel())
    finally:
        sys.path.remove(str(src))
        sys.modules.pop(module_name, None)
    del torch
    return path
