"""Through uvicorn: a /v1 request may carry an image inline past the API's usual body limit,
and every answer Django gives itself under /v1 (too large, no such endpoint) is in OpenAI's
error shape, so OpenAI clients raise their own classes for it."""

from __future__ import annotations

import io
import os

import httpx
import openai
from django.conf import settings
from PIL import Image

from tests.openai_api.test_images import data_url, decoded, image_part


def noise_png(side: int) -> bytes:
    """A PNG that does not compress: its size is about its pixels' (3 bytes each)."""
    buffer = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(buffer, "PNG")
    return buffer.getvalue()


def test_an_image_larger_than_the_apis_body_limit_reaches_the_model(
    caller, providers, upstream, second_upstream
):
    _user, token, base = caller
    image = noise_png(400)
    assert len(data_url(image)) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    client = openai.OpenAI(base_url=base, api_key=token, max_retries=0)

    completion = client.chat.completions.create(
        model="strong",
        messages=[
            {
                "role": "user",
                "content": [{"type": "text", "text": "Hi"}, image_part(data_url(image))],
            }
        ],
    )

    assert completion.choices[0].message.content
    (sent,) = second_upstream.reply_requests()
    assert decoded(sent["messages"][-1]["content"][1]["image_url"]["url"]).size == (400, 400)


def test_a_body_over_the_v1_limit_is_a_413_in_openais_shape(caller, settings):
    _user, token, base = caller
    settings.BODY_LIMITS_BY_PATH = {**settings.BODY_LIMITS_BY_PATH, "/v1/chat/completions": 4096}
    body = b'{"model": "x", "messages": [{"role": "user", "content": "' + b"x" * 4096 + b'"}]}'

    refused = httpx.post(
        f"{base}/chat/completions",
        content=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )

    assert refused.status_code == 413
    assert refused.json() == {
        "error": {
            "message": "The request body is larger than the limit of 4096 bytes.",
            "type": "invalid_request_error",
            "param": None,
            "code": "too_large",
        }
    }


def test_an_unknown_v1_path_is_a_404_in_openais_shape_and_api_paths_keep_theirs(caller):
    _user, token, base = caller
    headers = {"Authorization": f"Bearer {token}"}

    under_v1 = httpx.get(f"{base}/embeddings-nope", headers=headers)
    under_api = httpx.get(base.removesuffix("/v1") + "/api/nope", headers=headers)

    assert under_v1.status_code == under_api.status_code == 404
    assert under_v1.json()["error"]["code"] == "not_found"
    assert under_v1.json()["error"]["type"] == "invalid_request_error"
    assert under_api.json() == {"detail": "There is no such API endpoint.", "code": "not_found"}
