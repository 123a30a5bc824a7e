"""A chat completion request, read and checked: every parameter OpenAI defines is either
honoured or refused naming it (never dropped in silence), and every other one is refused."""

from __future__ import annotations

import base64
import binascii
import math
import re
from dataclasses import dataclass, field

from django.conf import settings

from attachments.attaching import MAX_ATTACHMENTS
from attachments.content import image_format
from conversations.llm import GenerationOptions
from conversations.validation import has_bad_characters
from openai_api.errors import OpenAIError, invalid

ROLES = {"system", "developer", "user", "assistant"}
MESSAGES_MAX = 1000
# Earlier turns a client replays may be longer than one typed message (a long answer).
HISTORY_MESSAGE_MAX_CHARS = 100_000
STOP_MAX = 4
STOP_MAX_CHARS = 100
USER_MAX_CHARS = 256
MODEL_MAX_CHARS = 100
# An image part is sent inline; the server never fetches a URL (no requests on a client's
# behalf to hosts it names).
DATA_URL = re.compile(r"data:(image/[a-z0-9.+-]+);base64,(.*)", re.IGNORECASE | re.DOTALL)
IMAGE_TYPES = {"image/png", "image/jpeg", "image/webp", "image/gif"}

# Parameters whose neutral value changes nothing; any other value is refused.
NEUTRAL = {
    "n": (1,),
    "logprobs": (False,),
    "presence_penalty": (0, 0.0),
    "frequency_penalty": (0, 0.0),
    "parallel_tool_calls": (True, False),
    "store": (False,),
    "modalities": (["text"],),
    "response_format": ({"type": "text"},),
}
SUPPORTED = {
    "model",
    "messages",
    "stream",
    "stream_options",
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "user",
}


@dataclass(frozen=True)
class ImagePart:
    """An image of a user message, decoded from its data URL; ``param`` says where it was
    in the request, for the errors that name it."""

    data: bytes
    param: str


@dataclass(frozen=True)
class ChatMessage:
    role: str  # system, user or assistant ("developer" is read as system)
    content: str
    images: tuple[ImagePart, ...] = ()


@dataclass(frozen=True)
class CompletionRequest:
    model: str
    messages: tuple[ChatMessage, ...]
    stream: bool = False
    include_usage: bool = False
    options: GenerationOptions = field(default_factory=GenerationOptions)
    user: str = ""

    @property
    def question(self) -> str:
        """The message answered: the last one (a user message)."""
        return self.messages[-1].content

    @property
    def instructions(self) -> str:
        """The system messages, as a new conversation's instructions."""
        return "\n\n".join(m.content for m in self.messages if m.role == "system")

    @property
    def history(self) -> list[ChatMessage]:
        """The user and assistant messages before the one answered."""
        return [m for m in self.messages[:-1] if m.role != "system"]

    @property
    def images(self) -> list[ImagePart]:
        return [image for message in self.messages for image in message.images]


def read_request(data) -> CompletionRequest:
    """The request body checked, or ``OpenAIError`` naming the parameter."""
    if not isinstance(data, dict):
        raise invalid("The request body must be a JSON object.")
    _refuse_unsupported(data)
    model = read_model(data)
    stream = _boolean(data, "stream")
    include_usage = _stream_options(data.get("stream_options"), stream=stream)
    return CompletionRequest(
        model=model,
        messages=_messages(data.get("messages")),
        stream=stream,
        include_usage=include_usage,
        options=GenerationOptions(
            temperature=_number(data, "temperature", 0, 2),
            top_p=_number(data, "top_p", 0, 1),
            max_tokens=_max_tokens(data),
            stop=_stop(data.get("stop")),
        ),
        user=_user(data.get("user")),
    )


def read_model(data) -> str:
    """The ``model`` a request names (checked against the catalogue by the caller)."""
    if not isinstance(data, dict):
        raise invalid("The request body must be a JSON object.")
    model = data.get("model")
    if model is None:
        raise invalid(
            "You must provide a model parameter.", param="model", code="missing_required_parameter"
        )
    # Any other string is looked up, and one naming no model is a 404 model_not_found, as
    # OpenAI answers (blank ones included: Python's strip() also eats \x1c-\x1f).
    if not isinstance(model, str) or len(model) > MODEL_MAX_CHARS:
        raise invalid(
            f"'model' must be a model's id (a string of at most {MODEL_MAX_CHARS} characters).",
            param="model",
        )
    return model


def _refuse_unsupported(data: dict) -> None:
    for name, value in data.items():
        # null is OpenAI's "not given"; a neutral value asks for nothing we do not do.
        neutral = any(type(value) is type(v) and value == v for v in NEUTRAL.get(name, ()))
        if name in SUPPORTED or value is None or neutral:
            continue
        raise invalid(
            f"The parameter '{name}' is not supported by this server.",
            param=name,
            code="unsupported_parameter",
        )


def _boolean(data: dict, name: str) -> bool:
    value = data.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise invalid(f"'{name}' must be true or false.", param=name)
    return value


def _stream_options(value, *, stream: bool) -> bool:
    if value is None:
        return False
    if not stream:
        raise invalid(
            "'stream_options' is only allowed when 'stream' is true.", param="stream_options"
        )
    if not isinstance(value, dict):
        raise invalid("'stream_options' must be an object.", param="stream_options")
    for name in value:
        if name != "include_usage":
            raise invalid(
                f"The parameter 'stream_options.{name}' is not supported by this server.",
                param=f"stream_options.{name}",
                code="unsupported_parameter",
            )
    return _boolean(value, "include_usage")


def _number(data: dict, name: str, low: float, high: float) -> float | None:
    value = data.get(name)
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        raise invalid(f"'{name}' must be a number from {low} to {high}.", param=name)
    return float(value)


def _max_tokens(data: dict) -> int | None:
    values = {}
    for name in ("max_tokens", "max_completion_tokens"):
        value = data.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise invalid(f"'{name}' must be a whole number of at least 1.", param=name)
        values[name] = value
    if len(set(values.values())) > 1:
        raise invalid(
            "'max_tokens' and 'max_completion_tokens' differ; send one of them.",
            param="max_completion_tokens",
        )
    return next(iter(values.values()), None)


def _stop(value) -> tuple[str, ...]:
    if value is None:
        return ()
    stops = [value] if isinstance(value, str) else value
    if (
        not isinstance(stops, list)
        or len(stops) > STOP_MAX
        or not all(isinstance(s, str) and 1 <= len(s) <= STOP_MAX_CHARS for s in stops)
    ):
        raise invalid(
            f"'stop' must be a string or a list of up to {STOP_MAX} strings "
            f"(each 1 to {STOP_MAX_CHARS} characters).",
            param="stop",
        )
    return tuple(stops)


def _user(value) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > USER_MAX_CHARS or has_bad_characters(value):
        raise invalid(
            f"'user' must be a string of at most {USER_MAX_CHARS} characters.", param="user"
        )
    return value


def _messages(value) -> tuple[ChatMessage, ...]:
    if not isinstance(value, list) or not value:
        raise invalid("'messages' must be a non-empty array.", param="messages")
    if len(value) > MESSAGES_MAX:
        raise invalid(f"'messages' can hold at most {MESSAGES_MAX} messages.", param="messages")
    messages = tuple(_message(item, f"messages[{index}]") for index, item in enumerate(value))
    if messages[-1].role != "user":
        raise invalid(
            "The last message must be the user's message to answer.",
            param=f"messages[{len(messages) - 1}].role",
        )
    return messages


def _message(item, where: str) -> ChatMessage:
    if not isinstance(item, dict):
        raise invalid(f"'{where}' must be an object.", param=where)
    for name in item:
        if name not in ("role", "content"):
            raise invalid(
                f"The parameter '{where}.{name}' is not supported by this server.",
                param=f"{where}.{name}",
                code="unsupported_parameter",
            )
    role = item.get("role")
    if role not in ROLES:
        raise invalid(
            f"'{where}.role' must be one of 'system', 'developer', 'user' or 'assistant'.",
            param=f"{where}.role",
        )
    content, images = _content(item.get("content"), f"{where}.content", role=role)
    limit = HISTORY_MESSAGE_MAX_CHARS if role == "assistant" else settings.CHATBOT_MAX_MESSAGE_CHARS
    if len(content) > limit:
        raise invalid(
            f"'{where}.content' is too long: {len(content)} characters, the limit is {limit}.",
            param=f"{where}.content",
        )
    if has_bad_characters(content):
        raise invalid(
            f"'{where}.content' contains characters that are not allowed.", param=f"{where}.content"
        )
    role = "system" if role == "developer" else role
    return ChatMessage(role=role, content=content, images=images)


def _content(value, where: str, *, role: str) -> tuple[str, tuple[ImagePart, ...]]:
    """A message's text (a string, or text parts joined) and its images (image parts, in
    user messages only)."""
    if isinstance(value, str):
        return value, ()
    if not isinstance(value, list) or not value:
        raise invalid(
            f"'{where}' must be a string or an array of text and image parts.", param=where
        )
    texts: list[str] = []
    images: list[ImagePart] = []
    for index, part in enumerate(value):
        at = f"{where}[{index}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str) and set(part) == {"type", "text"}:
            texts.append(part["text"])
        elif kind == "image_url" and role == "user":
            images.append(_image(part, at))
        elif kind == "image_url":
            raise invalid(f"'{at}' is an image: only user messages may hold images.", param=at)
        elif kind in ("input_audio", "file"):
            raise invalid(
                f"'{at}' is a {kind} part: this server accepts text and images only.",
                param=at,
                code="unsupported_content",
            )
        else:
            raise invalid(
                f'\'{at}\' must be {{"type": "text", "text": ...}} or '
                '{"type": "image_url", "image_url": {"url": "data:image/png;base64,..."}}.',
                param=at,
            )
    if len(images) > MAX_ATTACHMENTS:
        raise invalid(
            f"'{where}' holds {len(images)} images; a message may hold at most {MAX_ATTACHMENTS}.",
            param=where,
        )
    return "\n".join(texts), tuple(images)


def _image(part: dict, at: str) -> ImagePart:
    """An image part's bytes: an inline PNG, JPEG, WebP or GIF within
    ``CHATBOT_MAX_IMAGE_BYTES``; a remote URL is refused, never fetched."""
    image_url = part.get("image_url")
    if set(part) != {"type", "image_url"} or not isinstance(image_url, dict):
        raise invalid(
            f'\'{at}\' must be {{"type": "image_url", "image_url": {{"url": ...}}}}.', param=at
        )
    for name in image_url:
        if name not in ("url", "detail"):
            raise invalid(
                f"The parameter '{at}.image_url.{name}' is not supported by this server.",
                param=f"{at}.image_url.{name}",
                code="unsupported_parameter",
            )
    if image_url.get("detail") not in (None, "auto"):
        raise invalid(
            f"'{at}.image_url.detail' can only be 'auto' on this server.",
            param=f"{at}.image_url.detail",
            code="unsupported_parameter",
        )
    param = f"{at}.image_url.url"
    url = image_url.get("url")
    if not isinstance(url, str):
        raise invalid(f"'{param}' must be a string.", param=param)
    if url[:8].lower().startswith(("http://", "https://")):
        raise invalid(
            f"'{param}' is a remote URL: this server does not fetch images. Send the image "
            "inline as a data URL (data:image/png;base64,...).",
            param=param,
            code="unsupported_image_url",
        )
    found = DATA_URL.fullmatch(url)
    if found is None or found.group(1).lower() not in IMAGE_TYPES:
        raise invalid(
            f"'{param}' must be a data URL of a PNG, JPEG, WebP or GIF image "
            "(data:image/png;base64,...).",
            param=param,
            code="invalid_image_url",
        )
    encoded = found.group(2)
    limit = settings.CHATBOT_MAX_IMAGE_BYTES
    # Refused from the length of its base64, before any decoding.
    size = len(encoded) // 4 * 3 - encoded[-2:].count("=")
    if size > limit:
        raise _too_large(param, size, limit)
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise invalid(
            f"'{param}' is not valid base64.", param=param, code="invalid_image_url"
        ) from None
    if len(data) > limit:
        raise _too_large(param, len(data), limit)
    if image_format(data[:16]) is None:
        raise invalid(
            f"'{param}' is not a PNG, JPEG, WebP or GIF image.", param=param, code="invalid_image"
        )
    return ImagePart(data=data, param=param)


def _too_large(param: str, size: int, limit: int) -> OpenAIError:
    return OpenAIError(
        f"The image at '{param}' is {size} bytes, more than the limit of {limit} bytes.",
        status=413,
        param=param,
        code="image_too_large",
    )
