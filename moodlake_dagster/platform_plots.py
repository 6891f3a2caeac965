"""The figures on the platform tables' pages: who the listeners are, who listens and stays,
where the plans and revenue sit, what the crowd plays. Each takes the table as written."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from moodlake_dagster import insights  # noqa: F401  (selects the Agg backend first)


def profiles_plot(df: pd.DataFrame) -> plt.Figure:
    """Listeners by plan, and by age band (Silver) or country (Bronze, as received)."""
    second = "age_band" if "age_band" in df.columns else "country"
    fig, axes = plt.subplots(1, 2, figsize=(8, 3))
    for ax, column in zip(axes, ("plan", second), strict=True):
        counts = df[column].fillna("(none)").value_counts().sort_index().head(15)
        ax.bar(counts.index.astype(str), counts.to_numpy())
        ax.set_title(f"listeners by {column.replace('_', ' ')}", fontsize=9)
        ax.tick_params(axis="x", labelrotation=30, labelsize=7)
    fig.tight_layout()
    return fig


def active_plot(df: pd.DataFrame) -> plt.Figure:
    """DAU, WAU and MAU over the days, stickiness on its own axis."""
    rows = df.sort_values("day")
    fig, ax = plt.subplots(figsize=(8, 3))
    for column in ("mau", "wau", "dau"):
        ax.plot(pd.to_datetime(rows["day"]), rows[column], label=column.upper(), linewidth=1)
    ax.set_ylabel("active listeners")
    sticky = ax.twinx()
    sticky.plot(pd.to_datetime(rows["day"]), rows["stickiness"], color="grey", linewidth=0.8)
    sticky.set_ylabel("DAU / MAU", color="grey")
    sticky.set_ylim(0, 1)
    ax.legend(loc="upper left", fontsize=7)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def retention_plot(df: pd.DataFrame) -> plt.Figure:
    """Share of each cohort active in each later month, as a heatmap."""
    grid = df.pivot_table(
        index="cohort_month", columns="months_since", values="retention", aggfunc="mean"
    ).sort_index()
    fig, ax = plt.subplots(figsize=(8, max(2.5, 0.3 * len(grid) + 1)))
    image = ax.imshow(grid.to_numpy(dtype=float), aspect="auto", cmap="Blues", vmin=0, vmax=1)
    ax.set_yticks(range(len(grid)), [str(m)[:7] for m in grid.index], fontsize=7)
    ax.set_xticks(range(len(grid.columns)), grid.columns, fontsize=7)
    ax.set_xlabel("months since the cohort month")
    fig.colorbar(image, ax=ax, label="retention")
    fig.tight_layout()
    return fig


def mix_plot(df: pd.DataFrame) -> plt.Figure:
    """Listeners per plan, stacked by country (the ten largest countries)."""
    countries = df.groupby("country")["listeners"].sum().nlargest(10).index
    grid = (
        df[df["country"].isin(countries)]
        .pivot_table(index="plan", columns="country", values="listeners", aggfunc="sum")
        .fillna(0)
    )
    fig, ax = plt.subplots(figsize=(8, 3))
    bottom = np.zeros(len(grid))
    for country in grid.columns:
        ax.bar(grid.index, grid[country], bottom=bottom, label=country)
        bottom += grid[country].to_numpy()
    ax.set_ylabel("listeners")
    ax.legend(fontsize=6, ncol=5)
    fig.tight_layout()
    return fig


def crowd_top_plot(df: pd.DataFrame, top: int = 10) -> plt.Figure:
    """The latest week's top tracks, artists and genres by plays."""
    week = df["week_start"].max()
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.5))
    for ax, kind in zip(axes, ("track", "artist", "genre"), strict=True):
        rows = df[(df["week_start"] == week) & (df["kind"] == kind)].nsmallest(top, "rank")
        ax.barh(rows["item_name"].astype(str).str.slice(0, 28)[::-1], rows["plays"][::-1])
        ax.set_title(f"top {kind}s, week of {week}", fontsize=9)
        ax.tick_params(axis="y", labelsize=6)
    fig.tight_layout()
    return fig
