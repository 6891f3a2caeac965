"""`moodlake serve` as a listener and a program use it: the real server in a subprocess over a
lake the CLI built, every endpoint called over loopback with a real HTTP client and checked
against what Gold holds (read here with deltalake), the access rules, bad input, a small load
test, and the page in headless Chromium (screenshots in tests/artifacts/)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import requests
from dagster_server import free_port, start, stop, wait_for
from deltalake import DeltaTable
from helpers import CATALOG_SAMPLE, EXTENDED, REPO, cli_env, run_cli

from moodlake_dagster.demo.generator import generate_history
from moodlake_dagster.ingest.privacy import pseudonymize

pytestmark = pytest.mark.spark

KEY = "serve-test-key"
START, DAYS = dt.date(2025, 1, 1), 7
END = START + dt.timedelta(days=DAYS - 1)
# Alice: a generated history over the catalog sample (every play has audio features, so the
# models and recommendations exist). Bob: his real plays of a week of the Extended Streaming
# History, moved to the same days; few resolve to the 10k-track sample, so he has no list.
ALICE_NAME, BOB_NAME = "alice.serve.1987", "bob.serve.1990"
ALICE, BOB = pseudonymize(ALICE_NAME, KEY.encode()), pseudonymize(BOB_NAME, KEY.encode())
REAL_WEEK = dt.date(2024, 8, 5)
PARTS = ("night", "morning", "afternoon", "evening")
ARTIFACTS = REPO / "tests" / "artifacts"
MOODLAKE = str(Path(sys.executable).with_name("moodlake"))


def _landing(landing: Path, scratch: Path) -> None:
    generate_history(CATALOG_SAMPLE, scratch, users=1, days=DAYS, start=START)
    (scratch / "demo-listener-1").rename(landing / ALICE_NAME)
    shift = dt.timedelta(days=(START - REAL_WEEK).days)
    records = json.loads((EXTENDED / "Streaming_History_Audio_2024.json").read_text())
    bob = []
    for r in records:
        ts = dt.datetime.fromisoformat(r["ts"].replace("Z", "+00:00")) + shift
        if START <= ts.date() <= END:
            bob.append(r | {"ts": ts.strftime("%Y-%m-%dT%H:%M:%SZ")})
    (landing / BOB_NAME).mkdir()
    (landing / BOB_NAME / "Streaming_History_Audio_2024.json").write_text(json.dumps(bob))


@pytest.fixture(scope="module")
def lake(spark_url, tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    (root / "landing").mkdir()
    _landing(root / "landing", root / "generated")
    # cli_env restores DAGSTER_HOME to unset: the build sets it, and it must not leak.
    with cli_env(root, spark_url, KEY) as (_, env):
        code, out = run_cli("build", "--start", START.isoformat(), "--end", END.isoformat())
        assert code == 0, out
        tokens = {}
        for name, user in ((ALICE_NAME, ALICE), (BOB_NAME, BOB)):
            code, out = run_cli("serve", "token", "--user", name)
            assert code == 0 and user in out, out
            tokens[user] = out.strip().splitlines()[-1]
        code, out = run_cli("serve", "token", "--user", "nobody")
        assert code == 1 and "no listener" in out
    server_env = os.environ | env
    server_env.pop("DAGSTER_HOME", None)
    yield {
        "root": root,
        "home": root / "home",
        "lake": root / "home" / "lake",
        "tokens": tokens,
        "env": server_env,
    }


@contextlib.contextmanager
def serving(lake, *extra: str, log_name: str = "serve.log"):
    port = free_port()
    log = lake["root"] / log_name
    process = start([MOODLAKE, "serve", "--port", str(port), *extra], lake["env"], log, REPO)

    def up():
        try:
            return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).ok
        except requests.RequestException:
            return False

    try:
        wait_for(up, 60, "moodlake serve", [log], every_s=0.3)
        yield f"http://127.0.0.1:{port}", log
    finally:
        stop([process])


@pytest.fixture(scope="module")
def server(lake):
    with serving(lake) as (base, log):
        yield {"base": base, "log": log}


def get(server, path: str, token: str | None = None, **params):
    headers = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    response = requests.get(server["base"] + path, headers=headers, params=params, timeout=10)
    return response


def gold(lake, path: str) -> pd.DataFrame:
    return DeltaTable(str(lake["lake"] / path)).to_pandas()


def numbers(values) -> list[float]:
    """JSON's null as the NaN pandas reads."""
    return [float("nan") if v is None else v for v in values]


def latest(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["as_of_date"] == frame["as_of_date"].max()]


ENDPOINTS = [
    "/api/me",
    "/api/me/recommendations",
    "/api/me/moods",
    "/api/me/modes",
    "/api/me/genres",
    "/api/me/insights",
]


# --- Tokens ------------------------------------------------------------------------------


def test_tokens_are_stored_hashed_and_private(lake):
    path = lake["home"] / "serve" / "tokens.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    stored = json.loads(text)["tokens"]
    assert {e["user_id"] for e in stored} == {ALICE, BOB}
    for token in lake["tokens"].values():
        assert token not in text and len(token) >= 40


# --- Every endpoint, against Gold ----------------------------------------------------------


def test_me_is_the_tokens_listener_as_silver_holds_them(lake, server):
    users = latest(gold(lake, "silver/users")).set_index("user_id")
    for user, token in lake["tokens"].items():
        body = get(server, "/api/me", token=token).json()
        assert body["user_id"] == user
        assert body["timezone"] == users.loc[user, "timezone"]
        assert body["plays"] == users.loc[user, "plays"]
        assert body["feature_coverage"] == pytest.approx(users.loc[user, "feature_coverage"])


def test_recommendations_equal_gold_with_their_sentences(lake, server):
    recs = latest(gold(lake, "gold/recommendations"))
    sentences = gold(lake, "gold/explanations")
    sentences = sentences[
        (sentences["subject"] == "recommendation")
        & (sentences["as_of_date"] == recs["as_of_date"].max())
    ]
    token = lake["tokens"][ALICE]
    assert (recs["user_id"] == ALICE).any(), "the generated listener should have a list"
    for mode in ("mirror", "coach"):
        for part in PARTS:
            r = get(server, "/api/me/recommendations", token=token, mode=mode, day_part=part)
            assert r.status_code == 200, r.text
            body = r.json()
            want = recs[
                (recs["user_id"] == ALICE) & (recs["mode"] == mode) & (recs["day_part"] == part)
            ].sort_values("rank")
            assert (body["mode"], body["day_part"]) == (mode, part)
            assert [p["track_id"] for p in body["picks"]] == want["track_id"].tolist()
            assert [p["rank"] for p in body["picks"]] == want["rank"].tolist()
            score = "match_score" if mode == "mirror" else "improvement_score"
            got = numbers(p[score] for p in body["picks"])
            assert got == pytest.approx(want[score].tolist(), nan_ok=True)
            said = sentences[
                (sentences["user_id"] == ALICE)
                & (sentences["mode"] == mode)
                & (sentences["day_part"] == part)
            ].set_index("rank")["sentence"]
            for pick in body["picks"]:
                assert pick["sentence"] == said.get(pick["rank"]), pick
    # Without a day part: the current one in the listener's time zone.
    body = get(server, "/api/me/recommendations", token=token).json()
    assert body["mode"] == "mirror" and body["day_part"] in {
        "night",
        "morning",
        "afternoon",
        "evening",
    }


def test_a_listener_without_a_list_is_told_why(lake, server):
    recs = latest(gold(lake, "gold/recommendations"))
    assert not (recs["user_id"] == BOB).any()
    body = get(server, "/api/me/recommendations", token=lake["tokens"][BOB], mode="coach").json()
    assert body["picks"] == []
    assert body["why"].startswith(f"no recommendations yet for {BOB}")
    assert "plays" in body["why"]  # the build's reason: too few plays with audio features


def test_moods_equal_gold(lake, server):
    by_hour = latest(gold(lake, "gold/mood_by_hour"))
    by_part = latest(gold(lake, "gold/listening_by_daypart"))
    by_day = gold(lake, "gold/mood_by_day")
    for user, token in lake["tokens"].items():
        body = get(server, "/api/me/moods", token=token).json()
        hours = by_hour[by_hour["user_id"] == user].sort_values("local_hour")
        assert [h["local_hour"] for h in body["by_hour"]] == hours["local_hour"].tolist()
        assert [h["plays"] for h in body["by_hour"]] == hours["plays"].tolist()
        got = numbers(h["avg_valence"] for h in body["by_hour"])
        assert got == pytest.approx(hours["avg_valence"].tolist(), nan_ok=True)
        parts = by_part[by_part["user_id"] == user]
        assert sum(c["plays"] for c in body["by_day_part_weekday"]) == parts["plays"].sum()
        days = by_day[by_day["user_id"] == user].sort_values("local_date")
        assert [d["local_date"] for d in body["by_day"]] == [
            d.isoformat() for d in days["local_date"]
        ]
        assert [d["plays"] for d in body["by_day"]] == days["plays"].tolist()


def test_modes_genres_and_insights_equal_gold(lake, server):
    token = lake["tokens"][ALICE]
    modes = latest(gold(lake, "gold/listening_modes"))
    modes = modes[modes["user_id"] == ALICE].sort_values("share", ascending=False)
    body = get(server, "/api/me/modes", token=token).json()
    assert [m["name"] for m in body["modes"]] == modes["name"].tolist() and len(modes)
    assert [m["share"] for m in body["modes"]] == pytest.approx(modes["share"].tolist())

    mix = latest(gold(lake, "gold/genre_mix"))
    mix = mix[mix["user_id"] == ALICE].sort_values("rank").head(15)
    body = get(server, "/api/me/genres", token=token).json()
    assert [g["genre"] for g in body["top"]] == mix["genre"].tolist()
    shares = [g["share"] for g in body["top"]]
    assert shares == sorted(shares, reverse=True) and len(shares) > 1
    gaps = latest(gold(lake, "gold/feature_gaps"))
    assert {g["feature"] for g in body["gaps"]} == set(gaps[gaps["user_id"] == ALICE]["feature"])
    assert all(not g["explored"] for g in body["unexplored"])

    said = latest(gold(lake, "gold/insights"))
    said = said[said["user_id"] == ALICE].sort_values("rank")
    body = get(server, "/api/me/insights", token=token).json()
    assert [i["sentence"] for i in body["insights"]] == said["sentence"].tolist()


def test_explanations_of_a_pick_equal_gold_and_an_unknown_track_is_404(lake, server):
    token = lake["tokens"][ALICE]
    first = get(server, "/api/me/recommendations", token=token, mode="coach", day_part="evening")
    pick = first.json()["picks"][0]
    body = get(server, f"/api/me/explanations/{pick['track_id']}", token=token).json()
    assert body["track_id"] == pick["track_id"] and body["track_name"] == pick["track_name"]
    sentences = {e["sentence"] for e in body["explanations"]}
    assert pick["sentence"] in sentences
    table = gold(lake, "gold/explanations")
    mine = table[(table["track_id"] == pick["track_id"]) & (table["user_id"] == ALICE)]
    assert set(mine["sentence"]) <= sentences
    missing = get(server, "/api/me/explanations/no-such-track", token=token)
    assert missing.status_code == 404 and "no-such-track" in missing.json()["error"]


def test_the_openapi_schema_lists_every_endpoint(server):
    schema = requests.get(server["base"] + "/openapi.json", timeout=10).json()
    assert schema["openapi"].startswith("3.")
    assert set(ENDPOINTS) | {"/api/me/explanations/{track_id}"} <= set(schema["paths"])


# --- Who sees what ---------------------------------------------------------------------------


def test_no_token_a_forged_one_or_another_listeners_id_sees_nothing(lake, server):
    forged = "x" * 43
    for path in [*ENDPOINTS, "/api/me/explanations/anything"]:
        for token in (None, forged, ""):
            r = get(server, path, token=token)
            assert r.status_code == 401, (path, token, r.text)
            assert r.json()["error"] and ALICE not in r.text and BOB not in r.text
        asked = get(server, path, token=lake["tokens"][BOB], user=ALICE)
        assert asked.status_code == 403 and ALICE not in asked.text and BOB not in asked.text
    basic = requests.get(
        server["base"] + "/api/me", headers={"Authorization": "Basic YTpi"}, timeout=10
    )
    assert basic.status_code == 401


def test_a_listeners_answers_never_hold_the_other_pseudonym(lake, server):
    for user, other in ((ALICE, BOB), (BOB, ALICE)):
        token = lake["tokens"][user]
        for path in ENDPOINTS:
            for mode in ("mirror", "coach"):
                params = {"mode": mode} if path.endswith("recommendations") else {}
                r = get(server, path, token=token, **params)
                assert r.status_code == 200, r.text
                assert user in r.text and other not in r.text, path


# --- Bad input --------------------------------------------------------------------------------


def test_bad_parameters_are_clear_4xx_and_the_server_keeps_serving(lake, server):
    token = lake["tokens"][ALICE]
    cases = [
        ({"mode": "loud"}, 400, "mode must be one of mirror, coach"),
        ({"day_part": "dawn"}, 400, "day_part must be one of"),
        ({"limit": "5"}, 400, "unknown parameter"),
        ({"mode": "m" * 10_000}, 414, "query string over"),
    ]
    for params, status, message in cases:
        r = get(server, "/api/me/recommendations", token=token, **params)
        assert r.status_code == status, r.text[:200]
        assert message in r.json()["error"]
        assert len(r.content) < 500  # the bad value is not echoed back at length
    assert requests.get(server["base"] + "/api/nothing", timeout=10).status_code == 404
    assert get(server, "/api/me", token=token).status_code == 200


def test_a_small_load_over_loopback_has_no_errors(lake, server):
    token = lake["tokens"][ALICE]
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    url = server["base"] + "/api/me/recommendations?mode=coach&day_part=evening"
    timings, began = [], time.monotonic()
    for _ in range(300):
        t = time.perf_counter()
        r = session.get(url, timeout=10)
        timings.append(time.perf_counter() - t)
        assert r.status_code == 200
    assert time.monotonic() - began < 60
    timings.sort()
    p99 = timings[int(0.99 * len(timings)) - 1] * 1000
    print(f"300 recommendation calls: p50 {timings[150] * 1000:.2f} ms, p99 {p99:.2f} ms")


# --- A new Gold snapshot, and --open -----------------------------------------------------------


def test_open_mode_serves_one_listener_without_tokens_and_says_so(lake):
    with serving(lake, "--open", "--user", ALICE_NAME, log_name="open.log") as (base, log):
        body = requests.get(base + "/api/me", timeout=10).json()
        assert body["user_id"] == ALICE
        assert BOB not in requests.get(base + "/api/me/moods", timeout=10).text
        assert "OPEN MODE" in log.read_text()
    code, out = _run_env(lake, "serve", "--open")
    assert code == 1 and "several listeners" in out


def _run_env(lake, *argv: str) -> tuple[int, str]:
    with pytest.MonkeyPatch.context() as patch:
        for name in ("MOODLAKE_HOME", "MOODLAKE_LANDING", "MOODLAKE_PSEUDONYM_KEY"):
            patch.setenv(name, lake["env"][name])
        return run_cli(*argv)


def test_a_new_gold_version_is_served_without_a_restart(lake, server):
    """A commit to gold/insights (as a build makes) shows within the version check's period."""
    from deltalake import write_deltalake

    token = lake["tokens"][BOB]
    uri = str(lake["lake"] / "gold" / "insights")
    table = DeltaTable(uri).to_pyarrow_table()
    frame = table.to_pandas()
    day = frame["as_of_date"].max()
    extra = frame[frame["as_of_date"] == day].head(1).copy()
    if not len(extra):
        pytest.skip("no insight rows to copy")
    extra["user_id"], extra["rank"] = BOB, 999
    extra["sentence"] = "A sentence written after the server started."
    import pyarrow as pa

    write_deltalake(uri, pa.Table.from_pandas(extra, schema=table.schema), mode="append")

    def served():
        body = get(server, "/api/me/insights", token=token).json()
        return any(i["rank"] == 999 for i in body["insights"]) and body

    body = wait_for(served, 20, "the new insights version", [server["log"]], every_s=0.5)
    assert body["as_of_date"] == day.isoformat() and ALICE not in json.dumps(body)


# --- The page ----------------------------------------------------------------------------------


@pytest.mark.browser
def test_the_page_draws_the_charts_and_the_first_coach_pick(lake, server, tmp_path):
    from browser import chromium
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    token = lake["tokens"][ALICE]
    with chromium(tmp_path / "profile") as browser:
        browser.get(f"{server['base']}/#token={token}")
        WebDriverWait(browser, 30).until(
            lambda b: (
                b.execute_script("return document.body.dataset.ready === 'true'")
                or b.find_element(By.ID, "error").is_displayed()
            )
        )
        assert not browser.find_element(By.ID, "error").is_displayed(), browser.find_element(
            By.ID, "error"
        ).text
        assert token not in browser.current_url  # taken out of the address bar
        hour_points = browser.find_elements(By.CSS_SELECTOR, "#chart-hour svg circle.point")
        cells = browser.find_elements(By.CSS_SELECTOR, "#chart-week svg rect.cell")
        day_points = browser.find_elements(By.CSS_SELECTOR, "#chart-day svg circle.point")
        mode_bars = browser.find_elements(By.CSS_SELECTOR, "#chart-modes svg rect.bar")
        assert hour_points and cells and day_points and mode_bars
        part = browser.find_element(By.ID, "part-name").text
        body = get(server, "/api/me/recommendations", token=token, mode="coach", day_part=part)
        first = body.json()["picks"][0]
        shown = browser.find_element(By.CSS_SELECTOR, "#coach li.pick .sentence").text
        assert shown == first["sentence"]
        assert BOB not in browser.page_source
        height = browser.execute_script("return document.documentElement.scrollHeight")
        browser.set_window_size(1280, min(height + 140, 6000))  # the whole page in one image
        browser.save_screenshot(str(ARTIFACTS / "serve.png"))
        # A phone's width: one column, nothing wider than the screen.
        browser.set_window_size(390, 844)
        browser.refresh()
        WebDriverWait(browser, 30).until(
            lambda b: b.execute_script("return document.body.dataset.ready === 'true'")
        )
        wide = browser.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert wide <= 1
        browser.save_screenshot(str(ARTIFACTS / "serve-phone.png"))


def test_the_serve_process_stops_cleanly(lake):
    with serving(lake, log_name="stop.log") as (base, log):
        assert requests.get(base + "/", timeout=10).text.startswith("<!doctype html>")
    assert "Traceback" not in log.read_text()


def test_subprocess_import_is_light():
    """`moodlake --help` does not load the web stack (the serve command imports it itself)."""
    code = "import sys, moodlake_dagster.cli; print('uvicorn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
