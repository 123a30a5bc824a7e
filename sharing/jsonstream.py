"""Items of a JSON array read one at a time from a file of any size.

A ChatGPT export is one array of conversations, possibly hundreds of MB; this app's export
is an object whose ``conversations`` key holds the array. Only the item being decoded is in
memory (Python's own C decoder does the parsing), so memory follows the largest
conversation, not the file.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from typing import IO

CHUNK_CHARS = 1 << 16
WHITESPACE = " \t\n\r"
# What may follow a whole number at the end of a read and still be part of it.
NUMBER_TAILS = ("", ".", "e", "E", "e+", "e-", "E+", "E-")


class JsonStreamError(ValueError):
    """The file is not the JSON expected; ``offset`` is the character where it went wrong."""

    def __init__(self, problem: str, offset: int) -> None:
        self.problem = problem
        self.offset = offset
        super().__init__(f"{problem} (at character {offset})")


class JsonStream:
    def __init__(self, file: IO[bytes], *, max_item_chars: int) -> None:
        self._file = file
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._decode = json.JSONDecoder().raw_decode
        self._max_item_chars = max_item_chars
        self._buffer = ""
        self._pos = 0
        self._start = 0  # characters of the file before the buffer
        self._eof = False

    @property
    def offset(self) -> int:
        return self._start + self._pos

    def _fill(self, chars: int = CHUNK_CHARS) -> bool:
        """Read more of the file into the buffer; False at the end of the file."""
        if self._eof:
            return False
        raw = self._file.read(chars)
        try:
            text = self._decoder.decode(raw, final=not raw)
        except UnicodeDecodeError:
            raise JsonStreamError("The file is not UTF-8 text", self.offset) from None
        if not raw:
            self._eof = True
        if self._start == 0 and self._pos == 0 and not self._buffer:
            text = text.removeprefix("\ufeff")
        self._start += self._pos
        self._buffer = self._buffer[self._pos :] + text
        self._pos = 0
        return bool(raw)

    def peek(self) -> str:
        """The next character that is not whitespace ('' at the end of the file)."""
        while True:
            while self._pos < len(self._buffer) and self._buffer[self._pos] in WHITESPACE:
                self._pos += 1
            if self._pos < len(self._buffer):
                return self._buffer[self._pos]
            if not self._fill():
                return ""

    def expect(self, char: str, what: str) -> None:
        if self.peek() != char:
            found = self.peek()
            raise JsonStreamError(
                f"Expected {what}, found {found!r}" if found else f"The file ends before {what}",
                self.offset,
            )
        self._pos += 1

    def value(self):
        """The next JSON value, read whole."""
        self.peek()
        while True:
            # Where the buffer starts in the file: a fill moves it (the decoder's positions
            # are in the buffer as it was).
            start = self._start
            try:
                value, end = self._decode(self._buffer, self._pos)
            except json.JSONDecodeError as exc:
                if len(self._buffer) - self._pos > self._max_item_chars:
                    raise JsonStreamError(
                        f"Not valid JSON ({exc.msg}), or one item larger than "
                        f"{self._max_item_chars} characters",
                        start + exc.pos,
                    ) from None
                if not self._fill(max(CHUNK_CHARS, len(self._buffer) - self._pos)):
                    raise JsonStreamError(
                        f"The file is cut short or not valid JSON ({exc.msg})",
                        start + exc.pos,
                    ) from None
                continue
            except RecursionError:
                raise JsonStreamError("The JSON is nested too deeply", self.offset) from None
            # A number or literal at the end of the buffer, or a number followed there only
            # by the start of its fraction or exponent ("1." or "2e-"), may go on in the
            # next chunk.
            if not isinstance(value, dict | list | str) and self._buffer[end:] in NUMBER_TAILS:
                if self._fill():
                    continue
                end -= self._start - start
            self._pos = end
            return value

    def array_items(self) -> Iterator:
        """The items of the array that starts here."""
        self.expect("[", "an array")
        if self.peek() == "]":
            self._pos += 1
            return
        while True:
            yield self.value()
            if self.peek() == ",":
                self._pos += 1
                continue
            self.expect("]", "',' or ']' after an item")
            return

    def object_members(self) -> Iterator[tuple[str, JsonStream]]:
        """The keys of the object that starts here; the caller reads each value from the
        stream (``value()`` or ``array_items()``) before asking for the next key."""
        self.expect("{", "an object")
        if self.peek() == "}":
            self._pos += 1
            return
        while True:
            if self.peek() != '"':
                raise JsonStreamError("Expected a key in quotes", self.offset)
            key = self.value()
            self.expect(":", "':' after a key")
            yield key, self
            if self.peek() == ",":
                self._pos += 1
                continue
            self.expect("}", "',' or '}' after a value")
            return

    def end(self) -> None:
        if self.peek():
            raise JsonStreamError("Unexpected text after the JSON", self.offset)
