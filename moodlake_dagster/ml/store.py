"""The model store: one trained model per model name and as-of day, reloadable for scoring.

Layout: `$MOODLAKE_HOME/models/<model>/<as_of>/model.pickle` (the fitted scikit-learn object,
pickled: load it only from this store, never from an untrusted source) beside `card.json`
(what it was trained on, when, with which library versions, and its metrics). Models are
written explicitly by their assets, never through a pickling IO manager.

Why pickle and not joblib: a per-listener model is a dict of a thousand boosted models, each
hundreds of small arrays, and joblib's pure-Python unpickler is slow on many small arrays.
Measured on the 1,000-listener crowd's match models (234 MB): joblib wrote them in 59 s and
read them in 34 s, pickle in 13 s and 7 s. Stores written before keep their `model.joblib`
files, which are still read (and rewritten in place by an erasure).

Why a dict is pickled an entry at a time: pickling keeps every object it has written alive
until it ends, with the copies a fitted model makes of its arrays to be pickled. One pickle of
300 listeners' preference models (63 MB on disk) raised the writer by 148 MB; one per listener
by 14 MB. A file of entries starts with `ENTRIES` and their count; a file without it is one
pickle of the whole model, as every store before 2026-12-01 wrote.
"""

from __future__ import annotations

import datetime as dt
import json
import pickle
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

MODEL_FILE = "model.pickle"
ENTRIES = "moodlake/model-store/entries"  # a file of (key, value) pickles follows: see above
JOBLIB_FILE = "model.joblib"  # what stores written before 2026-11-30 hold


def model_file(folder: Path) -> Path | None:
    """The model file in a store folder, whichever format wrote it; None without one."""
    for name in (MODEL_FILE, JOBLIB_FILE):
        if (folder / name).exists():
            return folder / name
    return None


def model_files(root: Path) -> Iterator[Path]:
    """Every model file under a store root, in folder order."""
    for folder in sorted(p for p in Path(root).glob("*/*") if p.is_dir()):
        if (path := model_file(folder)) is not None:
            yield path


def read_model(path: Path):
    if path.name == JOBLIB_FILE:
        import joblib  # only for stores written before; the CLI starts without it

        return joblib.load(path)
    with path.open("rb") as f:
        first = pickle.load(f)
        if isinstance(first, tuple) and len(first) == 2 and first[0] == ENTRIES:
            return dict(pickle.load(f) for _ in range(first[1]))
        return first


def write_model(model, path: Path) -> None:
    """Write `model` to `path` in that file's format, whole or not at all."""
    partial = path.with_name(path.name + ".partial")
    if path.name == JOBLIB_FILE:
        import joblib

        joblib.dump(model, partial)
    else:
        with partial.open("wb") as f:
            if isinstance(model, dict):
                pickle.dump((ENTRIES, len(model)), f, protocol=pickle.HIGHEST_PROTOCOL)
                for entry in model.items():
                    pickle.dump(entry, f, protocol=pickle.HIGHEST_PROTOCOL)
            else:
                pickle.dump(model, f, protocol=pickle.HIGHEST_PROTOCOL)
    partial.replace(path)


class ModelStore:
    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, name: str, as_of: dt.date) -> Path:
        return self.root / name / as_of.isoformat()

    def save(self, name: str, as_of: dt.date, estimator, card: dict) -> Path:
        folder = self.path(name, as_of)
        folder.mkdir(parents=True, exist_ok=True)
        write_model(estimator, folder / MODEL_FILE)
        (folder / JOBLIB_FILE).unlink(missing_ok=True)  # one model per folder
        card = {
            "model": name,
            "as_of": as_of.isoformat(),
            "trained_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "scikit_learn": version("scikit-learn"),
            **card,
        }
        (folder / "card.json").write_text(json.dumps(card, indent=2, default=str))
        return folder

    def latest_day(self, name: str, as_of: dt.date) -> dt.date | None:
        """The newest model trained as of `as_of` or earlier."""
        days = sorted(
            dt.date.fromisoformat(p.name)
            for p in (self.root / name).glob("*")
            if model_file(p) is not None
        )
        earlier = [d for d in days if d <= as_of]
        return earlier[-1] if earlier else None

    def latest_card(self, name: str, as_of: dt.date) -> tuple[dt.date, dict] | None:
        """(day, card) of the newest model trained as of `as_of`, without loading the model."""
        day = self.latest_day(name, as_of)
        if day is None:
            return None
        return day, json.loads((self.path(name, day) / "card.json").read_text())

    def load(self, name: str, as_of: dt.date):
        day = self.latest_day(name, as_of)
        if day is None:
            raise LookupError(f"no {name} model trained as of {as_of}: materialize it first")
        folder = self.path(name, day)
        return read_model(model_file(folder)), json.loads((folder / "card.json").read_text())
