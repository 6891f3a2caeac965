"""Models: trained per as-of day, evaluated on held-out data, saved to the model store."""

import dagster as dg
import matplotlib.pyplot as plt
import pandas as pd
import pyarrow as pa

from moodlake_dagster.checks import nothing_to_check, schema_check_spec, validate
from moodlake_dagster.checks.schemas import ListeningModes, PreferenceModel, TrackMoods
from moodlake_dagster.insights import figure_md, preview
from moodlake_dagster.ml import modes, mood, preference
from moodlake_dagster.ml.metrics import metric, metrics_table
from moodlake_dagster.ml.store import ModelStore
from moodlake_dagster.partitions import daily_partitions, day_range, single_run
from moodlake_dagster.resources import LakeResource, MoodlakeConfig
from moodlake_dagster.transform.policy import training_plays

ML = {
    "group_name": "ml",
    "partitions_def": daily_partitions,
    "backfill_policy": single_run,
    "kinds": {"scikitlearn", "deltalake"},
}
MOOD_AUC_BAR = 0.90
AUC_CHECK = "auc_bar"


def model_store(moodlake: MoodlakeConfig) -> ModelStore:
    return ModelStore(moodlake.settings().home / "models")


def record_metrics(lake: LakeResource, model: str, as_of, rows: list[dict]) -> None:
    lake.replace_range(
        "gold",
        "model_metrics",
        metrics_table(model, as_of, rows),
        "as_of_date",
        as_of,
        as_of,
        where=f"model = '{model}'",
    )


def auc_plot(evaluation: mood.MoodEvaluation) -> plt.Figure:
    moods = sorted(evaluation.per_class_auc)
    fig, ax = plt.subplots(figsize=(7, 3.2))
    x = range(len(moods))
    ax.bar([i - 0.2 for i in x], [evaluation.per_class_auc[m] for m in moods], 0.4, label="model")
    ax.bar(
        [i + 0.2 for i in x],
        [evaluation.baseline_per_class_auc[m] for m in moods],
        0.4,
        label="logistic baseline",
    )
    ax.axhline(MOOD_AUC_BAR, color="grey", linestyle="--", linewidth=1, label="bar")
    ax.set_xticks(list(x), moods)
    ax.set_ylim(0.5, 1.0)
    ax.set_ylabel("ROC AUC (artist-grouped CV)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


@dg.asset(
    deps=["tracks"],
    check_specs=[
        schema_check_spec("track_moods", TrackMoods, blocking=False),
        dg.AssetCheckSpec(
            AUC_CHECK,
            asset="track_moods",
            description=f"Mood classifier: macro ROC AUC on artist-grouped CV ≥ {MOOD_AUC_BAR} "
            "and not below the logistic-regression baseline",
        ),
    ],
    **ML,
)
def track_moods(
    context: dg.AssetExecutionContext, lake: LakeResource, moodlake: MoodlakeConfig
) -> dg.MaterializeResult:
    """Every track in Silver (catalog and played) labelled with a mood — happy, sad, chill,
    party, sleep, study, romance — and its probability, by a classifier trained on the
    catalog's mood-named genres: labels a curator chose, independent of the audio features
    the model reads."""
    start, end = day_range(context)
    tracks = lake.snapshot("silver", "tracks", end)
    labelled = mood.labelled_tracks(tracks)
    try:
        evaluation = mood.evaluate(labelled)
    except mood.NotEnoughLabels as err:
        reason = f"not trained: {err}"
        context.log.warning(reason)
        return dg.MaterializeResult(
            metadata={"skipped": reason},
            check_results=[
                nothing_to_check(reason),
                dg.AssetCheckResult(
                    check_name=AUC_CHECK, passed=True, description=f"cannot judge: {reason}"
                ),
            ],
        )
    estimator = mood.train(labelled)
    labels = mood.label(estimator, tracks)
    labels["in_training"] = labels["track_id"].isin(labelled["track_id"])
    labels.insert(0, "as_of_date", end)
    uri = lake.replace_range(
        "gold",
        "track_moods",
        pa.Table.from_pandas(labels, preserve_index=False),
        "as_of_date",
        start,
        end,
    )
    n = evaluation.n_tracks
    rows = [
        metric("macro_auc", evaluation.macro_auc, baseline=evaluation.baseline_macro_auc, n_eval=n),
        *[
            metric(f"auc_{m}", v, baseline=evaluation.baseline_per_class_auc[m], n_eval=n)
            for m, v in sorted(evaluation.per_class_auc.items())
        ],
    ]
    record_metrics(lake, "mood_classifier", end, rows)
    folder = model_store(moodlake).save(
        "mood_classifier",
        end,
        estimator,
        card={
            "features": list(mood.FEATURES),
            "classes": list(map(str, estimator.classes_)),
            "n_train": n,
            "n_artists": evaluation.n_artists,
            "evaluation": "artist-grouped 5-fold CV, out-of-fold macro one-vs-rest ROC AUC",
            "macro_auc": evaluation.macro_auc,
            "baseline_macro_auc": evaluation.baseline_macro_auc,
        },
    )
    passed = evaluation.macro_auc >= MOOD_AUC_BAR and (
        evaluation.macro_auc >= evaluation.baseline_macro_auc
    )
    return dg.MaterializeResult(
        metadata={
            "table_uri": uri,
            "model_path": str(folder),
            "macro_auc": evaluation.macro_auc,
            "baseline_macro_auc": evaluation.baseline_macro_auc,
            "per_class_auc": dg.MetadataValue.json(evaluation.per_class_auc),
            "labelled_tracks": n,
            "artists": evaluation.n_artists,
            "tracks_labelled": len(labels),
            "mood_counts": dg.MetadataValue.json(labels["mood"].value_counts().to_dict()),
            "plot": figure_md(auc_plot(evaluation), "per-mood ROC AUC, model vs baseline"),
            "preview": preview(labels.drop(columns=["as_of_date"])),
        },
        check_results=[
            validate(TrackMoods, labels),
            dg.AssetCheckResult(
                check_name=AUC_CHECK,
                passed=bool(passed),
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={
                    "macro_auc": evaluation.macro_auc,
                    "baseline_macro_auc": evaluation.baseline_macro_auc,
                    "bar": MOOD_AUC_BAR,
                },
                description=(
                    f"macro AUC {evaluation.macro_auc:.3f} vs bar {MOOD_AUC_BAR} and baseline "
                    f"{evaluation.baseline_macro_auc:.3f}"
                ),
            ),
        ],
    )


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
    deps=["plays", "tracks"],
    check_specs=[schema_check_spec("listening_modes", ListeningModes, blocking=False)],
    **ML,
)
def listening_modes(
    context: dg.AssetExecutionContext, lake: LakeResource, moodlake: MoodlakeConfig
) -> dg.MaterializeResult:
    """Each listener's modes — the kinds of listening they return to, found by K-Means over
    their plays in mood space (valence, energy, acousticness, danceability, tempo), k chosen
    by silhouette — with size, centroid, typical day part and a plain-language name."""
    start, end = day_range(context)
    settings = moodlake.settings()
    plays = lake.frame(
        "silver",
        "plays",
        [("play_date", "<=", end), ("has_features", "=", True)],
        ["user_id", "track_id", "day_part", "local_hour", "source_format"],
    )
    plays = training_plays(plays, include_api_plays=settings.api_plays_in_training)
    features = lake.snapshot("silver", "tracks", end)[["track_id", *modes.MODE_FEATURES]]
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
        else pd.DataFrame(columns=modes.MODES_SCHEMA.names[1:])
    )
    table.insert(0, "as_of_date", end)
    uri = lake.replace_range(
        "gold",
        "listening_modes",
        pa.Table.from_pandas(table, schema=modes.MODES_SCHEMA, preserve_index=False),
        "as_of_date",
        start,
        end,
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
            card={"features": list(modes.MODE_FEATURES), "k": {u.user_id: u.k for u in fitted}},
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
        validate(ListeningModes, table)
        if fitted
        else nothing_to_check(f"no listener has {modes.MIN_PLAYS} plays with audio features")
    )
    return dg.MaterializeResult(metadata=metadata, check_results=[check])


PREFERENCE_AUC_BAR = 0.80
PREFERENCE_SCHEMA = pa.schema(
    [
        ("as_of_date", pa.date32()),
        ("user_id", pa.string()),
        ("status", pa.string()),
        ("reason", pa.string()),
        ("cutoff", pa.string()),
        ("n_train", pa.int64()),
        ("n_eval", pa.int64()),
        ("n_eval_with_features", pa.int64()),
        ("auc", pa.float64()),
        ("baseline_auc", pa.float64()),
    ]
)


def preference_check(results: list[preference.PreferenceResult]) -> dg.AssetCheckResult:
    """Judge the bar only where enough evaluation plays have audio features."""
    judged = [r for r in results if r.n_eval_with_features >= preference.MIN_EVAL_WITH_FEATURES]
    if not judged:
        return dg.AssetCheckResult(
            check_name=AUC_CHECK,
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            description=(
                "cannot judge: no listener has "
                f"{preference.MIN_EVAL_WITH_FEATURES} evaluation plays with audio features "
                f"(most: {max((r.n_eval_with_features for r in results), default=0)})"
            ),
        )
    worst = min(judged, key=lambda r: r.auc)
    return dg.AssetCheckResult(
        check_name=AUC_CHECK,
        passed=worst.auc >= PREFERENCE_AUC_BAR,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"lowest_auc": worst.auc, "bar": PREFERENCE_AUC_BAR, "judged": len(judged)},
        description=f"lowest held-out AUC {worst.auc:.3f} vs bar {PREFERENCE_AUC_BAR}",
    )


@dg.asset(
    deps=["plays", "tracks"],
    check_specs=[
        schema_check_spec("preference_model", PreferenceModel, blocking=False),
        dg.AssetCheckSpec(
            AUC_CHECK,
            asset="preference_model",
            description=f"Held-out AUC ≥ {PREFERENCE_AUC_BAR} where ≥ "
            f"{preference.MIN_EVAL_WITH_FEATURES} evaluation plays have audio features; "
            "otherwise it says why it cannot judge",
        ),
    ],
    **ML,
)
def preference_model(
    context: dg.AssetExecutionContext, lake: LakeResource, moodlake: MoodlakeConfig
) -> dg.MaterializeResult:
    """Per listener: will they enjoy (play through, not skip) a track? Trained on the days
    before a cutoff, evaluated on the days after it, from audio features and behaviour known
    before each play (familiarity, earlier skip rates, day part, shuffle, how it started)."""
    start, end = day_range(context)
    settings = moodlake.settings()
    plays = lake.frame("silver", "plays", [("play_date", "<=", end)])
    plays = training_plays(plays, include_api_plays=settings.api_plays_in_training)
    features = lake.snapshot("silver", "tracks", end)[["track_id", *preference.AUDIO]]
    plays = plays.merge(features, on="track_id", how="left")
    results, rows = [], []
    for user_id, group in plays.groupby("user_id"):
        try:
            r = preference.train_user(str(user_id), group)
        except preference.CannotTrain as err:
            context.log.warning(f"{user_id}: preference model not trained: {err}")
            rows.append({"user_id": str(user_id), "status": "skipped", "reason": str(err)})
            continue
        results.append(r)
        rows.append(
            {
                "user_id": r.user_id,
                "status": "trained",
                "cutoff": r.cutoff,
                "n_train": r.n_train,
                "n_eval": r.n_eval,
                "n_eval_with_features": r.n_eval_with_features,
                "auc": r.auc,
                "baseline_auc": r.baseline_auc,
            }
        )
    table = pa.Table.from_pylist(
        [{"as_of_date": end} | row for row in rows], schema=PREFERENCE_SCHEMA
    )
    uri = lake.replace_range("gold", "preference_model", table, "as_of_date", start, end)
    record_metrics(
        lake,
        "preference_model",
        end,
        [
            metric("auc", r.auc, baseline=r.baseline_auc, n_eval=r.n_eval, note=r.user_id)
            for r in results
        ],
    )
    metadata = {
        "table_uri": uri,
        "users_trained": len(results),
        "users_skipped": dg.MetadataValue.json(
            {row["user_id"]: row["reason"] for row in rows if row["status"] == "skipped"}
        ),
        "preview": preview(table.to_pandas().drop(columns=["as_of_date"])),
    }
    if results:
        main = max(results, key=lambda r: r.n_eval)
        folder = model_store(moodlake).save(
            "preference_model",
            end,
            {r.user_id: r.model for r in results},
            card={"features": list(preference.FEATURES), "label": "played through, not skipped"},
        )
        metadata |= {
            "model_path": str(folder),
            "auc": main.auc,
            "baseline_auc": main.baseline_auc,
            "n_eval": main.n_eval,
            "cutoff": main.cutoff,
        }
    frame = table.to_pandas()
    schema = validate(PreferenceModel, frame) if rows else nothing_to_check("no listener yet")
    return dg.MaterializeResult(
        metadata=metadata, check_results=[schema, preference_check(results)]
    )
