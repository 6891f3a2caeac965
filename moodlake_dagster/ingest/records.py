"""What bad input turns into: quarantine records with a reason, never a silent drop."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa

from moodlake_dagster.ingest.privacy import scrub_text
from moodlake_dagster.tables import QUARANTINE

RAW_PREVIEW_CHARS = 2_000


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
    """Yield (value, error, raw) for each element of a JSON array, surviving damage.

    `raw` is the element's text, or None for a problem of the whole file.

    A broken element is reported and skipped up to where it ends (`_element_end`), so one bad
    record (or a truncated tail) does not cost the good records around it, and nothing nested
    in the broken one is read as a record of its own. Text after the array's closing `]` is
    reported as one more bad element.
    """
    decoder = json.JSONDecoder()
    stripped = text.lstrip()
    if not stripped:
        yield None, "empty file", None
        return
    if not stripped.startswith("["):
        yield None, f"not a JSON array: starts with {stripped[:20]!r}, expected '['", None
        return
    pos = len(text) - len(stripped) + 1
    length = len(text)
    while True:
        while pos < length and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= length:
            yield None, "truncated file: the JSON array is not closed", None
            return
        if text[pos] == "]":
            rest = text[pos + 1 :].strip()
            if rest:
                line = text.count("\n", 0, pos) + 1
                yield None, f"text after the end of the JSON array (line {line})", rest
            return
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as err:
            line = text.count("\n", 0, err.pos) + 1
            resume = _element_end(text, pos)
            if resume is None:  # the element never closes: the file was cut off (or is still
                # being written, which the landing sensor waits for)
                yield None, f"truncated record at end of file (line {line})", text[pos:]
                return
            resume = max(resume, pos + 1)  # a stray closing bracket is a bad element itself
            yield None, f"malformed JSON at line {line}: {err.msg}", text[pos:resume]
            pos = resume
            continue
        yield value, None, text[pos:end]
        pos = end


def _element_end(text: str, pos: int) -> int | None:
    """Where the damaged array element starting at `pos` ends: reading resumes there.

    Strings are skipped (a line break ends one: JSON forbids it inside a string, so a lost
    quote costs at most its line) and brackets are counted, so an object nested in the broken
    element is never taken for the next record. The element ends after the bracket that
    closes it; at a `,` or `]` outside it; or at a `{` where an object expects a key (the
    element lost its closing brace, and that `{` starts the next record). None when the text
    ends first.
    """
    stack: list[str] = []
    expect_key = False
    i, length = pos, len(text)
    while i < length:
        char = text[i]
        if char == '"':
            i += 1
            while i < length and text[i] not in '"\n':
                i += 2 if text[i] == "\\" and text[i + 1 : i + 2] != "\n" else 1
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
    return None
