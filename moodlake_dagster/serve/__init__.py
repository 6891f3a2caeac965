"""`moodlake serve`: a page and a JSON API for each listener, over the Gold tables.

data.py reads Gold per listener through delta-rs (no Spark), by committed Delta version;
tokens.py keeps the listeners' access tokens, hashed; app.py is the Starlette application;
command.py is the `moodlake serve` subcommand.
"""
