"""The ALS asset: collaborative filtering through the shared Spark Connect server."""

import dagster as dg

from moodlake_dagster import model_plots
from moodlake_dagster.assets.common import publish_model, table_asset
from moodlake_dagster.assets.unchanged import skip_if_unchanged
from moodlake_dagster.inputs import fingerprint
from moodlake_dagster.ml import als
from moodlake_dagster.partitions import day_range
from moodlake_dagster.resources import LakeResource, MoodlakeConfig, SparkConnectResource
from moodlake_dagster.tables import ALS_RECOMMENDATIONS, PLAYS
from moodlake_dagster.transform.policy import training_plays

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


@dg.asset(
    **table_asset(
        ALS_RECOMMENDATIONS,
        kinds={"spark", "deltalake"},
        deps=[PLAYS],
        blocking=False,
        checks={
            BASELINE_CHECK: "NDCG@10 on the later window is not below the popularity ranking's",
        },
        spark=True,
    )
)
def als_recommendations(
    context: dg.AssetExecutionContext,
    lake: LakeResource,
    spark: SparkConnectResource,
    moodlake: MoodlakeConfig,
) -> dg.MaterializeResult:
    start, end = day_range(context)
    settings = moodlake.settings()
    inputs = fingerprint(ALS_RECOMMENDATIONS, lake, settings, start, end)
    if skipped := skip_if_unchanged(context, lake, [ALS_RECOMMENDATIONS], inputs):
        return skipped
    plays = lake.frame(PLAYS, [("play_date", "<=", end)], als.PLAY_COLUMNS)
    plays = training_plays(plays, include_api_plays=settings.api_plays_in_training)
    run = als.run(spark.get_session(context), plays, end)
    for level, message in run.log:
        context.log.log(level, message)
    if run.evaluation is not None:
        plot = model_plots.als_ranking_plot(run.evaluation)
        run.out.figures["plot"] = (plot, "ALS vs popularity on later days")
    checks = [baseline_check(run.evaluation, run.why)]
    return publish_model(lake, moodlake, ALS_RECOMMENDATIONS, run.out, (start, end), inputs, checks)
