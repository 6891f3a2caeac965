"""What the many-listener tables' columns mean (profiles, platform analytics, crowd models):
the part of the glossary `columns.py` merges into its per-table entries. Plain Python."""

from __future__ import annotations

_PROFILE = {
    "email_masked": "The email masked on ingest: first and last letter of the name, the "
    "domain (a***e@example.org); the clear address is never written.",
    "email_token": "Keyed HMAC of the lower-cased email (e_ + 16 hex): joins the same address "
    "across files without storing it.",
    "country": "Country of the account (ISO 3166-1 alpha-2) as the operator's profile file "
    "gives it.",
    "plan": "Subscription plan: free, premium, family, student or duo.",
}
_SHARES = {
    f"{part}_share": f"Share of the listener's plays that start in the {part} (0–1)."
    for part in ("night", "morning", "afternoon", "evening")
}

PLATFORM_COLUMNS: dict[str, dict[str, str]] = {
    "bronze/profiles": {
        **_PROFILE,
        "birth_year": "Birth year as received (text; Silver keeps only the age band).",
        "signup_date": "Signup day as received (text; Silver parses and checks it).",
    },
    "silver/profiles": {
        **_PROFILE,
        "age_band": "Age band on the as-of day from the birth year: under 18, 18-24, 25-34, "
        "35-44, 45-54, 55-64 or 65+.",
        "signup_date": "The day the account signed up (never after the as-of day).",
        "_source_file": "Lineage: the profiles file the row came from.",
    },
    "gold/active_listeners": {
        "day": "The local day counted.",
        "dau": "Listeners with at least one play that day.",
        "wau": "Listeners with a play in the 7 days ending that day.",
        "mau": "Listeners with a play in the 30 days ending that day.",
        "stickiness": "DAU / MAU (0–1): how many of the month's listeners came that day; null "
        "when nobody played in the 30 days.",
    },
    "gold/retention_cohorts": {
        "cohort_month": "First day of the cohort's month: the signup month (first-play month "
        "for listeners without a profile).",
        "cohort_basis": "signup (from the profile) or first play (no profile).",
        "months_since": "Months after the cohort month (0 = the cohort month itself). Months "
        "before the first play in the data are left out (unobserved, not inactive).",
        "cohort_size": "Listeners in the cohort.",
        "active": "Cohort listeners with a play in that month.",
        "retention": "active / cohort_size (0–1).",
        "complete": "False while the month is still under way on the as-of day (true when the "
        "as-of day is its last day).",
    },
    "gold/plan_country_mix": {
        "plan": "Subscription plan (unknown: a listener without a profile).",
        "country": "Account country, ISO 3166-1 alpha-2 (unknown: no profile).",
        "listeners": "Listeners on the plan in the country who signed up by the as-of day.",
        "active_listeners": "Of them, those with a play in the 28 days ending the as-of day.",
        "plays": "Plays in those 28 days.",
        "minutes": "Minutes played in those 28 days.",
        "skip_rate": "Share of those plays skipped (0–1).",
        "currency": "The price table's currency for the country (ISO 4217).",
        "monthly_price": "The plan's monthly list price in that currency (price table: "
        "MOODLAKE_PRICES or the built-in one).",
        "estimated_monthly_revenue": "listeners × monthly_price: an estimate from list prices, "
        "never from payment data; null where the price table has no price.",
    },
    "gold/crowd_top": {
        "week_start": "Monday of the local week.",
        "kind": "track, artist or genre.",
        "item": "The track_id, artist name or genre.",
        "item_name": "For a track 'artist – title'; else the item itself.",
        "rank": "1 = most plays that week among the rows shown.",
        "plays": "Plays that week, stream-farming accounts left out.",
        "listeners": "Distinct listeners behind the plays: never fewer than MOODLAKE_MIN_GROUP.",
    },
    "gold/farm_flags": {
        "flagged_days": "Days on which the account's listening was flagged.",
        "first_flagged": "The first flagged day.",
        "last_flagged": "The last flagged day.",
        "plays_on_flagged_days": "The account's plays on its flagged days.",
        "score": "The detector's most anomalous score over those days (higher: less like a "
        "person).",
        "reason": "Why, in words, with the numbers: the rules that fired.",
    },
    "gold/listener_segments": {
        "segment_id": "The segment's number in this as-of day's K-Means fit (0-based).",
        "segment": "The segment's name in words, from its centroid.",
        "plays_per_active_day": "Plays per day with at least one play.",
        "skip_rate": "Share of the listener's plays skipped (0–1).",
        **_SHARES,
        "mean_valence": "Mean valence of the listener's plays with audio features (0–1).",
        "mean_energy": "Mean energy of the listener's plays with audio features (0–1).",
        "genre_breadth": "How many genres the listener's plays spread over (see the model's "
        "docstring).",
        "distance": "Distance to the segment's centre in standardized units (larger: less "
        "typical of it).",
    },
    "gold/churn_risk": {
        "risk": "Probability of no play in the next 28 days (0–1).",
        "risk_band": "low, medium or high, by fixed thresholds on risk.",
        "days_since_last_play": "Days from the last play to the as-of day.",
        "plays_last_28d": "Plays in the 28 days ending the as-of day.",
        "reasons": "The features that raised or lowered the risk most (SHAP), in words.",
    },
    "gold/popularity_predictions": {
        "genre": "The track's genre the model read (its first catalog genre).",
        "popularity": "The catalog's popularity, 0–100.",
        "top_quartile": "Whether the track is in the catalog's top quartile of popularity.",
        "probability": "Out-of-fold probability of the top quartile (the track's artist was "
        "not in the fold's training data).",
        "fold": "The cross-validation fold the track was scored in.",
    },
    "gold/mood_playlists": {
        "mood": "The playlist's mood, from gold/track_moods.",
        "position": "Place in the playlist, 1–20, along the energy arc.",
        "source": "favourite (played through by the listener) or new (never played).",
    },
}
