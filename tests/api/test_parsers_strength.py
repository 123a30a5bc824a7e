"""``conversations.api.parsers.LimitedJSONParser`` asked directly: the body limit of the
request's path (``BODY_LIMITS_BY_PATH``) or Django's, at and one byte past its edge, how much
of the stream it reads, a path without a limit, the nesting limit's refusal, and what it
hands to DRF's parser (the body, the request's encoding)."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest
from rest_framework.exceptions import ParseError

from conversations.api.errors import PayloadTooLarge
from conversations.api.parsers import LimitedJSONParser

PATH = "/api/limited"


@pytest.fixture(autouse=True)
def limits(settings):
    """Django's limit 10 bytes; ``PATH`` 20 bytes of its own, ``/api/unlimited`` none."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10
    settings.BODY_LIMITS_BY_PATH = {PATH: 20, "/api/unlimited": None}


def body_of(size: int) -> bytes:
    """A JSON string of exactly ``size`` bytes."""
    return b'"' + b"x" * (size - 2) + b'"'


def parse(body: bytes, *, path: str | None = PATH, **context):
    stream = io.BytesIO(body)
    if path is not None:
        context["request"] = SimpleNamespace(path=path)
    parsed = LimitedJSONParser().parse(stream, "application/json", context or None)
    return parsed, stream


def refused_as_too_large(body: bytes, **kwargs) -> tuple[PayloadTooLarge, io.BytesIO]:
    stream = io.BytesIO(body)
    context = {"request": SimpleNamespace(path=kwargs.get("path", PATH))}
    with pytest.raises(PayloadTooLarge) as refusal:
        LimitedJSONParser().parse(stream, "application/json", context)
    return refusal.value, stream


def test_a_body_at_the_paths_limit_is_parsed_whole():
    parsed, stream = parse(body_of(20))

    assert parsed == "x" * 18
    assert stream.tell() == 20


def test_a_body_one_byte_over_the_paths_limit_is_refused_naming_that_limit():
    error, stream = refused_as_too_large(body_of(21) + b" " * 100)

    assert (error.status_code, error.get_codes()) == (413, "too_large")
    assert error.detail == "The request body is larger than the limit of 20 bytes."
    assert stream.tell() == 21  # the limit and one byte read, never the rest


def test_another_path_has_djangos_limit():
    parsed, _ = parse(body_of(10), path="/api/other")
    error, stream = refused_as_too_large(body_of(15), path="/api/other")

    assert parsed == "x" * 8
    assert error.detail == "The request body is larger than the limit of 10 bytes."
    assert stream.tell() == 11


@pytest.mark.parametrize("context", [None, {}, {"request": None}])
def test_without_a_request_djangos_limit_holds(context):
    fits = LimitedJSONParser().parse(io.BytesIO(body_of(10)), None, context)
    with pytest.raises(PayloadTooLarge) as refusal:
        LimitedJSONParser().parse(io.BytesIO(body_of(11)), None, context)

    assert fits == "x" * 8
    assert refusal.value.detail == "The request body is larger than the limit of 10 bytes."


def test_a_path_without_a_limit_reads_the_whole_body():
    parsed, stream = parse(body_of(5000), path="/api/unlimited")

    assert parsed == "x" * 4998
    assert stream.tell() == 5000


def test_json_nested_past_the_limit_is_a_parse_error_saying_so():
    too_deep = b"[" * 65 + b"]" * 65

    with pytest.raises(ParseError) as refusal:
        parse(too_deep, path="/api/unlimited")
    deepest, _ = parse(b"[" * 64 + b"]" * 64, path="/api/unlimited")

    assert refusal.value.detail == "The JSON is nested too deeply: at most 64 levels are allowed."
    assert refusal.value.get_codes() == "too_deep"
    assert refusal.value.__cause__ is None and refusal.value.__suppress_context__
    nested = deepest
    for _ in range(63):
        (nested,) = nested
    assert nested == []


def test_the_body_is_parsed_in_the_requests_encoding():
    parsed, _ = parse('{"name": "é"}'.encode("latin-1"), encoding="latin-1")

    assert parsed == {"name": "é"}


def test_malformed_json_is_still_drfs_parse_error():
    with pytest.raises(ParseError) as refusal:
        parse(b'{"a": ')

    assert refusal.value.detail.startswith("JSON parse error - ")
