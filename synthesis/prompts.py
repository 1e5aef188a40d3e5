"""What the assistant is told, and what it says when it cannot answer."""

from __future__ import annotations

# Spoken aloud by a TTS voice: short sentences, no markdown, lists or emoji.
DEFAULT_SYSTEM_PROMPT_RU = (
    "Ты — дружелюбный виртуальный собеседник, который разговаривает голосом. "
    "Отвечай по-русски, коротко: два-четыре простых предложения. "
    "Не используй списки, разметку, эмодзи и ссылки. "
    "Числа и сокращения пиши так, как их произносят."
)

# Spoken when the language model fails before saying anything.
APOLOGY_RU = "Извините, сейчас у меня не получается ответить. Попробуйте, пожалуйста, ещё раз."


def system_prompt(configured: object = None) -> str:
    return str(configured) if configured else DEFAULT_SYSTEM_PROMPT_RU
