"""A seeded crowd of listeners over the real catalog: ordinary listeners, churners and
stream-farming rings, for the multi-listener models (segments, churn, farming, top lists).

GENERATED DATA. Ordinary listeners behave as in `generator.py` (favourite genres, day-part
mood targets, sessions, skips far from the moment's mood) plus a per-listener activity level,
breaks of 1-3 weeks, and for about a quarter of them churn: from a churn start day their daily
activity decays exponentially over 2-6 weeks and then stops for good. Farm accounts, in 1-2
rings sharing a small pool of obscure tracks, loop those tracks round the clock in plays just
past the 30 s that count as a stream. The answers (who farms, who churns, from when) come back
separately, so models are scored against them without ever seeing them as features.

Local time is UTC shifted by a fixed offset per country (`COUNTRY_OFFSETS`, no DST). Each
listener has an own random stream (seed, listener number), so the crowd is deterministic and
the work is vectorized per listener: one draw per day part for all of a listener's tracks.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from moodlake_dagster.demo.generator import (
    DAY_PART_MOODS,
    GENERATOR_PLATFORM,
    NOT_AN_EPISODE,
    _load_catalog,
)
from moodlake_dagster.vocabulary import AUDIO_FEATURES

# Fixed UTC offsets in hours (standard time, no DST) and how often each country occurs.
COUNTRY_OFFSETS = {
    "US": -5,
    "GB": 0,
    "DE": 1,
    "SE": 1,
    "FR": 1,
    "ES": 1,
    "BR": -3,
    "MX": -6,
    "JP": 9,
    "AU": 10,
}
COUNTRY_WEIGHTS = {
    "US": 0.24,
    "GB": 0.11,
    "DE": 0.11,
    "SE": 0.08,
    "FR": 0.08,
    "ES": 0.07,
    "BR": 0.11,
    "MX": 0.07,
    "JP": 0.07,
    "AU": 0.06,
}
PLAN_WEIGHTS = {"free": 0.45, "premium": 0.30, "family": 0.10, "student": 0.10, "duo": 0.05}
PROFILE_COLUMNS = ["account", "email", "birth_year", "country", "plan", "signup_date"]
PLAYS_COLUMNS = [
    "user_id",
    "track_id",
    "played_at_utc",
    "play_date",
    "local_date",
    "local_hour",
    "weekday",
    "day_part",
    "ms_played",
    "skipped",
    "completion",
    "artist_name",
    "track_name",
]
TRACKS_COLUMNS = [
    "track_id",
    "artists",
    "track_name",
    "album_name",
    "duration_ms",
    "popularity",
    "genres",
    "primary_artist",
    *AUDIO_FEATURES,
    "key",
    "mode",
    "time_signature",
]
SILVER_PROFILE_COLUMNS = [
    "user_id",
    "email_masked",
    "email_token",
    "age_band",
    "country",
    "plan",
    "signup_date",
]
# Only for the demo's stand-in email token: the real one is keyed by the deployment's secret.
DEMO_TOKEN_KEY = b"moodlake-crowd-demo"
SIGNUP_SPAN_DAYS = 548  # signups start 18 months before `start`
SIGNUP_END_GAP = 60  # ... and end 60 days before the last day
FARM_PLAYS_PER_DAY = (120, 320)
FARM_MS = (30_500, 36_000)
CHURN_SHARE = 0.25
BREAK_SHARE = 0.5  # listeners who take 1-2 breaks of 1-3 weeks
ACTIVITY_BETA = (2.0, 2.0)  # share of days a listener is active
WEEK_SPREAD = 0.2  # log-normal sigma of a week's activity around the listener's level
DAY_MS = 86_400_000
_EPOCH = dt.date(1970, 1, 1)
_PART_NAMES = np.array([part[0] for part in DAY_PART_MOODS])
_PART_FIRST_HOUR = np.array([part[1] for part in DAY_PART_MOODS])


@dataclass
class Crowd:
    """`profiles` is Silver-shaped because the models read that shape (shared frames brief);
    `profile_rows` are the rows the operator ships, which `write_crowd` puts in the landing."""

    plays: pd.DataFrame  # a plays frame; user_id = the account name
    tracks: pd.DataFrame  # a tracks frame from the catalog
    profiles: pd.DataFrame  # a Silver-shaped profiles frame (no clear email, no birth year)
    answers: dict  # seed, farms, churners, churn_start (and churn_end)
    profile_rows: pd.DataFrame | None = field(repr=False, default=None)  # as the operator ships
    _extra: pd.DataFrame | None = field(repr=False, default=None)  # per-play fields files carry


def tracks_frame(catalog: pd.DataFrame) -> pd.DataFrame:
    """One row per track id: the catalog repeats a track under each genre it is listed in."""
    genres = catalog.groupby("track_id", sort=False)["track_genre"].agg(
        lambda values: list(dict.fromkeys(values))
    )
    tracks = catalog.drop_duplicates("track_id").set_index("track_id")
    tracks["genres"] = genres
    tracks = tracks.reset_index()
    tracks["primary_artist"] = tracks["artists"].str.split(";").str[0]
    tracks["popularity"] = tracks["popularity"].astype("Int64")
    tracks["duration_ms"] = tracks["duration_ms"].astype("int64")
    for column in AUDIO_FEATURES:
        tracks[column] = tracks[column].astype(float)
    return tracks[TRACKS_COLUMNS].reset_index(drop=True)


def _age_band(age: np.ndarray) -> np.ndarray:
    edges = np.array([18, 25, 35, 45, 55, 65])
    names = np.array(["under 18", "18-24", "25-34", "35-44", "45-54", "55-64", "65+"])
    return names[np.searchsorted(edges, age, side="right")]


def silver_profiles(rows: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """The operator's rows as Silver keeps them: the email masked and tokenised, the birth
    year reduced to an age band, so the frame models use holds no personal data in clear."""
    masked = rows["email"].str.replace(r"^(.).*@", r"\1***@", regex=True)
    token = [
        "e_" + hmac.new(DEMO_TOKEN_KEY, e.lower().encode(), hashlib.sha256).hexdigest()[:16]
        for e in rows["email"]
    ]
    return pd.DataFrame(
        {
            "user_id": rows["account"],
            "email_masked": masked,
            "email_token": token,
            "age_band": _age_band(as_of.year - rows["birth_year"].to_numpy()),
            "country": rows["country"],
            "plan": rows["plan"],
            "signup_date": rows["signup_date"],
        }
    )[SILVER_PROFILE_COLUMNS]


@dataclass
class _Listener:
    account: str
    number: int
    country: str
    first_day: int  # first day index (from `start`) a play may fall on
    kind: str  # ordinary | churner | farm
    churn_start: int | None = None
    churn_end: int | None = None
    farm_start: int | None = None
    pool: np.ndarray | None = None  # farm: catalog rows of the ring's tracks


@dataclass
class _Catalog:
    ids: np.ndarray
    artists: np.ndarray
    names: np.ndarray
    albums: np.ndarray
    genre_codes: np.ndarray
    n_genres: int
    duration: np.ndarray  # catalog duration (completion)
    play_length: np.ndarray  # what a full play lasts (generator.py: at least 60 s)
    distance: np.ndarray  # (day part, row) distance to the part's mood target
    kernel: np.ndarray  # (day part, row) mood pull


def _catalog_arrays(catalog: pd.DataFrame) -> _Catalog:
    codes, uniques = pd.factorize(catalog["track_genre"])
    valence = catalog["valence"].to_numpy(float)
    energy = catalog["energy"].to_numpy(float)
    distance = np.stack([np.hypot(valence - part[3], energy - part[4]) for part in DAY_PART_MOODS])
    return _Catalog(
        ids=catalog["track_id"].to_numpy(object),
        artists=catalog["artists"].str.split(";").str[0].to_numpy(object),
        names=catalog["track_name"].to_numpy(object),
        albums=catalog["album_name"].to_numpy(object),
        genre_codes=codes,
        n_genres=len(uniques),
        duration=catalog["duration_ms"].to_numpy("int64"),
        play_length=catalog["duration_ms"].clip(lower=60_000).to_numpy("int64"),
        distance=distance,
        kernel=np.exp(-((distance / 0.18) ** 2)),
    )


def _cast(
    catalog: pd.DataFrame,
    rng: np.random.Generator,
    *,
    listeners: int,
    start: dt.date,
    days: int,
    farms: int,
) -> tuple[list[_Listener], pd.DataFrame]:
    """Who is who: profiles, churners and their churn days, farm rings and their pools."""
    countries = rng.choice(list(COUNTRY_WEIGHTS), size=listeners, p=list(COUNTRY_WEIGHTS.values()))
    plans = rng.choice(list(PLAN_WEIGHTS), size=listeners, p=list(PLAN_WEIGHTS.values()))
    ages = np.clip(np.round(rng.normal(31, 11, size=listeners)), 14, 75).astype(int)
    latest = max(days - SIGNUP_END_GAP, -SIGNUP_SPAN_DAYS + 1)
    signup = rng.integers(-SIGNUP_SPAN_DAYS, latest, size=listeners, endpoint=True)
    farm_numbers = np.sort(rng.choice(listeners, size=min(farms, listeners), replace=False) + 1)
    # Rings: 1 for few farms, else 2 of at least 2 accounts; each shares 5-15 unpopular tracks.
    rings = 1 if len(farm_numbers) < 4 else 2
    ring_of = {int(number): k % rings for k, number in enumerate(farm_numbers)}
    unpopular = catalog.index[catalog["popularity"] <= catalog["popularity"].quantile(0.2)]
    unpopular = catalog.loc[unpopular].drop_duplicates("track_id").index.to_numpy()
    pools = [
        rng.choice(unpopular, size=int(rng.integers(5, 16)), replace=False) for _ in range(rings)
    ]
    cast = []
    for number in range(1, listeners + 1):
        index = number - 1
        account = f"crowd-{number:04d}"
        first = max(0, int(signup[index]) + 1)
        person = _Listener(account, number, str(countries[index]), first, "ordinary")
        if number in ring_of:
            person.kind = "farm"
            if plans[index] not in ("free", "premium"):
                plans[index] = "free" if rng.random() < 0.7 else "premium"
            person.farm_start = int(rng.integers(first, max(first + 1, days - 14)))
            person.pool = pools[ring_of[number]]
        elif rng.random() < CHURN_SHARE and first + 21 <= days - 14:
            person.kind = "churner"
            person.churn_start = int(rng.integers(first + 21, days - 14, endpoint=True))
            person.churn_end = person.churn_start + int(rng.integers(14, 43))
        cast.append(person)
    rows = pd.DataFrame(
        {
            "account": [p.account for p in cast],
            "email": [f"{p.account}@example.org" for p in cast],
            "birth_year": start.year - ages,
            "country": countries,
            "plan": plans,
            "signup_date": [start + dt.timedelta(days=int(d)) for d in signup],
        }
    )
    return cast, rows


def _ordinary(
    person: _Listener, cat: _Catalog, rng: np.random.Generator, days: int
) -> dict[str, np.ndarray]:
    """One ordinary listener's plays as arrays (row, local end ms, ms played, ...)."""
    favourites = rng.choice(cat.n_genres, size=min(6, cat.n_genres), replace=False)
    genre_weight = np.where(np.isin(cat.genre_codes, favourites), 25.0, 1.0)
    part_weights = rng.dirichlet(np.ones(len(DAY_PART_MOODS)) * 2)
    activity = rng.beta(ACTIVITY_BETA[0], ACTIVITY_BETA[1])
    sessions_rate = rng.gamma(2.0, 0.5)
    day = np.arange(days)
    # Busy and quiet weeks: a falling week alone does not announce churn.
    week = rng.lognormal(0.0, WEEK_SPREAD, size=days // 7 + 1)
    chance = np.minimum(activity * week[day // 7], 0.95)
    chance[day < person.first_day] = 0.0
    # Breaks of 1-3 weeks; a churner's only come well before the churn starts.
    if rng.random() < BREAK_SHARE:
        last_break = days if person.churn_start is None else person.churn_start - 21
        for _ in range(int(rng.integers(1, 3))):
            length = int(rng.integers(7, 22))
            if last_break - length > person.first_day:
                begin = int(rng.integers(person.first_day, last_break - length))
                chance[begin : begin + length] = 0.0
    # A churner fades: fewer active days and fewer sessions on them, then silence.
    fade = np.ones(days)
    if person.churn_start is not None:
        since = np.maximum(day - person.churn_start, 0)
        fade = np.exp(-since / ((person.churn_end - person.churn_start) / 2.0))
        fade[day >= person.churn_end] = 0.0
    is_active = rng.random(days) < chance * fade
    active = day[is_active]
    per_day = 1 + rng.poisson(sessions_rate * fade[is_active])
    session_day = np.repeat(active, per_day)
    n_sessions = len(session_day)
    part = rng.choice(len(DAY_PART_MOODS), size=n_sessions, p=part_weights)
    session_start = (
        session_day * DAY_MS
        + (_PART_FIRST_HOUR[part] + rng.integers(0, 6, size=n_sessions)) * 3_600_000
        + rng.integers(0, 60, size=n_sessions) * 60_000
    )
    length = rng.integers(4, 19, size=n_sessions)
    shuffle = rng.random(n_sessions) < 0.6
    session = np.repeat(np.arange(n_sessions), length)
    play_part = part[session]
    row = np.empty(len(session), dtype=np.int64)
    for p in range(len(DAY_PART_MOODS)):
        mask = play_part == p
        if mask.any():
            weight = genre_weight * cat.kernel[p]
            row[mask] = rng.choice(len(weight), size=int(mask.sum()), p=weight / weight.sum())
    distance = cat.distance[play_part, row]
    skipped = rng.random(len(row)) < np.minimum(0.85, 0.12 + 1.6 * distance)
    cut_short = rng.integers(3_000, 40_000, size=len(row))
    ms = np.where(skipped, cut_short, cat.play_length[row]).astype(np.int64)
    total = np.cumsum(ms)
    before = np.concatenate([[0], total[np.cumsum(length)[:-1] - 1]]) if n_sessions else total
    end_local = session_start[session] + total - np.repeat(before, length)
    keep = end_local < (session_day[session] + 1) * DAY_MS  # a session ends at midnight
    first_in_session = np.ones(len(session), dtype=bool)
    first_in_session[1:] = session[1:] != session[:-1]
    return {
        "row": row[keep],
        "end_local": end_local[keep],
        "ms": ms[keep],
        "skipped": skipped[keep],
        "shuffle": shuffle[session][keep],
        "first": first_in_session[keep],
    }


def _farm(
    person: _Listener, cat: _Catalog, rng: np.random.Generator, days: int
) -> dict[str, np.ndarray]:
    """A farm account: its ring's pool looped round the clock, every play 30.5-36 s."""
    active = np.arange(person.farm_start, days)
    active = active[rng.random(len(active)) < 0.97]
    per_day = rng.integers(*FARM_PLAYS_PER_DAY, size=len(active), endpoint=True)
    play_day = np.repeat(active, per_day)
    n = len(play_day)
    ends = np.cumsum(per_day)
    position = np.arange(n) - np.repeat(ends - per_day, per_day)
    slot = DAY_MS // np.repeat(per_day, per_day)  # one play per slot: no overlap
    ms = rng.integers(FARM_MS[0], FARM_MS[1], size=n, endpoint=True)
    start = play_day * DAY_MS + position * slot + (rng.random(n) * (slot - ms)).astype(np.int64)
    return {
        "row": rng.choice(person.pool, size=n),
        "end_local": start + ms,
        "ms": ms,
        "skipped": rng.random(n) < 0.02,
        "shuffle": np.zeros(n, dtype=bool),
        "first": np.ones(n, dtype=bool),
    }


def _build(
    catalog_csv: Path, *, listeners: int, start: dt.date, days: int, seed: int, farms: int | None
) -> Crowd:
    catalog = _load_catalog(catalog_csv)
    cat = _catalog_arrays(catalog)
    rng = np.random.default_rng(seed)
    n_farms = max(3, round(0.02 * listeners)) if farms is None else farms
    cast, rows = _cast(catalog, rng, listeners=listeners, start=start, days=days, farms=n_farms)
    parts = []
    for person in cast:
        own = np.random.default_rng([seed, person.number])
        make = _farm if person.kind == "farm" else _ordinary
        arrays = make(person, cat, own, days)
        arrays["listener"] = np.full(len(arrays["row"]), person.number - 1)
        parts.append(arrays)
    merged = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    # Order by listener, then by time: sorting arrays is cheaper than sorting frames.
    start_day = (start - _EPOCH).days
    order = np.lexsort((merged["end_local"], merged["listener"]))
    farm_mask = np.array([p.kind == "farm" for p in cast])[merged["listener"]]
    skipped = merged["skipped"]
    reason_end = np.where(farm_mask, "endplay", np.where(skipped, "fwdbtn", "trackdone"))
    previous_end = np.concatenate([["clickrow"], reason_end[:-1]])
    reason_start = np.where(farm_mask, "endplay", previous_end)
    reason_start = np.where(merged["first"] & ~farm_mask, "clickrow", reason_start)
    merged |= {"reason_start": reason_start, "reason_end": reason_end}
    merged = {key: values[order] for key, values in merged.items()}
    offset_ms = (
        np.array([COUNTRY_OFFSETS[p.country] for p in cast], dtype=np.int64)[merged["listener"]]
        * 3_600_000
    )
    # Files stamp whole seconds: the frame keeps exactly what the files will say. Rounding
    # the end up keeps each play's start on its session's day (start + ms <= stamp).
    end_utc = -(-(start_day * DAY_MS + merged["end_local"] - offset_ms) // 1000) * 1000
    ms = merged["ms"]
    start_utc = end_utc - ms
    start_local = start_utc + offset_ms
    local_day = start_local // DAY_MS
    # Fixed offsets are under a day: UTC days lie within a day of the local ones.
    first_date = start_day - 1
    dates = np.array([start + dt.timedelta(days=d) for d in range(-1, days + 1)], dtype=object)
    local_hour = (start_local % DAY_MS) // 3_600_000
    row = merged["row"]
    accounts = np.array([p.account for p in cast], dtype=object)
    plays = pd.DataFrame(
        {
            "user_id": accounts[merged["listener"]],
            "track_id": cat.ids[row],
            "played_at_utc": pd.to_datetime(end_utc, unit="ms", utc=True).as_unit("us"),
            "play_date": dates[start_utc // DAY_MS - first_date],
            "local_date": dates[local_day - first_date],
            "local_hour": local_hour.astype(np.int64),
            "weekday": ((local_day + 3) % 7 + 1).astype(np.int64),
            "day_part": _PART_NAMES[local_hour // 6],
            "ms_played": ms.astype(np.int64),
            "skipped": merged["skipped"].astype(bool),
            "completion": np.minimum(ms / np.maximum(cat.duration[row], 1), 1.0),
            "artist_name": cat.artists[row],
            "track_name": cat.names[row],
        }
    )
    extra = pd.DataFrame(
        {
            "album_name": cat.albums[row],
            "country": np.array([p.country for p in cast], dtype=object)[merged["listener"]],
            "shuffle": merged["shuffle"],
            "reason_start": merged["reason_start"],
            "reason_end": merged["reason_end"],
        }
    )
    end = start + dt.timedelta(days=days - 1)
    churners = [p for p in cast if p.kind == "churner"]
    answers = {
        "seed": seed,
        "farms": [p.account for p in cast if p.kind == "farm"],
        "churners": [p.account for p in churners],
        "churn_start": {
            p.account: (start + dt.timedelta(days=p.churn_start)).isoformat() for p in churners
        },
        # The day activity stops for good (may lie after the last generated day).
        "churn_end": {
            p.account: (start + dt.timedelta(days=p.churn_end)).isoformat() for p in churners
        },
    }
    return Crowd(
        plays=plays,
        tracks=tracks_frame(catalog),
        profiles=silver_profiles(rows, end),
        answers=answers,
        profile_rows=rows[PROFILE_COLUMNS],
        _extra=extra,
    )


def crowd(
    catalog_csv: Path,
    *,
    listeners: int = 200,
    start: dt.date = dt.date(2025, 1, 1),
    days: int = 180,
    seed: int = 7,
    farms: int | None = None,
) -> Crowd:
    """A crowd as frames, for model tests and benchmarks that need many listeners without
    writing and parsing a million JSON records. `farms` defaults to max(3, 2% of listeners)."""
    return _build(
        Path(catalog_csv), listeners=listeners, start=start, days=days, seed=seed, farms=farms
    )


def _records(plays: pd.DataFrame, extra: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Extended Streaming History records, field for field as generator.py writes them."""
    end = plays["played_at_utc"]
    seconds = end.dt.tz_localize(None).to_numpy().astype("datetime64[s]")
    n = len(plays)
    return pd.DataFrame(
        {
            "ts": np.char.add(np.datetime_as_string(seconds, unit="s"), "Z"),
            "platform": GENERATOR_PLATFORM,
            "ms_played": plays["ms_played"],
            "conn_country": extra["country"],
            "ip_addr": "192.0.2." + pd.Series(rng.integers(1, 255, size=n)).astype(str),
            "master_metadata_track_name": plays["track_name"],
            "master_metadata_album_artist_name": plays["artist_name"],
            "master_metadata_album_album_name": extra["album_name"],
            "spotify_track_uri": "spotify:track:" + plays["track_id"],
            **NOT_AN_EPISODE,
            "reason_start": extra["reason_start"],
            "reason_end": extra["reason_end"],
            "shuffle": extra["shuffle"],
            "skipped": plays["skipped"],
            "offline": False,
            "offline_timestamp": end.astype("int64") // 1_000_000,
            "incognito_mode": False,
        }
    )


def write_crowd(
    catalog_csv: Path,
    landing: Path,
    answers: Path,
    *,
    listeners: int = 200,
    start: dt.date = dt.date(2025, 1, 1),
    days: int = 180,
    seed: int = 7,
    farms: int | None = None,
) -> dict:
    """The same crowd as landing files (one folder per account, the operator's profiles CSV)
    and an answer file kept outside the landing folder, so ingest never reads the answers."""
    landing, answers = Path(landing).resolve(), Path(answers).resolve()
    if answers == landing or landing in answers.parents:
        raise ValueError(f"the answer file {answers} must not be inside the landing {landing}")
    made = crowd(catalog_csv, listeners=listeners, start=start, days=days, seed=seed, farms=farms)
    records = _records(made.plays, made._extra, np.random.default_rng([seed, 0]))
    landing.mkdir(parents=True, exist_ok=True)
    year = made.plays["played_at_utc"].dt.year
    files = 0
    for (account, file_year), chunk in records.groupby([made.plays["user_id"], year], sort=True):
        folder = landing / account
        folder.mkdir(exist_ok=True)
        text = chunk.to_json(orient="records", force_ascii=False)
        (folder / f"Streaming_History_Audio_{file_year}_GENERATED.json").write_text(
            text, encoding="utf-8"
        )
        files += 1
    profiles = made.profile_rows.assign(
        signup_date=made.profile_rows["signup_date"].map(dt.date.isoformat)
    )
    profiles.to_csv(landing / "profiles_GENERATED.csv", index=False)
    (landing / "GENERATED.md").write_text(
        "Every file below this folder was generated by moodlake_dagster/demo/crowd.py "
        f"(seed {seed}, {listeners} listeners, {days} days from {start.isoformat()}) over the "
        "catalog sample. None of it is anyone's real listening; emails are example.org and "
        "IP addresses are from the documentation range 192.0.2.0/24. The answers (farm "
        "accounts, churners) are kept outside this folder.\n"
    )
    answers.parent.mkdir(parents=True, exist_ok=True)
    answers.write_text(json.dumps(made.answers, indent=1))
    return {
        "listeners": listeners,
        "plays": len(made.plays),
        "files": files,
        "farms": len(made.answers["farms"]),
        "churners": len(made.answers["churners"]),
    }
