"""What the model is sent: token counts and the context that fits the budget.

Counting uses tiktoken's o200k vocabulary, loaded offline; the context is the system prompt
and the newest turns that fit the model's budget (its window less the reply's reserve), cut
in blocks so that the upstream's prompt cache stays warm. No SDK here: ``llm`` sends it.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from hashlib import blake2b
from pathlib import Path
from typing import Any, NamedTuple

import tiktoken
from django.conf import settings

from catalogue.entries import ModelEntry
from core.errors import InvalidInput

# OpenAI's chat format adds a few tokens per message and primes the reply with three more.
MESSAGE_OVERHEAD_TOKENS = 4
REPLY_PRIMING_TOKENS = 3
# When history must be cut, the oldest message kept is a block boundary, met on average
# once per this share of the budget: the cut moves in steps of about that size.
BLOCK_SHARE = 4


class ContextMessage(NamedTuple):
    """One message of history (a tuple: built per row of every context read). ``tokens``
    include its files'; ``files`` marks a message that has some (the stored message's id,
    or the checked files of the one being sent), which ``attachments`` adds once the
    messages that fit are known."""

    role: str
    content: str
    tokens: int
    files: Any = None


@dataclass(frozen=True)
class Context:
    messages: list[dict[str, Any]]
    prompt_tokens: int
    model: ModelEntry | None = None  # who answers; None: the implicit catalogue's model
    # (position in ``messages``, ``ContextMessage.files``) of the messages with files.
    files: tuple[tuple[int, Any], ...] = ()


TIKTOKEN_URL = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"


@lru_cache(maxsize=1)
def _encoding() -> tiktoken.Encoding:
    """tiktoken's o200k_base, loaded without the internet.

    tiktoken downloads a vocabulary on first use into its cache. bpe-openai ships the same
    files, so the cache is filled from there. tiktoken checks the SHA-256 either way.
    Counting goes through tiktoken rather than bpe-openai's own tokenizer, which is 143 MB
    resident against tiktoken's 77 MB, and the app's budget is 300 MB with 500 streams.
    """
    name = "o200k_base"
    cache = Path(settings.TIKTOKEN_CACHE_DIR)
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)  # where tiktoken looks for it
    cached = cache / hashlib.sha1(TIKTOKEN_URL.format(name=name).encode()).hexdigest()
    if not cached.exists():
        # find_spec locates the package without importing it (its import alone is 69 MB).
        spec = importlib.util.find_spec("bpe_openai")
        # A dependency of the project (pyproject.toml), installed with it.
        assert spec is not None and spec.submodule_search_locations is not None
        package = spec.submodule_search_locations[0]
        with gzip.open(Path(package) / "data" / f"{name}.tiktoken.gz") as vocabulary:
            data = vocabulary.read()
        cache.mkdir(parents=True, exist_ok=True)
        # A unique partial file, renamed into place (atomic): processes or threads that
        # start together may all write it.
        handle, partial = tempfile.mkstemp(dir=cache, suffix=".tmp")
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        Path(partial).replace(cached)
    return tiktoken.get_encoding(name)


def count_tokens(text: str) -> int:
    """Exact token count of ``text`` in the OpenAI o200k vocabulary."""
    if not text:
        return 0
    return len(_encoding().encode_ordinary(text))


@lru_cache(maxsize=1024)
def prompt_tokens(system_prompt: str) -> int:
    """``count_tokens`` for system prompts, which repeat from turn to turn."""
    return count_tokens(system_prompt)


def build_context(
    *,
    system_prompt: str,
    history: Iterable[ContextMessage],
    budget: int,
    model: ModelEntry | None = None,
) -> Context:
    """System prompt first, then the newest turns that fit ``budget``, oldest first.

    ``history`` is read newest first and lazily, so a long conversation is only read as far
    back as the budget reaches. Its first item is the message being answered: it is always
    sent, and a message that cannot fit with the system prompt is refused.

    When not everything fits, the history starts at a block boundary (``_starts_block``)
    rather than at the oldest message that fits: the start then stays put from turn to
    turn until it no longer fits, so each prompt begins with the whole previous one and the
    upstream's prompt cache is reused, instead of a window sliding by a turn every turn.
    """
    used = REPLY_PRIMING_TOKENS + prompt_tokens(system_prompt) + MESSAGE_OVERHEAD_TOKENS
    costs: list[int] = []
    kept: list[ContextMessage] = []
    cut = False
    for message in history:
        cost = message.tokens + MESSAGE_OVERHEAD_TOKENS
        if used + cost > budget:
            if not kept:
                raise InvalidInput(
                    "This message is too long for the model's context. Please shorten it.",
                    field="message",
                )
            cut = True
            break
        used += cost
        costs.append(cost)
        kept.append(message)
    if cut:
        step = max(1, budget // BLOCK_SHARE)
        start = next(
            (i for i in range(len(kept) - 1, 0, -1) if _starts_block(kept[i], costs[i], step)),
            len(kept) - 1,
        )
        used -= sum(costs[start + 1 :])
        kept = kept[: start + 1]
    messages: list[dict[str, Any]] = [{"role": "system", "content": system_prompt}]
    messages.extend({"role": m.role, "content": m.content} for m in reversed(kept))
    files = tuple(
        (position, m.files)
        for position, m in enumerate(reversed(kept), start=1)
        if m.files is not None
    )
    return Context(messages=messages, prompt_tokens=used, model=model, files=files)


def room_for_files(*, system_prompt: str, tokens: int, budget: int) -> int:
    """Tokens left in ``budget`` for the files of a message of ``tokens`` sent alone with
    ``system_prompt`` (what a first message may attach; later ones may cut history)."""
    fixed = REPLY_PRIMING_TOKENS + prompt_tokens(system_prompt) + MESSAGE_OVERHEAD_TOKENS
    return budget - fixed - tokens


def _starts_block(message: ContextMessage, cost: int, step: int) -> bool:
    """Whether a message is a block boundary: decided by its own text (so it never changes
    as the conversation grows), with a chance of its share of ``step`` tokens, so that
    boundaries come about once per ``step`` tokens of history (content-defined chunking)."""
    digest = blake2b(
        f"{message.role}\0{message.content}".encode("utf-8", "surrogatepass"), digest_size=8
    ).digest()
    return int.from_bytes(digest) * step < cost * 2**64


def system_prompt_for(*, user_instructions: str = "", chat_instructions: str = "") -> str:
    parts = [settings.CHATBOT_SYSTEM_PROMPT.strip()]
    if user_instructions.strip():
        parts.append("Instructions from the user:\n" + user_instructions.strip())
    if chat_instructions.strip():
        parts.append("Instructions for this conversation:\n" + chat_instructions.strip())
    return "\n\n".join(part for part in parts if part)
