"""What the thin assets hand to the catalog, computed by plain functions (no Spark): the Bronze
accounting, the plays figures, the lookup figures, the recommendation and explanation runs;
and the two model assets run in process on a small Delta lake, as Dagster sees them."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from helpers import make_settings

from moodlake_dagster import insights
from moodlake_dagster.assets.explanations import ADDITIVE_CHECK, additivity_check
from moodlake_dagster.assets.recommendations import CAPS_CHECK, caps_check
from moodlake_dagster.ingest import catalog, history
from moodlake_dagster.ingest.catalog import CatalogBatch, MergedCatalog
from moodlake_dagster.ingest.enrichment import Enrichment
from moodlake_dagster.ingest.history import FileReport, HistoryBatch, HistoryRun, PassedOver
from moodlake_dagster.ingest.records import BadRecord
from moodlake_dagster.ml import explain, recommend
from moodlake_dagster.tables import (
    EXPLANATIONS,
    MODEL_METRICS,
    PLAYS,
    RECOMMENDATIONS,
    SHAP_VALUES,
    TRACKS,
    USERS,
)
from moodlake_dagster.transform.silver import plays_summary
from moodlake_dagster.vocabulary import DAY_PARTS, ESTIMATE

D1, D2, D3 = dt.date(2024, 3, 1), dt.date(2024, 3, 2), dt.date(2024, 3, 9)

# ---- Bronze: listening history ---------------------------------------------------------------


def _event(source: str, day: dt.date, fmt: str = "extended") -> dict:
    return {
        "play_date": day,
        "user_id": "u_1",
        "content_type": "track",
        "ms_played": 1000,
        "source_format": fmt,
        "_source_file": source,
    }


def _history_run() -> HistoryRun:
    """a.json: 4 records (2 land on the run's days D1..D2, 1 on D3, 1 bad on D1); b.json is a
    copy of a.json (3 records, quarantined, one on D3); one file no parser claims; two Web API
    plays (D2 and D3) and an API record without a readable day."""
    batch = HistoryBatch(
        events=[_event("me/a.json", D1), _event("me/a.json", D2), _event("me/a.json", D3)],
        bad=[
            BadRecord("me/a.json", 3, "bad ms", record_date=D1),
            BadRecord("me/b.json", 0, "duplicate file", record_date=D1),
            BadRecord("me/b.json", 1, "duplicate file", record_date=D3),
            BadRecord("me/b.json", None, "unclosed"),
        ],
        files=[
            FileReport("me/a.json", "extended", "s1", records=4, unknown_fields=Counter(x=2)),
            FileReport("me/b.json", "extended", "s1", records=3, duplicate_of="me/a.json"),
        ],
        passed_over=[PassedOver("me/notes.pdf", "not a history file")],
    )
    api = [_event("spotify-api/p0", D2, "api"), _event("spotify-api/p0", D3, "api")]
    api_bad = [BadRecord("spotify-api/p0", 2, "no track")]
    return HistoryRun(batch, api, api_bad, D1, D2)


def test_a_history_run_owns_the_plays_and_bad_records_of_its_days():
    run = _history_run()
    assert [(e["_source_file"], e["play_date"]) for e in run.landed] == [
        ("me/a.json", D1),
        ("me/a.json", D2),
        ("spotify-api/p0", D2),
    ]
    # Bad records of the run's days and those without a readable day; D3's belongs elsewhere.
    assert [(b.source_file, b.record_index) for b in run.bad] == [
        ("me/a.json", 3),
        ("me/b.json", 0),
        ("me/b.json", None),
        ("spotify-api/p0", 2),
    ]
    assert run.table.num_rows == 3 and run.table.schema.names[0] == "play_date"


def test_a_history_runs_totals_account_for_every_record():
    run = _history_run()
    totals = run.totals()
    assert totals == {
        "records_in": 3 + 4,
        "rows_landed": 3,
        "rows_quarantined": 4,
        "records_in_files": 4 + 3,
        "plays_from_api": 1,
        # files' 7 records + 2 API plays + 1 bad API record, less the 7 this run owns
        "records_outside_range": 7 + 2 + 1 - 7,
        "files": 2,
        "duplicate_files": 1,
        "files_unread": 0,
        "ignored_files": ["me/notes.pdf"],
    }
    in_files_and_api = totals["records_in_files"] + len(run.api_plays) + len(run.api_bad)
    assert in_files_and_api == totals["records_in"] + totals["records_outside_range"]
    assert run.accounting() == history.file_accounting(run.batch, run.landed, run.bad)
    assert run.problems() == [
        "me/a.json: unknown field 'x' in 2 record(s); dropped, record kept",
        "me/b.json: byte-identical to me/a.json; its records are quarantined",
    ]


def test_landed_plays_are_counted_by_day_listener_and_content_type():
    frame = pd.DataFrame(
        {
            "play_date": [D1, D1, D2],
            "user_id": ["u_1", "u_2", "u_1"],
            "content_type": ["track", "episode", "track"],
        }
    )
    table = pa.Table.from_pandas(frame, preserve_index=False)
    assert history.landed_counts(table) == {
        "days_with_plays": 2,
        "users": 2,
        "content_types": {"track": 2, "episode": 1},
    }
    assert history.landed_counts(table.slice(0, 0)) == {
        "days_with_plays": 0,
        "users": 0,
        "content_types": {},
    }


def test_the_files_read_table_has_a_row_per_file_and_says_why_one_was_not_read():
    run = _history_run()
    lines = insights.files_read_md(run.accounting()).value.splitlines()
    assert lines[0].startswith("| file | format | records | landed, by kind |")
    assert len(lines) == 2 + len(run.accounting())  # header, rule, one row per file
    assert "| me/a.json | extended | 4 | music 2 | 1 |" in lines[2]
    assert lines[-1] == "| me/notes.pdf | — | 0 | — | 0 | not a history file |"


def test_quarantine_examples_show_where_and_why_with_pipes_escaped():
    bad = [BadRecord("a.json", i, f"reason {i} | detail") for i in range(12)]
    lines = insights.quarantine_md(bad).value.splitlines()
    assert len(lines) == 2 + 10  # the first ten only
    assert lines[2] == "| a.json | 0 | reason 0 / detail |"
    assert insights.quarantine_md([]).value == "nothing quarantined"


# ---- Bronze: catalog files -------------------------------------------------------------------


def _batch(name: str, ids: list[str], bad: int, superseded: int, unknown=()) -> CatalogBatch:
    table = pa.table({"track_id": ids})
    bad_rows = [BadRecord(name, i + 2, "bad row") for i in range(bad)]
    records = len(ids) + bad + superseded
    return CatalogBatch(table, bad_rows, records, f"sha-{name}", list(unknown), "kaggle", name)


def _merged() -> MergedCatalog:
    first = _batch("first.csv", ["a", "b", "c"], bad=1, superseded=0)
    second = _batch("second.csv", ["d"], bad=0, superseded=2, unknown=["extra"])
    second.rows_superseded = 2
    table = pa.concat_tables([first.table, second.table])
    return MergedCatalog([first, second], table, first.bad + second.bad)


def test_every_catalog_record_is_landed_quarantined_or_superseded():
    merged = _merged()
    totals = merged.totals()
    # 4 + 3 records in the two files: 4 landed, 1 quarantined, 2 superseded by the first file.
    expected = dict(records_in=4 + 3, rows_landed=4, rows_quarantined=1, rows_superseded=2)
    assert totals == expected
    assert totals["records_in"] == sum(v for k, v in totals.items() if k != "records_in")
    first, second = merged.accounting()
    assert first == {
        "file": "first.csv",
        "layout": "kaggle",
        "records_in": 4,
        "rows_landed": 3,
        "rows_quarantined": 1,
        "rows_superseded": 0,
        "source_sha256": "sha-first.csv",
    }
    assert (second["records_in"], second["rows_superseded"]) == (3, 2)
    assert merged.source_sha256 == "sha-first.csv"
    assert MergedCatalog([], pa.table({"track_id": pa.array([], pa.string())})).source_sha256 == ""
    assert merged.problems() == [
        "second.csv: unknown column 'extra' ignored",
        "second.csv: 2 row(s) superseded by an earlier catalog file",
    ]


def test_the_catalog_files_table_and_counts():
    merged = _merged()
    lines = insights.catalog_files_md(merged.accounting()).value.splitlines()
    assert lines[1] == "|---|---|---|---|---|---|"
    assert lines[2:] == [
        "| first.csv | kaggle | 4 | 3 | 1 | 0 |",
        "| second.csv | kaggle | 3 | 1 | 0 | 2 |",
    ]
    frame = pd.DataFrame({"track_id": ["a", "a", "b"], "track_genre": ["pop", "rock", None]})
    assert catalog.landed_counts(frame) == {"unique_track_ids": 2, "genres": 2}
    assert catalog.landed_counts(frame.iloc[:0]) == {"unique_track_ids": 0, "genres": 0}


# ---- Silver plays, Spotify lookups -----------------------------------------------------------


def test_plays_figures_account_for_every_bronze_event():
    plays = pd.DataFrame(
        {
            "duplicates_merged": [0, 2, 1, 0],
            "has_features": [True, True, False, True],
            "timezone_source": ["user", "user", "country", "default"],
            "resolution": ["id", "name", ESTIMATE, "id"],
            "skipped": [True, False, False, False],
            "skip_source": ["reason", "reason", "threshold", "reason"],
        }
    )
    kept_out = {"podcast": 3, "video": 1}
    # Read back in batches, as the asset does: the figures are those of the whole range.
    summary = plays_summary([plays.iloc[:3], plays.iloc[3:]], 11, kept_out)
    assert summary["rows"] == 4 and summary["duplicates_removed"] == 3
    # events in = plays + copies merged into them + events that are no music play
    assert summary["bronze_events_in"] == 11 == 4 + 3 + summary["not_music_or_private"]
    assert summary["kept_out_of_plays"] == kept_out
    assert summary["feature_coverage"] == 0.75 and summary["skip_rate"] == 0.25
    assert summary["plays_with_estimated_features"] == 1
    assert summary["resolution"] == {"id": 2, "name": 1, ESTIMATE: 1}
    assert summary["timezone_source"] == {"user": 2, "country": 1, "default": 1}
    assert summary["skip_source"] == {"reason": 3, "threshold": 1}
    empty = plays_summary([], 5, {})
    assert (empty["rows"], empty["duplicates_removed"], empty["not_music_or_private"]) == (0, 0, 5)
    assert (empty["feature_coverage"], empty["skip_rate"], empty["timezone_source"]) == (0, 0, {})


def test_lookup_figures_split_what_was_fetched_and_what_waits():
    rows = [
        {"lookup_status": "found", "features_source": "api"},
        {"lookup_status": "found", "features_source": None},
        {"lookup_status": "not_found", "features_source": None},
    ]
    result = Enrichment(rows=rows, stopped="rate limited")
    assert result.summary(10) == {
        "tracks_fetched": 2,
        "tracks_not_found": 1,
        "tracks_with_api_features": 1,
        "tracks_without_features": 1,
        "left_for_next_run": 7,
        "audio_features": "on",
        "stopped_early": "rate limited",
    }
    off = Enrichment(features_off="403 since 2024-11-27").summary(0)
    assert (off["audio_features"], off["stopped_early"]) == ("403 since 2024-11-27", "no")


# ---- Recommendations and explanations ---------------------------------------------------------

AS_OF = dt.date(2024, 3, 31)
ANN, BOB, CAT = (f"u_{c * 16}" for c in "abc")  # plenty of plays, too few, none


def _track_id(i: int) -> str:
    return f"T{i:021d}"


@pytest.fixture(scope="module")
def tracks() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 400
    genres = ["pop", "rock", "jazz", "folk"]
    frame = pd.DataFrame(
        {
            "track_id": [_track_id(i) for i in range(n)],
            "track_name": [f"song {i}" for i in range(n)],
            "artists": [f"artist {i % 120}" for i in range(n)],
            "primary_artist": [f"artist {i % 120}" for i in range(n)],
            "genres": [[genres[i % 4]] for i in range(n)],
            "song_key": [f"song {i}" for i in range(n)],
            # Artist estimates are no song to recommend.
            "features_source": [ESTIMATE if i % 40 == 39 else "catalog" for i in range(n)],
            "tempo": rng.uniform(60, 180, n),
            "loudness": rng.uniform(-30, 0, n),
        }
    )
    for feature in recommend.AUDIO:
        if feature not in frame:
            frame[feature] = rng.uniform(0, 1, n)
    return frame


@pytest.fixture(scope="module")
def plays() -> pd.DataFrame:
    """Ann plays pop and rock on 40 days; Bob plays 20 times; Cat never."""
    rng = np.random.default_rng(1)
    rows = [
        {
            "user_id": user,
            "track_id": _track_id(int(rng.choice([0, 1])) + 4 * int(rng.integers(0, 60))),
            "play_date": AS_OF - dt.timedelta(days=int(rng.integers(0, 40))),
            "day_part": DAY_PARTS[k % 4],
            "skipped": bool(rng.random() < 0.1),
            "source_format": "extended",
        }
        for user, n in ((ANN, 300), (BOB, 20))
        for k in range(n)
    ]
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def heard() -> list[str]:
    return []


@pytest.fixture(scope="module")
def run(plays, tracks, heard) -> recommend.Recommendations:
    return recommend.recommend_all(
        plays,
        tracks,
        pd.DataFrame(columns=["user_id", "track_id", "als_score"]),
        [ANN, BOB, CAT],
        {},
        pd.DataFrame(columns=["user_id", "mode_id", "name"]),
        AS_OF,
        warn=heard.append,
    )


def test_every_listener_gets_lists_or_a_reason(run, tracks, heard):
    table = run.table
    assert set(table["user_id"]) == {ANN}
    assert set(table["mode"]) == {"mirror", "coach"} and set(table["day_part"]) == set(DAY_PARTS)
    assert (table["as_of_date"] == AS_OF).all() and table["listening_mode"].isna().all()
    estimates = set(tracks.loc[tracks["features_source"] == ESTIMATE, "track_id"])
    assert not set(table["track_id"]) & estimates
    out = run.output
    assert out.rows.schema == RECOMMENDATIONS.schema and out.rows.num_rows == len(table)
    skipped = out.metadata["listeners_skipped"]
    assert set(skipped) == {BOB, CAT}
    assert skipped[BOB].endswith(f"at least {recommend.MIN_PLAYS} needed")
    assert skipped[CAT].startswith("no play through with audio features")
    assert heard == [f"{BOB}: no recommendations: {skipped[BOB]}"]  # warned as it happened
    assert (out.metadata["listeners"], out.metadata["rows"]) == (1, len(table))
    # Who got no list, in the match model's metrics where `moodlake recommend` finds it.
    notes = [
        (m["metric"], m["note"]) for m in out.metrics[recommend.MATCH_MODEL] if m["value"] is None
    ]
    assert notes == [("not_recommended", f"{u}: {skipped[u]}") for u in (BOB, CAT)]
    assert (out.store_name, set(out.artifact)) == ("match_model", {ANN})
    assert out.card["features"] == list(recommend.FEATURES)
    busiest_part = table["day_part"].mode().iloc[0]
    assert run.shown == (ANN, busiest_part)
    assert list(run.preview_rows().columns) == recommend.PREVIEW
    assert caps_check(table).passed


def test_a_listener_with_a_held_out_evaluation_is_scored(run):
    aucs = [m for m in run.output.metrics[recommend.MATCH_MODEL] if m["metric"] == "auc"]
    assert [m["note"] for m in aucs] == [ANN]
    assert run.output.metadata["match_auc"] == aucs[0]["value"]
    assert run.output.metadata["n_eval"] == aucs[0]["n_eval"] >= recommend.MIN_EVAL


def test_nobody_with_enough_plays_is_an_empty_run_with_its_reason(plays, tracks):
    empty = recommend.recommend_all(
        plays[plays["user_id"] == BOB],
        tracks,
        pd.DataFrame(columns=["user_id", "track_id", "als_score"]),
        [BOB],
        {},
        pd.DataFrame(columns=["user_id", "mode_id", "name"]),
        AS_OF,
    )
    assert empty.output.rows.num_rows == 0 and empty.output.artifact is None
    assert empty.shown is None and "match_auc" not in empty.output.metadata
    assert empty.output.empty_reason == "no listener has enough plays with audio features"
    check = caps_check(empty.table)
    assert (check.check_name, check.passed, check.description) == (
        CAPS_CHECK,
        True,
        "no coach picks",
    )


MISSING = "gold/track_moods has no snapshot: materialize it first"


def _missing():
    raise LookupError(MISSING)


def test_explanations_cover_every_pick_and_say_what_was_left_out(run, tracks):
    recs = run.table
    matches = run.output.artifact
    explained = explain.explain_all(tracks, lambda: (recs, matches), _missing, AS_OF)
    assert explained.not_explained == {"moods": MISSING}
    features = len(recommend.FEATURES)
    assert len(explained.shap_rows) == len(recs) * features
    assert len(explained.sentences) == len(recs)
    assert explained.sentences["sentence"].str.startswith("Recommended").all()
    assert explained.shap.rows.schema == SHAP_VALUES.schema
    assert explained.text.rows.schema == EXPLANATIONS.schema
    assert explained.shap.metadata == {
        "rows": len(recs) * features,
        "subjects": {"recommendation": len(recs)},
    }
    assert explained.text.metadata == {"rows": len(recs), "not_explained": explained.not_explained}
    assert explained.shown["subject"].eq("recommendation").all()
    check = additivity_check(explained)
    assert check.passed and check.metadata["subjects"].value == len(recs)
    # The output is the model's own score, so one contribution off by 0.01 fails the check.
    shifted = explained.shap_rows.copy()
    shifted.loc[shifted.index[0], "shap_value"] += 0.01
    check = additivity_check(dataclasses.replace(explained, shap_rows=shifted))
    assert not check.passed and check.metadata["largest_gap"].value == pytest.approx(0.01)


def test_with_nothing_to_explain_both_tables_are_empty_and_say_why():
    explained = explain.explain_all(pd.DataFrame(columns=["track_id"]), _missing, _missing, AS_OF)
    reason = explained.shap.empty_reason
    assert reason == f"nothing to explain: {MISSING}; {MISSING}"
    assert explained.text.empty_reason == reason
    assert explained.shap.rows.num_rows == explained.text.rows.num_rows == 0
    assert explained.shap.metadata == {"rows": 0, "subjects": {}}
    check = additivity_check(explained)
    assert (check.check_name, check.passed, check.description) == (ADDITIVE_CHECK, True, reason)


# ---- The two model assets, run in process on a small Delta lake ------------------------------


def test_recommendations_then_explanations_run_and_check_their_tables(plays, tracks, tmp_path):
    from moodlake_dagster.assets.explanations import explanation_tables
    from moodlake_dagster.assets.recommendations import recommendations
    from moodlake_dagster.resources import build_resources

    settings = make_settings(tmp_path / "home", tmp_path / "landing", "sc://localhost:1")
    resources = build_resources(settings)
    lake = resources["lake"]
    lake.replace_range(TRACKS, pa.Table.from_pandas(tracks.assign(as_of_date=AS_OF)), AS_OF, AS_OF)
    first = plays["play_date"].min()
    lake.replace_range(PLAYS, pa.Table.from_pandas(plays.assign(has_features=True)), first, AS_OF)
    users = pd.DataFrame({"as_of_date": AS_OF, "user_id": [ANN, BOB, CAT]})
    lake.replace_range(USERS, pa.Table.from_pandas(users), AS_OF, AS_OF)
    result = dg.materialize(
        [recommendations, explanation_tables],
        resources=resources,
        partition_key=str(AS_OF),
        instance=dg.DagsterInstance.ephemeral(),
    )
    checks = {
        (c.asset_key.path[-1], c.check_name): c.passed for c in result.get_asset_check_evaluations()
    }
    assert checks == {
        ("recommendations", "pandera_schema"): True,
        ("recommendations", CAPS_CHECK): True,
        ("shap_values", "pandera_schema"): True,
        ("explanations", "pandera_schema"): True,
        ("shap_values", ADDITIVE_CHECK): True,
    }
    meta = {
        e.asset_key.path[-1]: e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    recs = lake.frame(RECOMMENDATIONS)
    assert meta["recommendations"]["rows"].value == len(recs) > 0
    assert meta["recommendations"]["listeners_skipped"].value.keys() == {BOB, CAT}
    assert meta["recommendations"]["plot"].value.startswith("![mirror and coach picks]")
    assert "model_path" in meta["recommendations"] and "preview" in meta["recommendations"]
    assert meta["shap_values"]["rows"].value == len(recs) * len(recommend.FEATURES)
    assert set(meta["explanations"]["not_explained"].value) == {"moods"}
    assert meta["explanations"]["plot"].value.startswith("![why the first pick]")
    metrics = lake.frame(MODEL_METRICS)
    assert sorted(metrics["metric"]) == ["auc", "not_recommended", "not_recommended"]
