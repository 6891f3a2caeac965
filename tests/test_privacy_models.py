"""An erasure reaches the model store: every stored model, of every as-of day, loses the
listener's rows, and the proof's scan sees an id however a model file encodes it."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np

from moodlake_dagster.ml.als import Factors
from moodlake_dagster.ml.cadence import Fitted
from moodlake_dagster.ml.store import ModelStore, model_file, read_model
from moodlake_dagster.privacy import records, scan

ALICE, BOB = "u_a11ce0000000001", "u_b0b000000000002"
D0 = dt.date(2024, 7, 20)


def _factors(unit: str) -> Factors:
    if unit == "user":
        ids = [ALICE, BOB, "u_ca7000000000003"]
    else:  # sessions: ALS rows keyed "<listener>#<n>"
        ids = [f"{ALICE}#0", f"{ALICE}#1", f"{BOB}#0"]
    rng = np.random.default_rng(0)
    return Factors(
        unit,
        np.array(ids),  # NumPy's str dtype: UTF-32 in the pickle
        np.array(["t1", "t2", "t3", "t4"]),
        rng.normal(size=(3, 4)),
        rng.normal(size=(4, 4)),
        {"alpha": 5.0, "regParam": 1.0},
    )


def test_the_scan_finds_an_id_numpy_wrote_as_utf32(tmp_path):
    store = ModelStore(tmp_path / "models")
    store.save("als", dt.date(2024, 7, 22), _factors("user"), card={})
    raw = model_file(store.path("als", dt.date(2024, 7, 22))).read_bytes()
    assert ALICE.encode() not in raw and ALICE.encode("utf-32-le") in raw
    assert scan.holders(tmp_path, (ALICE,)) == ["models/als/2024-07-22/model.pickle"]


def test_an_erase_takes_the_listener_out_of_every_days_factors(tmp_path):
    root = tmp_path / "models"
    store = ModelStore(root)
    days = {"user": dt.date(2024, 7, 21), "session": dt.date(2024, 7, 22)}
    fit = Fitted(D0, plays=3, history="0123", listeners="4567").card()
    for unit, day in days.items():
        store.save("als", day, _factors(unit), card={"unit": unit, **fit})
    assert len(list(records.listener_models(root, ALICE))) == 2

    changed = records.scrub_models(root, ALICE)

    assert changed == ["als/2024-07-21", "als/2024-07-22"]
    assert scan.holders(tmp_path, (ALICE,)) == []
    for unit, day in days.items():
        before, after = _factors(unit), read_model(model_file(store.path("als", day)))
        kept = [not str(u).startswith(ALICE) for u in before.user_ids]
        assert list(after.user_ids) == list(before.user_ids[kept])
        np.testing.assert_array_equal(after.users, before.users[kept])  # the others' rows
        np.testing.assert_array_equal(after.items, before.items)
        # No longer what was fitted: the retraining cadence will not serve it again.
        card = json.loads((store.path("als", day) / "card.json").read_text())
        assert card["unit"] == unit and Fitted.from_card(day, card) is None
    assert list(records.listener_models(root, BOB)) == [store.path("als", d) for d in days.values()]


def test_a_model_without_the_listener_is_not_rewritten(tmp_path):
    root = tmp_path / "models"
    folder = ModelStore(root).save("als", dt.date(2024, 7, 21), _factors("user"), card={})
    written = model_file(folder).stat().st_mtime_ns
    assert records.scrub_models(root, "u_5ome0ne0e15e000") == []
    assert model_file(folder).stat().st_mtime_ns == written
