"""Materialization metadata a person reads in the Dagster UI: previews, tables and plots.

Plots are PNGs embedded in Markdown metadata, so they render on the asset page with no extra
service. Each plot function takes a pandas DataFrame of a Gold table and returns a Figure.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping

import dagster as dg
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.layout_engine import ConstrainedLayoutEngine  # noqa: E402

from moodlake_dagster.vocabulary import DAY_PARTS  # noqa: E402

WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
# Bars beside their baseline up to this many scored things; a point each beyond.
MAX_BARS = 24


def preview(df: pd.DataFrame, rows: int = 10) -> dg.MetadataValue:
    shown = df.head(rows).copy()
    for column in shown.columns:
        if shown[column].dtype == object:
            shown[column] = shown[column].map(lambda v: str(v)[:60])
    return dg.MetadataValue.md(shown.to_markdown(index=False, floatfmt=".3f"))


def figure_md(fig: plt.Figure, alt: str) -> dg.MetadataValue:
    buffer = io.BytesIO()
    # A constrained layout fits its figure already; a tight box would draw it twice over.
    tight = None if isinstance(fig.get_layout_engine(), ConstrainedLayoutEngine) else "tight"
    fig.savefig(buffer, format="png", dpi=90, bbox_inches=tight)
    plt.close(fig)
    encoded = base64.b64encode(buffer.getvalue()).decode()
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{encoded})")


def files_read_md(accounting: list[dict]) -> dg.MetadataValue:
    """The history files a run read (`ingest.history.file_accounting`), one row each."""
    lines = ["| file | format | records | landed, by kind | quarantined | not read because |"]
    lines.append("|---|---|---|---|---|---|")
    for row in accounting:
        kinds = ", ".join(f"{k} {n}" for k, n in row.get("kinds", {}).items())
        lines.append(
            f"| {row['file']} | {row['format'] or '—'} | {row['records']} | {kinds or '—'} "
            f"| {row.get('quarantined', 0)} | {row.get('reason', '')} |"
        )
    return dg.MetadataValue.md("\n".join(lines))


def catalog_files_md(accounting: list[dict]) -> dg.MetadataValue:
    """The catalog files a run read (`MergedCatalog.accounting`), in precedence order."""
    lines = ["| file | layout | records | landed | quarantined | superseded |", "|---" * 6 + "|"]
    lines += [
        f"| {f['file']} | {f['layout']} | {f['records_in']} | {f['rows_landed']} "
        f"| {f['rows_quarantined']} | {f['rows_superseded']} |"
        for f in accounting
    ]
    return dg.MetadataValue.md("\n".join(lines))


def quarantine_md(bad: list, rows: int = 10) -> dg.MetadataValue:
    """The first quarantined records (`ingest.records.BadRecord`): where, and why."""
    lines = ["| file | record | reason |", "|---|---|---|"]
    lines += [
        f"| {b.source_file} | {b.record_index} | {b.reason.replace('|', '/')} |" for b in bad[:rows]
    ]
    return dg.MetadataValue.md("\n".join(lines) if bad else "nothing quarantined")


def main_user(df: pd.DataFrame) -> str | None:
    """The user with the most rows: plots show one person, named by pseudonym."""
    return None if df.empty else most_rows(df["user_id"].value_counts().to_dict())


def most_rows(counts: Mapping[str, int]) -> str:
    """The listener with the most rows, the first by pseudonym on a tie (whatever the order
    the rows came in)."""
    return str(min(counts, key=lambda user: (-counts[user], user)))


def daypart_plot(df: pd.DataFrame) -> plt.Figure:
    user = main_user(df)
    mine = df[df["user_id"] == user]
    order = list(DAY_PARTS)
    grid = mine.pivot_table(index="day_part", columns="weekday", values="plays", aggfunc="sum")
    grid = grid.reindex(index=order, columns=range(1, 8)).fillna(0)
    mood = (
        mine.groupby("day_part")
        .apply(
            lambda g: (
                (g["avg_valence"] * g["plays_with_features"]).sum()
                / max(g["plays_with_features"].sum(), 1)
            ),
            include_groups=False,
        )
        .reindex(order)
    )
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(10.5, 3.2), width_ratios=[3, 1.4], layout="constrained"
    )
    image = left.imshow(grid.values, cmap="viridis", aspect="auto")
    left.set_xticks(range(7), WEEKDAYS)
    left.set_yticks(range(len(order)), order)
    left.set_title(f"Plays by day part and weekday ({user})")
    fig.colorbar(image, ax=left, label="plays")
    right.barh(order, mood.fillna(0).values, color="#f4a261")
    right.set_xlim(0, 1)
    right.set_title("Mean valence")
    right.invert_yaxis()
    return fig


def hour_plot(df: pd.DataFrame) -> plt.Figure:
    user = main_user(df)
    mine = df[df["user_id"] == user].set_index("local_hour").reindex(range(24))
    fig, plays = plt.subplots(figsize=(8, 3.2), layout="constrained")
    plays.bar(mine.index, mine["plays"].fillna(0), color="#d9d9d9", label="plays")
    plays.set_xlabel("hour of day (listener's time zone)")
    plays.set_ylabel("plays")
    plays.set_xticks(range(0, 24, 3))
    mood = plays.twinx()
    mood.plot(mine.index, mine["avg_valence"], marker="o", color="#f4a261", label="valence")
    mood.plot(mine.index, mine["avg_energy"], marker="o", color="#e76f51", label="energy")
    mood.set_ylim(0, 1)
    mood.set_ylabel("mean of the hour's plays")
    mood.legend(loc="upper left", fontsize=8)
    plays.set_title(f"Mood by hour of day ({user})")
    return fig


def versus_baseline_plot(
    scores: pd.DataFrame,
    *,
    ylabel: str,
    baseline: str,
    bar: float | None = None,
    limits: tuple[float, float] | None = None,
) -> plt.Figure:
    """Held-out scores beside their baseline: index = what was scored, columns model/baseline;
    `limits` of the score axis. Beyond a few (a crowd's listeners), one point each against
    the baseline instead."""
    if len(scores) > MAX_BARS:
        fig = _versus_baseline_points(scores, ylabel=ylabel, baseline=baseline, bar=bar)
        if limits:
            fig.axes[0].set_xlim(*limits)
            fig.axes[0].set_ylim(*limits)
        return fig
    width = min(9, max(5.5, 1.4 * len(scores) + 3.5))
    fig, ax = plt.subplots(figsize=(width, 3.2), layout="constrained")
    x = range(len(scores))
    ax.bar([i - 0.2 for i in x], scores["model"], 0.4, label="model", color="#264653")
    ax.bar([i + 0.2 for i in x], scores["baseline"], 0.4, label=baseline, color="#e9c46a")
    if bar is not None:
        ax.axhline(bar, color="grey", linestyle="--", linewidth=1, label="bar")
    ax.set_xticks(list(x), [str(label)[:14] for label in scores.index])
    ax.set_ylabel(ylabel)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    if limits:
        ax.set_ylim(*limits)
    return fig


def _versus_baseline_points(
    scores: pd.DataFrame, *, ylabel: str, baseline: str, bar: float | None
) -> plt.Figure:
    """A point per scored thing: above the diagonal, the model beat its baseline there (a
    thousand listeners' bars could not be read, and took seconds to draw)."""
    fig, ax = plt.subplots(figsize=(5.5, 4.2), layout="constrained")
    shown = scores.dropna()
    ax.scatter(shown["baseline"], shown["model"], s=8, alpha=0.5, color="#264653")
    low = min(shown.min().min(), bar if bar is not None else 1.0)
    ax.plot([low, 1], [low, 1], color="grey", linewidth=1, label="model = baseline")
    if bar is not None:
        ax.axhline(bar, color="grey", linestyle="--", linewidth=1, label="bar")
    beat = int((shown["model"] > shown["baseline"]).sum())
    ax.set_title(f"model above {baseline} for {beat} of {len(shown)}", fontsize=10)
    ax.set_xlabel(f"{baseline} ({ylabel})")
    ax.set_ylabel(f"model ({ylabel})")
    ax.legend(loc="lower right", fontsize=8)
    return fig


def genre_plot(df: pd.DataFrame, top: int = 15) -> plt.Figure:
    user = main_user(df)
    mine = df[df["user_id"] == user].nsmallest(top, "rank").iloc[::-1]  # ties ranked by name
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.barh(mine["genre"], mine["share"] * 100, color="#2a9d8f")
    ax.set_xlabel("% of resolved plays")
    ax.set_title(f"Top genres ({user})")
    return fig


def correlation_plot(df: pd.DataFrame) -> plt.Figure:
    user = main_user(df)
    mine = df[(df["user_id"] == user)].pivot(index="feature", columns="metric", values="pearson_r")
    fig, ax = plt.subplots(figsize=(6, 4))
    mine.fillna(0).plot.barh(ax=ax, color={"play_count": "#264653", "skip_rate": "#e76f51"})
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("Pearson r (per played catalog track)")
    ax.set_title(f"Audio features vs. plays and skips ({user})")
    return fig


def gap_plot(df: pd.DataFrame) -> plt.Figure:
    user = main_user(df)
    mine = df[df["user_id"] == user].sort_values("gap_in_catalog_std")
    fig, ax = plt.subplots(figsize=(6, 4))
    colors = ["#e76f51" if v < 0 else "#2a9d8f" for v in mine["gap_in_catalog_std"]]
    ax.barh(mine["feature"], mine["gap_in_catalog_std"], color=colors)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("my mean − catalog mean, in catalog standard deviations")
    ax.set_title(f"How my listening differs from the catalog ({user})")
    return fig


def discovery_plot(df: pd.DataFrame, top: int = 10) -> plt.Figure:
    user = main_user(df)
    mine = df[(df["user_id"] == user) & ~df["explored"]].nlargest(top, "affinity").iloc[::-1]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.barh(mine["genre"], mine["affinity"], color="#8ab17d")
    ax.set_xlabel("affinity to my taste (1 = identical mood profile)")
    ax.set_title(f"Unexplored genres closest to my taste ({user})")
    return fig


def engagement_plot(df: pd.DataFrame) -> plt.Figure:
    user = main_user(df)
    mine = df[df["user_id"] == user]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(mine["plays"], mine["skip_rate"], s=8, alpha=0.4, color="#264653")
    ax.set_xscale("log")
    ax.set_xlabel("plays per track (log)")
    ax.set_ylabel("skip rate")
    ax.set_title(f"Track engagement ({user})")
    return fig


def daily_mood_plot(df: pd.DataFrame) -> plt.Figure:
    """The main listener's valence and energy day by day (a 7-day mean over the noisy days),
    over the share of each day's plays the figures stand on."""
    mine = df[df["user_id"] == main_user(df)].sort_values("local_date")
    days = pd.to_datetime(mine["local_date"])
    fig, (mood, coverage) = plt.subplots(
        2, 1, figsize=(7, 4), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    for feature in ("valence", "energy"):
        daily = mine[f"{feature}_mean"].to_numpy()
        mood.plot(days, daily, alpha=0.25, linewidth=0.8)
        weekly = mine[f"{feature}_mean"].rolling(7, min_periods=1).mean()
        mood.plot(days, weekly, label=f"{feature} (7-day mean)")
    mood.set_ylim(0, 1)
    mood.set_title(f"Mood day by day: {main_user(df)}", fontsize=9)
    mood.legend(fontsize=8)
    coverage.fill_between(days, mine["feature_coverage"].to_numpy(), step="mid", alpha=0.5)
    coverage.set_ylim(0, 1)
    coverage.set_ylabel("with features", fontsize=8)
    fig.tight_layout()
    return fig


def sessions_plot(df: pd.DataFrame) -> plt.Figure:
    """How long the main listener's sessions run, by the day part they start in."""
    mine = df[df["user_id"] == main_user(df)]
    fig, ax = plt.subplots(figsize=(6, 3.2))
    parts = [p for p in DAY_PARTS if p in set(mine["day_part"])]
    ax.boxplot(
        [mine.loc[mine["day_part"] == p, "length_minutes"].to_numpy() for p in parts],
        tick_labels=parts,
        showfliers=False,
    )
    ax.set_ylabel("session length (minutes)")
    ax.set_title(f"Sessions of {main_user(df)} by day part", fontsize=9)
    fig.tight_layout()
    return fig


def session_summary_plot(df: pd.DataFrame) -> plt.Figure:
    """Share of high-energy and of brightening sessions per day part, main listener."""
    mine = df[df["user_id"] == main_user(df)].set_index("day_part").reindex(DAY_PARTS)
    fig, ax = plt.subplots(figsize=(6, 3.2))
    x = range(len(DAY_PARTS))
    ax.bar(
        [i - 0.2 for i in x], mine["high_energy_share"].fillna(0), width=0.4, label="high-energy"
    )
    ax.bar(
        [i + 0.2 for i in x], mine["brightening_share"].fillna(0), width=0.4, label="brightening"
    )
    ax.set_xticks(list(x), DAY_PARTS)
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of sessions")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _top_plot(df: pd.DataFrame, label: str, top: int = 10) -> plt.Figure:
    mine = df[(df["user_id"] == main_user(df)) & (df["period"] == "all_time")]
    mine = mine.sort_values("rank").head(top).iloc[::-1]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.barh(mine[label].astype(str).str.slice(0, 40), mine["minutes"])
    ax.set_xlabel("minutes, all time")
    fig.tight_layout()
    return fig


def top_artists_plot(df: pd.DataFrame) -> plt.Figure:
    return _top_plot(df, "artist_name")


def top_tracks_plot(df: pd.DataFrame) -> plt.Figure:
    return _top_plot(df, "track_name")


def context_plot(df: pd.DataFrame) -> plt.Figure:
    """Skip rate by platform and by shuffle, bar width as share of plays (main listener)."""
    mine = df[df["user_id"] == main_user(df)]
    fig, axes = plt.subplots(1, 2, figsize=(7, 3))
    for ax, context in zip(axes, ("platform", "shuffle"), strict=True):
        rows = mine[mine["context"] == context].sort_values("plays", ascending=False).head(8)
        ax.bar(rows["value"].astype(str).str.slice(0, 14), rows["skip_rate"])
        ax.set_title(f"skip rate by {context}", fontsize=9)
        ax.set_ylim(0, 1)
        ax.tick_params(axis="x", labelrotation=30, labelsize=7)
    fig.tight_layout()
    return fig
