"""Delta Lake storage: where the Bronze, Silver and Gold tables live (a folder or s3://…)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from moodlake_dagster import damaged, fingerprints, spark_commit, storage
from moodlake_dagster.tables import QUARANTINE, Table
from moodlake_dagster.transform.policy import canonical

# Rows per batch where a written range is read back (checks, summaries): memory that of one batch.
BATCH_ROWS = 50_000


def _recorded(inputs: str | None, parts: Mapping[str, str] | None) -> dict[str, str] | None:
    """What a write records in its commit: its inputs fingerprint and those of its parts."""
    recorded = {fingerprints.INPUTS: inputs} if inputs else {}
    recorded |= {fingerprints.PART + name: value for name, value in (parts or {}).items()}
    return recorded or None


class LakeResource(dg.ConfigurableResource):
    """The lake root and its object-store options; a catalog `Table` lives at `<root>/<path>`."""

    root: str
    storage_options: dict[str, str] = {}
    # Files grow toward this size as data grows; compaction merges smaller ones up to it.
    target_file_mb: int = 64
    # Spark writes the files of tables that grow with plays; delta-rs commits them.
    spark_writes: bool = True
    # Vacuum keeps the files any version of the last this many hours still needs.
    vacuum_retention_hours: int = 168

    @property
    def target_file_size(self) -> int:
        return self.target_file_mb * 1024 * 1024

    def uri(self, table: Table) -> str:
        return storage.table_uri(self.root, table.layer, table.name)

    def replace_range(
        self,
        table: Table,
        data: pa.Table,
        start: dt.date,
        end: dt.date,
        where: str | None = None,
        inputs: str | None = None,
        parts: Mapping[str, str] | None = None,
    ) -> str:
        """Replace days [start, end]; `inputs` (a fingerprint) and the fingerprints of `parts`
        are recorded in the commit."""
        uri = self.uri(table)
        storage.replace_range(
            uri,
            data,
            column=table.partition,
            start=start,
            end=end,
            where=where,
            target_file_size=self.target_file_size,
            commit_metadata=_recorded(inputs, parts),
            storage_options=self.storage_options,
        )
        return uri

    @property
    def writes_with_spark(self) -> bool:
        """Whether Spark writes the data files itself: asked for, and a local lake (the footer
        statistics are read from the file system; `spark_commit`)."""
        local = not self.storage_options and "://" not in self.root.removeprefix("file://")
        return self.spark_writes and local

    def replace_range_from_spark(
        self, table: Table, frame, start: dt.date, end: dt.date, inputs: str | None = None
    ) -> str:
        """Replace days [start, end] with a Spark DataFrame's rows without collecting them into
        this process where the lake allows it (`spark_commit`); through Arrow where not."""
        uri = self.uri(table)
        if not self.writes_with_spark:
            return self.replace_range(table, frame.toArrow(), start, end, inputs=inputs)
        spark_commit.replace_range(
            uri,
            frame,
            column=table.partition,
            start=start,
            end=end,
            commit_metadata=_recorded(inputs, None),
        )
        return uri

    def arrow_schema(self, table: Table) -> pa.Schema:
        return pa.schema(
            damaged.open_table(self.uri(table), self.storage_options).schema().to_arrow()
        )

    def batches(
        self, table: Table, start: dt.date, end: dt.date, rows: int = BATCH_ROWS
    ) -> Iterator[pd.DataFrame]:
        """Days [start, end] of a table as pandas frames of at most `rows` rows each.

        One file and one batch read ahead (Arrow's defaults decode several whole files' row
        groups at once), so memory is that of a row group or two whatever the range's size."""
        dataset = damaged.open_table(self.uri(table), self.storage_options).to_pyarrow_dataset()
        day = pc.field(table.partition)
        scan = dataset.to_batches(
            filter=(day >= start) & (day <= end),
            batch_size=rows,
            batch_readahead=1,
            fragment_readahead=1,
        )
        for batch in scan:
            if batch.num_rows:
                yield batch.to_pandas()

    def inputs(
        self,
        start: dt.date,
        end: dt.date,
        *,
        reads: tuple[Table, ...] = (),
        sources: str | None = None,
        settings: str | None = None,
        days: dict | None = None,
    ) -> str:
        """The fingerprint of a write: its days (or what stands for them), the data versions of
        the tables it reads, its source files, its settings and the code."""
        return fingerprints.digest(
            {
                "days": [start, end] if days is None else days,
                "reads": {t.path: self.data_version(t) for t in reads},
                "sources": sources,
                "settings": settings,
                "code": fingerprints.code_version(),
            }
        )

    def recorded(self, table: Table, part: str | None = None) -> str | None:
        """The inputs fingerprint of the table's latest write, or of one part of it."""
        key = fingerprints.INPUTS if part is None else fingerprints.PART + part
        return fingerprints.recorded(self.uri(table), self.storage_options, key=key)

    def data_version(self, table: Table) -> int | None:
        return fingerprints.data_version(self.uri(table), self.storage_options)

    def written(self, table: Table, uri: str) -> dict:
        """What a write tells Dagster about the table: where it is, and the Delta version it
        left, which readers compare with the table's own to notice a version gone (`versions`)."""
        return {"table_uri": uri, fingerprints.WRITTEN_VERSION: self.data_version(table)}

    def snapshot(self, table: Table, as_of: dt.date):
        """The snapshot a reader as of `as_of` uses, as pandas (small tables, no Spark)."""
        day = self.snapshot_day(table, as_of)
        if day is None:
            if self.exists(table):
                raise storage.MissingTableError(
                    f"{table} holds no rows as of {as_of}: it was materialized, with none"
                )
            raise storage.MissingTableError(f"{table} has no snapshot: materialize it first")
        frame = storage.read_snapshot(
            self.uri(table), [("as_of_date", "=", day)], self.storage_options
        )
        # In one order whatever the files' order: seeded models see the same rows the same way.
        return canonical(frame)

    def quarantine(self, asset: str, data: pa.Table, start: dt.date, end: dt.date) -> str:
        uri = self.uri(QUARANTINE)
        storage.replace_quarantine(
            uri, data, asset=asset, start=start, end=end, storage_options=self.storage_options
        )
        return uri

    def count_rows(self, table: Table, start: dt.date, end: dt.date) -> int:
        return storage.count_rows(
            self.uri(table), table.partition, start, end, storage_options=self.storage_options
        )

    def spark(self, spark, table: Table, predicate: str | None = None):
        return storage.spark_read(
            spark,
            self.uri(table),
            predicate=predicate,
            storage_options=self.storage_options,
        )

    def snapshot_day(self, table: Table, as_of: dt.date) -> dt.date | None:
        return storage.snapshot_day(self.uri(table), as_of, self.storage_options)

    def exists(self, table: Table) -> bool:
        return storage.table_exists(self.uri(table), self.storage_options)

    def partition_days(self, table: Table) -> list[dt.date]:
        return storage.partition_days(self.uri(table), table.partition, self.storage_options)

    def append(self, table: Table, data: pa.Table) -> str:
        uri = self.uri(table)
        storage.append(uri, data, [table.partition], self.storage_options)
        return uri

    def read_rows(self, table: Table, filters: list[tuple] | None = None) -> list[dict]:
        return storage.read_rows(self.uri(table), filters, self.storage_options)

    def frame(
        self,
        table: Table,
        filters: list[tuple] | None = None,
        columns: list[str] | None = None,
    ) -> pd.DataFrame:
        return storage.read_frame(self.uri(table), filters, columns, self.storage_options)
