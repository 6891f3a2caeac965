"""Sensors that notice new listening history (landing folder, Spotify Web API).

Empty until the sensor issue lands: today new history is ingested by `moodlake build` or by
materializing `listening_events` for the days it covers.
"""
