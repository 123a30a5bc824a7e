"""``openai_api.requests.read_request`` asked directly (no server, no database): every field
read as given, each limit at its edge (the last value allowed passes, the next is refused),
and each refusal exactly as OpenAI's error body carries it (message, type, param, code)."""

from __future__ import annotations

import base64
import math

import pytest

from conversations.llm import GenerationOptions
from openai_api.errors import OpenAIError, error_body
from openai_api.requests import (
    ChatMessage,
    CompletionRequest,
    ImagePart,
    read_model,
    read_request,
)
from tests.attachments.samples import image_bytes

HELLO = [{"role": "user", "content": "hello"}]
PARTS = (
    '\'{at}\' must be {{"type": "text", "text": ...}} or '
    '{{"type": "image_url", "image_url": {{"url": "data:image/png;base64,..."}}}}.'
)


def read(**fields) -> CompletionRequest:
    return read_request({"model": "m", "messages": HELLO, **fields})


def refusal(data) -> dict:
    """The error body of ``data``'s refusal, its status added."""
    with pytest.raises(OpenAIError) as refused:
        read_request(data)
    return {**error_body(refused.value)["error"], "status": refused.value.status}


def refused(**fields) -> dict:
    return refusal({"model": "m", "messages": HELLO, **fields})


def invalid(message, param=None, code=None, status=400) -> dict:
    return {
        "message": message,
        "type": "invalid_request_error",
        "param": param,
        "code": code,
        "status": status,
    }


def unsupported(param: str) -> dict:
    return invalid(
        f"The parameter '{param}' is not supported by this server.", param, "unsupported_parameter"
    )


def data_url(data: bytes, kind: str = "image/png") -> str:
    return f"data:{kind};base64,{base64.b64encode(data).decode()}"


def image_part(url: str, **extra) -> dict:
    return {"type": "image_url", "image_url": {"url": url, **extra}}


def user_parts(*parts) -> list:
    return [{"role": "user", "content": list(parts)}]


AT = "messages[0].content[0]"
URL = f"{AT}.image_url.url"


# --- The whole request ----------------------------------------------------------------------


def test_every_field_is_read_as_given():
    png = image_bytes("PNG")
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": "Use French."},
        {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
        {"role": "assistant", "content": "Bonjour"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Look"},
                image_part(data_url(png), detail="auto"),
                {"type": "text", "text": "closely"},
            ],
        },
    ]

    request = read_request(
        {
            "model": "gpt-x",
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": 0.5,
            "top_p": 1,
            "max_tokens": 5,
            "max_completion_tokens": 5,
            "stop": "END",
            "user": "user-1",
            "n": 1,
            "seed": None,
        }
    )

    image = ImagePart(data=png, param="messages[4].content[1].image_url.url")
    assert request == CompletionRequest(
        model="gpt-x",
        messages=(
            ChatMessage("system", "Be brief."),
            ChatMessage("system", "Use French."),
            ChatMessage("user", "Hi"),
            ChatMessage("assistant", "Bonjour"),
            ChatMessage("user", "Look\nclosely", (image,)),
        ),
        stream=True,
        include_usage=True,
        options=GenerationOptions(temperature=0.5, top_p=1.0, max_tokens=5, stop=("END",)),
        user="user-1",
    )
    assert type(request.options.top_p) is float
    assert request.question == "Look\nclosely"
    assert request.instructions == "Be brief.\n\nUse French."
    assert request.history == [ChatMessage("user", "Hi"), ChatMessage("assistant", "Bonjour")]
    assert request.images == [image]


def test_what_is_not_given_is_off():
    request = read()

    assert request == CompletionRequest(
        model="m", messages=(ChatMessage("user", "hello"),), options=GenerationOptions()
    )
    assert (request.stream, request.include_usage, request.user) == (False, False, "")
    assert (request.instructions, request.history, request.images) == ("", [], [])


@pytest.mark.parametrize("body", [[], "text", None, 3])
def test_a_body_that_is_no_object_is_refused(body):
    assert refusal(body) == invalid("The request body must be a JSON object.")


@pytest.mark.parametrize("body", [[], "text", None, 3])
def test_the_model_read_alone_needs_an_object_too(body):
    # The view reads the model first, to check it before the rest of the request.
    with pytest.raises(OpenAIError) as refused:
        read_model(body)
    assert error_body(refused.value)["error"] == {
        "message": "The request body must be a JSON object.",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    assert read_model({"model": "m"}) == "m"


def test_a_missing_model_is_refused_as_openai_does():
    expected = invalid("You must provide a model parameter.", "model", "missing_required_parameter")
    assert refusal({"messages": HELLO}) == expected
    assert refusal({"model": None, "messages": HELLO}) == expected


@pytest.mark.parametrize("model", [3, ["m"], "m" * 101])
def test_a_model_that_is_no_id_is_refused(model):
    assert refusal({"model": model, "messages": HELLO}) == invalid(
        "'model' must be a model's id (a string of at most 100 characters).", "model"
    )


@pytest.mark.parametrize("model", ["m" * 100, "", " "])
def test_any_string_up_to_100_characters_is_a_model_to_look_up(model):
    assert read_request({"model": model, "messages": HELLO}).model == model


# --- Parameters -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"n": 1},
        {"logprobs": False},
        {"presence_penalty": 0, "frequency_penalty": 0.0},
        {"presence_penalty": 0.0, "frequency_penalty": 0},
        {"parallel_tool_calls": True},
        {"parallel_tool_calls": False},
        {"store": False},
        {"modalities": ["text"]},
        {"response_format": {"type": "text"}},
        {"tools": None, "seed": None, "n": None},
    ],
)
def test_a_neutral_or_null_value_is_accepted(fields):
    assert read(**fields).messages == (ChatMessage("user", "hello"),)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("n", 2),
        ("n", True),
        ("n", 1.0),
        ("logprobs", 0),
        ("logprobs", True),
        ("presence_penalty", 0.5),
        ("presence_penalty", False),
        ("store", True),
        ("modalities", ["text", "audio"]),
        ("response_format", {"type": "json_object"}),
        ("parallel_tool_calls", 1),
        ("seed", 7),
        ("tools", []),
    ],
)
def test_any_other_value_is_refused_naming_the_parameter(name, value):
    assert refused(**{name: value}) == unsupported(name)


@pytest.mark.parametrize("value", ["yes", 1, 0, []])
def test_stream_must_be_a_boolean(value):
    assert refused(stream=value) == invalid("'stream' must be true or false.", "stream")


def test_stream_false_and_null_do_not_stream():
    assert read(stream=False).stream is False
    assert read(stream=None).stream is False


def test_stream_options_need_a_stream_and_hold_include_usage_only():
    only_with_stream = invalid(
        "'stream_options' is only allowed when 'stream' is true.", "stream_options"
    )
    assert refused(stream_options={"include_usage": True}) == only_with_stream
    assert refused(stream=False, stream_options={}) == only_with_stream
    assert refused(stream=True, stream_options="usage") == invalid(
        "'stream_options' must be an object.", "stream_options"
    )
    assert refused(stream=True, stream_options={"include_usage": True, "x": 1}) == unsupported(
        "stream_options.x"
    )
    assert refused(stream=True, stream_options={"include_usage": "yes"}) == invalid(
        "'include_usage' must be true or false.", "include_usage"
    )
    assert read(stream=True, stream_options={}).include_usage is False
    assert read(stream=True, stream_options={"include_usage": False}).include_usage is False
    assert read(stream=True, stream_options=None).include_usage is False
    assert read(stream=False, stream_options=None).include_usage is False


@pytest.mark.parametrize(("name", "high"), [("temperature", 2), ("top_p", 1)])
def test_sampling_numbers_pass_at_their_bounds_and_are_refused_past_them(name, high):
    assert getattr(read(**{name: 0}).options, name) == 0.0
    assert getattr(read(**{name: high}).options, name) == float(high)
    assert getattr(read(**{name: high / 2}).options, name) == high / 2
    for value in (-0.001, high + 0.001, True, "1", math.nan, math.inf, [1]):
        assert refused(**{name: value}) == invalid(
            f"'{name}' must be a number from 0 to {high}.", name
        )


@pytest.mark.parametrize("name", ["max_tokens", "max_completion_tokens"])
def test_a_token_cap_is_a_whole_number_of_at_least_1(name):
    assert read(**{name: 1}).options.max_tokens == 1
    assert read(**{name: 700}).options.max_tokens == 700
    for value in (0, -1, 1.5, 2.0, True, "5"):
        assert refused(**{name: value}) == invalid(
            f"'{name}' must be a whole number of at least 1.", name
        )


def test_both_token_caps_must_agree():
    assert read(max_tokens=9, max_completion_tokens=9).options.max_tokens == 9
    assert read(max_tokens=None, max_completion_tokens=4).options.max_tokens == 4
    assert read().options.max_tokens is None
    assert refused(max_tokens=9, max_completion_tokens=8) == invalid(
        "'max_tokens' and 'max_completion_tokens' differ; send one of them.",
        "max_completion_tokens",
    )


def test_stop_is_a_string_or_up_to_four_of_1_to_100_characters():
    assert read(stop="x" * 100).options.stop == ("x" * 100,)
    assert read(stop=["a", "b", "c", "d"]).options.stop == ("a", "b", "c", "d")
    assert read(stop=[]).options.stop == ()
    assert read(stop=None).options.stop == ()
    message = "'stop' must be a string or a list of up to 4 strings (each 1 to 100 characters)."
    for value in ("", "x" * 101, ["a", "b", "c", "d", "e"], [1], ["a", ""], {"a": 1}, 5):
        assert refused(stop=value) == invalid(message, "stop")


def test_user_is_a_string_of_at_most_256_allowed_characters():
    assert read(user="u" * 256).user == "u" * 256
    assert read(user=None).user == ""
    for value in ("u" * 257, 5, "a\x00b", ["u"]):
        assert refused(user=value) == invalid(
            "'user' must be a string of at most 256 characters.", "user"
        )


# --- Messages -------------------------------------------------------------------------------


@pytest.mark.parametrize("messages", [None, [], "hello", {"role": "user"}])
def test_messages_must_be_a_non_empty_array(messages):
    assert refusal({"model": "m", "messages": messages}) == invalid(
        "'messages' must be a non-empty array.", "messages"
    )


def test_at_most_1000_messages():
    turns = [{"role": "assistant", "content": "a"}] * 999
    assert len(read(messages=[*turns, *HELLO]).messages) == 1000
    assert refused(messages=[*turns, *turns[:1], *HELLO]) == invalid(
        "'messages' can hold at most 1000 messages.", "messages"
    )


@pytest.mark.parametrize("role", ["assistant", "system", "developer"])
def test_the_last_message_must_be_the_users(role):
    assert refused(messages=[*HELLO, {"role": role, "content": "x"}]) == invalid(
        "The last message must be the user's message to answer.", "messages[1].role"
    )


def test_a_message_is_an_object_of_role_and_content_only():
    assert refused(messages=[*HELLO, "hello"]) == invalid(
        "'messages[1]' must be an object.", "messages[1]"
    )
    assert refused(messages=[{"role": "user", "content": "x", "name": "a"}]) == unsupported(
        "messages[0].name"
    )
    for role in ("tool", "function", None, "USER"):
        assert refused(messages=[{"role": role, "content": "x"}]) == invalid(
            "'messages[0].role' must be one of 'system', 'developer', 'user' or 'assistant'.",
            "messages[0].role",
        )


@pytest.mark.parametrize("role", ["user", "system", "developer"])
def test_a_message_passes_at_the_message_limit_and_is_refused_past_it(settings, role):
    settings.CHATBOT_MAX_MESSAGE_CHARS = 10
    messages = [{"role": role, "content": "x" * 10}, *HELLO]

    assert read(messages=messages).messages[0].content == "x" * 10
    messages[0] = {"role": role, "content": "x" * 11}
    assert refused(messages=messages) == invalid(
        "'messages[0].content' is too long: 11 characters, the limit is 10.",
        "messages[0].content",
    )


def test_an_earlier_answer_may_be_longer_up_to_100000_characters(settings):
    settings.CHATBOT_MAX_MESSAGE_CHARS = 10
    answer = {"role": "assistant", "content": "x" * 100_000}

    assert read(messages=[answer, *HELLO]).messages[0].content == "x" * 100_000
    answer["content"] += "x"
    assert refused(messages=[answer, *HELLO]) == invalid(
        "'messages[0].content' is too long: 100001 characters, the limit is 100000.",
        "messages[0].content",
    )


def test_control_characters_are_refused():
    assert refused(messages=[{"role": "user", "content": "a\x00b"}]) == invalid(
        "'messages[0].content' contains characters that are not allowed.",
        "messages[0].content",
    )
    assert refused(
        messages=[{"role": "user", "content": [{"type": "text", "text": "a\x07"}]}]
    ) == invalid(
        "'messages[0].content' contains characters that are not allowed.",
        "messages[0].content",
    )


@pytest.mark.parametrize("content", [None, [], 5, {"type": "text", "text": "x"}])
def test_content_is_a_string_or_a_non_empty_array(content):
    assert refused(messages=[{"role": "user", "content": content}]) == invalid(
        "'messages[0].content' must be a string or an array of text and image parts.",
        "messages[0].content",
    )


@pytest.mark.parametrize(
    "part",
    [
        "text",
        {"type": "text"},
        {"type": "text", "text": 5},
        {"type": "text", "text": "x", "cache_control": {}},
        {"text": "x"},
        {"type": "video", "url": "x"},
    ],
)
def test_a_part_must_be_text_or_an_image(part):
    assert refused(messages=user_parts(part)) == invalid(PARTS.format(at=AT), AT)


@pytest.mark.parametrize("kind", ["input_audio", "file"])
def test_audio_and_file_parts_are_refused_as_such(kind):
    assert refused(messages=user_parts({"type": kind, kind: {}})) == invalid(
        f"'{AT}' is a {kind} part: this server accepts text and images only.",
        AT,
        "unsupported_content",
    )


@pytest.mark.parametrize("role", ["assistant", "system", "developer"])
def test_only_user_messages_hold_images(role):
    part = image_part(data_url(image_bytes("PNG")))
    messages = [{"role": role, "content": [part]}, *HELLO]

    assert refused(messages=messages) == invalid(
        f"'{AT}' is an image: only user messages may hold images.", AT
    )


def test_a_message_holds_at_most_ten_images():
    part = image_part(data_url(image_bytes("PNG")))

    assert len(read(messages=user_parts(*[part] * 10)).images) == 10
    assert refused(messages=user_parts(*[part] * 11)) == invalid(
        "'messages[0].content' holds 11 images; a message may hold at most 10.",
        "messages[0].content",
    )


# --- Images ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image_format", "kind"),
    [("PNG", "image/png"), ("JPEG", "image/JPEG"), ("WEBP", "image/webp"), ("GIF", "image/gif")],
)
def test_an_inline_image_is_decoded(image_format, kind):
    data = image_bytes(image_format)

    request = read(messages=user_parts(image_part(data_url(data, kind), detail=None)))

    assert request.images == [ImagePart(data=data, param=URL)]
    assert request.question == ""


@pytest.mark.parametrize(
    "part",
    [
        {"type": "image_url", "image_url": {"url": "x"}, "detail": "auto"},
        {"type": "image_url", "image_url": "data:image/png;base64,AAAA"},
        {"type": "image_url"},
    ],
)
def test_an_image_part_has_its_shape(part):
    assert refused(messages=user_parts(part)) == invalid(
        f'\'{AT}\' must be {{"type": "image_url", "image_url": {{"url": ...}}}}.', AT
    )


def test_an_image_url_holds_url_and_an_automatic_detail_only():
    url = data_url(image_bytes("PNG"))

    assert refused(messages=user_parts(image_part(url, size=1))) == unsupported(
        f"{AT}.image_url.size"
    )
    for detail in ("high", "low", ""):
        assert refused(messages=user_parts(image_part(url, detail=detail))) == invalid(
            f"'{AT}.image_url.detail' can only be 'auto' on this server.",
            f"{AT}.image_url.detail",
            "unsupported_parameter",
        )
    assert refused(messages=user_parts(image_part(None))) == invalid(
        f"'{URL}' must be a string.", URL
    )


@pytest.mark.parametrize("url", ["http://x/a.png", "HTTPS://x/a.png", "https://"])
def test_a_remote_image_is_refused_never_fetched(url):
    assert refused(messages=user_parts(image_part(url))) == invalid(
        f"'{URL}' is a remote URL: this server does not fetch images. Send the image inline "
        "as a data URL (data:image/png;base64,...).",
        URL,
        "unsupported_image_url",
    )


@pytest.mark.parametrize(
    "url",
    [
        "data:image/svg+xml;base64,PHN2Zz4=",
        "data:image/bmp;base64,Qk0=",
        "data:text/plain;base64,aGk=",
        "data:image/png,rawbytes",
        "ftp://x/a.png",
        " data:image/png;base64,AAAA",
    ],
)
def test_anything_but_a_data_url_of_an_accepted_type_is_refused(url):
    assert refused(messages=user_parts(image_part(url))) == invalid(
        f"'{URL}' must be a data URL of a PNG, JPEG, WebP or GIF image "
        "(data:image/png;base64,...).",
        URL,
        "invalid_image_url",
    )


@pytest.mark.parametrize("encoded", ["iVBO!!!!", "iVBORw0", "AAAA=AAA"])
def test_invalid_base64_is_refused(encoded):
    url = f"data:image/png;base64,{encoded}"
    assert refused(messages=user_parts(image_part(url))) == invalid(
        f"'{URL}' is not valid base64.", URL, "invalid_image_url"
    )


def test_bytes_of_no_accepted_image_are_refused():
    url = data_url(b"BM" + b"\x00" * 30)
    assert refused(messages=user_parts(image_part(url))) == invalid(
        f"'{URL}' is not a PNG, JPEG, WebP or GIF image.", URL, "invalid_image"
    )


def passes_at_its_size_and_is_a_413_a_byte_under(settings, url: str, data: bytes) -> None:
    settings.CHATBOT_MAX_IMAGE_BYTES = len(data)
    assert read(messages=user_parts(image_part(url))).images[0].data == data
    settings.CHATBOT_MAX_IMAGE_BYTES = len(data) - 1
    assert refused(messages=user_parts(image_part(url))) == {
        "message": f"The image at '{URL}' is {len(data)} bytes, more than the limit of "
        f"{len(data) - 1} bytes.",
        "type": "invalid_request_error",
        "param": URL,
        "code": "image_too_large",
        "status": 413,
    }


@pytest.mark.parametrize("padding", [0, 1, 2])
def test_an_image_at_the_byte_limit_passes_and_one_byte_over_is_a_413(settings, padding):
    data = image_bytes("PNG")
    data += b"\x00" * ((padding - len(data)) % 3)  # base64 padded with 0, 1 or 2 "="
    assert base64.b64encode(data).decode().count("=") == (3 - len(data) % 3) % 3
    url = data_url(data)

    passes_at_its_size_and_is_a_413_a_byte_under(settings, url, data)


def test_an_oversize_image_is_refused_from_its_length_before_decoding(settings):
    settings.CHATBOT_MAX_IMAGE_BYTES = 30
    url = "data:image/png;base64," + "!" * 44  # 33 bytes, were it base64

    assert refused(messages=user_parts(image_part(url)))["message"] == (
        f"The image at '{URL}' is 33 bytes, more than the limit of 30 bytes."
    )
    # Only the last two characters can be padding: "=" earlier is no byte less.
    for encoded in ("AA==" * 11, "A" * 41 + "==="):  # 33 bytes less the last two "="
        padded = f"data:image/png;base64,{encoded}"
        assert refused(messages=user_parts(image_part(padded)))["message"] == (
            f"The image at '{URL}' is 31 bytes, more than the limit of 30 bytes."
        )


def test_an_image_past_the_limit_behind_excess_padding_is_a_413_once_decoded(settings):
    data = image_bytes("PNG")
    data += b"\x00" * (-len(data) % 3)  # base64 without padding
    # Python decodes a "=" past the last group away: the length alone says a byte less.
    url = data_url(data) + "="

    passes_at_its_size_and_is_a_413_a_byte_under(settings, url, data)
