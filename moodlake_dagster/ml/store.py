"""The model store: one trained model per model name and as-of day, reloadable for scoring.

Layout: `$MOODLAKE_HOME/models/<model>/<as_of>/model.joblib` (the fitted scikit-learn object,
joblib format: load it only from this store, never from an untrusted source) beside
`card.json` (what it was trained on, when, with which library versions, and its metrics).
Models are written explicitly by their assets, never through a pickling IO manager.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import joblib
import sklearn


class ModelStore:
    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, name: str, as_of: dt.date) -> Path:
        return self.root / name / as_of.isoformat()

    def save(self, name: str, as_of: dt.date, estimator, card: dict) -> Path:
        folder = self.path(name, as_of)
        folder.mkdir(parents=True, exist_ok=True)
        joblib.dump(estimator, folder / "model.joblib")
        card = {
            "model": name,
            "as_of": as_of.isoformat(),
            "trained_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "scikit_learn": sklearn.__version__,
            **card,
        }
        (folder / "card.json").write_text(json.dumps(card, indent=2, default=str))
        return folder

    def latest_day(self, name: str, as_of: dt.date) -> dt.date | None:
        """The newest model trained as of `as_of` or earlier."""
        days = sorted(
            dt.date.fromisoformat(p.name)
            for p in (self.root / name).glob("*")
            if (p / "model.joblib").exists()
        )
        earlier = [d for d in days if d <= as_of]
        return earlier[-1] if earlier else None

    def load(self, name: str, as_of: dt.date):
        day = self.latest_day(name, as_of)
        if day is None:
            raise LookupError(f"no {name} model trained as of {as_of}: materialize it first")
        folder = self.path(name, day)
        return joblib.load(folder / "model.joblib"), json.loads((folder / "card.json").read_text())
