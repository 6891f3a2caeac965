"""`moodlake playlist` and `moodlake spotify push-playlist`: a listener's mood playlist, read
from `gold/mood_playlists` (delta-rs, no Spark), printed, saved, or pushed to Spotify.

moodlake playlist --user NAME_OR_PSEUDONYM --mood MOOD [--day-part PART] [--as-of DAY]
                  [--out FILE.m3u|FILE.json]
moodlake spotify push-playlist --user … --mood … [--day-part …] [--as-of …] [--name …]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import pandas as pd

from moodlake_dagster.settings import load_settings
from moodlake_dagster.vocabulary import DAY_PARTS, MOODS

TABLE = ("gold", "mood_playlists")
FORMATS = (".m3u", ".json")


def add_parser(sub) -> None:
    playlist = sub.add_parser(
        "playlist", help="print or save a listener's mood playlist, from gold/mood_playlists"
    )
    _common(playlist, required=True)
    playlist.add_argument(
        "--out", type=Path, help="write FILE.m3u or FILE.json instead of printing"
    )
    playlist.set_defaults(func=cmd_playlist)


def add_push_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `moodlake spotify push-playlist`. None is required here: the
    `spotify` parser's other actions share them, so cmd_push_playlist checks --mood."""
    _common(parser, required=False)
    parser.add_argument("--name", help="the playlist's name on Spotify (default: its mood)")


def _common(parser, *, required: bool) -> None:
    parser.add_argument("--user", help="account name or pseudonym; default: the only one")
    parser.add_argument("--mood", choices=MOODS, required=required)
    parser.add_argument(
        "--day-part", choices=DAY_PARTS, help="default: the day part of this machine's clock"
    )
    parser.add_argument("--as-of", help="snapshot day (YYYY-MM-DD); default: the latest")


def playlist_rows(
    lake_root: str,
    *,
    user: str | None,
    mood: str,
    day_part: str,
    as_of: dt.date | None,
    key: bytes,
    storage_options=None,
) -> tuple[str, dt.date, pd.DataFrame]:
    """(listener, snapshot day, the playlist's rows in order); ReportError says what exists
    when the asked-for one does not."""
    from moodlake_dagster import storage
    from moodlake_dagster.reports import ReportError, listener_rows

    uri = storage.table_uri(lake_root, *TABLE)
    if not storage.table_exists(uri, storage_options):
        raise ReportError(
            "no mood playlists yet: run `moodlake build` (or materialize gold/mood_playlists)"
        )
    day = storage.snapshot_day(uri, as_of or dt.date.max, storage_options)
    if day is None:
        raise ReportError("no mood playlists yet: the table is empty")
    user_id, own = listener_rows(
        uri,
        day,
        user,
        key,
        storage_options,
        nobody=f"no listener has a mood playlist as of {day}",
        unknown=f"no mood playlist for {user!r} as of {day}; listeners with one",
    )
    chosen = own[(own["mood"] == mood) & (own["day_part"] == day_part)]
    if chosen.empty:
        have = own.groupby("mood")["day_part"].agg(
            lambda parts: ", ".join(p for p in DAY_PARTS if p in set(parts))
        )
        listed = "; ".join(f"{m} ({have[m]})" for m in MOODS if m in have.index)
        what = "that day part" if mood in have.index else "that mood"
        raise ReportError(
            f"no {mood} {day_part} playlist for {user_id} as of {day} (too few {mood} tracks "
            f"they played through for {what}); they have: {listed}"
        )
    return user_id, day, chosen.sort_values("position").reset_index(drop=True)


def _read(args, settings) -> tuple[str, dt.date, pd.DataFrame, str]:
    from moodlake_dagster.vocabulary import day_part as day_part_at

    day_part = args.day_part or day_part_at(dt.datetime.now().hour)
    user_id, day, rows = playlist_rows(
        settings.lake_root,
        user=args.user,
        mood=args.mood,
        day_part=day_part,
        as_of=dt.date.fromisoformat(args.as_of) if args.as_of else None,
        key=settings.resolved_pseudonym_key(),
    )
    return user_id, day, rows, day_part


def listing(user_id: str, day: dt.date, rows: pd.DataFrame) -> str:
    first = rows.iloc[0]
    lines = [
        f"{first['mood'].capitalize()} {first['day_part']} playlist for {user_id} as of {day} "
        f"({len(rows)} tracks)"
    ]
    for row in rows.itertuples():
        lines.append(
            f"{row.position:>3}. {row.artists} – {row.track_name}  "
            f"energy {row.energy:.2f}  {row.source}"
        )
    return "\n".join(lines)


def cmd_playlist(args) -> int:
    from moodlake_dagster.ml import playlists
    from moodlake_dagster.reports import ReportError

    if args.out is not None and args.out.suffix.lower() not in FORMATS:
        print(
            f"moodlake playlist: --out {args.out}: the file must end in .m3u or .json "
            f"(got {args.out.suffix or 'no suffix'})",
            file=sys.stderr,
        )
        return 2
    settings = load_settings()
    try:
        user_id, day, rows, _ = _read(args, settings)
    except ReportError as err:
        print(f"moodlake playlist: {err}", file=sys.stderr)
        return 1
    if args.out is None:
        print(listing(user_id, day, rows))
        return 0
    write = playlists.to_m3u if args.out.suffix.lower() == ".m3u" else playlists.to_json
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(write(rows))
    print(f"Wrote {len(rows)} tracks to {args.out}")
    return 0


def cmd_push_playlist(args) -> int:
    """Create the playlist as a private one on the logged-in Spotify account."""
    from moodlake_dagster.cli import _spotify_resource
    from moodlake_dagster.reports import ReportError
    from moodlake_dagster.spotify.client import SpotifyError
    from moodlake_dagster.spotify.playlists import push_playlist, require_scope

    if not getattr(args, "mood", None):
        print("moodlake spotify push-playlist: give --mood", file=sys.stderr)
        return 2
    settings = load_settings()
    spotify = _spotify_resource(settings)
    if not spotify.configured:
        print(
            "moodlake spotify push-playlist: Spotify is not configured: set "
            "MOODLAKE_SPOTIFY_CLIENT_ID, then run `moodlake spotify login`",
            file=sys.stderr,
        )
        return 1
    try:
        _, day, rows, day_part = _read(args, settings)
        client = spotify.client()
        require_scope(client.cached_token())  # before any request: nothing half-made
        name = args.name or f"MoodLake · {args.mood} {day_part}"
        description = (
            f"{args.mood.capitalize()} {day_part} playlist from MoodLake, as of {day}: "
            "your played-through favourites and new tracks, along an energy arc"
        )
        pushed = push_playlist(client, name, description, rows["track_id"].tolist())
    except (ReportError, SpotifyError) as err:
        print(f"moodlake spotify push-playlist: {err}", file=sys.stderr)
        return 1
    print(f"Created the private playlist {name!r} with {pushed['tracks']} tracks:")
    print(f"  {pushed['url']}")
    return 0
