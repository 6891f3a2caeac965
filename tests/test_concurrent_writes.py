"""Writers racing on one Delta table, as separate processes released at the same instant.

delta-rs refuses a commit that a concurrent one could conflict with; `storage.replace_range`
makes a refused one again on the new version. What must hold: every writer ends with its days
written (none dropped silently), each day holds exactly the rows of one writer (never a mix,
never doubled), and the last commit to touch a day is the writer found there. The very first
write races too: two processes creating one table with data used to both commit it.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable

from moodlake_dagster import maintenance, storage

DAY0 = dt.date(2024, 1, 1)
ROWS_PER_DAY = 2_000
# (writer, first day, last day): overlapping and disjoint ranges of one table.
WRITERS = [("a", 0, 4), ("b", 2, 7), ("c", 5, 9), ("d", 0, 9)]

WRITER = """
import datetime as dt, sys, time
import pyarrow as pa
from moodlake_dagster import maintenance, storage

uri, tag = sys.argv[1], sys.argv[2]
first, last, at, rows = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[7])
day0 = dt.date.fromisoformat(sys.argv[6])
days = [day0 + dt.timedelta(days=d) for d in range(first, last + 1) for _ in range(rows)]
data = pa.table({"play_date": pa.array(days, pa.date32()), "writer": [tag] * len(days),
                 "n": list(range(len(days)))})
while time.time() < at:
    pass
storage.replace_range(uri, data, column="play_date", start=days[0], end=days[-1],
                      commit_metadata={"writer": tag})
print("written", tag)
"""


def race(uri: str, writers: list[tuple[str, int, int]]) -> list[subprocess.CompletedProcess]:
    """Start one process per writer; all begin writing at the same instant."""
    at = time.time() + 3  # past every interpreter's start-up
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, uri, tag, str(a), str(b), str(at), DAY0.isoformat()]
            + [str(ROWS_PER_DAY)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag, a, b in writers
    ]
    done = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        done.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return done


def commits_by_writer(uri: str) -> list[tuple[int, str]]:
    """(version, writer) of each commit that carries a writer, oldest first."""
    history = DeltaTable(uri).history()
    return sorted((entry["version"], entry["writer"]) for entry in history if "writer" in entry)


def test_racing_writers_each_land_once_and_no_day_is_mixed_or_doubled(tmp_path):
    uri = str(tmp_path / "plays")
    for round_ in range(2):  # the first round also races to create the table
        results = race(uri, WRITERS)
        for result in results:
            assert result.returncode == 0, result.stderr[-2000:]
        commits = commits_by_writer(uri)
        # Each writer's range committed exactly once in this round: none dropped, none twice.
        this_round = commits[-len(WRITERS) :]
        assert sorted(w for _, w in this_round) == sorted(w for w, _, _ in WRITERS), commits
        assert len(commits) == len(WRITERS) * (round_ + 1)

        rows = DeltaTable(uri).to_pyarrow_table().to_pandas()
        last_writer_of = {}
        for _, writer in this_round:  # in commit order: the later commit wins its days
            _, first, last = next(w for w in WRITERS if w[0] == writer)
            for d in range(first, last + 1):
                last_writer_of[DAY0 + dt.timedelta(days=d)] = writer
        for day, group in rows.groupby("play_date"):
            assert group["writer"].nunique() == 1, f"{day} mixes writers"
            assert len(group) == ROWS_PER_DAY, f"{day}: {len(group)} rows"
            assert group["writer"].iloc[0] == last_writer_of[day]
        assert set(rows["play_date"]) == set(last_writer_of)
        refused = sum("lost to a concurrent commit" in r.stderr for r in results)
        print(f"\nround {round_ + 1}: {len(WRITERS)} writers, {refused} committed again")


def test_a_lost_create_does_not_double_the_first_rows(tmp_path):
    """The race of two first writes of the same days, many times: one table, rows once."""
    for attempt in range(3):
        uri = str(tmp_path / f"t{attempt}")
        results = race(uri, [("x", 0, 1), ("y", 0, 1)])
        assert all(r.returncode == 0 for r in results), [r.stderr[-1000:] for r in results]
        rows = DeltaTable(uri).to_pyarrow_table()
        assert rows.num_rows == 2 * ROWS_PER_DAY
        assert len(set(rows.column("writer").to_pylist())) == 1


def test_a_quarantine_replace_is_one_commit(tmp_path):
    """Old records and their replacement change in one version: no reader sees neither."""
    uri = str(tmp_path / "quarantine")
    schema = pa.schema([("asset", pa.string()), ("record_date", pa.date32()), ("n", pa.int64())])

    def bad(n: int) -> pa.Table:
        return pa.table({"asset": ["plays"] * n, "record_date": [DAY0] * n, "n": range(n)}, schema)

    storage.replace_quarantine(uri, bad(3), asset="plays", start=DAY0, end=DAY0)
    before = DeltaTable(uri).version()
    storage.replace_quarantine(uri, bad(2), asset="plays", start=DAY0, end=DAY0)
    table = DeltaTable(uri)
    assert table.version() == before + 1
    assert table.to_pyarrow_table().num_rows == 2
    storage.replace_quarantine(uri, bad(0), asset="plays", start=DAY0, end=DAY0)
    assert DeltaTable(uri).to_pyarrow_table().num_rows == 0
    version = DeltaTable(uri).version()
    storage.replace_quarantine(uri, bad(0), asset="plays", start=DAY0, end=DAY0)
    assert DeltaTable(uri).version() == version  # nothing to remove: no empty commit
    assert Path(uri, "_delta_log").is_dir()


KILLED_WRITER = """
import datetime as dt, sys
import pyarrow as pa
from moodlake_dagster import maintenance, storage

n = 6_000_000
day = dt.date(2024, 1, 1)
data = pa.table({"play_date": pa.array([day] * n, pa.date32()), "writer": ["late"] * n,
                 "n": pa.array(range(n))})
print("writing", flush=True)
storage.replace_range(sys.argv[1], data, column="play_date", start=day, end=day,
                      target_file_size=2 * 1024 * 1024)
print("committed", flush=True)
"""


def test_a_writer_killed_before_its_commit_leaves_nothing_a_reader_sees(tmp_path):
    """SIGKILLed once its first data file is on disk (the commit comes after every file): the
    table stays at its last version, the orphans are no one's rows, vacuum removes them."""
    uri = str(tmp_path / "plays")
    storage.replace_range(
        uri, table_of("early", 0, 1), column="play_date", start=DAY0, end=DAY0 + dt.timedelta(1)
    )
    before = DeltaTable(uri)
    listed = {Path(p.removeprefix("file://")).name for p in before.file_uris()}
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, uri], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline() == "writing\n"
    deadline = time.monotonic() + 60

    def orphans() -> set[str]:
        data = Path(uri).rglob("*.parquet")
        return {p.name for p in data if "_delta_log" not in p.parts} - listed

    while not orphans():
        assert proc.poll() is None and time.monotonic() < deadline, "no file before the commit"
        time.sleep(0.005)
    proc.kill()
    proc.wait()
    assert orphans()  # its files are on disk ...
    after = DeltaTable(uri)
    assert after.version() == before.version()  # ... but it never committed
    assert after.to_pyarrow_table().equals(before.to_pyarrow_table())
    assert not orphans() & {Path(p).name for p in after.file_uris()}

    left = orphans()
    # As the maintenance job vacuums (full: files no commit lists), past the retention.
    maintenance.tidy("plays", uri, target_file_size=64 * 2**20, retention_hours=0)
    assert left and not orphans()
    storage.replace_range(uri, table_of("next", 0, 0), column="play_date", start=DAY0, end=DAY0)
    rows = DeltaTable(uri).to_pyarrow_table().to_pandas()
    assert rows.groupby("play_date")["writer"].unique().map(list).to_dict() == {
        DAY0: ["next"],
        DAY0 + dt.timedelta(1): ["early"],
    }


def table_of(writer: str, first: int, last: int) -> pa.Table:
    days = [DAY0 + dt.timedelta(days=d) for d in range(first, last + 1) for _ in range(10)]
    return pa.table(
        {
            "play_date": pa.array(days, pa.date32()),
            "writer": [writer] * len(days),
            "n": list(range(len(days))),
        }
    )
