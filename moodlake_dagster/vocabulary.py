"""The words every layer shares: day parts, audio features, moods, how a play was resolved.

Plain Python with no imports of our own or of Spark, so parsers, transforms, models, checks
and reports can all say "evening" or "valence" the same way.
"""

from __future__ import annotations

# A day part starts at its hour (local time) and runs to the next one's.
DAY_PART_HOURS = (("night", 0), ("morning", 6), ("afternoon", 12), ("evening", 18))
DAY_PARTS = tuple(name for name, _ in DAY_PART_HOURS)


def day_part(hour: int) -> str:
    """The day part of a local hour (0–23)."""
    return DAY_PARTS[hour // 6]


# The catalog's audio features: what a track's mood is read from.
AUDIO_FEATURES = (
    "danceability",
    "energy",
    "loudness",
    "speechiness",
    "acousticness",
    "instrumentalness",
    "liveness",
    "valence",
    "tempo",
)
# The features Gold summarises per day part and hour.
MOOD_FEATURES = ("valence", "energy", "danceability", "acousticness", "tempo")
# Features on a common 0–1 scale, used to place genres in a listener's taste space.
TASTE_FEATURES = ("valence", "energy", "danceability", "acousticness")
# What a listening mode (K-Means cluster) is made of.
MODE_FEATURES = ("valence", "energy", "acousticness", "danceability", "tempo")
# Catalog genres that are moods: the mood classifier's labels.
MOODS = ("happy", "sad", "chill", "party", "sleep", "study", "romance")

# A track row (and a play's resolution) standing for its artist's mean features.
ESTIMATE = "artist_estimate"
# An estimate's track_id: this prefix and 19 hex digits of its artist key's hash.
ESTIMATE_PREFIX = "EST"

# The bars a model must clear on held-out data (asset checks, and the line on their plots).
MOOD_AUC_BAR = 0.90  # macro ROC AUC, artist-grouped cross-validation
PREFERENCE_AUC_BAR = 0.80  # ROC AUC on the days after the cutoff

# A listener's plays with no gap over this many minutes are one session (ALS's rule too).
SESSION_GAP_MINUTES = 30
# A session whose mean energy reaches this is high-energy.
HIGH_ENERGY = 0.6


# The fields of an Extended Streaming History record that name a podcast episode or an
# audiobook chapter; a music play carries them empty.
EPISODE_FIELDS = (
    "episode_name",
    "episode_show_name",
    "spotify_episode_uri",
    "audiobook_title",
    "audiobook_uri",
    "audiobook_chapter_uri",
    "audiobook_chapter_title",
)
