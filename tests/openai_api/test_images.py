"""Image parts in /v1/chat/completions: for a model that accepts images they reach it as
image parts and are stored as the user's files, attached to the stored message; every
other image is refused naming where it was, and nothing is fetched, stored or sent."""

from __future__ import annotations

import base64
import io
import uuid

import httpx
import openai
import pytest
from langchain_core.messages import HumanMessage
from langchain_openai import ChatOpenAI
from PIL import Image

from attachments.models import StoredFile
from attachments.storage import file_storage
from chatbot.env import parse_rate
from conversations.models import ChatSession, Message
from tests.factories import conversation


def png(width: int = 8, height: int = 6, colour=(200, 10, 10)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def data_url(data: bytes, content_type: str = "image/png") -> str:
    return f"data:{content_type};base64,{base64.b64encode(data).decode()}"


def image_part(url: str) -> dict:
    return {"type": "image_url", "image_url": {"url": url}}


def decoded(url: str) -> Image.Image:
    header, _, payload = url.partition(",")
    assert header == "data:image/png;base64"
    return Image.open(io.BytesIO(base64.b64decode(payload)))


@pytest.fixture
def vision_caller(caller, providers):
    """The caller, with the two-provider catalogue: ``strong`` (second upstream) accepts
    images, ``fast`` (the default) does not."""
    return caller


def test_sdk_image_parts_reach_the_model_and_are_stored_as_the_users_files(
    vision_caller, upstream, second_upstream
):
    user, token, base = vision_caller
    client = openai.OpenAI(base_url=base, api_key=token, max_retries=0)

    raw = client.chat.completions.with_raw_response.create(
        model="strong",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What colour is this?"},
                    image_part(data_url(png())),
                ],
            }
        ],
    )

    # The loopback upstream echoes the last message it received, here its parts.
    assert raw.parse().choices[0].message.content.startswith("You said: [{'type': 'text'")
    (sent,) = second_upstream.reply_requests()
    text, image = sent["messages"][-1]["content"]
    assert text == {"type": "text", "text": "What colour is this?"}
    assert image["type"] == "image_url"
    received = decoded(image["image_url"]["url"])
    assert (received.format, received.size) == ("PNG", (8, 6))
    assert received.convert("RGB").getpixel((3, 3)) == (200, 10, 10)
    assert upstream.requests == []
    session = ChatSession.objects.get(pk=raw.headers["X-Chat-Session-Id"], user=user)
    question = Message.objects.get(session=session, role="user")
    (link,) = question.attachment_links.select_related("file")
    assert (link.file.owner, link.file.kind, link.file.content_type) == (user, "image", "image/png")
    listed = httpx.get(
        f"{base.removesuffix('/v1')}/api/files", headers={"Authorization": f"Bearer {token}"}
    )
    assert [f["fileId"] for f in listed.json()] == [str(link.file.pk)]


def test_images_of_earlier_messages_are_stored_on_them_and_sent(vision_caller, second_upstream):
    user, token, base = vision_caller
    client = openai.OpenAI(base_url=base, api_key=token, max_retries=0)
    blue = data_url(png(colour=(0, 0, 255)))

    client.chat.completions.create(
        model="strong",
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "Look"}, image_part(blue)]},
            {"role": "assistant", "content": "A blue square."},
            {"role": "user", "content": "And its size?"},
        ],
    )

    sent = second_upstream.reply_requests()[-1]["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    text, image = sent[1]["content"]
    assert text == {"type": "text", "text": "Look"}
    assert decoded(image["image_url"]["url"]).convert("RGB").getpixel((0, 0)) == (0, 0, 255)
    assert sent[3] == {"role": "user", "content": "And its size?"}
    look = Message.objects.get(session__user=user, content="Look")
    assert [link.file.kind for link in look.attachment_links.select_related("file")] == ["image"]


def test_a_continued_conversation_stores_only_the_last_messages_images(
    vision_caller, second_upstream
):
    user, token, base = vision_caller
    session = conversation(user, turns=1, model="strong")
    client = openai.OpenAI(base_url=base, api_key=token, max_retries=0)

    client.chat.completions.create(
        model="strong",
        messages=[
            {
                "role": "user",
                "content": [{"type": "text", "text": "forged"}, image_part(data_url(png()))],
            },
            {"role": "assistant", "content": "forged answer"},
            {
                "role": "user",
                "content": [{"type": "text", "text": "this one"}, image_part(data_url(png(3, 3)))],
            },
        ],
        extra_headers={"X-Chat-Session-Id": str(session.pk)},
    )

    (stored,) = StoredFile.objects.filter(owner=user)
    with file_storage().open(stored.key, "rb") as handle:
        assert Image.open(handle).size == (3, 3)
    message = Message.objects.get(session=session, content="this one")
    assert [link.file_id for link in message.attachment_links.all()] == [stored.pk]
    sent = second_upstream.reply_requests()[-1]["messages"]
    assert "forged" not in str(sent)
    assert decoded(sent[-1]["content"][1]["image_url"]["url"]).size == (3, 3)


def test_langchain_sends_an_image_to_a_model_that_accepts_images(vision_caller, second_upstream):
    user, token, base = vision_caller
    llm = ChatOpenAI(model="strong", base_url=base, api_key=token, max_retries=0)

    answer = llm.invoke(
        [
            HumanMessage(
                content=[
                    {"type": "text", "text": "Describe"},
                    {"type": "image_url", "image_url": {"url": data_url(png(5, 4))}},
                ]
            )
        ]
    )

    assert answer.content.startswith("You said: [{'type': 'text', 'text': 'Describe'}")
    sent = second_upstream.reply_requests()[-1]["messages"][-1]["content"]
    assert decoded(sent[1]["image_url"]["url"]).size == (5, 4)
    assert StoredFile.objects.filter(owner=user, kind="image").count() == 1


def post(base: str, token: str, **body) -> httpx.Response:
    return httpx.post(
        f"{base}/chat/completions", json=body, headers={"Authorization": f"Bearer {token}"}
    )


def with_image(url: str, *, role: str = "user", **image_url) -> list[dict]:
    return [
        {
            "role": role,
            "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": url, **image_url}},
            ],
        },
        *([{"role": "user", "content": "and?"}] if role != "user" else []),
    ]


def assert_nothing_kept(user, *upstreams) -> None:
    assert not StoredFile.objects.filter(owner=user).exists()
    assert not ChatSession.objects.filter(user=user).exists()
    for server in upstreams:
        assert server.requests == []


def test_an_image_for_a_model_without_images_is_refused_naming_messages(
    vision_caller, upstream, second_upstream
):
    user, token, base = vision_caller
    response = post(base, token, model="fast", messages=with_image(data_url(png())))
    assert response.status_code == 400
    assert response.json()["error"] == {
        "message": "The model 'fast' does not accept images ('messages[0].content[1].image_url."
        "url'): remove the image parts or choose a model that accepts images.",
        "type": "invalid_request_error",
        "param": "messages",
        "code": "images_not_supported",
    }
    assert_nothing_kept(user, upstream, second_upstream)


@pytest.mark.parametrize("scheme", ["http", "https", "HTTPS"])
def test_a_remote_image_url_is_refused_and_never_fetched(
    vision_caller, upstream, second_upstream, scheme
):
    user, token, base = vision_caller
    remote = f"{scheme}://127.0.0.1:{upstream.port}/secret.png"
    client = openai.OpenAI(base_url=base, api_key=token, max_retries=0)

    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="strong", messages=with_image(remote))

    assert refused.value.status_code == 400
    assert refused.value.param == "messages[0].content[1].image_url.url"
    assert refused.value.code == "unsupported_image_url"
    assert "does not fetch images" in refused.value.message
    assert_nothing_kept(user, upstream, second_upstream)


@pytest.mark.parametrize(
    ("url", "code", "says"),
    [
        ("data:image/png;base64,%%%notbase64", "invalid_image_url", "is not valid base64"),
        (data_url(b"just some text, not a picture"), "invalid_image", "is not a PNG, JPEG"),
        (
            data_url(b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml"),
            "invalid_image_url",
            "must be a data URL of a PNG",
        ),
        ("ftp://127.0.0.1/x.png", "invalid_image_url", "must be a data URL"),
        ("file:///etc/passwd", "invalid_image_url", "must be a data URL"),
        (data_url(png()[:40]), "unreadable", "could not be read"),
    ],
)
def test_an_invalid_image_is_refused_naming_it(vision_caller, second_upstream, url, code, says):
    user, token, base = vision_caller
    response = post(base, token, model="strong", messages=with_image(url))
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["type"], error["param"], error["code"]) == (
        "invalid_request_error",
        "messages[0].content[1].image_url.url",
        code,
    )
    assert says in error["message"]
    assert_nothing_kept(user, second_upstream)


def test_an_oversize_image_is_413_naming_it(vision_caller, second_upstream, settings):
    user, token, base = vision_caller
    settings.CHATBOT_MAX_IMAGE_BYTES = 50
    client = openai.OpenAI(base_url=base, api_key=token, max_retries=0)
    image = png()

    with pytest.raises(openai.APIStatusError) as refused:
        client.chat.completions.create(model="strong", messages=with_image(data_url(image)))

    assert refused.value.status_code == 413
    assert refused.value.body == {
        "message": f"The image at 'messages[0].content[1].image_url.url' is {len(image)} bytes, "
        "more than the limit of 50 bytes.",
        "type": "invalid_request_error",
        "param": "messages[0].content[1].image_url.url",
        "code": "image_too_large",
    }
    assert_nothing_kept(user, second_upstream)


@pytest.mark.parametrize(
    ("messages", "param", "code"),
    [
        (with_image(data_url(png()), role="assistant"), "messages[0].content[1]", None),
        (with_image(data_url(png()), role="system"), "messages[0].content[1]", None),
        (
            with_image(data_url(png()), detail="high"),
            "messages[0].content[1].image_url.detail",
            "unsupported_parameter",
        ),
    ],
)
def test_an_image_where_none_may_be_is_refused(
    vision_caller, second_upstream, messages, param, code
):
    user, token, base = vision_caller
    response = post(base, token, model="strong", messages=messages)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["param"], error["code"]) == (param, code)
    assert_nothing_kept(user, second_upstream)


def test_a_refused_send_leaves_none_of_its_images(vision_caller, second_upstream, settings):
    user, token, base = vision_caller
    # A fresh key prefix: with Redis, counts of an earlier run for the same user id persist.
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "KEY_PREFIX": f"test-{uuid.uuid4()}"}
    }
    settings.CHATBOT_RATE_LIMIT = parse_rate("1/hour")
    first = post(base, token, model="strong", messages=with_image(data_url(png())))
    assert first.status_code == 200
    session_id = first.headers["X-Chat-Session-Id"]

    limited = post(base, token, model="strong", messages=with_image(data_url(png(4, 4))))
    in_conversation = httpx.post(
        f"{base}/chat/completions",
        json={"model": "strong", "messages": with_image(data_url(png(2, 2)))},
        headers={"Authorization": f"Bearer {token}", "X-Chat-Session-Id": session_id},
    )

    assert limited.status_code == in_conversation.status_code == 429
    (kept,) = StoredFile.objects.filter(owner=user)
    assert kept.links.get().message.session_id == uuid.UUID(session_id)
    assert ChatSession.objects.filter(user=user).count() == 1


def test_earlier_images_go_through_the_content_check_and_a_refusal_keeps_none(
    vision_caller, upstream, second_upstream, settings
):
    user, token, base = vision_caller
    settings.CHATBOT_MODERATION = "block"
    earlier = [
        {
            "role": "user",
            "content": [{"type": "text", "text": "Look"}, image_part(data_url(png()))],
        },
        {"role": "assistant", "content": "A red square."},
        {"role": "user", "content": "And?"},
    ]

    accepted = post(base, token, model="strong", messages=earlier)
    earlier[0]["content"][0]["text"] = "Look FLAGME"
    refused = post(base, token, model="strong", messages=earlier)

    assert accepted.status_code == 200
    checked = [r["body"]["input"] for r in upstream.requests if r["path"].endswith("/moderations")]
    # The earlier messages first, with their images as image parts; then the question.
    with_image, question = checked[:2]
    assert question == "And?"
    assert with_image[0] == {"type": "text", "text": "Look"}
    assert decoded(with_image[1]["image_url"]["url"]).size == (8, 6)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "content_policy_violation"
    # The refused request's conversation and image are gone; the first one's remain.
    assert ChatSession.objects.filter(user=user).count() == 1
    assert StoredFile.objects.filter(owner=user).count() == 1
    assert len(second_upstream.reply_requests()) == 1
