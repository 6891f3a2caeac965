"""Mood playlists: per listener × mood × day part, up to 20 tracks to press play on.

**What goes in.** A track's mood is its `track_moods` row's mood when the probability is at
least 0.5. A listener's *favourites* of a mood are tracks of that mood they played through
(completion ≥ 0.9, or not skipped), scored by how often: every played-through play counts
once and each one in the playlist's day part counts once more, so the same mood leans to
what they play at that time of day. Up to half the list is favourites; the rest (more when
they have few favourites) are *new* catalog tracks of that mood they never played (under
any id of the same song), nearest in standardized audio features to the score-weighted
centre of their favourites of that mood for that day part, the distance shrunk by up to 80%
for tracks in the genres they play through most (audio alone finds sound-alikes from genres
they never touch). At most two tracks per artist.

**Order: the energy arc.** Positions get a target: rising linearly from 0 at the first
track to 1 at the peak, placed at 60% of the list (position 12 of 20: the middle third,
about two thirds in), then falling linearly to 0.5 at the last track. The most energetic
track takes the highest target, the next the next highest, and so on: the list starts with
its calmest tracks, climbs to its most energetic, then eases down to mid-energy, never back
to the very start. Then no artist may appear twice within any three consecutive tracks: a
clash is swapped with the nearest track that clears it (a small dent in the arc), and a
track that cannot be placed is dropped.

**Honest score.** Each listener's last 14 days are held out; playlists are built from the
plays before them. `hit_rate` is the share of held-out played-through plays (of tracks with
a mood) whose track is in the listener's playlist for that play's mood and day part; the
baseline is the same-sized seeded random pick of that mood's tracks. Favourites make most of
the hits (people replay), so `new_hit_rate` scores discovery alone: the same share over the
held-out plays of tracks the listener had not played before.

Everything is grouped over all listeners at once (pandas groupby, numpy distance blocks per
mood); only playlists with an artist clash are fixed one by one.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pyarrow as pa
from matplotlib.figure import Figure

from moodlake_dagster.ml.metrics import metric
from moodlake_dagster.ml.output import ModelOutput
from moodlake_dagster.ml.recommend import AUDIO
from moodlake_dagster.tables import MOOD_PLAYLISTS
from moodlake_dagster.vocabulary import DAY_PARTS, ESTIMATE, ESTIMATE_PREFIX, MOODS

MODEL = "mood_playlists"
LENGTH = 20
MIN_TRACKS = 5
MOOD_PROBABILITY = 0.5
PLAYED_THROUGH = 0.9
PER_ARTIST = 2
SPACING = 3  # no artist twice within this many consecutive tracks
PEAK = 0.6  # where the arc peaks, as a share of the list
END = 0.5  # the arc's target at the last track (1 = the peak)
HOLDOUT_DAYS = 14
GENRE_WEIGHT = 0.8
NEAREST = 3  # new candidates kept per playlist, as a multiple of its length
BLOCK = 1024  # playlists per distance block
FEATURES = AUDIO  # the match model's audio features: what "nearest" means here too
KEYS = ["user_id", "mood", "day_part"]
SCHEMA = MOOD_PLAYLISTS.schema


def labelled_catalog(tracks: pd.DataFrame, moods: pd.DataFrame) -> pd.DataFrame:
    """Songs with a mood (probability ≥ 0.5) and an energy, with standardized features.

    Features are standardized over these tracks, so tempo and loudness do not swamp the rest;
    a missing feature sits at the mean (z = 0)."""
    sure = moods.loc[moods["probability"] >= MOOD_PROBABILITY, ["track_id", "mood"]]
    cat = tracks.drop_duplicates("track_id").merge(sure.drop_duplicates("track_id"), on="track_id")
    # An artist estimate stands for an artist, not a song: nothing to play or push.
    song_row = ~cat["track_id"].astype(str).str.startswith(ESTIMATE_PREFIX)
    if "features_source" in cat:
        song_row &= cat["features_source"] != ESTIMATE
    cat = cat[song_row & cat["energy"].notna() & cat["mood"].isin(MOODS)].reset_index(drop=True)
    feats = cat[list(FEATURES)].astype(float)
    z = (feats - feats.mean()) / feats.std(ddof=0).replace(0, 1.0).fillna(1.0)
    artist = cat["primary_artist"] if "primary_artist" in cat else cat["artists"]
    artist = artist.fillna(cat["artists"]).astype(str)
    song = (
        cat["song_key"]
        if "song_key" in cat
        else artist.str.lower() + "\x1f" + cat["track_name"].astype(str).str.lower()
    )
    return cat.assign(
        artist=artist,
        song=song.fillna(cat["track_id"]),
        **{f"z_{f}": z[f].fillna(0.0) for f in FEATURES},
    )


def played_through(plays: pd.DataFrame) -> pd.Series:
    return (plays["completion"] >= PLAYED_THROUGH) | ~plays["skipped"].astype(bool)


def _favourites(plays: pd.DataFrame, cat: pd.DataFrame) -> pd.DataFrame:
    """Every (listener, mood, day part, favourite) with its score: played-through plays, plus
    those in that day part once more."""
    through = plays.loc[played_through(plays), ["user_id", "track_id", "day_part"]]
    through = through.merge(cat[["track_id", "mood"]], on="track_id")
    total = through.groupby(["user_id", "track_id", "mood"]).size().rename("total").reset_index()
    in_part = through.groupby(["user_id", "track_id", "day_part"]).size().rename("in_part")
    parts = pd.DataFrame({"day_part": list(DAY_PARTS)})
    fav = total.merge(parts, how="cross").merge(
        in_part.reset_index(), on=["user_id", "track_id", "day_part"], how="left"
    )
    fav["in_part"] = fav["in_part"].fillna(0).astype(int)
    return fav.assign(score=fav["total"] + fav["in_part"])


def _played_songs(plays: pd.DataFrame, cat: pd.DataFrame) -> pd.DataFrame:
    """(listener, catalog row) of every catalog track whose song the listener ever played."""
    ids = plays[["user_id", "track_id"]].dropna().drop_duplicates()
    songs = ids.merge(cat[["track_id", "song"]].drop_duplicates("track_id"), on="track_id")
    rows = cat[["song"]].reset_index(names="row")
    by_song = songs[["user_id", "song"]].drop_duplicates().merge(rows, on="song")
    direct = ids.merge(cat[["track_id"]].reset_index(names="row"), on="track_id")
    return pd.concat([by_song[["user_id", "row"]], direct[["user_id", "row"]]]).drop_duplicates()


def _nearest_new(
    groups: pd.DataFrame, fav: pd.DataFrame, cat: pd.DataFrame, played: pd.DataFrame, k: int
) -> pd.DataFrame:
    """The k unplayed tracks of the playlist's mood nearest its favourites' weighted centre,
    for every playlist (`groups`: KEYS and `g`), one distance block per mood."""
    zcols = [f"z_{f}" for f in FEATURES]
    weighted = fav.merge(cat[["track_id", *zcols]].drop_duplicates("track_id"), on="track_id")
    weighted[zcols] = weighted[zcols].mul(weighted["score"], axis=0)
    sums = weighted.groupby(KEYS)[[*zcols, "score"]].sum()
    centres = sums[zcols].div(sums["score"], axis=0).reset_index().merge(groups, on=KEYS)
    out = []
    for mood, own in centres.groupby("mood"):
        rows = np.flatnonzero(cat["mood"].to_numpy() == mood)
        Z = cat[zcols].to_numpy(float)[rows]
        col_of = pd.Series(np.arange(len(rows)), index=rows)
        seen = played[played["row"].isin(rows)]
        seen = seen.assign(col=col_of[seen["row"]].to_numpy())
        z2 = (Z**2).sum(axis=1)
        for start in range(0, len(own), BLOCK):
            block = own.iloc[start : start + BLOCK].reset_index(drop=True)
            C = block[zcols].to_numpy(float)
            D = (C**2).sum(axis=1)[:, None] - 2 * C @ Z.T + z2[None, :]
            hit = block[["user_id"]].reset_index(names="r").merge(seen, on="user_id")
            D[hit["r"].to_numpy(), hit["col"].to_numpy()] = np.inf
            take = min(k, len(rows))
            idx = (
                np.argpartition(D, take - 1, axis=1)[:, :take]
                if take < len(rows)
                else (np.tile(np.arange(len(rows)), (len(block), 1)))
            )
            dist = np.take_along_axis(D, idx, axis=1)
            out.append(
                pd.DataFrame(
                    {
                        "g": np.repeat(block["g"].to_numpy(), take),
                        "row": rows[idx.ravel()],
                        "dist": dist.ravel(),
                    }
                )
            )
    if not out:
        return pd.DataFrame({"g": np.zeros(0, int), "row": np.zeros(0, int), "dist": np.zeros(0)})
    new = pd.concat(out, ignore_index=True)
    return new[np.isfinite(new["dist"])]


def _with_genre_taste(
    new: pd.DataFrame, groups: pd.DataFrame, plays: pd.DataFrame, cat: pd.DataFrame
) -> pd.DataFrame:
    """Nearness discounted by genre taste: `dist` shrinks by up to GENRE_WEIGHT for a track
    in the genre the listener plays through most (share of their plays, relative to it).

    A dense listeners × genres table and a padded genres-per-track array: one numpy lookup
    for millions of candidates."""
    if "genres" not in cat or new.empty:
        return new
    genres = cat["genres"].map(lambda g: list(g) if isinstance(g, list | np.ndarray) else [])
    filed = genres.explode().dropna().rename("genre").rename_axis("row").reset_index()
    codes, names = pd.factorize(filed["genre"])
    width = int(filed.groupby("row").size().max()) if len(filed) else 1
    padded = np.full((len(cat), width), len(names))  # the pad points at a zero column
    padded[filed["row"].to_numpy(), filed.groupby("row").cumcount().to_numpy()] = codes
    users, user_names = pd.factorize(groups["user_id"])
    through = plays.loc[played_through(plays), ["user_id", "track_id"]]
    rows = cat[["track_id"]].reset_index(names="row").drop_duplicates("track_id")
    taste = through.merge(rows, on="track_id").merge(filed.assign(code=codes), on="row")
    taste = taste[taste["user_id"].isin(user_names)]
    counts = np.zeros((len(user_names), len(names) + 1))
    np.add.at(
        counts,
        (user_names.get_indexer(taste["user_id"]), taste["code"].to_numpy()),
        1.0,
    )
    affinity = counts / np.maximum(counts.max(axis=1, keepdims=True), 1.0)
    user_of_group = np.empty(len(groups), int)
    user_of_group[groups["g"].to_numpy()] = users
    u = user_of_group[new["g"].to_numpy()]
    best = affinity[u[:, None], padded[new["row"].to_numpy()]].max(axis=1)
    return new.assign(dist=new["dist"].to_numpy() * (1 - GENRE_WEIGHT * best))


def arc_targets(n: np.ndarray, j: np.ndarray) -> np.ndarray:
    """The energy arc's target at 0-based position j of a list of n (see the module doc)."""
    n = np.asarray(n, float)
    j = np.asarray(j, float)
    peak = np.round(PEAK * (n - 1))
    rise = np.where(peak > 0, j / np.maximum(peak, 1), 1.0)
    fall = 1.0 - (1.0 - END) * (j - peak) / np.maximum(n - 1 - peak, 1)
    return np.where(j <= peak, rise, fall)


def _arc(picks: pd.DataFrame) -> pd.DataFrame:
    """Positions along the energy arc: the k-th most energetic track takes the k-th highest
    target."""
    n = picks.groupby("g")["g"].transform("size").to_numpy()
    slots = picks[["g"]].assign(j=picks.groupby("g").cumcount().to_numpy(), n=n)
    slots["t"] = arc_targets(slots["n"].to_numpy(), slots["j"].to_numpy())
    slots = slots.sort_values(["g", "t", "j"], ascending=[True, False, True])
    slots["k"] = slots.groupby("g").cumcount()
    picks = picks.sort_values(["g", "energy", "track_id"], ascending=[True, False, True])
    picks = picks.assign(k=picks.groupby("g").cumcount().to_numpy())
    placed = picks.merge(slots[["g", "k", "j"]], on=["g", "k"])
    return placed.sort_values(["g", "j"]).drop(columns="k").reset_index(drop=True)


def clashes(artists: list[str], spacing: int = SPACING) -> list[int]:
    """Positions (0-based) whose artist already appears within the `spacing - 1` before."""
    return [i for i in range(len(artists)) if artists[i] in artists[max(0, i - spacing + 1) : i]]


def space_artists(artists: list[str], spacing: int = SPACING) -> list[int]:
    """An order (indices into `artists`) with no artist twice within `spacing` consecutive
    places, found by swapping each clash with the nearest place that clears it; a track that
    fits nowhere is left out."""
    order = list(range(len(artists)))
    for _ in range(len(artists) * 2):
        bad = clashes([artists[i] for i in order], spacing)
        if not bad:
            return order
        i = bad[0]
        for k in sorted(range(len(order)), key=lambda k: (abs(k - i), -k)):
            if k == i:
                continue
            trial = order.copy()
            trial[i], trial[k] = trial[k], trial[i]
            now = clashes([artists[x] for x in trial], spacing)
            if i not in now and k not in now and len(now) < len(bad):
                order = trial
                break
        else:
            order.pop(i)
    return order


def _space(placed: pd.DataFrame) -> pd.DataFrame:
    """Fix artist clashes; only the playlists that have one go through Python."""
    same = np.zeros(len(placed), bool)
    for lag in range(1, SPACING):
        same |= (placed["g"].shift(lag) == placed["g"]).to_numpy() & (
            placed["artist"].shift(lag) == placed["artist"]
        ).to_numpy()
    bad = set(placed.loc[same, "g"])
    if not bad:
        return placed
    ok = placed[~placed["g"].isin(bad)]
    sub = placed[placed["g"].isin(bad)].reset_index(drop=True)
    starts = np.flatnonzero(np.r_[True, sub["g"].to_numpy()[1:] != sub["g"].to_numpy()[:-1]])
    ends = np.r_[starts[1:], len(sub)]
    artists = sub["artist"].tolist()
    take, places = [], []
    for a, b in zip(starts, ends, strict=True):
        order = space_artists(artists[a:b])
        take += [a + i for i in order]
        places += range(len(order))
    fixed = sub.iloc[take].assign(j=places)
    return pd.concat([ok, fixed]).sort_values(["g", "j"]).reset_index(drop=True)


def playlists(plays: pd.DataFrame, cat: pd.DataFrame, *, length: int = LENGTH) -> pd.DataFrame:
    """Every listener's playlists from `plays` over the labelled catalog `cat`
    (`labelled_catalog`): KEYS, position (1..), track and source."""
    fav = _favourites(plays, cat)
    if fav.empty:
        return pd.DataFrame(columns=[*KEYS, "position", "track_id", "source"])
    # Artists and songs as integer codes: the grouped dedup below runs over millions of rows.
    meta = pd.DataFrame(
        {
            "track_id": cat["track_id"].to_numpy(),
            "artist": pd.factorize(cat["artist"])[0],
            "song": pd.factorize(cat["song"])[0],
            "energy": cat["energy"].to_numpy(float),
        }
    )
    fav = fav.merge(meta, on="track_id")
    groups = fav[KEYS].drop_duplicates().sort_values(KEYS).reset_index(drop=True)
    groups["g"] = np.arange(len(groups))
    fav = fav.merge(groups, on=KEYS).sort_values(["g", "score", "track_id"], ascending=[1, 0, 1])
    fav_all = fav
    fav = fav[fav.groupby(["g", "artist"]).cumcount() < PER_ARTIST]
    fav = fav[fav.groupby("g").cumcount() < length // 2].assign(source="favourite", dist=-1.0)
    played = _played_songs(plays, cat)
    new = _nearest_new(groups, fav_all, cat, played, NEAREST * length)
    new = _with_genre_taste(new, groups, plays, cat)
    rows = new["row"].to_numpy()
    new = (
        meta.iloc[rows]
        .reset_index(drop=True)
        .assign(g=new["g"].to_numpy(), dist=new["dist"].to_numpy(), row=rows, source="new")
    )
    new = new.sort_values(["g", "dist", "row"]).drop(columns="row")
    both = pd.concat([fav[["g", *meta.columns, "source", "dist"]], new], ignore_index=True)
    both = both.drop_duplicates(["g", "song"])  # favourites first: kept over a new copy
    both = both[both.groupby(["g", "artist"]).cumcount() < PER_ARTIST]
    both = both[both.groupby("g").cumcount() < length]
    both = both[both.groupby("g")["g"].transform("size") >= MIN_TRACKS]
    placed = _space(_arc(both))
    placed = placed[placed.groupby("g")["g"].transform("size") >= MIN_TRACKS]
    out = placed.merge(groups, on="g").assign(position=lambda p: p["j"].astype("int64") + 1)
    return out[[*KEYS, "position", "track_id", "source"]].reset_index(drop=True)


def holdout(plays: pd.DataFrame, days: int = HOLDOUT_DAYS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(before, held out): each listener's last `days` play days (by their own last day)."""
    last = plays.groupby("user_id")["play_date"].transform("max")
    later = plays["play_date"] > last - dt.timedelta(days=days)
    return plays[~later], plays[later]


def evaluate(
    plays: pd.DataFrame, cat: pd.DataFrame, *, length: int = LENGTH, seed: int = 5
) -> dict:
    """hit_rate of playlists built before each listener's last 14 days, on those days, beside
    a seeded random pick of the same size from the mood's tracks."""
    before, later = holdout(plays)
    lists = playlists(before, cat, length=length)
    held = later.loc[played_through(later), ["user_id", "track_id", "day_part"]]
    held = held.merge(cat[["track_id", "mood"]].drop_duplicates("track_id"), on="track_id")
    n_eval = len(held)
    if n_eval == 0:
        return dict.fromkeys(("value", "baseline", "new_value", "new_baseline"), None) | {
            "n_eval": 0,
            "new_n_eval": 0,
            "playlists": 0,
        }
    inside = lists[[*KEYS, "track_id"]].drop_duplicates().assign(hit=True)
    hits = held.merge(inside, on=[*KEYS, "track_id"], how="left")["hit"].notna()
    sizes = lists.groupby(KEYS).size().rename("n").reset_index()
    rng = np.random.default_rng(seed)
    picked = []
    for mood, own in sizes.groupby("mood"):
        ids = cat.loc[cat["mood"] == mood, "track_id"].drop_duplicates().to_numpy()
        for start in range(0, len(own), BLOCK):
            block = own.iloc[start : start + BLOCK]
            keys = rng.random((len(block), len(ids)))
            n = block["n"].to_numpy()
            top = min(int(n.max()), len(ids))
            # The `top` smallest keys in order: their first n are a uniform random pick of n.
            part = np.argpartition(keys, top - 1, axis=1)[:, :top]
            order = np.take_along_axis(part, np.take_along_axis(keys, part, 1).argsort(1), 1)
            mask = np.arange(top)[None, :] < n[:, None]
            r, c = np.nonzero(mask)
            picked.append(
                block[KEYS].iloc[r].assign(track_id=ids[order[r, c]]).reset_index(drop=True)
            )
    rand = pd.concat(picked).drop_duplicates().assign(hit=True) if picked else inside.iloc[:0]
    base = held.merge(rand, on=[*KEYS, "track_id"], how="left")["hit"].notna()
    # Discovery alone: held-out plays of tracks the listener had not played before.
    known = before[["user_id", "track_id"]].drop_duplicates().assign(known=True)
    fresh = held.merge(known, on=["user_id", "track_id"], how="left")["known"].isna().to_numpy()
    return {
        "value": float(hits.mean()),
        "baseline": float(base.mean()),
        "n_eval": n_eval,
        "new_value": float(hits[fresh].mean()) if fresh.any() else None,
        "new_baseline": float(base[fresh].mean()) if fresh.any() else None,
        "new_n_eval": int(fresh.sum()),
        "playlists": int(len(sizes)),
    }


def arc_plot(rows: pd.DataFrame) -> Figure:
    """Energy along one playlist's positions, coloured by source: the arc at a glance."""
    fig = Figure(figsize=(6, 3.2))
    ax = fig.subplots()
    ax.plot(rows["position"], rows["energy"], color="0.7", zorder=1)
    for source, colour in (("favourite", "tab:orange"), ("new", "tab:blue")):
        own = rows[rows["source"] == source]
        ax.scatter(own["position"], own["energy"], color=colour, label=source, zorder=2)
    first = rows.iloc[0]
    ax.set_title(f"{first['user_id']}: {first['mood']} {first['day_part']} playlist")
    ax.set_xlabel("position")
    ax.set_ylabel("energy")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def build(
    plays: pd.DataFrame,
    tracks: pd.DataFrame,
    moods: pd.DataFrame,
    as_of: dt.date,
    *,
    length: int = LENGTH,
    seed: int = 5,
) -> ModelOutput:
    """Everyone's mood playlists as of `as_of` (plays after it are ignored), scored on each
    listener's last 14 days by playlists built without them."""
    plays = plays[plays["play_date"] <= as_of].dropna(subset=["track_id"])
    cat = labelled_catalog(tracks, moods)
    lists = playlists(plays, cat, length=length)
    info = cat[["track_id", "track_name", "artists", "energy", "valence"]].drop_duplicates(
        "track_id"
    )
    table = lists.merge(info, on="track_id").assign(as_of_date=as_of)
    table = table.sort_values([*KEYS, "position"]).reset_index(drop=True)[SCHEMA.names]
    score = evaluate(plays, cat, length=length, seed=seed)
    out = ModelOutput(
        rows=pa.Table.from_pandas(table, schema=SCHEMA, preserve_index=False),
        metrics={
            MODEL: [
                metric(
                    "hit_rate",
                    score["value"],
                    baseline=score["baseline"],
                    n_eval=score["n_eval"],
                    note=f"last {HOLDOUT_DAYS} days held out; baseline: same-sized random "
                    "pick of the mood's tracks",
                ),
                metric(
                    "new_hit_rate",
                    score["new_value"],
                    baseline=score["new_baseline"],
                    n_eval=score["new_n_eval"],
                    note="the same, over held-out plays of tracks not played before the cutoff",
                ),
            ]
        },
        metadata={
            "listeners": int(table["user_id"].nunique()),
            "playlists": int(table[KEYS].drop_duplicates().shape[0]),
            "rows": len(table),
            "hit_rate": score["value"],
            "baseline_hit_rate": score["baseline"],
            "n_eval": score["n_eval"],
            "new_hit_rate": score["new_value"],
            "baseline_new_hit_rate": score["new_baseline"],
        },
        empty_reason=f"no listener has a played-through track with a mood and {MIN_TRACKS} "
        "tracks to fill a playlist",
    )
    if len(table):
        listed = set(table["user_id"])
        user = next(u for u in plays["user_id"].value_counts().index if u in listed)
        own = table[table["user_id"] == user]
        # The playlist with the most favourites shows both sources along the arc.
        mix = own.assign(fav=own["source"] == "favourite").groupby(["mood", "day_part"])["fav"]
        mood, part = mix.sum().idxmax()
        shown = own[(own["mood"] == mood) & (own["day_part"] == part)]
        out.figures["plot"] = (arc_plot(shown), "one playlist's energy arc, by source")
    return out


def to_m3u(rows: pd.DataFrame) -> str:
    """An extended M3U of the rows in position order: players resolve `spotify:track:` URIs."""
    lines = ["#EXTM3U"]
    for row in rows.sort_values("position").itertuples():
        lines += [f"#EXTINF:-1,{row.artists} - {row.track_name}", f"spotify:track:{row.track_id}"]
    return "\n".join(lines) + "\n"


def from_m3u(text: str) -> list[dict]:
    """(artists, track_name, track_id) per entry of an M3U written by `to_m3u`."""
    entries, pending = [], None
    for line in text.splitlines():
        if line.startswith("#EXTINF:"):
            pending = line.split(",", 1)[1]
        elif line.startswith("spotify:track:") and pending is not None:
            artists, _, title = pending.partition(" - ")
            entries.append({"artists": artists, "track_name": title, "track_id": line[14:]})
            pending = None
    return entries


JSON_COLUMNS = ["position", "track_id", "track_name", "artists", "energy", "valence", "source"]


def to_json(rows: pd.DataFrame) -> str:
    """The playlist as JSON: who, which mood and day part, and the tracks in order."""
    rows = rows.sort_values("position")
    first = rows.iloc[0] if len(rows) else {}
    head = {k: (str(first[k]) if k in first else None) for k in ("user_id", "mood", "day_part")}
    if "as_of_date" in rows and len(rows):
        head["as_of_date"] = str(first["as_of_date"])
    tracks = json.loads(rows.reindex(columns=JSON_COLUMNS).to_json(orient="records"))
    return json.dumps(head | {"tracks": tracks}, indent=2)
