"""`moodlake recommend` read from a small hand-written Gold lake (reports.py): which
listener, which build, which list, and the words around it; delta-rs only."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pytest

from moodlake_dagster import storage
from moodlake_dagster.ingest.privacy import pseudonymize
from moodlake_dagster.reports import ReportError, recommendation_report, resolve_user

KEY = b"report-key"
ANN = pseudonymize("ann", KEY)
BOB = pseudonymize("bob", KEY)
DAY = dt.date(2025, 3, 1)


def _write(lake: str, name: str, rows: list[dict], day: dt.date = DAY) -> None:
    table = pa.Table.from_pylist([{"as_of_date": day} | r for r in rows])
    uri = storage.table_uri(lake, "gold", name)
    storage.replace_range(uri, table, column="as_of_date", start=day, end=day)


def _pick(mode: str, rank: int, **extra) -> dict:
    return {
        "user_id": ANN,
        "day_part": "evening",
        "mode": mode,
        "rank": rank,
        "track_id": f"{mode}{rank}",
        "track_name": f"Song {mode} {rank}",
        "artists": f"Artist {rank}",
        "genre": "jazz",
        "match_score": 0.9 - rank / 10,
        "improvement_score": 0.5 - rank / 10,
        "delta_valence": 0.1,
        "delta_energy": -0.02,
        "new_artist": rank == 1,
        "recent_over": "your evenings of the last 14 days",
        "recent_valence": 0.35,
        "recent_energy": 0.5,
        "coach_nudging": mode == "coach",
        "low_valence_days": 3,
    } | extra


@pytest.fixture
def lake(tmp_path) -> str:
    root = str(tmp_path / "lake")
    picks = [_pick("mirror", r) for r in (2, 1, 3)] + [_pick("coach", 1)]
    picks.append(_pick("mirror", 1, day_part="night", track_id="night1"))
    _write(root, "recommendations", picks)
    sentence = {"subject": "recommendation", "user_id": ANN, "day_part": "evening"}
    _write(
        root,
        "explanations",
        [
            sentence | {"mode": "mirror", "rank": 1, "sentence": "Because of its valence."},
            {"subject": "mood", "user_id": None, "day_part": None, "mode": None, "rank": None}
            | {"sentence": "Labelled happy."},
        ],
    )
    _write(root, "als_recommendations", [{"user_id": ANN, "basis": "sessions stand in"}])
    _write(
        root,
        "model_metrics",
        [
            {
                "model": "match_model",
                "metric": "not_recommended",
                "note": f"{BOB}: 40 plays through with audio features; at least 50 needed",
            }
        ],
    )
    return root


def report(lake, **kw):
    args = {"user": "ann", "mode": "mirror", "day_part": "evening", "as_of": None, "key": KEY}
    return recommendation_report(lake, **(args | kw))


def test_a_listener_is_named_by_pseudonym_or_by_account():
    known = [ANN, BOB]
    assert resolve_user(ANN, known, KEY) == ANN
    assert resolve_user("Ann", known, KEY) == ANN  # an account name, pseudonymized
    assert resolve_user(None, [ANN], KEY) == ANN  # the only one
    with pytest.raises(ReportError, match=f"several listeners, choose one with --user: {ANN}"):
        resolve_user(None, known, KEY)
    with pytest.raises(ReportError, match="no recommendations for 'carol'"):
        resolve_user("carol", known, KEY)


def test_the_picks_are_one_list_in_rank_order_with_their_sentences(lake):
    found = report(lake)
    assert found.user_id == ANN and found.as_of == DAY
    assert found.picks["track_id"].tolist() == ["mirror1", "mirror2", "mirror3"]
    assert found.picks["sentence"].tolist()[0] == "Because of its valence."
    assert found.picks["sentence"].isna().tolist()[1:] == [True, True]
    assert found.als_basis == "sessions stand in"
    assert report(lake, limit=2).picks["rank"].tolist() == [1, 2]
    text = found.text().splitlines()
    assert text[0] == f"Mirror picks for {ANN}, evenings, as of {DAY}"
    assert text[1] == "  1. Song mirror 1 — Artist 1  [jazz · new artist]"
    assert text[2] == "     match 0.80, Δvalence +0.10, Δenergy -0.02"
    assert text[3] == "     Because of its valence."
    assert text[-1] == "Collaborative filtering (ALS): sessions stand in."
    data = json.loads(found.json())
    assert data["user_id"] == ANN and [p["rank"] for p in data["picks"]] == [1, 2, 3]


def test_the_coach_says_where_it_starts_and_why_it_nudges(lake):
    text = report(lake, mode="coach").text()
    assert "  one small step up from your evenings of the last 14 days " in text
    assert "(valence 0.35, energy 0.50)" in text
    assert "  after 3 low-valence days in a row: brighter tracks only" in text
    assert "improvement 0.40" in text


def test_a_listener_without_a_list_is_told_why_and_what_would_help(lake):
    with pytest.raises(ReportError) as err:
        report(lake, user="bob")
    message = str(err.value)
    assert message.startswith(f"no recommendations for {BOB} as of {DAY}: 40 plays through")
    assert "moodlake catalog add" in message  # the catalog hint for missing audio features


def test_a_later_build_that_made_no_list_is_the_current_one(lake):
    later = DAY + dt.timedelta(days=7)
    _write(
        lake,
        "model_metrics",
        [{"model": "match_model", "metric": "not_recommended", "note": f"{ANN}: 12 plays"}],
        day=later,
    )
    with pytest.raises(ReportError, match=f"no recommendations for {ANN} as of {later}: 12 plays"):
        report(lake)
    # Asked as of the earlier day, the earlier lists still answer.
    assert len(report(lake, as_of=DAY).picks) == 3


def test_an_empty_lake_says_to_build_first(tmp_path):
    with pytest.raises(ReportError, match="no recommendations yet: run `moodlake build`"):
        report(str(tmp_path / "lake"))


def _insights(lake_root: str, day: dt.date, rows: list[dict]) -> None:
    from moodlake_dagster.tables import INSIGHTS

    base = {"kind": "habit", "subject": "sessions", "evidence": "{}", "test": None}
    base |= {"p_value": None, "p_adjusted": None, "n": 25, "sources": ["gold/session_summary"]}
    table = pa.Table.from_pylist(
        [base | row | {"as_of_date": day} for row in rows], schema=INSIGHTS.schema
    )
    uri = storage.table_uri(lake_root, "gold", "insights")
    storage.replace_range(uri, table, column="as_of_date", start=day, end=day)


def test_moodlake_insights_prints_a_listeners_sentences_in_rank_order(
    tmp_path, monkeypatch, capsys
):
    from moodlake_dagster import cli

    key = "insights-key"
    ann, bo = pseudonymize("ann", key.encode()), pseudonymize("bo", key.encode())
    root = str(tmp_path / "home" / "lake")
    _insights(
        root,
        dt.date(2024, 7, 1),
        [
            {"user_id": ann, "rank": 2, "sentence": "Second thing about Ann."},
            {"user_id": bo, "rank": 1, "sentence": "Bo's only sentence."},
            {
                "user_id": ann,
                "rank": 1,
                "sentence": "First thing about Ann.",
                "p_value": 0.01,
                "p_adjusted": 0.02,
                "test": "t",
                "evidence": '{"value": 3.5}',
            },
        ],
    )
    _insights(root, dt.date(2024, 6, 1), [{"user_id": ann, "rank": 1, "sentence": "Older news."}])
    monkeypatch.setenv("MOODLAKE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MOODLAKE_PSEUDONYM_KEY", key)
    assert cli.main(["insights", "--user", "ann"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"Insights for {ann} as of 2024-07-01",
        "  1. First thing about Ann.",
        "  2. Second thing about Ann.",
    ]
    assert cli.main(["insights", "--user", ann, "--as-of", "2024-06-15", "--json"]) == 0
    older = json.loads(capsys.readouterr().out)
    assert older["as_of"] == "2024-06-01" and [i["sentence"] for i in older["insights"]] == [
        "Older news."
    ]
    assert cli.main(["insights", "--user", "cleo"]) == 1
    assert "nothing the data supports about 'cleo'" in capsys.readouterr().err
    assert cli.main(["insights"]) == 1  # two listeners: which one?
    assert "several listeners" in capsys.readouterr().err
