"""The listening-modes asset: each listener's kinds of listening, named in plain words."""

import dagster as dg
import matplotlib.pyplot as plt
import pandas as pd
import pyarrow as pa

from moodlake_dagster.assets.ml_common import model_asset, model_store, record_metrics
from moodlake_dagster.assets.unchanged import skip_if_unchanged
from moodlake_dagster.checks import nothing_to_check, schema_check_spec, validate
from moodlake_dagster.inputs import fingerprint
from moodlake_dagster.insights import figure_md, preview
from moodlake_dagster.ml import modes
from moodlake_dagster.ml.metrics import metric
from moodlake_dagster.partitions import day_range
from moodlake_dagster.resources import LakeResource, MoodlakeConfig
from moodlake_dagster.tables import LISTENING_MODES, PLAYS, TRACKS
from moodlake_dagster.transform.policy import training_plays
from moodlake_dagster.vocabulary import MODE_FEATURES


def modes_plots(fitted: list[modes.UserModes], sample: pd.DataFrame) -> tuple:
    curve, ax = plt.subplots(figsize=(5, 3))
    for user in fitted[:5]:
        ax.plot(list(user.curve), list(user.curve.values()), marker="o", label=user.user_id)
    ax.set_xlabel("k (modes)")
    ax.set_ylabel("silhouette")
    ax.set_title("Choosing k: the highest silhouette wins")
    ax.legend(fontsize=7)
    curve.tight_layout()
    main = fitted[0]
    mode_map, ax = plt.subplots(figsize=(5, 4))
    ax.scatter(sample["valence"], sample["energy"], c=sample["mode_id"], s=6, alpha=0.4)
    for row in main.modes.itertuples():
        ax.annotate(row.name, (row.centroid_valence, row.centroid_energy), fontsize=8)
    ax.set_xlabel("valence")
    ax.set_ylabel("energy")
    ax.set_title(f"Listening modes of {main.user_id}")
    mode_map.tight_layout()
    return curve, mode_map


@dg.asset(
    deps=[PLAYS.key, TRACKS.key],
    check_specs=[schema_check_spec(LISTENING_MODES, blocking=False)],
    **model_asset(LISTENING_MODES),
)
def listening_modes(
    context: dg.AssetExecutionContext, lake: LakeResource, moodlake: MoodlakeConfig
) -> dg.MaterializeResult:
    """Each listener's modes — the kinds of listening they return to, found by K-Means over
    their plays in mood space (valence, energy, acousticness, danceability, tempo), k chosen
    by silhouette — with size, centroid, typical day part and a plain-language name."""
    start, end = day_range(context)
    settings = moodlake.settings()
    inputs = fingerprint(LISTENING_MODES, lake, settings, start, end)
    if skipped := skip_if_unchanged(context, lake, [LISTENING_MODES], inputs):
        return skipped
    plays = lake.frame(
        PLAYS,
        [("play_date", "<=", end), ("has_features", "=", True)],
        ["user_id", "track_id", "day_part", "local_hour", "source_format"],
    )
    plays = training_plays(plays, include_api_plays=settings.api_plays_in_training)
    features = lake.snapshot(TRACKS, end)[["track_id", *MODE_FEATURES]]
    joined = plays.merge(features, on="track_id")
    fitted, skipped = [], {}
    for user_id, group in joined.groupby("user_id"):
        try:
            fitted.append(modes.fit_user(str(user_id), group))
        except ValueError as err:
            skipped[str(user_id)] = str(err)
    for user_id in set(plays["user_id"]) - set(joined["user_id"]):
        skipped[str(user_id)] = "no play with audio features"
    for user_id, why in skipped.items():
        context.log.warning(f"{user_id}: no listening modes: {why}")
    fitted.sort(key=lambda u: -u.modes["plays"].sum())
    table = (
        pd.concat([u.modes for u in fitted], ignore_index=True)
        if fitted
        else pd.DataFrame(columns=LISTENING_MODES.schema.names[1:])
    )
    table.insert(0, "as_of_date", end)
    uri = lake.replace_range(
        LISTENING_MODES,
        pa.Table.from_pandas(table, schema=LISTENING_MODES.schema, preserve_index=False),
        start,
        end,
        inputs=inputs,
    )
    record_metrics(
        lake,
        "listening_modes",
        end,
        [
            row
            for u in fitted
            for row in (
                metric(
                    "silhouette", u.silhouette, n_eval=int(u.modes["plays"].sum()), note=u.user_id
                ),
                metric("k", u.k, n_eval=int(u.modes["plays"].sum()), note=u.user_id),
            )
        ],
    )
    metadata = {
        "table_uri": uri,
        "users_with_modes": len(fitted),
        "users_skipped": dg.MetadataValue.json(skipped),
        "plays_used": len(joined),
    }
    if fitted:
        folder = model_store(moodlake).save(
            "listening_modes",
            end,
            {u.user_id: {"scaler": u.scaler, "kmeans": u.kmeans} for u in fitted},
            card={"features": list(MODE_FEATURES), "k": {u.user_id: u.k for u in fitted}},
        )
        main = fitted[0]
        sample = joined[joined["user_id"] == main.user_id].sample(
            n=min(2_000, len(joined[joined["user_id"] == main.user_id])), random_state=1
        )
        sample = sample.assign(mode_id=modes.assign(main, sample))
        curve, mode_map = modes_plots(fitted, sample)
        metadata |= {
            "model_path": str(folder),
            "k": main.k,
            "silhouette": main.silhouette,
            "k_choice": figure_md(curve, "silhouette by k"),
            "plot": figure_md(mode_map, "listening modes in valence × energy"),
            "preview": preview(table.drop(columns=["as_of_date"])),
        }
    check = (
        validate(LISTENING_MODES.model, table)
        if fitted
        else nothing_to_check(f"no listener has {modes.MIN_PLAYS} plays with audio features")
    )
    return dg.MaterializeResult(metadata=metadata, check_results=[check])
