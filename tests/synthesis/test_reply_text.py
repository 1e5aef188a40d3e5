"""LLM output -> spoken sentences with their actions: a tag is never spoken."""

from __future__ import annotations

import random

import pytest

from synthesis.reply_text import ReplySentence, ReplyStream, split_reply

REPLY = "[жест: помахать] Привет! Рада тебя [эмоция: радость] видеть. Как у тебя дела? [жест: кивок]"


def test_tags_are_stripped_and_attached_to_their_sentence() -> None:
    assert split_reply(REPLY) == [
        ReplySentence("Привет!", action="wave"),  # the tag stands before it
        ReplySentence("Рада тебя видеть.", emotion="happy"),  # inside it
        ReplySentence("Как у тебя дела?", action="nod"),  # after the last sentence
    ]


@pytest.mark.parametrize("seed", range(8))
def test_any_chunking_gives_the_same_sentences(seed: int) -> None:
    rng = random.Random(seed)
    stream, out, pos = ReplyStream(), [], 0
    while pos < len(REPLY):
        step = rng.randint(1, 5)
        out += stream.feed(REPLY[pos : pos + step])
        pos += step
    out += stream.flush()
    assert out == split_reply(REPLY)
    assert all("[" not in s.text and "жест" not in s.text for s in out)


def test_json_action_and_unknown_tag() -> None:
    sentences = split_reply('{"action": "nod"} Да, конечно. [щёлкнуть пальцами] Сделаю.')
    assert sentences[0] == ReplySentence("Да, конечно.", action="nod")
    assert sentences[1].text == "Сделаю." and sentences[1].action is None


def test_a_tag_removed_before_the_end_leaves_no_dangling_comma() -> None:
    assert split_reply("Зима холодна и серая, [эмоция: грусть].") == [
        ReplySentence("Зима холодна и серая.", emotion="sad")
    ]
