"""The whole graph materialized in-process on real data: one partition, then a 3-day backfill."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow as pa
import pytest
from deltalake import DeltaTable
from helpers import BASIC, DAILY, EXTENDED, LAYERS, link_landing, make_settings

from moodlake_dagster.definitions import ASSETS, build_job, make_definitions
from moodlake_dagster.partitions import daily_partitions
from moodlake_dagster.resources import build_resources
from moodlake_dagster.tables import MODELS, PLATFORM

# Every asset materialized in-process: Spark throughout.
pytestmark = pytest.mark.spark

DAY = "2021-12-31"  # basic export
RANGE = ("2024-07-21", "2024-07-23")  # extended history: the first days of its 2024 block
TABLES = LAYERS | {"bronze": [*LAYERS["bronze"], "quarantine"]}
GOLD = [name for name in TABLES["gold"] if name not in DAILY]  # the snapshots


@pytest.fixture(scope="module")
def lake(shared_data, spark_url, tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    landing = link_landing(home / "landing", {"efrrowini": EXTENDED, "wardana": BASIC})
    settings = make_settings(
        home, landing, spark_url, MOODLAKE_USER_TIMEZONES="efrrowini=Asia/Kolkata"
    )
    instance = dg.DagsterInstance.ephemeral()
    resources = build_resources(settings)
    single = dg.materialize(
        ASSETS, resources=resources, instance=instance, partition_key=DAY, raise_on_error=False
    )
    ranged = dg.materialize(
        ASSETS,
        resources=resources,
        instance=instance,
        raise_on_error=False,
        tags={
            "dagster/asset_partition_range_start": RANGE[0],
            "dagster/asset_partition_range_end": RANGE[1],
        },
    )
    return {"settings": settings, "single": single, "ranged": ranged, "root": settings.lake_root}


def table(lake, layer, name):
    return DeltaTable(f"{lake['root']}/{layer}/{name}").to_pandas()


def standing(snapshots: pd.DataFrame, day: str) -> pd.DataFrame:
    """The snapshot a reader as of `day` takes: the latest on or before it (a snapshot the same
    every day is written again only when its inputs change)."""
    dates = snapshots["as_of_date"].astype(str)
    return snapshots[dates == dates[dates <= day].max()]


def materializations(result):
    """Materializations by table name; `bronze/profiles` and `silver/profiles` (one name in two
    layers) by their paths."""
    found = {}
    for event in result.get_asset_materialization_events():
        key = event.materialization.asset_key
        name = key.to_user_string() if key.path[-1] == "profiles" else key.path[-1]
        found.setdefault(name, []).append(event.materialization)
    return found


def platform_names() -> list[str]:
    return [t.path if t.name == "profiles" else t.name for t in PLATFORM]


def test_every_asset_materializes_and_every_check_passes(lake):
    for result, partitions in ((lake["single"], 1), (lake["ranged"], 3)):
        assert result.success
        mats = materializations(result)
        assert sorted(mats) == sorted(
            ["spotify_tracks", *(table.name for table in MODELS), *platform_names()]
            + [a for layer in TABLES.values() for a in layer if a != "quarantine"]
            + ["duckdb"]  # serving/duckdb: Gold copied for dashboards
        )
        assert all(len(m) == partitions for m in mats.values())
        checks = result.get_asset_check_evaluations()
        # One per table, the models' bars, and the dashboards' copy matching Gold.
        assert len(checks) == 36 + len(PLATFORM)
        failed = {(c.asset_key.path[-1], c.check_name) for c in checks if not c.passed}
        # Days of history are too few for a preference model: its bar cannot be judged.
        assert failed == {("preference_model", "auc_bar")}
        # Without a Spotify login the enrichment writes nothing and says why (the basic
        # export of the single day has no track ids to look up).
        enrichment = mats["spotify_tracks"][-1].metadata
        expected = "nothing to look up" if partitions == 1 else "Spotify is not connected"
        assert enrichment["skipped"].value == expected


def test_every_written_column_is_described_in_the_ui(lake):
    """Each table's Columns tab: every column of what was written, with what it means."""
    from moodlake_dagster.tables import TABLES

    described = 0
    for path, table in TABLES.items():
        uri = Path(lake["root"]) / path
        if not (uri / "_delta_log").is_dir():
            continue
        written = pa.schema(DeltaTable(str(uri)).schema().to_arrow())
        schema = table.columns(written)["dagster/column_schema"]
        missing = [c.name for c in schema.columns if not c.description]
        assert not missing, f"{path}: no description for {missing}"
        described += len(written.names)
    for mats in materializations(lake["ranged"]).values():
        shown = mats[-1].metadata.get("dagster/column_schema")
        assert shown is None or all(c.description for c in shown.value.columns)
    assert described > 250
    assert materializations(lake["ranged"])["plays"][-1].metadata["dagster/column_schema"]


def test_every_written_column_is_classified(lake):
    """Every column of every Delta table on disk has a privacy level (checks/classification.py),
    and each run shows it as the column's `pii` tag; Spark-built tables' included."""
    from moodlake_dagster.checks.classification import LEVELS, unclassified

    root = Path(lake["root"])
    written = {
        log.parent.relative_to(root).as_posix(): DeltaTable(str(log.parent)).schema().to_arrow()
        for log in sorted(root.glob("*/*/_delta_log"))
    }
    assert {"silver/plays", "silver/tracks", "gold/sessions", "gold/track_moods"} <= set(written)
    columns = {path: pa.schema(schema).names for path, schema in written.items()}
    assert unclassified(columns) == []
    assert sum(len(names) for names in columns.values()) > 250
    shown = [
        column
        for mats in materializations(lake["ranged"]).values()
        if (schema := mats[-1].metadata.get("dagster/column_schema")) is not None
        for column in schema.value.columns
    ]
    assert shown and all(column.tags.get("pii") in LEVELS for column in shown)


def test_event_tables_hold_exactly_their_days(lake):
    def started(end: str, ms: int) -> str:  # a play's day is the UTC day it started
        ended = dt.datetime.fromisoformat(end.replace("Z", "+00:00"))
        return (ended - dt.timedelta(milliseconds=ms)).date().isoformat()

    source = [r for f in EXTENDED.glob("*.json") for r in json.loads(f.read_text())]
    expected = sum(1 for r in source if RANGE[0] <= started(r["ts"], r["ms_played"]) <= RANGE[1])
    basic_day = sum(
        1
        for f in BASIC.glob("StreamingHistory*.json")
        for r in json.loads(f.read_text())
        if started(r["endTime"], r["msPlayed"]) == DAY
    )
    events = table(lake, "bronze", "listening_events")
    by_day = events.groupby(events["play_date"].astype(str)).size().to_dict()
    assert sum(by_day[d] for d in by_day if d != DAY) == expected
    assert by_day[DAY] == basic_day  # the earlier single-day run is untouched by the backfill
    plays = table(lake, "silver", "plays")
    assert set(plays["play_date"].astype(str)) == set(by_day)


def test_bronze_metadata_accounts_for_every_record(lake):
    mats = materializations(lake["ranged"])["listening_events"]
    meta = {k: v.value for k, v in mats[-1].metadata.items()}
    assert meta["records_in"] == meta["rows_landed"] + meta["rows_quarantined"]
    assert meta["records_in_files"] == meta["records_in"] + meta["records_outside_range"]
    assert meta["records_in_files"] == 6_978 + 45_116
    assert meta["rows_quarantined"] == 0
    plays = {k: v.value for k, v in materializations(lake["ranged"])["plays"][-1].metadata.items()}
    assert plays["bronze_events_in"] == meta["rows_landed"]
    assert plays["bronze_events_in"] == (
        plays["rows"] + plays["duplicates_removed"] + plays["not_music_or_private"]
    )


def test_snapshots_are_as_of_the_range_end_and_gold_has_plots(lake):
    # Insights say only what the data supports: three days of history may support nothing.
    for name in ("users", *(n for n in GOLD if n != "insights")):
        layer = "silver" if name == "users" else "gold"
        as_of = table(lake, layer, name)["as_of_date"].astype(str)
        assert set(as_of) == {DAY, RANGE[1]}
        if name == "users":
            continue
        meta = materializations(lake["ranged"])[name][-1].metadata
        assert meta["rows"].value == int((as_of == RANGE[1]).sum()), name
        assert meta["plot"].value.startswith("![")
        assert "|" in meta["preview"].value
    said = materializations(lake["ranged"])["insights"][-1].metadata
    written = table(lake, "gold", "insights")["as_of_date"].astype(str)
    assert said["rows"].value == int((written == RANGE[1]).sum())
    users = table(lake, "silver", "users")
    latest = users[users["as_of_date"].astype(str) == RANGE[1]]
    assert len(latest) == 2  # both listeners have played by then
    assert set(latest["timezone"]) == {"Asia/Kolkata", "UTC"}


def test_mood_by_hour_summarizes_every_play_in_local_time(lake):
    hours = table(lake, "gold", "mood_by_hour")
    hours = hours[hours["as_of_date"].astype(str) == RANGE[1]]
    plays = table(lake, "silver", "plays")
    plays = plays[plays["play_date"].astype(str) <= RANGE[1]]
    tracks = table(lake, "silver", "tracks")
    tracks = tracks[tracks["as_of_date"] == tracks["as_of_date"].max()]
    joined = plays.merge(tracks[["track_id", "valence"]], on="track_id", how="left")
    expected = joined.groupby(["user_id", "local_hour"]).agg(
        plays=("play_id", "size"), avg_valence=("valence", "mean")
    )
    got = hours.set_index(["user_id", "local_hour"]).sort_index()
    assert got["plays"].to_dict() == expected["plays"].to_dict()
    assert got["avg_valence"].to_numpy() == pytest.approx(
        expected["avg_valence"].to_numpy(), nan_ok=True
    )
    # Hours are the listener's: Kolkata is UTC+5:30.
    kolkata = plays[plays["timezone"] == "Asia/Kolkata"]
    utc = pd.to_datetime(kolkata["played_at_utc"])
    utc = utc.dt.tz_localize("UTC") if utc.dt.tz is None else utc
    assert (
        len(kolkata) and (utc.dt.tz_convert("Asia/Kolkata").dt.hour == kolkata["local_hour"]).all()
    )


def test_no_ip_address_or_account_name_reaches_any_table(lake):
    ips = {r["ip_addr"] for f in EXTENDED.glob("*.json") for r in json.loads(f.read_text())}
    for layer, names in TABLES.items():
        for name in names:
            text = table(lake, layer, name).to_json()
            assert not any(ip in text for ip in ips), f"{layer}/{name} holds an IP address"
            assert "efrrowini" not in text and "wardana" not in text


def test_feature_coverage_is_reported(lake):
    meta = materializations(lake["ranged"])["plays"][-1].metadata
    coverage = meta["feature_coverage"].value
    plays = table(lake, "silver", "plays")
    in_range = plays[plays["play_date"].astype(str) >= RANGE[0]]
    assert coverage == pytest.approx(in_range["has_features"].mean(), abs=1e-4)
    assert 0 < coverage < 0.5  # a 10k sample resolves only a small share of real plays


def test_build_job_runs_a_range_as_one_run(lake):
    job = make_definitions().resolve_job_def(build_job.name)
    assert job.partitions_def == daily_partitions
    runs = {lake["single"].run_id, lake["ranged"].run_id}
    assert len(runs) == 2
    days = [dt.date.fromisoformat(d) for d in RANGE]
    mats = materializations(lake["ranged"])["plays"]
    assert sorted(m.partition for m in mats) == [
        (days[0] + dt.timedelta(n)).isoformat() for n in range(3)
    ]


def test_the_mood_classifier_labels_every_track_and_records_its_metrics(lake):
    from moodlake_dagster.ml.store import ModelStore

    meta = materializations(lake["single"])["track_moods"][-1].metadata
    assert meta["macro_auc"].value >= 0.90
    assert meta["macro_auc"].value >= meta["baseline_macro_auc"].value
    # The catalog did not change: the later range found the classifier's inputs unchanged.
    assert materializations(lake["ranged"])["track_moods"][-1].metadata["unchanged"].value
    moods = table(lake, "gold", "track_moods")
    latest = standing(moods, RANGE[1])
    assert set(latest["as_of_date"].astype(str)) == {DAY}
    in_silver = standing(table(lake, "silver", "tracks"), RANGE[1])["track_id"]
    assert set(latest["track_id"]) == set(in_silver)
    metrics = table(lake, "gold", "model_metrics")
    macro = metrics[(metrics["model"] == "mood_classifier") & (metrics["metric"] == "macro_auc")]
    assert sorted(macro["as_of_date"].astype(str)) == [DAY]
    assert (macro["n_eval"] > 500).all() and (macro["baseline"] > 0.5).all()
    estimator, card = ModelStore(lake["settings"].home / "models").load(
        "mood_classifier", dt.date.fromisoformat(RANGE[1])
    )
    assert card["macro_auc"] == meta["macro_auc"].value
    assert set(latest["mood"]) <= set(estimator.classes_)


def test_listening_modes_say_why_a_listener_has_none(lake):
    """One day of a basic export is too few plays for modes: skipped with the reason, no
    crash. (The extended listener's three days reach 30 plays with features only through
    artist estimates.)"""
    meta = materializations(lake["ranged"])["listening_modes"][-1].metadata
    assert meta["users_with_modes"].value == 1
    reasons = meta["users_skipped"].value
    assert reasons and all("at least 30 needed" in r for r in reasons.values())


def test_the_preference_model_says_why_it_cannot_judge(lake):
    result = lake["ranged"]
    (check,) = [
        c
        for c in result.get_asset_check_evaluations()
        if c.asset_key.path[-1] == "preference_model" and c.check_name == "auc_bar"
    ]
    assert check.severity == dg.AssetCheckSeverity.WARN
    assert check.description.startswith("cannot judge")
    meta = materializations(result)["preference_model"][-1].metadata
    assert meta["users_trained"].value == 0
    assert all("at least 200 needed" in r for r in meta["users_skipped"].value.values())
    rows = table(lake, "gold", "preference_model")
    assert set(rows["status"]) == {"skipped"} and rows["reason"].notna().all()


def test_recommendations_and_als_say_why_three_days_are_not_enough(lake):
    mats = materializations(lake["ranged"])
    als_meta = mats["als_recommendations"][-1].metadata
    assert als_meta["unit"].value == "session"  # two listeners: sessions stand in
    assert "need at least 5" in als_meta["not_evaluated"].value
    assert als_meta["plays_used"].value > 0
    recs = mats["recommendations"][-1].metadata
    assert recs["listeners"].value == 1  # the extended listener, through artist estimates
    assert all("at least 50 needed" in r for r in recs["listeners_skipped"].value.values())


def test_a_later_day_carries_the_mood_explanations_over_as_a_fresh_run_would_make_them(lake):
    """The catalog did not change between the first day and the range: the range explained its
    recommendations afresh and carried the mood labels' explanations over, row for row what
    explaining them again gives."""
    from moodlake_dagster.ml import explain
    from moodlake_dagster.ml.store import ModelStore

    text_meta = materializations(lake["ranged"])["explanations"][-1].metadata
    assert (
        materializations(lake["single"])["explanations"][-1]
        .metadata["mood_explanations_carried_over"]
        .value
        == 0
    )
    carried = text_meta["mood_explanations_carried_over"].value
    moods = standing(table(lake, "gold", "track_moods"), RANGE[1])
    assert carried == len(moods) > 0
    estimator, _ = ModelStore(lake["settings"].home / "models").load(
        "mood_classifier", dt.date.fromisoformat(RANGE[1])
    )
    tracks = standing(table(lake, "silver", "tracks"), RANGE[1])
    (fresh_shap,), (fresh_text,) = explain.explain_moods(moods, tracks, estimator)
    for name, fresh in (("shap_values", fresh_shap), ("explanations", fresh_text)):
        stored = table(lake, "gold", name)
        stored = stored[(stored["as_of_date"].astype(str) == RANGE[1])]
        stored = stored[stored["subject"] == "mood"][fresh.columns]
        order = [c for c in ("track_id", "label", "feature") if c in fresh.columns]
        left = stored.sort_values(order).reset_index(drop=True)
        right = fresh.sort_values(order).reset_index(drop=True)
        pd.testing.assert_frame_equal(left, right, check_dtype=False, check_exact=False)


def test_every_track_mood_is_explained_and_adds_up(lake):
    result = lake["ranged"]
    checks = {(c.asset_key.path[-1], c.check_name): c for c in result.get_asset_check_evaluations()}
    assert checks[("shap_values", "shap_sums_to_output")].passed
    text = table(lake, "gold", "explanations")
    latest = text[text["as_of_date"].astype(str) == RANGE[1]]
    moods = table(lake, "gold", "track_moods")
    labelled = standing(moods, RANGE[1])
    assert set(latest.loc[latest["subject"] == "mood", "track_id"]) == set(labelled["track_id"])
    sentences = latest.groupby("subject")["sentence"]
    assert sentences.get_group("mood").str.startswith("Labelled ").all()
    assert sentences.get_group("recommendation").str.startswith("Recommended because").all()
    meta = materializations(result)["shap_values"][-1].metadata
    assert meta["plot"].value.startswith("![")
    assert re.search(r"\|\s*shap_value\s*\|", meta["preview"].value)
    assert materializations(result)["explanations"][-1].metadata["plot"].value.startswith("![")


def test_the_explanation_plot_draws_one_subjects_contributions(lake):
    from moodlake_dagster.ml.explain import HIDDEN
    from moodlake_dagster.model_plots import shap_pick_plot as pick_plot

    text = table(lake, "gold", "explanations")
    text = text[text["as_of_date"].astype(str) == RANGE[1]]
    shap = table(lake, "gold", "shap_values")
    shap = shap[shap["as_of_date"].astype(str) == RANGE[1]]
    (axes,) = pick_plot(shap, text).axes
    first = text.sort_values(["subject", "rank"], na_position="last").iloc[0]
    mine = shap[(shap["subject"] == first["subject"]) & (shap["track_id"] == first["track_id"])]
    mine = mine[~mine["feature"].isin(HIDDEN)]
    assert sorted(bar.get_width() for bar in axes.patches) == sorted(mine["shap_value"])
    assert axes.get_title(loc="left").replace("\n", " ") == first["sentence"]


def test_sql_over_the_lake_answers_by_table_name(lake, monkeypatch, capsys):
    from moodlake_dagster import cli
    from moodlake_dagster.sql import SqlError, lake_tables, query

    names = set(lake_tables(lake["root"]))
    assert names >= {*TABLES["silver"], *TABLES["gold"], "track_moods", "model_metrics"}
    assert not names & set(TABLES["bronze"])  # Bronze stays raw: not offered to SQL
    plays = table(lake, "silver", "plays")
    counted = query(
        "SELECT play_date, count(*) AS n FROM plays GROUP BY play_date ORDER BY play_date",
        lake["root"],
    ).to_pandas()
    expected = plays.groupby("play_date").size()
    assert counted["n"].tolist() == expected.tolist()
    joined = (
        query(
            "SELECT count(*) AS n FROM plays p JOIN tracks t USING (track_id) "
            f"WHERE t.as_of_date = DATE '{DAY}'",  # the tracks snapshot standing for RANGE
            lake["root"],
        )
        .column("n")[0]
        .as_py()
    )
    assert joined == int(plays["has_features"].sum())
    with pytest.raises(SqlError, match=r"(?s)nope.*tables: .*plays"):
        query("SELECT * FROM nope", lake["root"])
    with pytest.raises(SqlError, match="syntax error"):
        query("SELEC 1", lake["root"])
    with pytest.raises(SqlError, match="read-only"):
        query("DELETE FROM plays", lake["root"])
    monkeypatch.setenv("MOODLAKE_HOME", str(lake["settings"].home))
    assert cli.main(["sql", "--format", "csv", "SELECT count(*) AS n FROM users"]) == 0
    assert capsys.readouterr().out.splitlines() == ["n", str(len(table(lake, "silver", "users")))]
    assert cli.main(["sql", "SELECT * FROM nope"]) == 1
    assert "tables: " in capsys.readouterr().err


def test_the_dashboards_file_holds_gold_and_the_starter_queries_run_on_it(lake):
    """Superset reads serving/duckdb as it is written here: every Gold table with the rows the
    lake holds, no personal column, and each dataset of the starter dashboard runs unchanged
    on the file opened read-only."""
    import duckdb
    import yaml
    from helpers import REPO

    from moodlake_dagster.checks.classification import is_personal
    from moodlake_dagster.serving import table_rows
    from moodlake_dagster.sql import lake_tables
    from moodlake_dagster.tables import TABLES as CATALOG

    path = lake["settings"].serving_file
    rows = table_rows(path)
    gold = {t.name for t in CATALOG.values() if t.layer == "gold"}
    assert set(rows) == gold & set(lake_tables(lake["root"]))
    assert len(rows) >= 25
    for name, count in rows.items():
        assert count == DeltaTable(f"{lake['root']}/gold/{name}").to_pyarrow_dataset().count_rows()
    definition = yaml.safe_load((REPO / "docker" / "superset" / "dashboard.yaml").read_text())
    with duckdb.connect(str(path), read_only=True) as con:
        for name in rows:
            columns = [
                c
                for (c,) in con.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = ?",
                    [name],
                ).fetchall()
            ]
            assert not [c for c in columns if is_personal(CATALOG[f"gold/{name}"].path, c)], name
        for name, dataset in definition["datasets"].items():
            result = con.execute(dataset["sql"]).fetchall()
            assert result and len(result[0]) >= 2, name
    charts = definition["dashboard"]["charts"]
    assert {c["dataset"] for c in charts} == set(definition["datasets"])


def test_trino_registers_every_table_sql_sees(lake):
    """Trino reads the same tables: docker/trino registers each one DuckDB finds in the lake."""

    from helpers import REPO

    from moodlake_dagster.sql import lake_tables

    script = (REPO / "docker" / "trino" / "register_tables.sql").read_text()
    registered = re.findall(r"register_table\('(\w+)', '(\w+)', 'local:///(\w+)/(\w+)'\)", script)
    assert all(schema == layer and name == path for schema, name, layer, path in registered)
    names = {name for _, name, _, _ in registered}
    assert len(names) == len(registered)  # no table registered twice, nor in two schemas
    assert names == {
        *TABLES["silver"],
        *TABLES["gold"],
        *(table.name for table in MODELS),
        *(table.name for table in PLATFORM if table.layer != "bronze"),
        "model_metrics",
    }
    assert set(lake_tables(lake["root"])) <= names


def test_every_table_is_opened_alike_by_independent_readers(lake, spark):
    """DuckDB's own Parquet reader and Spark's, each over the files the Delta log lists, see
    the rows delta-rs sees; the event tables hold a file per run, not per day."""
    import duckdb

    from moodlake_dagster import maintenance, storage

    tables = maintenance.tables(lake["root"])
    assert len(tables) >= 20
    con = duckdb.connect()
    for name, uri in tables:
        delta = DeltaTable(uri)
        rows = delta.to_pyarrow_dataset().count_rows()
        files = delta.file_uris()
        if files:
            hive = bool(delta.metadata().partition_columns)
            sql = f"SELECT count(*) FROM read_parquet({files!r}, hive_partitioning={hive})"
            assert con.execute(sql).fetchone()[0] == rows, name
        assert storage.spark_read(spark, uri).count() == rows, name
    for name in ("bronze/listening_events", "silver/plays"):
        delta = DeltaTable(f"{lake['root']}/{name}")
        assert delta.metadata().partition_columns == [] and len(delta.file_uris()) <= 2, name


def test_mood_by_day_is_each_local_day_computed_by_hand(lake):
    daily = table(lake, "gold", "mood_by_day").set_index(["user_id", "local_date"]).sort_index()
    plays = table(lake, "silver", "plays")
    tracks = table(lake, "silver", "tracks")
    tracks = standing(tracks, RANGE[1])
    joined = plays.merge(tracks[["track_id", "valence", "energy"]], on="track_id", how="left")
    expected = (
        joined.groupby(["user_id", "local_date"])
        .agg(
            plays=("play_id", "size"),
            minutes=("ms_played", lambda ms: ms.sum() / 60_000),
            skip_rate=("skipped", "mean"),
            plays_with_features=("valence", "count"),
            valence_mean=("valence", "mean"),
            energy_std=("energy", "std"),
        )
        .sort_index()
    )
    assert list(daily.index) == list(expected.index)  # every local day with a play, once
    for column in expected.columns:
        assert daily[column].to_numpy() == pytest.approx(
            expected[column].to_numpy(), nan_ok=True
        ), column
    coverage = expected["plays_with_features"] / expected["plays"]
    assert daily["feature_coverage"].to_numpy() == pytest.approx(coverage.to_numpy())
    meta = materializations(lake["ranged"])["mood_by_day"][-1].metadata
    assert meta["plot"].value.startswith("![") and meta["rows"].value > 0


def test_one_new_day_rewrites_only_the_local_days_it_reaches(lake):
    """The daily series follows its data: a run for one UTC day replaces that day's local day
    and its two neighbours, no other row (read from the Delta log and the rows)."""
    from moodlake_dagster.assets.over_time import mood_by_day

    uri = f"{lake['root']}/gold/mood_by_day"
    before = DeltaTable(uri).to_pandas()
    result = dg.materialize(
        [mood_by_day],
        resources=build_resources(lake["settings"]),
        partition_key=RANGE[1],
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    predicate = DeltaTable(uri).history(1)[0]["operationParameters"]["predicate"]
    day = dt.date.fromisoformat(RANGE[1])
    first, last = day - dt.timedelta(days=1), day + dt.timedelta(days=1)
    assert f"'{first}'" in predicate and f"'{last}'" in predicate
    after = DeltaTable(uri).to_pandas()

    def split(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        df = df.sort_values(["user_id", "local_date"]).reset_index(drop=True)
        reached = df["local_date"].between(first, last)
        return df[~reached].reset_index(drop=True), df[reached].reset_index(drop=True)

    (kept_before, redone_before), (kept_after, redone_after) = split(before), split(after)
    pd.testing.assert_frame_equal(kept_before, kept_after)
    # The rewritten days hold what they held: the same plays, computed again.
    assert redone_after["plays"].sum() == redone_before["plays"].sum() > 0


def test_the_second_run_accounts_for_files_without_its_days_unread(lake):
    """The first run read every landing file; the ranged run took the summaries of the files
    with no record on its days (ingest/file_summaries.py) and accounts for the same records."""

    def bronze(result):
        events = materializations(result)["listening_events"]
        return next(m.metadata for m in events if "files_unread" in m.metadata)

    first, second = bronze(lake["single"]), bronze(lake["ranged"])
    assert first["files_unread"].value == 0
    assert 0 < second["files_unread"].value < second["files"].value
    assert second["records_in_files"].value == first["records_in_files"].value > 0
