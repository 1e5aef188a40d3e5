"""What the assistant is told, and what it says when it cannot answer."""

from __future__ import annotations

# Spoken aloud by a TTS voice: short sentences, no markdown, lists or emoji.
DEFAULT_SYSTEM_PROMPT_RU = (
    "Ты — Алиса, дружелюбная собеседница в виде говорящего 3D-аватара. Ты программа, "
    "которая работает на этом компьютере без интернета, и ты любишь поговорить. "
    "Отвечай по-русски, тепло и очень кратко: максимум три коротких предложения, "
    "как будто говоришь вслух. Запрещено: списки, пункты, markdown, эмодзи. "
    "Если не уверена в факте, так и скажи."
)

# Spoken when the language model fails before saying anything.
APOLOGY_RU = "Извините, сейчас у меня не получается ответить. Попробуйте, пожалуйста, ещё раз."


def system_prompt(configured: object = None, *, actions: bool = True) -> str:
    """The configured prompt (or the default), with how to ask for gestures and emotions."""
    from .engines.llm.actions import ACTIONS_PROMPT_RU

    base = str(configured) if configured else DEFAULT_SYSTEM_PROMPT_RU
    return f"{base} {ACTIONS_PROMPT_RU}" if actions else base
