"""Plots and metadata for the diagnostic and over-time Gold tables and the insights.

Like `insights`, each figure shows one listener (the one with the most rows), by pseudonym.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import dagster as dg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from moodlake_dagster.insights import main_user  # noqa: E402

SHOWN_WEEKS = 52


def trends_plot(df: pd.DataFrame) -> plt.Figure:
    """The last year of weeks: valence and energy against the band of the usual (baseline mean
    ± one standard deviation), with the weeks whose |z| ≥ 2 marked."""
    user = main_user(df)
    weeks = df[(df["user_id"] == user) & (df["period"] == "week")]
    fig, axes = plt.subplots(2, 1, figsize=(7, 4.2), sharex=True)
    for ax, measure in zip(axes, ("valence", "energy"), strict=True):
        rows = weeks[weeks["measure"] == measure].sort_values("period_start").tail(SHOWN_WEEKS)
        when = pd.to_datetime(rows["period_start"])
        mean, std = rows["baseline_mean"], rows["baseline_std"]
        ax.fill_between(when, mean - std, mean + std, alpha=0.2, label="usual (12 weeks before)")
        ax.plot(when, rows["value"], marker=".", linewidth=1, label=measure)
        unusual = rows["z_score"].abs() >= 2
        ax.scatter(
            when[unusual], rows["value"][unusual], color="#e76f51", zorder=3, label="|z| ≥ 2"
        )
        ax.set_ylabel(measure, fontsize=8)
        ax.legend(fontsize=7, loc="upper left")
    axes[0].set_title(f"Weeks against the usual: {user}", fontsize=9)
    fig.tight_layout()
    return fig


def trend_tests_plot(df: pd.DataFrame) -> plt.Figure:
    """Kendall's tau per measure over the last year of months; tested at 5 % in colour."""
    user = main_user(df)
    mine = df[(df["user_id"] == user) & df["kendall_tau"].notna()].sort_values("measure")
    fig, ax = plt.subplots(figsize=(6, 3.2))
    colors = ["#264653" if p < 0.05 else "#bbbbbb" for p in mine["p_value"]]
    ax.barh(mine["measure"], mine["kendall_tau"], color=colors)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlim(-1, 1)
    ax.set_xlabel("Kendall's tau over the last 12 months (dark: p < 0.05 before correction)")
    ax.set_title(f"Trends over the year: {user}", fontsize=9)
    fig.tight_layout()
    return fig


def thresholds_plot(df: pd.DataFrame) -> plt.Figure:
    """Skip rate above and below each feature's split point, on held-out tracks."""
    user = main_user(df)
    mine = df[(df["user_id"] == user) & (df["outcome"] == "skipped") & df["p_value"].notna()]
    mine = mine.sort_values("feature")
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    y = range(len(mine))
    ax.barh([i + 0.2 for i in y], mine["rate_above"] * 100, 0.4, label="above", color="#e76f51")
    ax.barh([i - 0.2 for i in y], mine["rate_below"] * 100, 0.4, label="below", color="#2a9d8f")
    labels = [f"{f} {s:.3g}" for f, s in zip(mine["feature"], mine["split_point"], strict=True)]
    ax.set_yticks(list(y), labels, fontsize=8)
    ax.set_xlabel("% of held-out plays skipped, above / below the split point")
    ax.set_title(f"Where skipping changes: {user}", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def insights_plot(df: pd.DataFrame) -> plt.Figure:
    """How many sentences each listener gets, by kind: what the lake can say, and of whom."""
    counts = df.groupby(["user_id", "kind"]).size().unstack(fill_value=0)
    fig, ax = plt.subplots(figsize=(6, max(2.2, 0.5 * len(counts) + 1.2)))
    counts.plot.barh(stacked=True, ax=ax)
    ax.set_xlabel("sentences said")
    ax.set_ylabel("")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def sentences_md(df: pd.DataFrame, rows: int = 12) -> dg.MetadataValue:
    """The main listener's sentences as the UI shows them: rank, sentence, adjusted p."""
    mine = df[df["user_id"] == main_user(df)].sort_values("rank").head(rows)
    lines = ["| # | insight | p (adjusted) |", "|---|---|---|"]
    for row in mine.itertuples():
        p = "—" if pd.isna(row.p_adjusted) else f"{row.p_adjusted:.3g}"
        lines.append(f"| {row.rank} | {row.sentence} | {p} |")
    return dg.MetadataValue.md("\n".join(lines))
