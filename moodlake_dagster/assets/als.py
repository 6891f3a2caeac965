"""The ALS asset: collaborative filtering through the shared Spark Connect server."""

import datetime as dt

import dagster as dg

from moodlake_dagster import model_plots
from moodlake_dagster.assets.cadence import cadence_for
from moodlake_dagster.assets.common import (
    metadata_on_last_day,
    model_store,
    publish_model,
    table_asset,
)
from moodlake_dagster.assets.platform import platform_farms
from moodlake_dagster.assets.unchanged import skip_if_unchanged
from moodlake_dagster.inputs import fingerprint
from moodlake_dagster.ml import als
from moodlake_dagster.partitions import day_range
from moodlake_dagster.resources import LakeResource, MoodlakeConfig, SparkConnectResource
from moodlake_dagster.tables import ALS_RECOMMENDATIONS, FARM_FLAGS, PLAYS
from moodlake_dagster.transform.policy import training_plays

BASELINE_CHECK = "beats_popularity"
ZERO_BASELINE = (
    " (popularity found nothing: the listeners' taste groups share no popular track they have "
    "yet to play; see the README)"
)


def baseline_check(
    evaluation: als.Evaluation | None, why: str, served_from: dt.date | None = None
) -> dg.AssetCheckResult:
    if evaluation is None:
        return dg.AssetCheckResult(
            check_name=BASELINE_CHECK, passed=True, description=f"cannot judge: {why}"
        )
    fit = f" (the fit of {served_from}, which serves this day)" if served_from else ""
    return dg.AssetCheckResult(
        check_name=BASELINE_CHECK,
        passed=evaluation.ndcg >= evaluation.baseline_ndcg,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"ndcg_at_10": evaluation.ndcg, "baseline_ndcg_at_10": evaluation.baseline_ndcg},
        description=f"NDCG@10 {evaluation.ndcg:.3f} vs popularity {evaluation.baseline_ndcg:.3f}"
        f" on {evaluation.n_eval} later {evaluation.unit}s"
        + (ZERO_BASELINE if evaluation.baseline_ndcg == 0 else "")
        + fit,
    )


def stored_fit(context, moodlake: MoodlakeConfig, as_of: dt.date) -> als.Stored | None:
    """The latest stored fit; one that cannot be read is refitted, not a failed build."""
    try:
        return als.Stored.latest(model_store(moodlake), as_of)
    except Exception as err:  # the store is a cache here: a refit replaces what it held
        context.log.warning(f"the stored ALS fit could not be read ({err!r}): refitting")
        return None


@dg.asset(
    **table_asset(
        ALS_RECOMMENDATIONS,
        kinds={"spark", "deltalake"},
        deps=[PLAYS, FARM_FLAGS],
        blocking=False,
        checks={
            BASELINE_CHECK: "NDCG@10 on the later window is not below the popularity ranking's",
        },
        spark=True,
    )
)
@metadata_on_last_day
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
    # Stream-farming accounts teach ALS nothing about taste: their plays stay out of training.
    farms = set(platform_farms(lake, end))
    farmed = plays["user_id"].isin(farms)
    plays = plays[~farmed].reset_index(drop=True)
    cadence, forced = cadence_for(context, moodlake)
    run = als.run(
        spark.get_session(context),
        plays,
        end,
        stored=None if forced or not cadence.days else stored_fit(context, moodlake, end),
        cadence=cadence,
        forced=forced,
    )
    run.out.metadata |= {
        "farm_accounts_excluded": len(farms),
        "farm_plays_excluded": int(farmed.sum()),
    }
    for level, message in run.log:
        context.log.log(level, message)
    if run.evaluation is not None:
        plot = model_plots.als_ranking_plot(run.evaluation)
        fit = f" (the fit of {run.served_from})" if run.served_from else ""
        run.out.figures["plot"] = (plot, f"ALS vs popularity on later days{fit}")
    checks = [baseline_check(run.evaluation, run.why, run.served_from)]
    return publish_model(lake, moodlake, ALS_RECOMMENDATIONS, run.out, (start, end), inputs, checks)
