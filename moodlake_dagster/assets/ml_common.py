"""What every model asset shares: group, partitions, the model store and model_metrics."""

from moodlake_dagster.ml.metrics import metrics_table
from moodlake_dagster.ml.store import ModelStore
from moodlake_dagster.partitions import daily_partitions, single_run
from moodlake_dagster.resources import LakeResource, MoodlakeConfig

ML = {
    "group_name": "ml",
    "partitions_def": daily_partitions,
    "backfill_policy": single_run,
    "kinds": {"scikitlearn", "deltalake"},
}
AUC_CHECK = "auc_bar"
# Every model asset in build order, and the Gold tables among them keyed by listener.
MODEL_ASSETS = (
    "track_moods",
    "listening_modes",
    "preference_model",
    "als_recommendations",
    "recommendations",
    "shap_values",
    "explanations",
)
LISTENER_TABLES = MODEL_ASSETS[1:]


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
