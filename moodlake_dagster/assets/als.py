"""The ALS asset: collaborative filtering through the shared Spark Connect server."""

import dagster as dg
import pandas as pd
import pyarrow as pa

from moodlake_dagster.assets.ml_common import model_asset, model_store, record_metrics
from moodlake_dagster.assets.unchanged import skip_if_unchanged
from moodlake_dagster.checks import nothing_to_check, schema_check_spec, validate
from moodlake_dagster.inputs import fingerprint
from moodlake_dagster.insights import figure_md, preview, versus_baseline_plot
from moodlake_dagster.ml import als
from moodlake_dagster.ml.metrics import metric
from moodlake_dagster.partitions import day_range
from moodlake_dagster.resources import LakeResource, MoodlakeConfig, SparkConnectResource
from moodlake_dagster.tables import ALS_RECOMMENDATIONS, PLAYS
from moodlake_dagster.transform.policy import training_plays
from moodlake_dagster.vocabulary import ESTIMATE

PER_USER = 50
BASELINE_CHECK = "beats_popularity"


def baseline_check(evaluation: als.Evaluation | None, why: str) -> dg.AssetCheckResult:
    if evaluation is None:
        return dg.AssetCheckResult(
            check_name=BASELINE_CHECK, passed=True, description=f"cannot judge: {why}"
        )
    return dg.AssetCheckResult(
        check_name=BASELINE_CHECK,
        passed=evaluation.ndcg >= evaluation.baseline_ndcg,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"ndcg_at_10": evaluation.ndcg, "baseline_ndcg_at_10": evaluation.baseline_ndcg},
        description=f"NDCG@10 {evaluation.ndcg:.3f} vs popularity {evaluation.baseline_ndcg:.3f}"
        f" on {evaluation.n_eval} later {evaluation.unit}s",
    )


def ranking_plot(evaluation: als.Evaluation):
    scores = pd.DataFrame(
        {
            "model": [evaluation.precision, evaluation.ndcg],
            "baseline": [evaluation.baseline_precision, evaluation.baseline_ndcg],
        },
        index=["precision@10", "NDCG@10"],
    )
    return versus_baseline_plot(scores, ylabel="on later days", baseline="popularity")


@dg.asset(
    deps=[PLAYS.key],
    check_specs=[
        schema_check_spec(ALS_RECOMMENDATIONS, blocking=False),
        dg.AssetCheckSpec(
            BASELINE_CHECK,
            asset=ALS_RECOMMENDATIONS.key,
            description="NDCG@10 on the later window is not below the popularity ranking's",
        ),
    ],
    pool="spark",
    **model_asset(ALS_RECOMMENDATIONS, kinds={"spark", "deltalake"}),
)
def als_recommendations(
    context: dg.AssetExecutionContext,
    lake: LakeResource,
    spark: SparkConnectResource,
    moodlake: MoodlakeConfig,
) -> dg.MaterializeResult:
    """Tracks each listener is likely to play, by implicit-feedback ALS over listener × track
    play counts (Spark MLlib). With fewer than ten listeners, sessions stand in for listeners
    and a listener's taste is folded in from their latest sessions. Scored with precision@10
    and NDCG@10 on later days beside a popularity ranking."""
    start, end = day_range(context)
    settings = moodlake.settings()
    inputs = fingerprint(ALS_RECOMMENDATIONS, lake, settings, start, end)
    if skipped := skip_if_unchanged(context, lake, [ALS_RECOMMENDATIONS], inputs):
        return skipped
    plays = lake.frame(
        PLAYS,
        [("play_date", "<=", end)],
        [
            "user_id",
            "track_id",
            "spotify_track_id",
            "resolution",
            "played_at_utc",
            "play_date",
            "skipped",
            "source_format",
        ],
    )
    plays = training_plays(plays, include_api_plays=settings.api_plays_in_training)
    # An artist estimate stands for many songs: an item only by the play's own Spotify id.
    plays.loc[plays["resolution"] == ESTIMATE, "track_id"] = None
    session = spark.get_session(context)
    unit = als.unit_for(plays) if len(plays) else "user"
    with_id = plays["spotify_track_id"].notna() | plays["track_id"].notna()
    metadata: dict = {
        "unit": unit,
        "listeners": int(plays["user_id"].nunique()),
        "plays_used": int(with_id.sum()),
        "plays_without_track_id": int((~with_id).sum()),
    }
    evaluation, why = None, ""
    try:
        evaluation = als.evaluate(session, plays, unit)
    except als.CannotFit as err:
        why = str(err)
        context.log.warning(f"ALS not evaluated: {why}")
        metadata["not_evaluated"] = why
    rows = []
    try:
        served = als.serve(session, plays, unit)
    except als.CannotFit as err:
        context.log.warning(f"ALS not fitted: {err}")
        metadata["not_fitted"] = str(err)
        served = None
    if served is not None:
        for user_id, vector in served.vectors.items():
            recs = als.recommend(served.factors, vector, served.exclude[user_id], PER_USER)
            rows.append(recs.assign(user_id=user_id, unit=unit, basis=served.basis[user_id]))
        folder = model_store(moodlake).save(
            "als",
            end,
            served.factors,
            card={
                "unit": unit,
                "params": served.factors.params,
                "tracks": len(served.factors.item_ids),
            },
        )
        metadata |= {"model_path": str(folder), "tracks_factorised": len(served.factors.item_ids)}
    table = (
        pd.concat(rows, ignore_index=True)
        if rows
        else pd.DataFrame(columns=ALS_RECOMMENDATIONS.schema.names)
    )
    table["as_of_date"] = end
    arrow = pa.Table.from_pandas(
        table[ALS_RECOMMENDATIONS.schema.names],
        schema=ALS_RECOMMENDATIONS.schema,
        preserve_index=False,
    )
    metadata["table_uri"] = lake.replace_range(
        ALS_RECOMMENDATIONS, arrow, start, end, inputs=inputs
    )
    if evaluation is not None:
        n = evaluation.n_eval
        record_metrics(
            lake,
            "als",
            end,
            [
                metric(
                    "precision_at_10",
                    evaluation.precision,
                    baseline=evaluation.baseline_precision,
                    n_eval=n,
                ),
                metric("ndcg_at_10", evaluation.ndcg, baseline=evaluation.baseline_ndcg, n_eval=n),
            ],
        )
        metadata |= {
            "precision_at_10": evaluation.precision,
            "baseline_precision_at_10": evaluation.baseline_precision,
            "ndcg_at_10": evaluation.ndcg,
            "baseline_ndcg_at_10": evaluation.baseline_ndcg,
            "n_eval": n,
            "cutoff": str(evaluation.cutoff),
            "plot": figure_md(ranking_plot(evaluation), "ALS vs popularity on later days"),
        }
    if rows:
        metadata["preview"] = preview(table.drop(columns=["as_of_date"]))
    schema = (
        validate(ALS_RECOMMENDATIONS.model, table) if rows else nothing_to_check("nothing fitted")
    )
    return dg.MaterializeResult(
        metadata=metadata, check_results=[schema, baseline_check(evaluation, why)]
    )
