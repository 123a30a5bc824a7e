"""The one door to the model: the only module that imports ``openai``.

It builds one client per provider of the catalogue, streams or completes a reply (from a
model's fallback when its provider is unavailable), runs moderation, lists a provider's
models for admin, and turns every SDK failure into one of our domain errors so the rest of
the code never sees SDK classes or upstream error text. What to send (tokens, the context
budget) is ``conversations.context``'s; which model, ``catalogue``'s.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import uuid
import weakref
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field

import httpx2
import openai
from django.conf import settings
from openai.types import ModerationMultiModalInputParam
from openai.types.chat import ChatCompletion

from catalogue.entries import ModelEntry, ProviderEntry
from catalogue.models import Model
from catalogue.selectors import implicit_model
from conversations.context import count_tokens
from conversations.errors import (
    LLMError,
    LLMRateLimited,
    LLMRejected,
    LLMUnavailable,
    ModerationUnavailable,
)

logger = logging.getLogger(__name__)

TITLE_PROMPT = (
    "Write a short title (at most six words) for a conversation that starts with the "
    "message below. Answer with the title only, no quotes, no final period."
)


# --- Our own small types ----------------------------------------------------------------


@dataclass(frozen=True)
class TextDelta:
    content: str


@dataclass(frozen=True)
class StreamEnd:
    model: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None
    finish_reason: str | None = None  # the upstream's ("stop", "length", ...)


@dataclass(frozen=True)
class GenerationOptions:
    """Sampling a client chose (the OpenAI-compatible endpoint); None keeps the app's."""

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()

    def body(self, *, reply_tokens: int) -> dict:
        """The request fields these options set; ``max_tokens`` stays within the reply's
        reserve, which the quota holds."""
        fields: dict = {"temperature": self.temperature, "top_p": self.top_p}
        fields = {name: value for name, value in fields.items() if value is not None}
        if self.max_tokens is not None:
            fields["max_tokens"] = min(self.max_tokens, reply_tokens)
        if self.stop:
            fields["stop"] = list(self.stop)
        return fields


@dataclass(frozen=True)
class Completion:
    content: str
    model: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass(frozen=True)
class ModerationResult:
    flagged: bool
    categories: list[str] = field(default_factory=list)


# --- Configuration ----------------------------------------------------------------------


def is_demo() -> bool:
    """True when no model is configured: no catalogue file or rows, no key, no base URL
    (the banner's question; a database read only when the settings name no model)."""
    if settings.CHATBOT_MODELS is not None or not _settings_are_demo():
        return False
    return not Model.objects.exists()


def _settings_are_demo() -> bool:
    return not (settings.OPENAI_API_KEY or settings.OPENAI_BASE_URL)


def default_model() -> str:
    return implicit_model().id


def _settings_provider() -> ProviderEntry:
    """The provider of ``OPENAI_BASE_URL`` and ``OPENAI_API_KEY`` (moderation's, and the
    implicit catalogue's)."""
    return ProviderEntry(
        name="default",
        base_url=settings.OPENAI_BASE_URL,
        api_key_env="OPENAI_API_KEY",
        api_key=settings.OPENAI_API_KEY,
    )


def _client_options(provider: ProviderEntry) -> dict:
    return {
        # Local OpenAI-compatible servers (vLLM, Ollama, llama.cpp) accept any key.
        "api_key": provider.api_key or "not-needed",
        "base_url": provider.base_url or None,
        "timeout": settings.CHATBOT_LLM_TIMEOUT,
        "max_retries": settings.CHATBOT_LLM_MAX_RETRIES,
    }


def _options_key(provider: ProviderEntry) -> tuple:
    """One client per base URL and key variable (and key, so a rotated key takes effect)."""
    return (
        provider.base_url,
        provider.api_key_env,
        provider.api_key,
        *_client_options(provider).values(),
    )


_sync_clients: dict[tuple, openai.OpenAI] = {}
# An async client's connection pool belongs to the event loop that opened it.
_async_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def sync_client(provider: ProviderEntry | None = None) -> openai.OpenAI:
    provider = provider or _settings_provider()
    key = _options_key(provider)
    if key not in _sync_clients:
        _sync_clients[key] = openai.OpenAI(**_client_options(provider))
    return _sync_clients[key]


# Below the 5 s after which uvicorn-based upstreams (vLLM, the test upstream) close idle
# connections; see async_client.
UPSTREAM_KEEPALIVE_SECONDS = 4.0


def async_client(provider: ProviderEntry | None = None) -> openai.AsyncOpenAI:
    provider = provider or _settings_provider()
    clients = _async_clients.setdefault(asyncio.get_running_loop(), {})
    key = _options_key(provider)
    if key not in clients:
        # The SDK's aiohttp transport: the default one (httpx on anyio) cost more CPU than
        # everything else in a plain chat send, and a quarter of the relay of each token.
        options = _client_options(provider)
        http_client = openai.DefaultAioHttpClient(
            timeout=options["timeout"],
            limits=httpx2.Limits(
                max_connections=1000,
                max_keepalive_connections=100,
                # An idle pooled connection is dropped before the upstream drops it. uvicorn
                # (vLLM, the test upstream) closes idle connections after 5 s, the SDK's own
                # expiry: a request sent on a connection just as the server closes it fails
                # (as a timeout, after retries), and under a burst some did.
                keepalive_expiry=UPSTREAM_KEEPALIVE_SECONDS,
            ),
        )
        clients[key] = openai.AsyncOpenAI(**options, http_client=http_client)
    return clients[key]


async def close_clients() -> None:
    """Close the async clients of the running event loop (their aiohttp sessions)."""
    clients = _async_clients.pop(asyncio.get_running_loop(), {})
    for client in clients.values():
        await client.close()


# --- Errors -----------------------------------------------------------------------------

# Failures of the transport below the SDK (a dropped connection mid-stream) and of its SSE
# parsing (malformed JSON) are not wrapped by the SDK, so they are caught here as well. A
# 200 that is not JSON (a web page at the base URL) comes back as a str, and JSON of
# another shape as a half-built object: reading them raises AttributeError or TypeError.
_UPSTREAM_FAILURES = (openai.OpenAIError, httpx2.HTTPError, ValueError, AttributeError, TypeError)


def _domain_error(exc: BaseException) -> LLMError:
    """Map an SDK or transport failure to a domain error; log its kind, never its text."""
    status = getattr(exc, "status_code", None)
    logger.warning("model call failed: %s (status %s)", type(exc).__name__, status)
    if isinstance(exc, openai.RateLimitError):
        return LLMRateLimited()
    if isinstance(exc, openai.APITimeoutError):
        return LLMUnavailable("The assistant took too long to answer. Please try again.")
    if isinstance(exc, openai.APIStatusError) and status is not None and status < 500:
        logger.error("the model upstream refused a request (status %s): check settings", status)
        return LLMRejected()
    return LLMUnavailable()


# --- Calls ------------------------------------------------------------------------------


async def stream(
    messages: list[dict[str, str]],
    *,
    model: ModelEntry | None = None,
    options: GenerationOptions | None = None,
) -> AsyncGenerator[TextDelta | StreamEnd, None]:
    """Yield the reply as ``TextDelta`` pieces, then one ``StreamEnd`` naming the model
    that answered, with usage.

    When ``model``'s provider is unavailable (refused, timed out, 5xx after the retries)
    before any text came, its fallback answers instead, if it names one. Closing the
    iterator (or cancelling its task) closes the upstream request.
    """
    model = model or implicit_model()
    started = False
    try:
        async for event in _stream_from(messages, model, options):
            started = True
            yield event
        return
    except LLMUnavailable:
        if started or model.fallback is None:
            raise
    logger.warning("model %s unavailable: its fallback %s answers", model.id, model.fallback.id)
    async for event in _stream_from(messages, model.fallback, options):
        yield event


def _stream_body(messages, model: ModelEntry, options: GenerationOptions | None) -> dict:
    body = {
        "model": model.upstream,
        "messages": messages,
        "temperature": settings.CHATBOT_TEMPERATURE,
        # At most the reply's reserve in the window (and the quota's cap).
        "max_tokens": model.reply_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if options is not None:
        body.update(options.body(reply_tokens=model.reply_tokens))
    return body


async def _stream_from(
    messages: list[dict[str, str]], model: ModelEntry, options: GenerationOptions | None = None
) -> AsyncGenerator[TextDelta | StreamEnd, None]:
    if model.provider is None:
        async for event in _demo_stream(messages):
            yield event
        return
    prompt_tokens = completion_tokens = cached_tokens = finish_reason = None
    try:
        response = await _post_chat(
            _stream_body(messages, model, options), stream=True, provider=model.provider
        )
        async with response:
            async for chunk in response:
                if not isinstance(chunk, dict):
                    raise ValueError("a streamed chunk is not a JSON object")
                usage = chunk.get("usage")
                if isinstance(usage, dict):
                    prompt_tokens = usage.get("prompt_tokens")
                    completion_tokens = usage.get("completion_tokens")
                    details = usage.get("prompt_tokens_details")
                    if isinstance(details, dict):
                        cached_tokens = details.get("cached_tokens")
                for choice in chunk.get("choices") or ():
                    delta = choice.get("delta") or {}
                    if delta.get("content"):
                        yield TextDelta(delta["content"])
                    if choice.get("finish_reason"):
                        finish_reason = str(choice["finish_reason"])
    except _UPSTREAM_FAILURES as exc:
        raise _domain_error(exc) from None
    if finish_reason is None:
        # The upstream closed the stream before saying the reply was over.
        logger.warning("model stream ended without a finish reason")
        raise LLMUnavailable("The reply was interrupted. Please try again.")
    yield StreamEnd(
        model=model.id,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cached_tokens=cached_tokens,
        finish_reason=finish_reason,
    )


async def _post_chat(body: dict, *, stream: bool, provider: ProviderEntry | None = None):
    """POST /chat/completions through the SDK's generic ``post`` (its documented door for
    requests it does not type): the same retries, errors, timeouts and SSE parsing as
    ``chat.completions.create``, without walking every argument through the SDK's type
    transforms (a fifth of the CPU of a plain send) or building a model object per
    streamed chunk; a stream yields each chunk's JSON as it was parsed."""
    return await async_client(provider).post(
        "/chat/completions",
        body=body,
        cast_to=ChatCompletion,
        options={"idempotency_key": _request_key()},
        stream=stream,
        stream_cls=openai.AsyncStream[object],
    )


# Without a key of ours the SDK makes one per POST with uuid4, whose os.urandom releases
# the GIL: the event loop then waits for the database threads to give it back (the OpenAI
# client does not even send the key, having no idempotency header). A process's own random
# prefix and a counter are as unique.
_PROCESS_KEY = uuid.uuid4().hex
_request_numbers = itertools.count()


def _request_key() -> str:
    return f"chatbot-{_PROCESS_KEY}-{next(_request_numbers)}"


def complete(
    messages: list[dict[str, str]],
    *,
    model: ModelEntry | None = None,
    max_tokens: int | None = None,
) -> Completion:
    """A whole reply in one call, from the synchronous client."""
    model = model or implicit_model()
    if model.provider is None:
        return _demo_completion(messages)
    try:
        response = sync_client(model.provider).chat.completions.create(
            **_completion_args(messages, model, max_tokens)
        )
        return _completion_from(response, model)
    except _UPSTREAM_FAILURES as exc:
        raise _domain_error(exc) from None


async def acomplete(
    messages: list[dict[str, str]],
    *,
    model: ModelEntry | None = None,
    max_tokens: int | None = None,
) -> Completion:
    """A whole reply in one call, from the asynchronous client."""
    model = model or implicit_model()
    if model.provider is None:
        return _demo_completion(messages)
    try:
        response = await _post_chat(
            _completion_args(messages, model, max_tokens), stream=False, provider=model.provider
        )
        return _completion_from(response, model)
    except _UPSTREAM_FAILURES as exc:
        raise _domain_error(exc) from None


def _completion_args(messages, model: ModelEntry, max_tokens) -> dict:
    args = {
        "model": model.upstream,
        "messages": messages,
        "temperature": settings.CHATBOT_TEMPERATURE,
    }
    if max_tokens:
        args["max_tokens"] = max_tokens
    return args


def _completion_from(response, model: ModelEntry) -> Completion:
    if not response.choices:
        raise LLMUnavailable()
    usage = response.usage
    return Completion(
        content=response.choices[0].message.content or "",
        model=model.id,
        prompt_tokens=usage.prompt_tokens if usage else None,
        completion_tokens=usage.completion_tokens if usage else None,
    )


async def generate_title(first_message: str, *, model: ModelEntry | None = None) -> str:
    """A short title, from the conversation's model, for one that starts with
    ``first_message``."""
    completion = await acomplete(
        [
            {"role": "system", "content": TITLE_PROMPT},
            {"role": "user", "content": first_message[:2000]},
        ],
        model=model,
        max_tokens=24,
    )
    return completion.content


async def moderate(text: str, *, images: tuple[str, ...] = ()) -> ModerationResult:
    """Ask the moderation endpoint whether ``text``, with ``images`` (data URLs) as image
    parts, breaks the usage policy."""
    if _settings_are_demo():
        return ModerationResult(flagged=False)
    checked: str | list[ModerationMultiModalInputParam] = text
    if images:
        image_parts: list[ModerationMultiModalInputParam] = [
            {"type": "image_url", "image_url": {"url": url}} for url in images
        ]
        checked = [{"type": "text", "text": text}, *image_parts]
    try:
        response = await async_client().moderations.create(
            model=settings.CHATBOT_MODERATION_MODEL, input=checked
        )
        return _moderation_from(response)
    except _UPSTREAM_FAILURES as exc:
        _domain_error(exc)
        raise ModerationUnavailable() from None


def _moderation_from(response) -> ModerationResult:
    if not response.results:
        raise ModerationUnavailable()
    # One result for the whole input (OpenAI's); a server answering per part is read alike.
    hits = set()
    for result in response.results:
        categories = result.categories.model_dump() if result.categories else {}
        hits |= {name for name, hit in categories.items() if hit}
    return ModerationResult(
        flagged=any(result.flagged for result in response.results), categories=sorted(hits)
    )


def list_models(provider: ProviderEntry) -> list[str]:
    """The model names a provider lists (admin's "Test connection"), or an ``LLMError``
    whose detail says what failed, for an administrator."""
    client = sync_client(provider).with_options(max_retries=0)
    where = provider.base_url or "OpenAI"
    try:
        return sorted(model.id for model in client.models.list())
    except openai.APITimeoutError:
        raise LLMUnavailable(
            f"{where} did not answer within CHATBOT_LLM_TIMEOUT "
            f"({settings.CHATBOT_LLM_TIMEOUT:g} s)."
        ) from None
    except openai.APIConnectionError:
        raise LLMUnavailable(f"cannot connect to {where} (refused, or no such host).") from None
    except openai.APIStatusError as exc:
        if exc.status_code in (401, 403):
            raise LLMRejected(
                f"{where} refused the key (status {exc.status_code}): check the variable "
                f"{provider.api_key_env or '(none set)'}."
            ) from None
        if exc.status_code == 404:
            raise LLMRejected(
                f"{where} has no /models (status 404): check the base URL (often ending in /v1)."
            ) from None
        raise LLMUnavailable(f"{where} answered with status {exc.status_code}.") from None
    except _UPSTREAM_FAILURES:
        raise LLMUnavailable(f"{where} did not answer like an OpenAI-compatible server.") from None


# --- Demo backend -----------------------------------------------------------------------

DEMO_NOTICE = (
    "**Demo mode.** No model is configured, so this reply comes from a built-in demo, "
    "not a language model. To chat with a real model, set `OPENAI_API_KEY` (and "
    "`OPENAI_BASE_URL` for any OpenAI-compatible server such as vLLM, Ollama or "
    "llama.cpp, plus `CHATBOT_MODEL`) and restart the app."
)


def _text_of(content: str | list[dict]) -> str:
    """A message's text, also of one in content parts (a message with images)."""
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if part.get("type") == "text")


def _demo_reply(messages: list[dict]) -> str:
    last = next((_text_of(m["content"]) for m in reversed(messages) if m["role"] == "user"), "")
    turns = sum(1 for m in messages if m["role"] == "user")
    excerpt = last if len(last) <= 200 else last[:200] + "…"
    return f"{DEMO_NOTICE}\n\nYou said (message {turns} of this chat): {excerpt}"


def _demo_completion(messages: list[dict[str, str]]) -> Completion:
    if messages and messages[0]["content"] == TITLE_PROMPT:
        words = messages[-1]["content"].split()
        return Completion(content=" ".join(words[:6]), model="demo")
    content = _demo_reply(messages)
    return Completion(content=content, model="demo", completion_tokens=count_tokens(content))


async def _demo_stream(
    messages: list[dict[str, str]],
) -> AsyncGenerator[TextDelta | StreamEnd, None]:
    content = _demo_reply(messages)
    words = content.split(" ")
    for index, word in enumerate(words):
        yield TextDelta(word if index == len(words) - 1 else word + " ")
        await asyncio.sleep(settings.CHATBOT_DEMO_DELAY)
    yield StreamEnd(model="demo", completion_tokens=count_tokens(content))
