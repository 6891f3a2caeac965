"""SHAP values into a table and into plain-words sentences (ml/explain.py), on small models
fitted here and on hand-made contributions."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import shap
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier

from moodlake_dagster.ml import explain

FEATURES = ("valence", "energy", "tempo", "day_part_code")


def test_values_are_written_in_their_units():
    assert explain.fmt("tempo", 119.6) == "120 BPM"
    assert explain.fmt("loudness", -5.24) == "-5.2 dB"
    assert explain.fmt("duration_ms", 180000.4) == "180000 ms"
    assert explain.fmt("valence", 0.555) == "0.56"


def test_top_reasons_are_the_largest_positive_pushes_never_a_hidden_input():
    x = np.array([0.8, 0.3, 128.0, 3.0])
    values = np.array([0.5, -1.0, 0.25, 2.0])  # day_part_code pushes most, but is hidden
    reasons = explain.top_reasons(FEATURES, x, values, n=3)
    total = np.abs(values).sum()
    assert reasons == [
        ("valence", "0.80", pytest.approx(0.5 / total)),
        ("tempo", "128 BPM", pytest.approx(0.25 / total)),
    ]
    assert explain.top_reasons(FEATURES, x, -np.abs(values)) == []
    assert explain.top_reasons(FEATURES, x, np.zeros(4)) == []


def test_lists_of_words_read_as_english():
    assert explain._join(["a"]) == "a"
    assert explain._join(["a", "b"]) == "a and b"
    assert explain._join(["a", "b", "c"]) == "a, b and c"


def _row(**overrides):
    fields = {
        "day_part": "evening",
        "mode": "mirror",
        "delta_valence": 0.0,
        "delta_energy": 0.0,
        "coach_nudging": False,
        "low_valence_days": 0,
        "recent_over": "your evenings of the last 14 days",
    }
    return SimpleNamespace(**(fields | overrides))


def test_a_mirror_sentence_names_the_features_and_their_shares():
    x, values = np.array([0.8, 0.3, 128.0, 3.0]), np.array([0.6, 0.2, 0.2, 0.0])
    text = explain.recommendation_sentence(_row(), FEATURES, x, values, None)
    assert text == (
        "Recommended because its valence (0.80) and energy (0.30) match what you play in the "
        "evening (contributing 60% and 20%)."
    )
    one = explain.recommendation_sentence(_row(), FEATURES, x, np.array([0.5, 0, 0, 0]), "m")
    assert (
        one == 'Recommended because its valence (0.80) matches your "m" mode (contributing 100%).'
    )
    none = explain.recommendation_sentence(_row(), FEATURES, x, np.zeros(4), "calm nights")
    assert none == 'Recommended as the closest fit to your "calm nights" mode among new tracks.'


def test_a_coach_sentence_says_which_step_it_takes():
    x, values = np.array([0.8, 0.3, 128.0, 3.0]), np.zeros(4)
    valence = explain.recommendation_sentence(
        _row(mode="coach", delta_valence=0.06, delta_energy=0.02), FEATURES, x, values, None
    )
    assert valence.endswith(
        ", with slightly higher valence (+0.06 over your evenings of the last 14 days)."
    )
    energy = explain.recommendation_sentence(
        _row(mode="coach", delta_valence=0.01, delta_energy=0.12), FEATURES, x, values, None
    )
    assert ", with a little higher energy (+0.12 over" in energy
    nudged = explain.recommendation_sentence(
        _row(mode="coach", delta_valence=0.09, delta_energy=0.12, coach_nudging=True),
        FEATURES,
        x,
        values,
        None,
    )
    # After a low-valence streak the step is valence's, whatever energy did.
    assert "higher valence (+0.09" in nudged and nudged.endswith(" after 0 low-valence days.")


def test_a_mood_sentence_says_it_explains_the_boosted_half():
    x = np.array([0.8, 0.3, 128.0, 3.0])
    text = explain.mood_sentence("happy", 0.734, FEATURES, x, np.array([0.3, 0.1, 0.0, 0.0]))
    assert text == (
        "Labelled happy (p=0.73): in the boosted half of the model, mostly its valence 0.80 (75%) "
        "and energy 0.30 (25%)."
    )
    plain = explain.mood_sentence("sad", 0.5, FEATURES, x, np.zeros(4))
    assert plain == "Labelled sad (p=0.50); no single feature stands out in the boosted model."


def test_global_importance_is_the_mean_absolute_contribution():
    values = np.array([[1.0, -3.0, 0.0], [-1.0, 1.0, 0.5]])
    importance = explain.global_importance(values, ("a", "b", "c"))
    assert importance.to_dict() == {"c": 0.25, "a": 1.0, "b": 2.0}
    assert list(importance.index) == ["c", "a", "b"]  # ascending, for a horizontal bar plot


def test_the_long_table_has_a_row_per_subject_and_feature():
    keys = pd.DataFrame({"track_id": ["t1", "t2"]}, index=[10, 20])
    X = np.array([[0.1, 0.2], [0.3, 0.4]])
    values = np.array([[0.3, -0.1], [0.0, 0.0]])
    table = explain.long_table(keys, ("v", "e"), X, np.array([0.5, 0.6]), values, np.array([1, 2]))
    assert table["track_id"].tolist() == ["t1", "t1", "t2", "t2"]
    assert table["feature"].tolist() == ["v", "e", "v", "e"]
    assert table["feature_value"].tolist() == [0.1, 0.2, 0.3, 0.4]
    assert table["share"].tolist() == pytest.approx([0.75, 0.25, 0.0, 0.0])
    assert table["base_value"].tolist() == [0.5, 0.5, 0.6, 0.6]
    assert table["output"].tolist() == [1, 1, 2, 2]


def _data(classes: int):
    rng = np.random.default_rng(9)
    X = rng.random((120, 3))
    y = np.minimum((X[:, 0] * classes).astype(int), classes - 1)
    return X, y


def test_tree_shap_adds_up_to_the_models_raw_output():
    X, y = _data(2)
    model = GradientBoostingClassifier(n_estimators=15, max_depth=2, random_state=0).fit(X, y)
    base, values, output = explain.contributions(model, X[:10])
    assert values.shape == (10, 3) and base.shape == (10,)
    assert output == pytest.approx(model.decision_function(X[:10]), abs=1e-6)
    assert np.abs(values[:, 0]).mean() > np.abs(values[:, 1:]).mean()  # it leans on x0


def test_for_several_classes_each_row_is_explained_for_its_own_class():
    X, y = _data(3)
    # The mood classifier's boosted half is this kind of model.
    model = HistGradientBoostingClassifier(max_iter=10, max_leaf_nodes=4, random_state=0)
    model.fit(X, y)
    wanted = np.array([0, 1, 2, 2, 0])
    base, values, output = explain.contributions(model, X[:5], class_index=wanted)
    raw = model.decision_function(X[:5])
    assert output == pytest.approx(raw[np.arange(5), wanted], abs=1e-6)
    assert values.shape == (5, 3)


def test_a_rows_own_class_trees_give_the_values_all_trees_give():
    """The shortcut (each row through its class's trees only) against shap's own full
    multi-class computation, row by row and feature by feature."""
    X, y = _data(4)
    model = HistGradientBoostingClassifier(max_iter=12, max_leaf_nodes=5, random_state=0)
    model.fit(X, y)
    wanted = np.array([3, 0, 1, 2, 2, 0, 3, 1])
    base, values, _ = explain.contributions(model, X[:8], class_index=wanted)
    explainer = shap.TreeExplainer(model)
    every = np.asarray(explainer.shap_values(X[:8]))  # rows × features × classes
    assert every.shape == (8, 3, 4)
    assert values == pytest.approx(every[np.arange(8), :, wanted], abs=1e-12)
    assert base == pytest.approx(np.asarray(explainer.expected_value)[wanted], abs=1e-12)
