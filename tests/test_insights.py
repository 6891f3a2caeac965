"""The previews and plots on asset pages (insights.py), drawn from small Gold-shaped frames:
the drawn values are read back from the figures and compared with the frames."""

from __future__ import annotations

import base64
import struct

import numpy as np
import pandas as pd
import pytest

from moodlake_dagster import insights
from moodlake_dagster.vocabulary import DAY_PARTS


def test_the_main_user_has_the_most_rows():
    frame = pd.DataFrame({"user_id": ["u_b", "u_a", "u_a"]})
    assert insights.main_user(frame) == "u_a"
    assert insights.main_user(frame.iloc[:0]) is None
    tied = pd.DataFrame({"user_id": ["u_c", "u_b", "u_c", "u_b"]})
    assert insights.main_user(tied) == insights.main_user(tied.iloc[::-1]) == "u_b"
    assert insights.most_rows({"u_c": 2, "u_b": 2, "u_a": 1}) == "u_b"


def test_a_preview_is_a_markdown_table_with_long_text_cut():
    frame = pd.DataFrame({"name": ["x" * 100, "short"], "value": [0.123456, 2.0]})
    text = insights.preview(frame, rows=1).value
    assert "x" * 60 in text and "x" * 61 not in text
    assert "short" not in text  # one row only
    assert "0.123" in text and "0.1234" not in text
    assert text.splitlines()[0].replace(" ", "") == "|name|value|"


def test_a_figure_is_embedded_as_a_png():
    one = pd.DataFrame({"user_id": ["u"], "genre": ["jazz"], "share": [1.0], "rank": [1]})
    fig = insights.genre_plot(one)
    md = insights.figure_md(fig, "alt text").value
    assert md.startswith("![alt text](data:image/png;base64,")
    png = base64.b64decode(md.split(",", 1)[1].rstrip(")"))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def _png_size(md: str) -> tuple[int, int]:
    png = base64.b64decode(md.split(",", 1)[1].rstrip(")"))
    return struct.unpack(">II", png[16:24])


def test_a_constrained_figure_is_drawn_at_its_size_and_others_are_trimmed():
    from matplotlib.figure import Figure

    constrained = Figure(figsize=(4, 3), layout="constrained")
    constrained.subplots().plot([0, 1], [0, 1])
    assert _png_size(insights.figure_md(constrained, "c").value) == (360, 270)  # 90 dpi
    loose = Figure(figsize=(4, 3))
    loose.subplots().plot([0, 1], [0, 1])
    width, height = _png_size(insights.figure_md(loose, "l").value)
    assert width < 360 and height < 270  # the white margin around it trimmed


def test_the_day_part_grid_sums_the_main_users_plays():
    frame = pd.DataFrame(
        {
            "user_id": ["u", "u", "u", "u", "other"],
            "day_part": ["night", "night", "evening", "morning", "night"],
            "weekday": [1, 1, 7, 3, 1],
            "plays": [2, 3, 4, 5, 100],
            "plays_with_features": [2, 0, 4, 0, 100],
            "avg_valence": [0.2, 0.9, 0.6, 0.5, 0.99],
        }
    )
    fig = insights.daypart_plot(frame)
    grid = fig.axes[0].images[0].get_array()
    assert grid.shape == (4, 7)
    assert grid[DAY_PARTS.index("night"), 0] == 5  # Monday nights: 2 + 3
    assert grid[DAY_PARTS.index("evening"), 6] == 4
    assert grid[DAY_PARTS.index("morning"), 2] == 5
    assert grid.sum() == 14  # the other listener is not drawn
    (valence,) = [ax for ax in fig.axes if ax.get_title() == "Mean valence"]
    bars = [bar.get_width() for bar in valence.patches]
    # Mean valence weighted by plays with features: nights 0.2 (the 0.9 row has none).
    assert bars == pytest.approx([0.2, 0.0, 0.0, 0.6])


def test_the_hour_plot_draws_every_hour_and_the_mood_lines():
    frame = pd.DataFrame(
        {
            "user_id": "u",
            "local_hour": [0, 13, 23],
            "plays": [3, 10, 1],
            "avg_valence": [0.1, 0.5, 0.9],
            "avg_energy": [0.2, 0.6, 0.3],
        }
    )
    fig = insights.hour_plot(frame)
    heights = [bar.get_height() for bar in fig.axes[0].patches]
    assert len(heights) == 24 and sum(heights) == 14 and heights[13] == 10
    valence = fig.axes[1].lines[0].get_ydata()
    assert valence[0] == 0.1 and np.isnan(valence[1]) and valence[23] == 0.9


def test_scores_are_drawn_beside_their_baseline_and_the_bar():
    scores = pd.DataFrame({"model": [0.9, 0.7], "baseline": [0.6, 0.65]}, index=["happy", "sad"])
    fig = insights.versus_baseline_plot(scores, ylabel="AUC", baseline="logistic", bar=0.8)
    ax = fig.axes[0]
    assert [bar.get_height() for bar in ax.patches] == [0.9, 0.7, 0.6, 0.65]
    assert [line.get_ydata()[0] for line in ax.lines] == [0.8]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["happy", "sad"]


def test_many_scores_are_a_point_each_against_their_baseline():
    n = insights.MAX_BARS + 6
    model = np.linspace(0.55, 0.95, n)
    scores = pd.DataFrame(
        {"model": model, "baseline": np.where(np.arange(n) % 3 == 0, 0.99, 0.5)},
        index=[f"u_{i}" for i in range(n)],
    )
    fig = insights.versus_baseline_plot(scores, ylabel="AUC", baseline="past skips", bar=0.6)
    ax = fig.axes[0]
    (points,) = ax.collections
    np.testing.assert_array_equal(points.get_offsets()[:, 1], model)
    assert not ax.patches  # no bars
    assert ax.get_title() == f"model above past skips for {n - n // 3} of {n}"
    assert [line.get_ydata()[0] for line in ax.lines][1:] == [0.6]
    # A score axis's limits hold for both axes: the diagonal stays the diagonal.
    fig = insights.versus_baseline_plot(scores, ylabel="AUC", baseline="b", limits=(0.4, 1.0))
    assert fig.axes[0].get_xlim() == fig.axes[0].get_ylim() == (0.4, 1.0)


def test_top_genres_and_unexplored_genres_show_the_main_users_best():
    mix = pd.DataFrame(
        {
            "user_id": "u",
            "genre": [f"g{i}" for i in range(20)],
            "share": np.arange(20) / 190,
            "rank": np.arange(20, 0, -1),
        }
    )
    fig = insights.genre_plot(mix, top=3)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["g17", "g18", "g19"]  # largest at the top of a horizontal bar chart
    # Two genres tied in share: the table's rank (by name) decides, as in the API.
    tied = mix.assign(share=1 / 20, rank=np.arange(1, 21))
    labels = [t.get_text() for t in insights.genre_plot(tied, top=2).axes[0].get_yticklabels()]
    assert labels == ["g1", "g0"]
    discovery = pd.DataFrame(
        {
            "user_id": "u",
            "genre": ["heard", "near", "far"],
            "explored": [True, False, False],
            "affinity": [0.99, 0.8, 0.1],
        }
    )
    fig = insights.discovery_plot(discovery, top=5)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["far", "near"]


def test_gaps_are_coloured_by_their_sign():
    gaps = pd.DataFrame(
        {"user_id": "u", "feature": ["valence", "energy"], "gap_in_catalog_std": [0.5, -1.0]}
    )
    fig = insights.gap_plot(gaps)
    bars = fig.axes[0].patches
    assert [bar.get_width() for bar in bars] == [-1.0, 0.5]  # sorted by the gap
    colours = [bar.get_facecolor() for bar in bars]
    assert colours[0] != colours[1]
