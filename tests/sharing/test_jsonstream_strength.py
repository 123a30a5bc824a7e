"""sharing/jsonstream.py read directly, the cases mutation testing found unchecked: files
read a byte at a time (every value, key, number, literal and character cut across reads),
each error's sentence and exact character offset, the byte-order mark only at the start,
how much of the file is read (only what is needed, in reads that double), and the limit
on one item exactly at and past it."""

from __future__ import annotations

import io
import json

import pytest

from sharing.jsonstream import CHUNK_CHARS, JsonStream, JsonStreamError

# A guard, not a measure: each test takes well under a second, and a mutant that loops
# (a position that never moves) fails here instead of hanging until mutmut's timeout and
# its five-minute recheck.
pytestmark = pytest.mark.timeout(60)


class Trickle(io.RawIOBase):
    """A file that returns at most ``step`` bytes a read, and records each read's size."""

    def __init__(self, data: bytes, step: int = 1) -> None:
        self.data, self.step, self.at = data, step, 0
        self.asked: list[int] = []

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        self.asked.append(size)
        piece = self.data[self.at : self.at + min(size, self.step)]
        self.at += len(piece)
        return piece


DOCUMENT = [
    {"k": "é🚀", "n": 12345, "f": -1.5e3, "t": True, "z": None, "s": 'a\\"b'},
    [],
    {},
    "text",
    987654321,
    False,
    None,
    [1, [2, [3]]],
]


def stream(data: bytes | str, *, step: int = 1, limit: int = 1000) -> JsonStream:
    raw = data.encode() if isinstance(data, str) else data
    return JsonStream(Trickle(raw, step), max_item_chars=limit)


def error_of(call) -> tuple[str, int, str]:
    with pytest.raises(JsonStreamError) as caught:
        call()
    return caught.value.problem, caught.value.offset, str(caught.value)


@pytest.mark.parametrize("step", [1, 2, 3, 7, 1 << 20])
def test_every_item_comes_back_whole_however_the_file_is_cut(step):
    text = " \n\t[ " + " ,\r\n".join(json.dumps(item) for item in DOCUMENT) + " ] \n"

    reader = stream(text, step=step)

    assert list(reader.array_items()) == DOCUMENT
    reader.end()


@pytest.mark.parametrize("step", [1, 1 << 20])
def test_numbers_and_literals_at_a_reads_end_are_read_whole(step):
    for text, expected in [
        ("[123456]", [123456]),
        ("[1.25e2, true, false, null]", [125.0, True, False, None]),
        ("[-0.5]", [-0.5]),
    ]:
        assert list(stream(text, step=step).array_items()) == expected
    # A number alone in the file ends with the file.
    reader = stream("  4096", step=step)
    assert reader.value() == 4096
    reader.end()


def test_object_members_hand_each_key_to_the_caller_to_read_its_value():
    reader = stream('{ "a" : [1, 2], "b": {"c": "d"}, "e": 5 }', step=1)
    seen = []
    for key, value in reader.object_members():
        if key == "a":
            seen.append((key, list(value.array_items())))
        else:
            seen.append((key, value.value()))
    reader.end()

    assert seen == [("a", [1, 2]), ("b", {"c": "d"}), ("e", 5)]
    for text, step in [("{ }", 1), ("[ ]", 1), ("{ }", 1 << 20), ("[ ]", 1 << 20)]:
        reader = stream(text + " 5", step=step)
        assert list(reader.object_members() if text[0] == "{" else reader.array_items()) == []
        assert reader.offset == 3
        assert error_of(reader.end)[:2] == ("Unexpected text after the JSON", 4)


def test_the_byte_order_mark_is_dropped_at_the_start_only():
    data = "\ufeff[" + json.dumps("\ufeffinside") + ', "\ufeff"]'
    for step in (1, 2, 1 << 20):
        reader = stream(data.encode("utf-8"), step=step)
        assert list(reader.array_items()) == ["\ufeffinside", "\ufeff"]
    # Split across reads: the mark arrives in the third read, the buffer still empty.
    assert list(stream("\ufeff[1]".encode(), step=1).array_items()) == [1]
    # Not at the start, a mark is text: here it is not JSON.
    problem, offset, _ = error_of(lambda: list(stream(" \ufeff[1]", step=1).array_items()))
    assert (problem, offset) == ("Expected an array, found '\\ufeff'", 1)


def test_offsets_count_characters_of_the_whole_file_not_of_the_buffer():
    text = '["é🚀", "ü", 1] x'
    for step in (1, 3, 1 << 20):
        reader = stream(text, step=step)
        assert list(reader.array_items()) == ["é🚀", "ü", 1]
        assert reader.offset == 14
        assert error_of(reader.end) == (
            "Unexpected text after the JSON",
            15,
            "Unexpected text after the JSON (at character 15)",
        )


@pytest.mark.parametrize("step", [1, 1 << 20])
@pytest.mark.parametrize(
    ("text", "read", "problem", "offset"),
    [
        ("", "array", "The file ends before an array", 0),
        ("   ", "array", "The file ends before an array", 3),
        ("  {}", "array", "Expected an array, found '{'", 2),
        ("[1 2]", "array", "Expected ',' or ']' after an item, found '2'", 3),
        ("[1,", "array", "The file is cut short or not valid JSON (Expecting value)", 3),
        ("[1", "array", "The file ends before ',' or ']' after an item", 2),
        ("[]", "object", "Expected an object, found '['", 0),
        ('{"a" 1}', "object", "Expected ':' after a key, found '1'", 5),
        ("{1: 2}", "object", "Expected a key in quotes", 1),
        ('{"a": 1,}', "object", "Expected a key in quotes", 8),
        ('{"a": 1 "b": 2}', "object", "Expected ',' or '}' after a value, found '\"'", 8),
        ('{"a": 1', "object", "The file ends before ',' or '}' after a value", 7),
    ],
)
def test_each_structural_error_says_what_was_expected_and_where(text, read, problem, offset, step):
    reader = stream(text, step=step)

    def run():
        if read == "array":
            list(reader.array_items())
        else:
            for _key, value in reader.object_members():
                value.value()

    assert error_of(run) == (problem, offset, f"{problem} (at character {offset})")


@pytest.mark.parametrize("step", [1, 1 << 20])
def test_a_file_cut_short_says_so_with_the_decoders_reason_and_offset(step):
    problem, offset, _ = error_of(lambda: list(stream('[{"a": "bc', step=step).array_items()))
    assert problem == "The file is cut short or not valid JSON (Unterminated string starting at)"
    assert offset == 7


def test_the_offset_of_a_cut_item_is_where_it_is_in_the_file():
    # The offset once counted the characters read before the item twice (reported 230).
    text = json.dumps([{"a": "x" * 100}, {"b": "y" * 100}])[:-10]
    problem, offset, _ = error_of(lambda: list(stream(text, step=1 << 20).array_items()))
    assert (problem, offset) == (
        "The file is cut short or not valid JSON (Unterminated string starting at)",
        text.index('"y'),
    )


def test_a_number_cut_after_its_point_or_exponent_by_a_read_is_read_whole():
    # A number ending a read with "1." or "1e-" was taken as 1, and the rest refused.
    for head, tail in [("[1700000000.", "5]"), ("[2e", "3]"), ("[2E-", "1]"), ("[7.5e+", "2]")]:
        text = head + tail
        reader = JsonStream(Trickle(text.encode(), len(head)), max_item_chars=100)
        assert list(reader.array_items()) == [json.loads(text)[0]]
    # The file ending there: the number, then the stray character refused where it is.
    problem, offset, _ = error_of(lambda: list(stream("[12.", step=1 << 20).array_items()))
    assert (problem, offset) == ("Expected ',' or ']' after an item, found '.'", 3)


def test_an_item_larger_than_the_limit_is_refused_saying_so():
    item = json.dumps("x" * 50)  # 52 characters
    assert list(stream(f"[{item}]", limit=52).array_items()) == ["x" * 50]

    problem, offset, _ = error_of(lambda: list(stream(f"[{item[:-1]}", limit=50).array_items()))
    assert problem == (
        "Not valid JSON (Unterminated string starting at), or one item larger than 50 characters"
    )
    assert offset == 1


def test_an_item_at_exactly_the_limit_still_waits_for_its_end():
    # 60 characters of an unfinished string, the limit 60: the file ends before it does.
    text = "[" + '"' + "y" * 59
    problem, _, _ = error_of(lambda: list(stream(text, step=1 << 20, limit=60).array_items()))
    assert problem.startswith("The file is cut short")
    problem, _, _ = error_of(lambda: list(stream(text, step=1 << 20, limit=59).array_items()))
    assert problem.startswith("Not valid JSON")


def test_only_what_is_needed_is_read():
    items = [{"n": n, "text": "z" * 100} for n in range(3000)]
    data = json.dumps(items).encode()
    assert len(data) > 5 * CHUNK_CHARS
    file = Trickle(data, step=1 << 30)

    first = next(JsonStream(file, max_item_chars=1000).array_items())

    assert first == items[0]
    assert file.asked == [CHUNK_CHARS] and file.at == CHUNK_CHARS


def test_a_long_item_is_read_in_reads_that_double():
    data = json.dumps(["w" * (5 * CHUNK_CHARS)]).encode()
    file = Trickle(data, step=1 << 30)

    (item,) = JsonStream(file, max_item_chars=1 << 30).array_items()

    assert len(item) == 5 * CHUNK_CHARS
    # The first read finds the array; each next one asks for as much as is waiting.
    assert file.asked[:4] == [CHUNK_CHARS, CHUNK_CHARS, 2 * CHUNK_CHARS - 1, 4 * CHUNK_CHARS - 2]


def test_text_that_is_not_utf8_is_refused_at_the_value_that_holds_it():
    assert error_of(lambda: list(stream(b'["ok", "\xff"]', step=1).array_items()))[:2] == (
        "The file is not UTF-8 text",
        7,
    )
    # A character cut by the file's end is not UTF-8 either.
    assert error_of(lambda: list(stream(b'["\xc3', step=1).array_items()))[0] == (
        "The file is not UTF-8 text"
    )
    # Cut across reads, a character is whole.
    assert list(stream('["é"]'.encode(), step=1).array_items()) == ["é"]


def test_json_nested_too_deeply_is_refused():
    problem, offset, _ = error_of(lambda: stream("[" * 100_000 + "]" * 100_000).value())
    assert (problem, offset) == ("The JSON is nested too deeply", 0)


def test_peek_skips_exactly_json_whitespace_and_gives_empty_at_the_end():
    reader = stream(" \t\n\r  x", step=1)
    assert reader.peek() == "x"
    assert reader.offset == 6
    assert stream(" \t\n\r ").peek() == ""
    assert stream("\u00a0[]").peek() == "\u00a0"
    reader = stream("[]")
    list(reader.array_items())
    assert reader.peek() == "" and reader.offset == 2
    reader.end()


def test_an_item_over_the_limit_is_refused_where_the_decoder_stopped():
    text = '[{"a": "' + "x" * 60
    problem, offset, _ = error_of(lambda: list(stream(text, step=1 << 20, limit=50).array_items()))
    assert problem.startswith("Not valid JSON (Unterminated string starting at)")
    assert offset == 7


def test_a_string_or_container_ending_a_read_is_not_read_past():
    for text in ('["abc", 1]', '[{"a": 1}, 2]', "[[1], 2]"):
        head = text[: text.index(",")]
        file = Trickle(text.encode(), step=len(head))
        first = next(JsonStream(file, max_item_chars=100).array_items())
        assert first == json.loads(text)[0]
        assert file.asked == [CHUNK_CHARS]


def test_the_file_is_not_read_again_once_it_has_ended():
    file = Trickle(b"[1]", step=1 << 20)
    reader = JsonStream(file, max_item_chars=100)
    assert list(reader.array_items()) == [1]
    reader.end()
    reads = len(file.asked)

    assert (reader.peek(), reader.peek()) == ("", "")
    assert len(file.asked) == reads == 2
