"""Delta Lake storage: where the Bronze, Silver and Gold tables live (a folder or s3://…)."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pandas as pd
import pyarrow as pa

from moodlake_dagster import fingerprints, storage


class LakeResource(dg.ConfigurableResource):
    """The lake root and its object-store options; tables are `<root>/<layer>/<name>`."""

    root: str
    storage_options: dict[str, str] = {}
    # Files grow toward this size as data grows; compaction merges smaller ones up to it.
    target_file_mb: int = 64
    # Vacuum keeps the files any version of the last this many hours still needs.
    vacuum_retention_hours: int = 168

    @property
    def target_file_size(self) -> int:
        return self.target_file_mb * 1024 * 1024

    def uri(self, layer: str, name: str) -> str:
        return storage.table_uri(self.root, layer, name)

    def replace_range(
        self,
        layer: str,
        name: str,
        data: pa.Table,
        column: str,
        start: dt.date,
        end: dt.date,
        where: str | None = None,
        inputs: str | None = None,
    ) -> str:
        """Replace days [start, end]; `inputs` (a fingerprint) is recorded in the commit."""
        uri = self.uri(layer, name)
        storage.replace_range(
            uri,
            data,
            column=column,
            start=start,
            end=end,
            where=where,
            target_file_size=self.target_file_size,
            commit_metadata={fingerprints.INPUTS: inputs} if inputs else None,
            storage_options=self.storage_options,
        )
        return uri

    def inputs(
        self,
        start: dt.date,
        end: dt.date,
        *,
        reads: list[str] = (),
        sources: str | None = None,
        settings: str | None = None,
    ) -> str:
        """The fingerprint of a write: its days, the data versions of the tables it reads
        (`layer/name`), its source files, its settings and the code."""
        return fingerprints.digest(
            {
                "days": [start, end],
                "reads": {t: self.data_version(*t.split("/")) for t in reads},
                "sources": sources,
                "settings": settings,
                "code": fingerprints.code_version(),
            }
        )

    def recorded(self, layer: str, name: str) -> str | None:
        return fingerprints.recorded(self.uri(layer, name), self.storage_options)

    def data_version(self, layer: str, name: str) -> int | None:
        return fingerprints.data_version(self.uri(layer, name), self.storage_options)

    def snapshot(self, layer: str, name: str, as_of: dt.date):
        """The snapshot a reader as of `as_of` uses, as pandas (small tables, no Spark)."""
        day = self.snapshot_day(layer, name, as_of)
        if day is None:
            if self.exists(layer, name):
                raise storage.MissingTableError(
                    f"{layer}/{name} holds no rows as of {as_of}: it was materialized, with none"
                )
            raise storage.MissingTableError(f"{layer}/{name} has no snapshot: materialize it first")
        rows = storage.read_rows(
            self.uri(layer, name), [("as_of_date", "=", day)], self.storage_options
        )
        return pd.DataFrame(rows)

    def quarantine(self, asset: str, data: pa.Table, start: dt.date, end: dt.date) -> str:
        uri = self.uri("bronze", "quarantine")
        storage.replace_quarantine(
            uri, data, asset=asset, start=start, end=end, storage_options=self.storage_options
        )
        return uri

    def count_rows(self, layer: str, name: str, column: str, start: dt.date, end: dt.date) -> int:
        return storage.count_rows(
            self.uri(layer, name), column, start, end, storage_options=self.storage_options
        )

    def spark(self, spark, layer: str, name: str, predicate: str | None = None):
        return storage.spark_read(
            spark,
            self.uri(layer, name),
            predicate=predicate,
            storage_options=self.storage_options,
        )

    def snapshot_day(self, layer: str, name: str, as_of: dt.date) -> dt.date | None:
        return storage.snapshot_day(self.uri(layer, name), as_of, self.storage_options)

    def exists(self, layer: str, name: str) -> bool:
        return storage.table_exists(self.uri(layer, name), self.storage_options)

    def partition_days(self, layer: str, name: str, column: str) -> list[dt.date]:
        return storage.partition_days(self.uri(layer, name), column, self.storage_options)

    def append(self, layer: str, name: str, data: pa.Table, partition_by: list[str]) -> str:
        uri = self.uri(layer, name)
        storage.append(uri, data, partition_by, self.storage_options)
        return uri

    def read_rows(self, layer: str, name: str, filters: list[tuple] | None = None) -> list[dict]:
        return storage.read_rows(self.uri(layer, name), filters, self.storage_options)

    def frame(
        self,
        layer: str,
        name: str,
        filters: list[tuple] | None = None,
        columns: list[str] | None = None,
    ) -> pd.DataFrame:
        return storage.read_frame(self.uri(layer, name), filters, columns, self.storage_options)
