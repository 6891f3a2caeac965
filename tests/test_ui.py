"""The Dagster UI as a person uses it: `moodlake ui` (webserver and daemon on loopback), a
materialization and a 3-day backfill launched through GraphQL, then the asset graph and an
asset's page in headless Chromium. Screenshots land in tests/artifacts/ui/."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from browser import chromium
from dagster_server import free_port, graphql, launch_backfill, launch_run, running
from helpers import CATALOG_SAMPLE, LAYERS, REPO, ui_env
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from moodlake_dagster.demo.generator import generate_history

# Headless Chromium, on `moodlake ui` over the shared Spark server.
pytestmark = [pytest.mark.browser, pytest.mark.spark]

ARTIFACTS = REPO / "tests" / "artifacts" / "ui"
DAYS = ["2025-01-01", "2025-01-02", "2025-01-03"]
# Asset keys say where each table lives: [layer, name].
BACKFILLED = [[layer, name] for layer in ("bronze", "silver", "gold") for name in LAYERS[layer]]
# Every asset the graph must show, by group; written out so a lost asset fails here.
GROUPS = LAYERS | {
    "bronze": [*LAYERS["bronze"], "spotify_api_responses", "spotify_tracks"],
    "ml": [
        "listening_modes",
        "track_moods",
        "preference_model",
        "als_recommendations",
        "recommendations",
        "shap_values",
        "explanations",
        "farm_flags",
        "listener_segments",
        "churn_risk",
        "popularity_predictions",
        "mood_playlists",
    ],
    # bronze/profiles and silver/profiles, then the Gold platform tables.
    "platform": [
        "profiles",
        "profiles",
        "active_listeners",
        "retention_cohorts",
        "plan_country_mix",
        "crowd_top",
    ],
    "maintenance": ["lake_health"],
    "privacy": ["events"],  # audit/events
}
CHECKS = """
query Checks($keys: [AssetKeyInput!]) {
  assetNodes(assetKeys: $keys) {
    assetKey { path }
    partitionStats { numMaterialized }
    assetChecksOrError {
      __typename
      ... on AssetChecks { checks { name executionForLatestMaterialization { status } } }
    }
  }
}
"""


@pytest.fixture(scope="module")
def ui(tmp_path_factory, spark_url):
    """`moodlake ui` on a free port over a generated history of one listener."""
    root = tmp_path_factory.mktemp("ui")
    generate_history(CATALOG_SAMPLE, root / "landing", users=1, days=5)
    port = free_port()
    env = ui_env(root, spark_url)
    logs = [root / "ui.log"]
    command = [str(Path(sys.executable).with_name("moodlake")), "ui", "--port", str(port)]
    with running([command], env, logs, port, cwd=REPO):
        yield {"port": port, "logs": logs, "root": root}


@pytest.fixture(scope="module")
def built(ui):
    """A one-partition materialization, then a 3-day backfill of Bronze, Silver and Gold."""
    _, status = launch_run(ui["port"], [["bronze", "catalog_tracks"]], DAYS[0], ui["logs"])
    backfill = launch_backfill(ui["port"], BACKFILLED, DAYS, ui["logs"])
    return {"run_status": status, "backfill": backfill}


@pytest.fixture(scope="module")
def browser(ui, built):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # The first visit shows a newsletter dialog over the page; dismiss it as Skip would.
    graphql(ui["port"], "mutation { setNuxSeen }")
    with chromium(ui["root"] / "chromium-profile") as session:
        yield session


def url(ui, path: str) -> str:
    return f"http://127.0.0.1:{ui['port']}{path}"


def settled(browser):
    """Wait out the dialog's fade-in so the screenshot shows what a person sees."""
    WebDriverWait(browser, 10).until(
        lambda b: b.execute_script("return !document.getAnimations().length")
    )


def test_materialization_and_backfill_succeed_with_their_checks(ui, built):
    assert built["run_status"] == "SUCCESS"
    backfill = built["backfill"]
    assert backfill["status"] == "COMPLETED_SUCCESS", backfill
    # Spark-backed assets take the whole range in one run (single-run backfill policy).
    assert [run["status"] for run in backfill["runs"]] == ["SUCCESS"]

    keys = [{"path": path} for path in BACKFILLED]
    nodes = graphql(ui["port"], CHECKS, {"keys": keys})["assetNodes"]
    assert sorted(node["assetKey"]["path"] for node in nodes) == sorted(BACKFILLED)
    for node in nodes:
        name = node["assetKey"]["path"][-1]
        checks = node["assetChecksOrError"]["checks"]
        assert checks, f"{name} has no asset checks"
        for check in checks:
            execution = check["executionForLatestMaterialization"]
            assert execution and execution["status"] == "SUCCEEDED", (name, check)
    events = {n["assetKey"]["path"][-1]: n["partitionStats"]["numMaterialized"] for n in nodes}
    # Event tables hold one partition per day; snapshot tables the whole backfilled range.
    assert events["listening_events"] == len(DAYS)
    assert events["plays"] == len(DAYS)
    assert events["mood_by_hour"] == len(DAYS)


def test_asset_graph_shows_every_group_and_asset(ui, browser):
    browser.get(url(ui, "/asset-groups"))
    sidebar_group = "//div[@title='{}']/ancestor::button[1]"
    for group in GROUPS:
        browser.find_element(By.XPATH, sidebar_group.format(group))
    # The graph starts with groups collapsed: expand them from the graph's settings menu.
    browser.find_elements(By.XPATH, "//button[.//*[@aria-label='settings']]")[-1].click()
    browser.find_element(By.XPATH, "//*[normalize-space(text())='Expand all groups']").click()
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
    zoom_out = browser.find_element(By.XPATH, "//button[.//*[@aria-label='zoom_out']]")
    for _ in range(2):
        zoom_out.click()
    browser.save_screenshot(str(ARTIFACTS / "asset-graph.png"))
    # A small group's own lineage page draws it whole (the global graph, zoomed out to fit 47
    # assets, pans past some; Gold's 16 and ml's 12, drawn too small to label, are checked in
    # the sidebar below).
    for group, drawn in (
        ("bronze", {"catalog_tracks", "listening_events"}),
        ("silver", {"plays", "tracks"}),
        ("platform", {"active_listeners", "crowd_top"}),
    ):
        browser.get(url(ui, f"/locations/__repository__@moodlake/asset-groups/{group}"))
        WebDriverWait(browser, 30).until(
            lambda b, drawn=drawn: drawn <= set(b.find_element(By.TAG_NAME, "body").text.split()),
            message=f"the {group} group's lineage never drew {sorted(drawn)}",
        )
    browser.get(url(ui, "/asset-groups"))

    # The sidebar lists each group's assets, full names, once its caret is open; one group at a
    # time, closed again after, since the sidebar draws only the rows that fit its height.
    def listed(b):
        found = {e.get_attribute("title") for e in b.find_elements(By.CSS_SELECTOR, "[title]")}
        return {title.rsplit("/", 1)[-1].strip() for title in found if title}

    for group, names in GROUPS.items():
        caret = browser.find_element(By.XPATH, sidebar_group.format(group) + "/../../../button")
        caret.click()
        WebDriverWait(browser, 30).until(
            lambda b, names=names: set(names) <= listed(b),
            message=f"the sidebar never listed the {group} group's "
            f"{sorted(set(names) - listed(browser))}",
        )
        caret.click()


def test_asset_page_shows_description_preview_checks_and_plot(ui, browser):
    browser.get(url(ui, "/assets/gold/mood_by_hour"))
    browser.find_element(
        By.XPATH, "//*[contains(text(), 'When in the day is my music brighter or calmer')]"
    )
    # The preview is a markdown table of the materialized rows, pseudonymous user ids, behind
    # its row's "Show Markdown" as the UI shows long Markdown values.
    preview = browser.find_element(By.XPATH, "//tr[.//*[normalize-space(text())='preview']]")
    preview.find_element(By.XPATH, ".//*[contains(text(), 'Show Markdown')]").click()
    browser.find_element(By.XPATH, "//td[starts-with(normalize-space(.), 'u_')]")
    ActionChains(browser).send_keys(Keys.ESCAPE).perform()
    settled(browser)
    row = browser.find_element(By.XPATH, "//tr[.//*[normalize-space(text())='plot']]")
    row.find_element(By.XPATH, ".//*[contains(text(), 'Show Markdown')]").click()
    image = browser.find_element(By.CSS_SELECTOR, "img[src^='data:image/png']")
    WebDriverWait(browser, 30).until(
        lambda b: b.execute_script("return arguments[0].naturalWidth", image) > 100,
        message="the plot image never rendered",
    )
    assert image.get_attribute("alt") == "mood_by_hour"
    settled(browser)
    browser.save_screenshot(str(ARTIFACTS / "asset-plot.png"))

    browser.get(url(ui, "/assets/gold/mood_by_hour?view=checks"))
    browser.find_element(By.XPATH, "//*[normalize-space(text())='pandera_schema']")
    browser.find_element(By.XPATH, "//*[normalize-space(text())='Succeeded']")
    browser.find_element(By.XPATH, "//*[contains(text(), 'Pandera model MoodByHour')]")
    browser.save_screenshot(str(ARTIFACTS / "asset-checks.png"))


def listening_addresses(port: int) -> list[str]:
    """Local addresses listening on `port`, read from the kernel's table (IPv4 and IPv6)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.append(address)
    return found


def test_ui_command_serves_on_loopback_with_the_repository_workspace(ui):
    # 0100007F is 127.0.0.1 in the kernel's little-endian hex.
    assert listening_addresses(ui["port"]) == ["0100007F"]
    query = "{ workspaceOrError { ... on Workspace { locationEntries { name } } } }"
    entries = graphql(ui["port"], query)["workspaceOrError"]["locationEntries"]
    assert [entry["name"] for entry in entries] == ["moodlake"]


COLUMN_TAGS = """
query ColumnTags($keys: [AssetKeyInput!]) {
  assetNodes(assetKeys: $keys) {
    assetKey { path }
    tags { key value }
    metadataEntries {
      ... on TableSchemaMetadataEntry { schema { columns { name tags { key value } } } }
    }
  }
}
"""


def test_the_ui_shows_each_columns_privacy_level_and_the_tables(ui):
    """The quarantine's Columns tab tags each column low, medium or high; its asset tag says
    the highest (checks/classification.py)."""
    keys = [{"path": ["bronze", "quarantine"]}]
    (node,) = graphql(ui["port"], COLUMN_TAGS, {"keys": keys})["assetNodes"]
    assert {"key": "pii", "value": "high"} in node["tags"]
    (entry,) = [e for e in node["metadataEntries"] if e]
    tags = {c["name"]: c["tags"] for c in entry["schema"]["columns"]}
    assert tags["raw"] == [{"key": "pii", "value": "high"}]
    assert tags["asset"] == [{"key": "pii", "value": "low"}]
    assert tags["source_file"] == [{"key": "pii", "value": "medium"}]
