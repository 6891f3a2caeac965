"""Listener profiles from the operator's `profiles*.csv` / `profiles*.json`: Bronze and Silver.

The file sits in the landing folder root (name case-insensitive; JSON is an array of objects)
with the fields account, email, birth_year, country, plan, signup_date; header names match
case-insensitively, surrounding spaces trimmed. The account is the history folder's name, so
`user_id = pseudonymize(account, key)` joins a profile to its plays.

Privacy on ingest (Bronze): the account becomes its pseudonym and the email a masked form
(`a***e@example.org`) and a keyed token; neither clear value is written anywhere, quarantine
raw text included (it is redacted: emails, the file's account names, card numbers and IBANs).
No payment data lands: a column named like one (card, iban, cvv, …) or holding a Luhn-valid
card number or an IBAN in any value is refused whole, and reported, while the good rows land.
account and email are not scanned (neither is written in clear; a numeric account name may
pass a Luhn check). A payment-looking value in a column Bronze keeps (birth_year, country,
plan, signup_date) quarantines that row only: refusing the column would cost every row.
Other unknown columns are not kept (Bronze has no place for them) and are listed in `notes()`.

Record indexes are 0-based positions in the file: the n-th data row of a CSV (header and blank
lines not counted) or the n-th element of a JSON array.

Silver (`conform_profiles`) checks and conforms: upper-case ISO alpha-2 country (plus XK),
lower-case plan, signup date as YYYY-MM-DD or YYYY/MM/DD (year first, so never ambiguous;
day-first or month-first forms are refused), birth year → age band. The age is the age reached
in `as_of`'s year (the file has no birth month), so it may be a year ahead before a birthday.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from moodlake_dagster.ingest.countries import COMMON_MISTAKES, COUNTRY_CODES
from moodlake_dagster.ingest.privacy import pseudonymize
from moodlake_dagster.ingest.records import BadRecord, iter_json_array, safe_raw
from moodlake_dagster.tables import BRONZE_PROFILES, PROFILES

BRONZE_PROFILES_SCHEMA = BRONZE_PROFILES.schema
SILVER_PROFILES_SCHEMA = PROFILES.schema

PROFILE_FIELDS = ("account", "email", "birth_year", "country", "plan", "signup_date")
KEPT_AS_GIVEN = ("birth_year", "country", "plan", "signup_date")
PLANS = ("free", "premium", "family", "student", "duo")
AGE_BANDS = ("under 18", "18-24", "25-34", "35-44", "45-54", "55-64", "65+")
OLDEST_AGE, YOUNGEST_AGE = 110, 13

_FILE_NAME = re.compile(r"^profiles.*\.(csv|json)$", re.IGNORECASE)
_EMAIL_DOMAIN = b"moodlake/email-token\x00"  # keeps a token apart from an account pseudonym
_EMAIL = re.compile(
    r"^[\w.!#$%&'*+/=?^`{|}~-]{1,64}@(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+[^\W\d_]{2,63}$"
)
_EMAIL_ANYWHERE = re.compile(r"[^\s@\"',;:<>()\[\]{}\\]+@[^\s@\"',;:<>()\[\]{}\\]+")
_DIGIT_RUN = re.compile(r"\d(?:[ -]?\d)*")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,4})?)\b")
_WORD = re.compile(r"[\w.+-]+")  # what an account name is made of, as a word in raw text
_SIGNUP = re.compile(r"^\d{4}-\d{2}-\d{2}$|^\d{4}/\d{2}/\d{2}$")
_BIRTH_YEAR = re.compile(r"^\d{4}(?:\.0*)?$")

# Header words (camelCase and punctuation split) that mean payment data, and what they are.
_PAYMENT_WORDS = {
    **dict.fromkeys(
        ("card", "cards", "creditcard", "debitcard", "cardnumber", "cardno", "cc", "ccn", "pan"),
        "card number",
    ),
    **dict.fromkeys(("ccnum", "ccnumber", "cardholder", "maskedpan"), "card number"),
    "iban": "IBAN",
    **dict.fromkeys(("bic", "swift", "swiftcode", "biccode"), "bank code"),
    **dict.fromkeys(("cvv", "cvc", "cvv2", "cvc2", "csc", "securitycode"), "card security code"),
    **dict.fromkeys(("expiry", "expiration", "exp", "expdate", "expirydate"), "card expiry"),
    **dict.fromkeys(("accountnumber", "acctno", "acct", "bankaccount"), "bank account number"),
    **dict.fromkeys(("routing", "routingnumber", "aba"), "routing number"),
    **dict.fromkeys(("sortcode",), "sort code"),
    **dict.fromkeys(
        ("payment", "payments", "paymentmethod", "billing", "paypal", "bank"), "payment details"
    ),
}
# Word pairs, for headers like account_number, sort_code, exp_date, valid_thru.
_PAYMENT_PAIRS = {
    ("account", "number"): "bank account number",
    ("account", "no"): "bank account number",
    ("account", "nr"): "bank account number",
    ("sort", "code"): "sort code",
    ("exp", "date"): "card expiry",
    ("valid", "thru"): "card expiry",
    ("valid", "through"): "card expiry",
    ("security", "code"): "card security code",
}


# ---- email and payment checks --------------------------------------------------------------


def mask_email(email: str | None) -> str | None:
    """`alice@example.org` → `a***e@example.org`: enough to recognise, not to write to.

    A 1-2 character local part keeps only its first character; the domain is kept (lower
    case). None for anything that is not an address.
    """
    if not isinstance(email, str):
        return None
    address = email.strip()
    if not _EMAIL.match(address) or ".." in address:
        return None
    local, domain = address.rsplit("@", 1)
    if local.startswith(".") or local.endswith("."):
        return None
    tail = local[-1] if len(local) > 2 else ""
    return f"{local[0]}***{tail}@{domain.lower()}"


def email_token(email: str, key: bytes) -> str:
    """Keyed token of an address: joins one person's rows without storing the address.

    Case and surrounding spaces do not matter; the domain-separation prefix makes the token of
    a string differ from the pseudonym of the same string under the same key.
    """
    text = email.strip().lower().encode("utf-8", "replace")
    return "e_" + hmac.new(key, _EMAIL_DOMAIN + text, hashlib.sha256).hexdigest()[:16]


def _luhn(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = int(char)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card_numbers(text: str) -> list[str]:
    """Luhn-valid runs of 13-19 digits (single spaces or dashes between them allowed)."""
    found = []
    for match in _DIGIT_RUN.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if 13 <= len(digits) <= 19 and _luhn(digits):
            found.append(match.group())
    return found


def _mod97(iban: str) -> bool:
    moved = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _ibans(text: str) -> list[str]:
    """IBAN-shaped parts of a text: checksum-valid anywhere, or the whole value IBAN-shaped."""
    upper = text.upper()
    found = []
    for match in _IBAN.finditer(upper):
        compact = match.group().replace(" ", "")
        if not 15 <= len(compact) <= 34:
            continue
        if _mod97(compact) or match.group() == upper.strip():
            found.append(text[match.start() : match.end()])
    return found


def payment_value(text: str) -> str | None:
    """What payment data a value holds ("card number", "IBAN"), None when it holds none."""
    if len(text) < 13:  # shorter than any card number or IBAN: most values, skipped cheaply
        return None
    if _card_numbers(text):
        return "card number"
    if _ibans(text):
        return "IBAN"
    return None


def payment_column(name: str) -> str | None:
    """What payment data a column name announces, None for an innocent name."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name.strip())
    words = [w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w]
    joined = "".join(words)
    if joined in _PAYMENT_WORDS:
        return _PAYMENT_WORDS[joined]
    for word in words:
        if word in _PAYMENT_WORDS:
            return _PAYMENT_WORDS[word]
    for pair in zip(words, words[1:], strict=False):
        if pair in _PAYMENT_PAIRS:
            return _PAYMENT_PAIRS[pair]
    return None


# ---- Bronze --------------------------------------------------------------------------------


def discover_profile_files(landing: Path) -> list[Path]:
    """`profiles*.csv` / `profiles*.json` in the landing folder root (any case), sorted."""
    landing = Path(landing)
    if not landing.is_dir():
        return []
    return sorted(
        path
        for path in landing.iterdir()
        if path.is_file() and not path.name.startswith(".") and _FILE_NAME.match(path.name)
    )


@dataclass
class ProfilesBatch:
    """Every profiles file's parse: the landed rows, the quarantined ones, refused columns."""

    table: pa.Table
    bad: list[BadRecord]
    refused_columns: dict[str, list[str]]
    files: list[str] = field(default_factory=list)
    records_in: int = 0
    refusals: list[str] = field(default_factory=list)
    ignored_columns: dict[str, list[str]] = field(default_factory=dict)
    missing_columns: dict[str, list[str]] = field(default_factory=dict)

    def totals(self) -> dict:
        """records_in == records_landed + records_quarantined: nothing passes unaccounted."""
        return {
            "files": len(self.files),
            "records_in": self.records_in,
            "records_landed": self.table.num_rows,
            "records_quarantined": len(self.bad),
            "columns_refused": sum(len(c) for c in self.refused_columns.values()),
        }

    def problems(self) -> list[str]:
        """One message per refused column, naming the file, the column and why."""
        return list(self.refusals)

    def notes(self) -> list[str]:
        """Columns not kept (unknown) or absent (their Silver checks will quarantine rows)."""
        return [
            f"{f}: unknown column {c!r} not kept"
            for f, cs in self.ignored_columns.items()
            for c in cs
        ] + [f"{f}: no column {c!r}" for f, cs in self.missing_columns.items() for c in cs]


@dataclass
class _Record:
    index: int | None
    fields: dict[str, object] | None  # normalized column name -> value as read
    reason: str | None = None
    text: str | None = None  # the element's text when it could not be read as fields


def _text(value: object) -> str | None:
    """A value as Bronze keeps it: text as given (JSON non-text as its JSON)."""
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text.encode("utf-8", "replace").decode("utf-8")  # JSON's lone surrogates → "?"


def _normal(name: object) -> str:
    return str(name).strip().lower()


def _read_csv(text: str) -> tuple[list[str], list[_Record]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, [])
    except csv.Error as err:
        return [], [_Record(None, None, f"unreadable CSV header: {err}")]
    if not header:
        return [], [_Record(None, None, "empty file")]
    names = [_normal(h) for h in header]
    records: list[_Record] = []
    index = 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as err:
            records.append(_Record(index, None, f"unreadable CSV: {err}"))
            index += 1
            continue
        if not fields:
            continue
        values: dict[str, object] = {}
        for name, value in zip(names, fields, strict=False):
            values.setdefault(name, value)
        reason = None
        if len(fields) != len(names):
            word = "more" if len(fields) > len(names) else "fewer"
            reason = f"row has {len(fields)} fields, {word} than the header's {len(names)}"
            if len(fields) > len(names):
                values["(extra fields)"] = fields[len(names) :]
        records.append(_Record(index, values, reason))
        index += 1
    return header, records


def _read_json(text: str) -> tuple[list[str], list[_Record]]:
    header: dict[str, str] = {}
    records: list[_Record] = []
    for index, (value, error, raw) in enumerate(iter_json_array(text)):
        if error:
            records.append(_Record(None if raw is None else index, None, error, raw))
        elif not isinstance(value, dict):
            kind = type(value).__name__
            records.append(_Record(index, None, f"expected a JSON object, got {kind}", raw))
        else:
            fields: dict[str, object] = {}
            for name, item in value.items():
                fields.setdefault(_normal(name), item)
                header.setdefault(_normal(name), str(name))
            records.append(_Record(index, fields))
    return list(header.values()), records


def _email_or_masked(match: re.Match) -> str:
    """A clear address becomes "<email>"; an already masked one (`a***e@…`) stays readable."""
    return match.group() if "***" in match.group() else "<email>"


class _Redactor:
    """Takes clear emails, the file's account names and payment data out of raw text."""

    def __init__(self, accounts: Iterable[str], hidden_keys: Iterable[str]):
        # A set lookup per word: one regex over thousands of names compiles too slowly.
        names = {a for a in accounts if a}
        self.accounts = {a.lower() for a in names if _WORD.fullmatch(a)}
        odd = sorted((a for a in names if not _WORD.fullmatch(a)), key=len, reverse=True)
        self.odd = re.compile("|".join(re.escape(a) for a in odd), re.IGNORECASE) if odd else None
        keys = "|".join(re.escape(k) for k in sorted(set(hidden_keys)))
        # A key's value up to its closing quote, or up to a line end when the quote is lost.
        self.keyed = re.compile(
            rf'("\s*(?:{keys})\s*"\s*:\s*)("[^"\n]*"?|[^,}}\]\s]+)', re.IGNORECASE
        )

    def __call__(self, text: str) -> str:
        text = self.keyed.sub(r'\1"<redacted>"', text)
        text = _EMAIL_ANYWHERE.sub(_email_or_masked, text)
        for found in _card_numbers(text) + _ibans(text):
            text = text.replace(found, "<payment data>")
        if self.odd is not None:
            text = self.odd.sub("<account>", text)
        return _WORD.sub(self._account, text)

    def _account(self, match: re.Match) -> str:
        return "<account>" if match.group().lower() in self.accounts else match.group()


def _no_payment(value: object) -> object:
    """A value, or a placeholder when it looks like payment data (even a shape the text
    patterns of `_Redactor` would miss inside a longer text)."""
    text = _text(value)
    return "<payment data>" if text and payment_value(text) else value


def _raw(record: _Record, redact: _Redactor, refused: set[str], key: bytes) -> str | None:
    """Quarantine text of a bronze-bad record: pseudonym for the account, masked email, no
    refused column, the rest redacted."""
    if record.fields is None:
        if record.text is None:
            return None
        return safe_raw(redact(record.text))
    shown: dict[str, object] = {}
    for name, value in record.fields.items():
        if name in refused:
            continue
        if name == "account":
            text = _text(value)
            shown["user_id"] = pseudonymize(text, key) if text and text.strip() else None
        elif name == "email":
            text = _text(value)
            shown["email_masked"] = mask_email(text) or ("<redacted>" if text else text)
        elif isinstance(value, list) and name == "(extra fields)":
            shown[name] = [_no_payment(item) for item in value]
        else:
            shown[name] = _no_payment(value)
    return safe_raw(redact(json.dumps(shown, ensure_ascii=False, default=str)))


def _parse_file(
    path: Path, source: str, key: bytes, lineage: dict
) -> tuple[list[dict], list[BadRecord], int, dict]:
    """One file → (rows, bad, records_in, column report)."""
    report: dict = {"refused": {}, "ignored": [], "missing": []}
    try:
        text = path.read_bytes().decode("utf-8-sig", errors="replace")
    except OSError as err:
        return [], [BadRecord(source, None, f"unreadable file ({type(err).__name__})")], 1, report
    if not text.strip():
        return [], [BadRecord(source, None, "empty file")], 1, report
    is_json = path.suffix.lower() == ".json"
    header, records = (_read_json if is_json else _read_csv)(text)
    names = {}  # normalized → as written, first spelling wins
    for name in header:
        names.setdefault(_normal(name), str(name).strip())

    refused: dict[str, str] = {}  # normalized column → what it looks like
    for name in names:
        if name not in PROFILE_FIELDS and (kind := payment_column(name)):
            refused[name] = f"looks like payment data ({kind})"
    value_hits: dict[int, tuple[str, str]] = {}  # record position → (column, kind)
    for position, record in enumerate(records):
        for name, value in (record.fields or {}).items():
            if name in refused or name in ("account", "email"):
                continue
            values = value if isinstance(value, list) and name == "(extra fields)" else [value]
            for item in values:
                text_value = _text(item)
                kind = payment_value(text_value) if text_value else None
                if kind is None:
                    continue
                if name in KEPT_AS_GIVEN:
                    value_hits.setdefault(position, (name, kind))
                elif name != "(extra fields)":
                    refused[name] = f"holds payment data in its values ({kind})"
    report["refused"] = {names.get(n, n): why for n, why in refused.items()}
    report["ignored"] = [names[n] for n in names if n not in PROFILE_FIELDS and n not in refused]
    report["missing"] = [f for f in PROFILE_FIELDS if f not in names]

    accounts = [
        t.strip() for r in records if r.fields is not None and (t := _text(r.fields.get("account")))
    ]
    hidden = {"account", "email", *refused, *(names.get(n, n) for n in refused)}
    hidden |= {n for n in names if payment_column(n)}
    redact = _Redactor(accounts, hidden)
    refused_set = set(refused)

    rows, bad = [], []
    for position, record in enumerate(records):
        reason = record.reason
        account = _text((record.fields or {}).get("account"))
        if reason is None and "account" not in names:
            reason = "the file has no 'account' column: no listener to attach the row to"
        elif reason is None and not (account and account.strip()):
            reason = "account is empty"
        elif reason is None and position in value_hits:
            column, kind = value_hits[position]
            reason = (
                f"{column} holds what looks like payment data ({kind}); "
                "row refused, the value never written"
            )
        if reason is not None:
            raw = _raw(record, redact, refused_set, key)
            bad.append(BadRecord(source, record.index, reason, raw))
            continue
        fields = record.fields
        email = _text(fields.get("email"))
        has_email = bool(email and email.strip())
        row = {
            "as_of_date": lineage["as_of_date"],
            "user_id": pseudonymize(account, key),
            "email_masked": mask_email(email) if has_email else None,
            "email_token": email_token(email, key) if has_email else None,
            **{name: _text(fields.get(name)) for name in KEPT_AS_GIVEN},
            "_source_file": source,
            "_record_index": record.index,
            "_ingested_at": lineage["_ingested_at"],
            "_batch_id": lineage["_batch_id"],
        }
        rows.append(row)
    return rows, bad, len(records), report


def _relative(path: Path, landing: Path) -> str:
    try:
        return Path(path).resolve().relative_to(Path(landing).resolve()).as_posix()
    except ValueError:
        return Path(path).name


def parse_profiles(
    files: list[Path],
    *,
    landing: Path,
    key: bytes,
    as_of: dt.date,
    batch_id: str,
    ingested_at: dt.datetime,
) -> ProfilesBatch:
    """Parse profiles files into Bronze rows; every record lands or is quarantined."""
    lineage = {"as_of_date": as_of, "_ingested_at": ingested_at, "_batch_id": batch_id}
    rows: list[dict] = []
    bad: list[BadRecord] = []
    batch = ProfilesBatch(BRONZE_PROFILES_SCHEMA.empty_table(), bad, {})
    for path in files:
        source = _relative(path, landing)
        file_rows, file_bad, records_in, report = _parse_file(Path(path), source, key, lineage)
        rows += file_rows
        bad += file_bad
        batch.files.append(source)
        batch.records_in += records_in
        if report["refused"]:
            batch.refused_columns[source] = sorted(report["refused"])
            batch.refusals += [
                f"{source}: column {name!r} {why}; refused, never written"
                for name, why in sorted(report["refused"].items())
            ]
        if report["ignored"]:
            batch.ignored_columns[source] = report["ignored"]
        if report["missing"] and records_in:
            batch.missing_columns[source] = report["missing"]
    batch.table = pa.Table.from_pylist(rows, schema=BRONZE_PROFILES_SCHEMA)
    return batch


# ---- Silver --------------------------------------------------------------------------------


def _date(text: str) -> dt.date | None:
    if not _SIGNUP.match(text):
        return None
    try:
        return dt.date.fromisoformat(text.replace("/", "-"))
    except ValueError:
        return None


def _value(text: object) -> str:
    return "missing" if text is None or str(text).strip() == "" else repr(str(text)[:100])


def conform_profiles(bronze: pa.Table, *, as_of: dt.date) -> tuple[pa.Table, list[BadRecord]]:
    """Bronze profiles → one checked row per listener, and the rows that fail with why.

    A row failing several checks is quarantined once, with every reason. Of rows sharing a
    user_id the first by (source file, record index) is the only one that can land, even if it
    fails another check: a later file does not silently replace an earlier one.
    """
    df = bronze.to_pandas(types_mapper=None).reset_index(drop=True)
    if len(df):
        df = df.sort_values(["_source_file", "_record_index"], kind="stable").reset_index(drop=True)
    n = len(df)
    reasons: list[list[str]] = [[] for _ in range(n)]

    def flag(mask: np.ndarray, message) -> None:
        for i in np.flatnonzero(mask):
            reasons[i].append(message(i))

    def stripped(column: str) -> pd.Series:
        return df[column].astype("string").str.strip()

    country = stripped("country").str.upper()
    bad_country = ~country.isin(COUNTRY_CODES).fillna(False).to_numpy(bool)

    def country_reason(i: int) -> str:
        value = df["country"].iat[i]
        if _value(value) == "missing":
            return "country missing"
        hint = COMMON_MISTAKES.get(country.iat[i])
        extra = f"; ISO spells it {hint!r}" if hint else ""
        return f"unknown country {_value(value)} (not an ISO 3166-1 alpha-2 code{extra})"

    flag(bad_country, country_reason)

    plan = stripped("plan").str.lower()
    flag(
        ~plan.isin(PLANS).fillna(False).to_numpy(bool),
        lambda i: (
            "plan missing"
            if _value(df["plan"].iat[i]) == "missing"
            else f"unknown plan {_value(df['plan'].iat[i])} (not one of {', '.join(PLANS)})"
        ),
    )

    signup_text = stripped("signup_date")
    parsed = {v: _date(v) for v in signup_text.dropna().unique()}
    signup = signup_text.map(parsed, na_action="ignore")
    no_date = signup.isna().to_numpy(bool)
    flag(
        no_date,
        lambda i: (
            "signup_date missing"
            if _value(df["signup_date"].iat[i]) == "missing"
            else f"signup_date {_value(df['signup_date'].iat[i])} is not a date "
            "(YYYY-MM-DD or YYYY/MM/DD)"
        ),
    )
    future = ~no_date & (signup.where(~no_date, as_of) > as_of).to_numpy(bool)
    flag(future, lambda i: f"signup_date {signup.iat[i].isoformat()} is after {as_of.isoformat()}")

    birth_text = stripped("birth_year")
    birth_ok = birth_text.str.fullmatch(_BIRTH_YEAR.pattern).fillna(False).to_numpy(bool)
    birth = pd.to_numeric(birth_text.where(birth_ok), errors="coerce").to_numpy(float)
    low, high = as_of.year - OLDEST_AGE, as_of.year - YOUNGEST_AGE
    flag(
        ~birth_ok,
        lambda i: (
            "birth_year missing"
            if _value(df["birth_year"].iat[i]) == "missing"
            else f"birth_year {_value(df['birth_year'].iat[i])} is not a year"
        ),
    )
    with np.errstate(invalid="ignore"):
        out_of_range = birth_ok & ((birth < low) | (birth > high))
    flag(out_of_range, lambda i: f"birth_year {int(birth[i])} outside [{low}, {high}]")

    flag(
        df["email_masked"].isna().to_numpy(bool),
        lambda i: (
            "email missing"
            if pd.isna(df["email_token"].iat[i])
            else "email invalid: not a name@domain address (the address is not stored)"
        ),
    )

    duplicate = df["user_id"].duplicated(keep="first").to_numpy(bool)
    first = df.drop_duplicates("user_id").set_index("user_id")
    flag(
        duplicate,
        lambda i: (
            "duplicate account, first seen in "
            f"{first.at[df['user_id'].iat[i], '_source_file']} "
            f"record {first.at[df['user_id'].iat[i], '_record_index']}"
        ),
    )

    good = np.fromiter((not r for r in reasons), dtype=bool, count=n)
    ages = as_of.year - birth
    band_index = np.searchsorted(np.array([18, 25, 35, 45, 55, 65]), ages, side="right")
    table = pa.Table.from_pydict(
        {
            "as_of_date": [as_of] * int(good.sum()),
            "user_id": df["user_id"][good].to_list(),
            "email_masked": df["email_masked"][good].to_list(),
            "email_token": df["email_token"][good].to_list(),
            "age_band": [AGE_BANDS[b] for b in band_index[good]],
            "country": country[good].to_list(),
            "plan": plan[good].to_list(),
            "signup_date": signup[good].to_list(),
            "_source_file": df["_source_file"][good].to_list(),
        },
        schema=SILVER_PROFILES_SCHEMA,
    )
    # Write time and batch are the quarantine row's own columns; a time's "00:00:00" would
    # also read as an IPv6 address to scrub_text.
    failed = np.flatnonzero(~good)
    records = df.iloc[failed].drop(columns=["_ingested_at", "_batch_id"]).to_dict("records")
    bad = [
        BadRecord(
            str(df["_source_file"].iat[i]),
            int(df["_record_index"].iat[i]),
            "; ".join(reasons[i]),
            safe_raw(record),
        )
        for i, record in zip(failed, records, strict=True)
    ]
    return table, bad
