"""What every model asset shares: its catalog entry, partitions, the model store and
model_metrics."""

from moodlake_dagster.ml.metrics import metrics_table
from moodlake_dagster.ml.store import ModelStore
from moodlake_dagster.partitions import daily_partitions, single_run
from moodlake_dagster.resources import LakeResource, MoodlakeConfig
from moodlake_dagster.tables import MODEL_METRICS, Table

ML = {
    "partitions_def": daily_partitions,
    "backfill_policy": single_run,
    "kinds": {"scikitlearn", "deltalake"},
}
AUC_CHECK = "auc_bar"


def model_asset(table: Table, **overrides) -> dict:
    """The @dg.asset arguments of a model table: its key, group and description, and ML's."""
    own = {
        "key": table.key,
        "group_name": table.group,
        "description": table.description,
        "metadata": table.metadata,
    }
    return ML | own | overrides


def model_store(moodlake: MoodlakeConfig) -> ModelStore:
    return ModelStore(moodlake.settings().home / "models")


def record_metrics(lake: LakeResource, model: str, as_of, rows: list[dict]) -> None:
    lake.replace_range(
        MODEL_METRICS,
        metrics_table(model, as_of, rows),
        as_of,
        as_of,
        where=f"model = '{model}'",
    )
