"""A seeded generator of listening histories over the real catalog, for the demo and benchmarks.

GENERATED DATA. Users have favourite genres; each day part has a mood target (valence, energy)
that pulls track choice; plays come in sessions; tracks far from the moment's mood are skipped
more often. Output is the Extended Streaming History format, one file per user and year, named
`Streaming_History_Audio_<year>_GENERATED.json` with `"platform": "moodlake-generator"`. IP
addresses are from the documentation range 192.0.2.0/24, so the privacy rules are exercised
without inventing anyone's address.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd

from moodlake_dagster.vocabulary import EPISODE_FIELDS

GENERATOR_PLATFORM = "moodlake-generator"
# A music play's empty podcast and audiobook fields, as Spotify writes them.
NOT_AN_EPISODE = dict.fromkeys(EPISODE_FIELDS)
# (name, first hour, last hour, valence target, energy target)
DAY_PART_MOODS = (
    ("night", 0, 5, 0.30, 0.30),
    ("morning", 6, 11, 0.60, 0.65),
    ("afternoon", 12, 17, 0.55, 0.70),
    ("evening", 18, 23, 0.40, 0.45),
)


def _load_catalog(catalog_csv: Path) -> pd.DataFrame:
    catalog = pd.read_csv(catalog_csv)
    catalog = catalog.dropna(subset=["track_id", "artists", "track_name"])
    return catalog.reset_index(drop=True)


def _user_plays(
    catalog: pd.DataFrame, rng: np.random.Generator, start: dt.date, days: int
) -> list[dict]:
    genres = catalog["track_genre"].unique()
    favourites = rng.choice(genres, size=6, replace=False)
    genre_weight = np.where(catalog["track_genre"].isin(favourites), 25.0, 1.0)
    # Some people are evening listeners, some are up early: per-user day-part habits.
    part_weights = rng.dirichlet(np.ones(len(DAY_PART_MOODS)) * 2)
    valence = catalog["valence"].to_numpy()
    energy = catalog["energy"].to_numpy()
    duration = catalog["duration_ms"].clip(lower=60_000).to_numpy()
    names, albums, ids = (catalog[c].tolist() for c in ("track_name", "album_name", "track_id"))
    artists = [a.split(";")[0] for a in catalog["artists"]]
    plays: list[dict] = []
    for offset in range(days):
        day = start + dt.timedelta(days=offset)
        for _ in range(rng.poisson(2.2)):
            part = rng.choice(len(DAY_PART_MOODS), p=part_weights)
            _, first, last, v_target, e_target = DAY_PART_MOODS[part]
            distance = np.hypot(valence - v_target, energy - e_target)
            weight = genre_weight * np.exp(-((distance / 0.18) ** 2))
            weight /= weight.sum()
            clock = dt.datetime.combine(day, dt.time(rng.integers(first, last + 1)), dt.UTC)
            clock += dt.timedelta(minutes=int(rng.integers(0, 60)))
            shuffle = bool(rng.random() < 0.6)
            reason_start = "clickrow"
            for index in rng.choice(len(catalog), size=int(rng.integers(4, 18)), p=weight):
                skip_p = min(0.85, 0.12 + 1.6 * distance[index])
                skipped = bool(rng.random() < skip_p)
                ms = int(rng.integers(3_000, 40_000)) if skipped else int(duration[index])
                clock += dt.timedelta(milliseconds=ms)
                if clock.date() != day:
                    break
                plays.append(
                    {
                        "ts": clock.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "platform": GENERATOR_PLATFORM,
                        "ms_played": ms,
                        "conn_country": "ZZ",
                        "ip_addr": f"192.0.2.{int(rng.integers(1, 255))}",
                        "master_metadata_track_name": names[index],
                        "master_metadata_album_artist_name": artists[index],
                        "master_metadata_album_album_name": albums[index],
                        "spotify_track_uri": f"spotify:track:{ids[index]}",
                        **NOT_AN_EPISODE,
                        "reason_start": reason_start,
                        "reason_end": "fwdbtn" if skipped else "trackdone",
                        "shuffle": shuffle,
                        "skipped": skipped,
                        "offline": False,
                        "offline_timestamp": int(clock.timestamp()),
                        "incognito_mode": False,
                    }
                )
                reason_start = "fwdbtn" if skipped else "trackdone"
    return plays


def generate_plays(
    catalog_csv: Path,
    *,
    users: int,
    start: dt.date = dt.date(2025, 1, 1),
    days: int = 365,
    seed: int = 20251,
) -> pd.DataFrame:
    """The same listeners as plain rows (user, track, time, skipped), for model benchmarks
    that need a large crowd without writing and parsing a million JSON records."""
    catalog = _load_catalog(catalog_csv)
    rng = np.random.default_rng(seed)
    frames = []
    for number in range(1, users + 1):
        plays = pd.DataFrame(_user_plays(catalog, rng, start, days))
        frames.append(
            pd.DataFrame(
                {
                    "user_id": f"demo-listener-{number}",
                    "track_id": plays["spotify_track_uri"].str.removeprefix("spotify:track:"),
                    "played_at_utc": pd.to_datetime(plays["ts"], utc=True),
                    "skipped": plays["skipped"].astype(bool),
                    "source_format": "extended",
                }
            )
        )
    frame = pd.concat(frames, ignore_index=True)
    frame["play_date"] = frame["played_at_utc"].dt.date
    return frame


def generate_history(
    catalog_csv: Path,
    out_dir: Path,
    *,
    users: int = 2,
    start: dt.date = dt.date(2025, 1, 1),
    days: int = 365,
    seed: int = 20251,
) -> list[Path]:
    """Write generated histories to `out_dir/<user>/`; returns the files written."""
    catalog = _load_catalog(catalog_csv)
    rng = np.random.default_rng(seed)
    written = []
    for number in range(1, users + 1):
        plays = _user_plays(catalog, rng, start, days)
        folder = out_dir / f"demo-listener-{number}"
        folder.mkdir(parents=True, exist_ok=True)
        for year in sorted({p["ts"][:4] for p in plays}):
            path = folder / f"Streaming_History_Audio_{year}_GENERATED.json"
            path.write_text(json.dumps([p for p in plays if p["ts"].startswith(year)], indent=1))
            written.append(path)
    (out_dir / "GENERATED.md").write_text(
        "Every file below this folder was generated by moodlake_dagster/demo/generator.py "
        f"(seed {seed}) over the catalog sample. None of it is anyone's real listening.\n"
    )
    return written


def account_data_records(plays: list[dict]) -> list[dict]:
    """Generated Extended plays as an account-data export holds them: end minute, names, ms
    played — no ids, no shuffle, no start or end reason, no country."""
    return [
        {
            "endTime": p["ts"][:16].replace("T", " "),
            "artistName": p["master_metadata_album_artist_name"],
            "trackName": p["master_metadata_track_name"],
            "msPlayed": p["ms_played"],
        }
        for p in plays
    ]


def write_account_data_export(
    catalog_csv: Path,
    folder: Path,
    *,
    start: dt.date = dt.date(2025, 1, 1),
    days: int = 120,
    seed: int = 20251,
    per_file: int = 10_000,
) -> dict[str, int]:
    """A whole generated account-data export in `folder`, as Spotify ships one since 2024:
    `StreamingHistory_music_<N>.json`, `StreamingHistory_podcast_0.json`,
    `StreamingHistory_audiobook_0.json` and files that are not listening history. Returns
    the record count of each history file written."""
    catalog = _load_catalog(catalog_csv)
    rng = np.random.default_rng(seed)
    music = account_data_records(_user_plays(catalog, rng, start, days))
    folder.mkdir(parents=True, exist_ok=True)
    counts = {}
    for number, first in enumerate(range(0, len(music), per_file)):
        name = f"StreamingHistory_music_{number}.json"
        (folder / name).write_text(json.dumps(music[first : first + per_file], indent=1))
        counts[name] = len(music[first : first + per_file])
    day = dt.datetime.combine(start, dt.time(20), dt.UTC)
    podcast = [
        {
            "endTime": (day + dt.timedelta(days=i)).strftime("%Y-%m-%d %H:%M"),
            "podcastName": "Generated Show",
            "episodeName": f"Episode {i}",
            "msPlayed": 1_200_000,
        }
        for i in range(7)
    ]
    audiobook = [
        {
            "endTime": (day + dt.timedelta(days=i, hours=2)).strftime("%Y-%m-%d %H:%M"),
            "audiobookName": "A Generated Novel",
            "chapterName": f"Chapter {i + 1}",
            "authorName": "G. Enerated",
            "msPlayed": 900_000,
        }
        for i in range(3)
    ]
    for name, records in (
        ("StreamingHistory_podcast_0.json", podcast),
        ("StreamingHistory_audiobook_0.json", audiobook),
    ):
        (folder / name).write_text(json.dumps(records, indent=1))
        counts[name] = len(records)
    (folder / "YourLibrary.json").write_text(json.dumps({"tracks": []}))
    (folder / "Marquee.json").write_text("[]")
    (folder / "Read_Me_First_GENERATED.txt").write_text("Generated by MoodLake; nobody's data.\n")
    return counts


def video_records(plays: list[dict], every: int = 5) -> list[dict]:
    """Every `every`-th generated play as a `Streaming_History_Video_*.json` record (the same
    fields as the audio history): music videos."""
    return [dict(p, platform=f"{GENERATOR_PLATFORM} video") for p in plays[::every]]
