"""The recommendations asset: mirror and coach lists per listener and day part."""

import dagster as dg
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pyarrow as pa

from moodlake_dagster.assets.ml_common import model_asset, model_store, record_metrics
from moodlake_dagster.assets.unchanged import skip_if_unchanged
from moodlake_dagster.checks import nothing_to_check, schema_check_spec, validate
from moodlake_dagster.inputs import fingerprint
from moodlake_dagster.insights import figure_md, preview
from moodlake_dagster.ml import modes, recommend
from moodlake_dagster.ml.metrics import metric
from moodlake_dagster.partitions import day_range
from moodlake_dagster.resources import LakeResource, MoodlakeConfig
from moodlake_dagster.tables import (
    ALS_RECOMMENDATIONS,
    LISTENING_MODES,
    PLAYS,
    RECOMMENDATIONS,
    TRACKS,
    USERS,
)
from moodlake_dagster.transform.policy import training_plays
from moodlake_dagster.vocabulary import ESTIMATE

CAPS_CHECK = "coach_within_caps"
NOT_RECOMMENDED = "not_recommended"


def caps_check(table: pd.DataFrame) -> dg.AssetCheckResult:
    """Every coach pick is a step of +0.05..+0.15 in valence or energy and no bigger jump."""
    coach = table[table["mode"] == "coach"]
    too_far = coach[
        (coach["delta_valence"].abs() > recommend.STEP_MAX + recommend.EPS)
        | (coach["delta_energy"].abs() > recommend.STEP_MAX + recommend.EPS)
    ]
    low, high = recommend.STEP_MIN - recommend.EPS, recommend.STEP_MAX + recommend.EPS
    in_band = coach["delta_valence"].between(low, high) | coach["delta_energy"].between(low, high)
    return dg.AssetCheckResult(
        check_name=CAPS_CHECK,
        passed=bool(too_far.empty and in_band.all()),
        metadata={
            "coach_picks": len(coach),
            "beyond_caps": len(too_far),
            "without_step": int((~in_band).sum()),
            "largest_step_valence": float(coach["delta_valence"].max()) if len(coach) else 0.0,
            "largest_step_energy": float(coach["delta_energy"].max()) if len(coach) else 0.0,
        },
        description=f"{len(coach)} coach picks, {len(too_far)} beyond ±{recommend.STEP_MAX}",
    )


def lists_plot(table: pd.DataFrame, user_id: str, day_part: str) -> plt.Figure:
    """Mirror and coach picks for one listener and day part around their recent mean."""
    rows = table[(table["user_id"] == user_id) & (table["day_part"] == day_part)]
    fig, ax = plt.subplots(figsize=(5, 4))
    for mode, marker in (("mirror", "o"), ("coach", "^")):
        picks = rows[rows["mode"] == mode]
        ax.scatter(picks["valence"], picks["energy"], marker=marker, label=mode, alpha=0.8)
    if len(rows):
        v, e = (
            rows["valence"].iloc[0] - rows["delta_valence"].iloc[0],
            (rows["energy"].iloc[0] - rows["delta_energy"].iloc[0]),
        )
        cap = recommend.STEP_MAX
        ax.add_patch(plt.Rectangle((v - cap, e - cap), 2 * cap, 2 * cap, fill=False, ls="--"))
        ax.scatter([v], [e], marker="x", color="black", label="recent mean")
    ax.set_xlabel("valence")
    ax.set_ylabel("energy")
    ax.set_title(f"{day_part}: mirror vs coach (dashed: coach caps)", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def listeners(lake: LakeResource, end) -> list[str]:
    """Every listener as of `end`, those without a play with features too."""
    try:
        return sorted(lake.snapshot(USERS, end)["user_id"].astype(str))
    except LookupError:
        return []


def mode_names(lake: LakeResource, moodlake: MoodlakeConfig, end) -> tuple[dict, pd.DataFrame]:
    """The listening-modes models and names as of `end`, if they were built."""
    try:
        fitted, _ = model_store(moodlake).load("listening_modes", end)
        names = lake.snapshot(LISTENING_MODES, end)
    except LookupError:
        return {}, pd.DataFrame(columns=["user_id", "mode_id", "name"])
    return fitted, names


@dg.asset(
    deps=[PLAYS.key, TRACKS.key, ALS_RECOMMENDATIONS.key, LISTENING_MODES.key],
    check_specs=[
        schema_check_spec(RECOMMENDATIONS, blocking=False),
        dg.AssetCheckSpec(
            CAPS_CHECK,
            asset=RECOMMENDATIONS.key,
            description=f"Every coach pick steps +{recommend.STEP_MIN}..+{recommend.STEP_MAX} "
            f"in valence or energy and moves neither by more than {recommend.STEP_MAX}",
        ),
    ],
    **model_asset(RECOMMENDATIONS),
)
def recommendations(
    context: dg.AssetExecutionContext, lake: LakeResource, moodlake: MoodlakeConfig
) -> dg.MaterializeResult:
    """Two lists per listener and day part: **mirror** (tracks that fit how they listen at that
    time, by a per-listener match model) and **coach** (a gentle step of +0.05..+0.15 in
    valence or energy above their recent mean, never more; valence only after a low-valence
    streak). Candidates are new catalog tracks from their liked genres and ALS suggestions."""
    start, end = day_range(context)
    settings = moodlake.settings()
    inputs = fingerprint(RECOMMENDATIONS, lake, settings, start, end)
    if skipped := skip_if_unchanged(context, lake, [RECOMMENDATIONS], inputs):
        return skipped
    tracks = lake.snapshot(TRACKS, end)
    # Artist estimates feed a listener's taste but are no song to recommend or contrast with.
    catalog = tracks[tracks["features_source"] != ESTIMATE]
    plays = lake.frame(
        PLAYS,
        [("play_date", "<=", end), ("has_features", "=", True)],
        ["user_id", "track_id", "play_date", "day_part", "skipped", "source_format"],
    )
    plays = training_plays(plays, include_api_plays=settings.api_plays_in_training)
    plays = plays.merge(tracks[["track_id", "primary_artist", *recommend.AUDIO]], on="track_id")
    als_rows = (
        lake.frame(ALS_RECOMMENDATIONS, [("as_of_date", "=", end)])
        if lake.exists(ALS_RECOMMENDATIONS)
        else pd.DataFrame(columns=["user_id", "track_id", "als_score"])
    )
    fitted_modes, names = mode_names(lake, moodlake, end)
    lists, matches, skipped = [], {}, {}
    for user_id, own in plays.groupby("user_id"):
        try:
            match = recommend.train_match(str(user_id), own, catalog)
            pool = recommend.candidates(own, catalog, als_rows[als_rows["user_id"] == user_id])
        except recommend.CannotRecommend as err:
            skipped[str(user_id)] = str(err)
            context.log.warning(f"{user_id}: no recommendations: {err}")
            continue
        matches[match.user_id] = match
        picks = recommend.recommend_user(match, own, pool, end)
        lists.append(_with_mode_names(picks, fitted_modes.get(match.user_id), names))
    for user_id in listeners(lake, end):
        if user_id not in matches and user_id not in skipped:
            skipped[user_id] = (
                f"no play through with audio features; at least {recommend.MIN_PLAYS} needed"
            )
    table = pd.concat(lists, ignore_index=True) if lists else pd.DataFrame()
    table = table.reindex(columns=RECOMMENDATIONS.schema.names).assign(as_of_date=end)
    arrow = pa.Table.from_pandas(table, schema=RECOMMENDATIONS.schema, preserve_index=False)
    uri = lake.replace_range(RECOMMENDATIONS, arrow, start, end, inputs=inputs)
    evaluated = [m for m in matches.values() if m.auc is not None]
    record_metrics(
        lake,
        "match_model",
        end,
        [
            metric("auc", m.auc, baseline=m.baseline_auc, n_eval=m.n_eval, note=m.user_id)
            for m in evaluated
        ]
        # Who got no list and why, where `moodlake recommend` can find it.
        + [metric(NOT_RECOMMENDED, None, note=f"{u}: {why}") for u, why in skipped.items()],
    )
    metadata = {
        "table_uri": uri,
        "listeners": len(matches),
        "listeners_skipped": dg.MetadataValue.json(skipped),
        "rows": len(table),
    }
    if matches:
        folder = model_store(moodlake).save(
            "match_model",
            end,
            matches,
            card={
                "features": list(recommend.FEATURES),
                "label": "a listener's play (played through) vs a random catalog track",
                "evaluation": "later days' plays vs held-out catalog tracks, ROC AUC",
            },
        )
        metadata["model_path"] = str(folder)
    if evaluated:
        main = max(evaluated, key=lambda m: m.n_eval)
        metadata |= {
            "match_auc": main.auc,
            "baseline_match_auc": main.baseline_auc,
            "n_eval": main.n_eval,
            "cutoff": str(main.cutoff),
        }
    if len(table):
        main_user = str(table["user_id"].value_counts().idxmax())
        part = table.loc[table["user_id"] == main_user, "day_part"].mode().iloc[0]
        metadata |= {
            "plot": figure_md(lists_plot(table, main_user, part), "mirror and coach picks"),
            "preview": preview(
                table[table["user_id"] == main_user][
                    [
                        "day_part",
                        "mode",
                        "rank",
                        "track_name",
                        "artists",
                        "listening_mode",
                        "match_score",
                        "improvement_score",
                        "delta_valence",
                        "delta_energy",
                    ]
                ],
                rows=20,
            ),
        }
    checks = (
        [validate(RECOMMENDATIONS.model, table), caps_check(table)]
        if len(table)
        else [
            nothing_to_check("no listener has enough plays with audio features"),
            dg.AssetCheckResult(check_name=CAPS_CHECK, passed=True, description="no coach picks"),
        ]
    )
    return dg.MaterializeResult(metadata=metadata, check_results=checks)


def _with_mode_names(picks: pd.DataFrame, fitted, names: pd.DataFrame) -> pd.DataFrame:
    """Which of the listener's modes each pick falls into, by name."""
    if fitted is None or picks.empty:
        return picks.assign(listening_mode=None)
    model = modes.UserModes("", 0, 0.0, {}, pd.DataFrame(), fitted["scaler"], fitted["kmeans"])
    ids = modes.assign(model, picks)
    own = names[names["user_id"] == picks["user_id"].iloc[0]].set_index("mode_id")["name"]
    return picks.assign(listening_mode=[own.get(int(i)) for i in np.asarray(ids)])
