"""What bad input turns into: quarantine records with a reason, never a silent drop."""

from __future__ import annotations

import codecs
import datetime as dt
import json
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import IO

import pyarrow as pa

from moodlake_dagster.ingest.privacy import scrub_text
from moodlake_dagster.tables import QUARANTINE

RAW_PREVIEW_CHARS = 2_000
# The stream reader's chunk, and the largest element its window holds (a play is < 2 kB).
CHUNK_BYTES = 4 * 2**20
MAX_ELEMENT_CHARS = 16 * 2**20


@dataclass(frozen=True)
class BadRecord:
    """One record that could not land, with enough to find it again in its file.

    `record_index` is the 0-based position in the file (None when the whole file is bad: an
    empty or unclosed file counts as one record in, so nothing passes unaccounted);
    `record_date` is the play day when it could still be read, so range runs can own it.
    """

    source_file: str
    record_index: int | None
    reason: str
    raw: str | None = None
    record_date: dt.date | None = None
    unit: str = "record"

    def message(self) -> str:
        where = (
            f"{self.unit} {self.record_index}" if self.record_index is not None else "whole file"
        )
        return f"{self.source_file}, {where}: {self.reason}"


def safe_raw(value: object) -> str | None:
    """Scrubbed, size-capped raw text for the quarantine table."""
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    # Lone surrogates (from `\\ud800` escapes) become "?": a table column holds only UTF-8.
    return scrub_text(text[:RAW_PREVIEW_CHARS]).encode("utf-8", "replace").decode("utf-8")


def quarantine_table(
    asset: str, bad: list[BadRecord], batch_id: str, ingested_at: dt.datetime
) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "asset": asset,
                "source_file": b.source_file,
                "record_index": b.record_index,
                "record_date": b.record_date,
                "reason": b.reason,
                "raw": b.raw,
                "_batch_id": batch_id,
                "_ingested_at": ingested_at,
            }
            for b in bad
        ],
        schema=QUARANTINE.schema,
    )


def iter_json_array(text: str) -> Iterator[tuple[object | None, str | None, str | None]]:
    """Yield (value, error, raw) for each element of a JSON array held in memory: the reader
    of `iter_json_stream`, given the whole text as one chunk."""
    return _iter_elements(iter((text,)))


def iter_json_stream(
    stream: IO[bytes], chunk_bytes: int = CHUNK_BYTES
) -> Iterator[tuple[object | None, str | None, str | None]]:
    """`iter_json_array` over a binary stream read `chunk_bytes` at a time, so a file larger
    than memory is never held whole: only a window from the current element on is kept.

    Decoded as UTF-8 (a BOM is dropped, bad bytes become U+FFFD) as a whole-file decode is.
    One difference, for the window's sake: an element still open after `MAX_ELEMENT_CHARS`
    is quarantined as too large (a preview kept) instead of being pulled in whole; reading
    resumes where it ends, as after any broken element.
    """
    decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")

    def chunks() -> Iterator[str]:
        while data := stream.read(chunk_bytes):
            if text := decoder.decode(data):
                yield text
        if tail := decoder.decode(b"", final=True):
            yield tail

    return _iter_elements(chunks())


class _Window:
    """The unread text of a stream of chunks, with the line count of the text dropped."""

    def __init__(self, chunks: Iterator[str]) -> None:
        self._chunks = chunks
        self.text = ""
        self.lines_before = 0
        self.exhausted = False

    def more(self, pos: int) -> int:
        """Drop the text before `pos` and append the next chunk; `pos` is then 0."""
        self.lines_before += self.text.count("\n", 0, pos)
        chunk = next(self._chunks, None)
        self.exhausted = chunk is None
        self.text = self.text[pos:] + (chunk or "")
        return 0

    def line(self, pos: int) -> int:
        return self.lines_before + self.text.count("\n", 0, pos) + 1


def _iter_elements(
    chunks: Iterator[str],
) -> Iterator[tuple[object | None, str | None, str | None]]:
    """Yield (value, error, raw) for each element of a JSON array, surviving damage.

    `raw` is the element's text, or None for a problem of the whole file.

    A broken element is reported and skipped up to where it ends (`_element_end`), so one bad
    record (or a truncated tail) does not cost the good records around it, and nothing nested
    in the broken one is read as a record of its own. Text after the array's closing `]` is
    reported as one more bad element. An element is judged only once its end (or the end of
    the text) is in the window, so a chunk boundary never cuts or breaks one.
    """
    decoder = json.JSONDecoder()
    window = _Window(chunks)
    window.more(0)
    while not window.exhausted and len(window.text.lstrip()) < 20:  # enough to name the start
        window.more(0)
    stripped = window.text.lstrip()
    if not stripped:
        yield None, "empty file", None
        return
    if not stripped.startswith("["):
        yield None, f"not a JSON array: starts with {stripped[:20]!r}, expected '['", None
        return
    pos = len(window.text) - len(stripped) + 1
    scan: _ElementScan | None = None  # the end search of a broken element, across chunks
    while True:
        text, length = window.text, len(window.text)
        while pos < length and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= length:
            if window.exhausted:
                yield None, "truncated file: the JSON array is not closed", None
                return
            pos = window.more(pos)
            continue
        if text[pos] == "]":
            yield from _after_array(window, pos)
            return
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as err:
            scan = scan or _ElementScan(pos)
            resume = scan.run(text)
            if not window.exhausted and (resume is None or resume >= length - 1):
                if length - pos > MAX_ELEMENT_CHARS:
                    line = window.line(err.pos)
                    pos = yield from _too_large(window, pos, line, scan, resume)
                    if pos is None:
                        return
                    scan = None
                    continue
                if resume is None:  # go on from where the search stopped
                    scan.shift(pos)
                else:
                    scan = None
                pos = window.more(pos)  # the element may be whole once the next chunk is in
                continue
            scan = None
            line = window.line(err.pos)
            if resume is None:  # the element never closes: the file was cut off (or is still
                # being written, which the landing sensor waits for)
                yield None, f"truncated record at end of file (line {line})", text[pos:]
                return
            resume = max(resume, pos + 1)  # a stray closing bracket is a bad element itself
            yield None, f"malformed JSON at line {line}: {err.msg}", text[pos:resume]
            pos = resume
            continue
        scan = None
        if end >= length and not window.exhausted:  # a number may go on in the next chunk
            pos = window.more(pos)
            continue
        yield value, None, text[pos:end]
        pos = end


def _after_array(window: _Window, pos: int) -> Iterator[tuple[None, str, str]]:
    """Text after the array's closing `]` at `pos`: one more bad element (a capped preview
    when it is longer than an element may be)."""
    line = window.line(pos)
    rest = window.text[pos + 1 :]
    while not window.exhausted:
        window.more(len(window.text))
        if not rest.strip():
            rest = window.text
        elif len(rest) < MAX_ELEMENT_CHARS:
            rest += window.text
        else:
            break
    if rest := rest.strip():
        yield None, f"text after the end of the JSON array (line {line})", rest


def _too_large(
    window: _Window, pos: int, line: int, scan: _ElementScan, resume: int | None
) -> Generator[tuple[None, str, str], None, int | None]:
    """An element still open after `MAX_ELEMENT_CHARS` (at `pos`, its end search so far in
    `scan`): skipped chunk by chunk to its end, a preview kept. Returns where reading
    resumes (None: the text ended inside it)."""
    preview = window.text[pos : pos + RAW_PREVIEW_CHARS]
    while resume is None and not window.exhausted:
        done = scan.i  # all read but a backslash whose escaped character is yet to come
        scan.shift(done)
        window.more(done)
        resume = scan.run(window.text)
    if resume is None:
        yield None, f"truncated record at end of file (line {line})", preview
        return None
    reason = f"record larger than {MAX_ELEMENT_CHARS:,} characters at line {line}: not read"
    yield None, reason, preview
    return max(resume, 1)


def _element_end(text: str, pos: int) -> int | None:
    """Where the damaged array element starting at `pos` ends: reading resumes there.

    Strings are skipped (a line break ends one: JSON forbids it inside a string, so a lost
    quote costs at most its line) and brackets are counted, so an object nested in the broken
    element is never taken for the next record. The element ends after the bracket that
    closes it; at a `,` or `]` outside it; or at a `{` where an object expects a key (the
    element lost its closing brace, and that `{` starts the next record). None when the text
    ends first.
    """
    return _ElementScan(pos).run(text)


class _ElementScan:
    """`_element_end`'s search, resumable: when the text ends first, `run` on a longer text
    (after `shift` by the characters dropped from its front) goes on where it stopped."""

    def __init__(self, pos: int) -> None:
        self.i = pos
        self.stack: list[str] = []
        self.expect_key = False
        self.in_string = False

    def shift(self, dropped: int) -> None:
        self.i -= dropped

    def run(self, text: str) -> int | None:
        stack, expect_key = self.stack, self.expect_key
        i, length = self.i, len(text)
        if self.in_string:
            i = self._string(text, i)
            if i is None:
                return None
            expect_key = False
            i += 1
        while i < length:
            char = text[i]
            if char == '"':
                i = self._string(text, i + 1)
                if i is None:
                    return None
                expect_key = False
            elif char in "{[":
                if char == "{" and expect_key:
                    return i
                stack.append(char)
                expect_key = char == "{"
            elif char in "}]":
                opener = "{" if char == "}" else "["
                if opener not in stack:
                    return i
                while stack.pop() != opener:
                    pass
                if not stack:
                    return i + 1
                expect_key = False
            elif char == ",":
                if not stack:
                    return i
                expect_key = stack[-1] == "{"
            elif not char.isspace():
                expect_key = False
            i += 1
        self.i, self.expect_key = i, expect_key
        return None

    def _string(self, text: str, i: int) -> int | None:
        """The index of the quote or line break that ends the string `i` is in; None (state
        kept) when the text ends first."""
        length = len(text)
        while i < length and text[i] not in '"\n':
            if text[i] != "\\":
                i += 1
            elif i + 1 < length:
                i += 2 if text[i + 1] != "\n" else 1
            else:  # what the backslash escapes is in the next chunk: look again then
                length = i
        if i >= length:
            self.i, self.in_string, self.expect_key = i, True, False
            return None
        self.in_string = False
        return i
