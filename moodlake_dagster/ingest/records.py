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
    return scrub_text(text[:RAW_PREVIEW_CHARS])


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

    A broken element is reported and skipped by resynchronising on the next `{`, so one bad
    record (or a truncated tail) does not cost the good records around it.
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
            return
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as err:
            resume = text.find("{", pos + 1)
            chunk = text[pos : resume if resume != -1 else length]
            at_eof = resume == -1
            line = text.count("\n", 0, err.pos) + 1
            reason = (
                f"truncated record at end of file (line {line})"
                if at_eof
                else f"malformed JSON at line {line}: {err.msg}"
            )
            yield None, reason, chunk
            if at_eof:
                return
            pos = resume
            continue
        yield value, None, text[pos:end]
        pos = end
