"""Platform analytics in Spark (Gold): how many listen, who stays, what the plans are worth,
and what the crowd plays.

Unlike the rest of Gold these tables look across listeners, so none carries a user_id: the
crowd chart shows only items at least `min_group` distinct listeners stand behind, and
revenue is an estimate from list prices (prices.py), never from payment data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import pandas as pd
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from moodlake_dagster.vocabulary import ESTIMATE_PREFIX

UNKNOWN = "unknown"
ACTIVE_DAYS = 28  # plan × country activity: the four weeks ending the as-of day
PRICE_SCHEMA = "country string, currency string, plan string, monthly_price double"


def _upto(plays: DataFrame, as_of: dt.date) -> DataFrame:
    return plays.filter(F.col("local_date") <= F.lit(as_of))


def _month_index(col: Column) -> Column:
    return F.year(col) * 12 + F.month(col)


def active_listeners(plays: DataFrame, as_of: dt.date) -> DataFrame:
    """DAU, WAU, MAU and stickiness for every local day from the first play to as_of.

    Each listener-day is spread over the 30 days it counts towards, so the rolling distinct
    counts are grouped passes (Spark has no distinct count over a range window).
    """
    days_active = _upto(plays, as_of).select("user_id", "local_date").distinct()
    spread = (
        days_active.select(
            "user_id", "local_date", F.explode(F.sequence(F.lit(0), F.lit(29))).alias("offset")
        )
        .withColumn("day", F.date_add("local_date", F.col("offset")))
        .filter(F.col("day") <= F.lit(as_of))
    )
    # A listener's nearest active day decides which windows ending `day` they are in.
    nearest = spread.groupBy("day", "user_id").agg(F.min("offset").alias("nearest"))
    counts = nearest.groupBy("day").agg(
        F.count(F.when(F.col("nearest") == 0, 1)).alias("dau"),
        F.count(F.when(F.col("nearest") < 7, 1)).alias("wau"),
        F.count("*").alias("mau"),
    )
    calendar = days_active.agg(F.min("local_date").alias("first")).select(
        F.explode(F.sequence(F.col("first"), F.lit(as_of))).alias("day")
    )
    zero = F.lit(0).cast("long")
    return (
        calendar.join(counts, "day", "left")
        .select(
            "day",
            F.coalesce(F.col("dau").cast("long"), zero).alias("dau"),
            F.coalesce(F.col("wau").cast("long"), zero).alias("wau"),
            F.coalesce(F.col("mau").cast("long"), zero).alias("mau"),
        )
        .withColumn(
            "stickiness",
            F.when(F.col("mau") > 0, F.col("dau").cast("double") / F.col("mau")),
        )
        .withColumn("as_of_date", F.lit(as_of))
        .orderBy("day")
    )


def _signed_up(profiles: DataFrame, as_of: dt.date) -> DataFrame:
    """Profiles of listeners who had signed up by as_of (an unknown signup date counts)."""
    return profiles.filter(F.col("signup_date").isNull() | (F.col("signup_date") <= F.lit(as_of)))


def retention_cohorts(plays: DataFrame, profiles: DataFrame, as_of: dt.date) -> DataFrame:
    """Monthly retention per cohort: the share of a cohort that played in each later month.

    A listener's cohort is their signup month, or their first play's month when no profile
    (or no signup date) says when they joined. Months before the first play in the data are
    left out: nobody's activity was recorded then, so a 0 there would be invented. The as-of
    month is partial unless as_of is its last day: `complete` says so, as a low last share
    would otherwise read as churn.
    """
    played = _upto(plays, as_of)
    first_play = played.groupBy("user_id").agg(F.min("local_date").alias("first_date"))
    late = profiles.filter(F.col("signup_date") > F.lit(as_of)).select("user_id")
    members = (
        first_play.join(
            _signed_up(profiles, as_of).select("user_id", "signup_date"), "user_id", "full"
        )
        .join(late, "user_id", "left_anti")
        .select(
            "user_id",
            F.trunc(F.coalesce("signup_date", "first_date"), "month").alias("cohort_month"),
            F.when(F.col("signup_date").isNotNull(), "signup")
            .otherwise("first play")
            .alias("cohort_basis"),
        )
        .filter(F.col("cohort_month").isNotNull())
    )
    months_since = _month_index(F.col("month")) - _month_index(F.col("cohort_month"))
    active = (
        played.select("user_id", F.trunc("local_date", "month").alias("month"))
        .distinct()
        .join(members, "user_id")
        .withColumn("months_since", months_since.cast("long"))
        .filter(F.col("months_since") >= 0)
        .groupBy("cohort_month", "cohort_basis", "months_since")
        .agg(F.count("*").alias("active"))
    )
    last = (_month_index(F.lit(as_of)) - _month_index(F.col("cohort_month"))).cast("long")
    month = F.add_months("cohort_month", F.col("months_since").cast("int"))
    history = played.agg(F.trunc(F.min("local_date"), "month").alias("history_start"))
    grid = (
        members.groupBy("cohort_month", "cohort_basis")
        .agg(F.count("*").alias("cohort_size"))
        .withColumn("months_since", F.explode(F.sequence(F.lit(0).cast("long"), last)))
        .crossJoin(history)
        .filter(month >= F.col("history_start"))  # before any play: unobserved, not inactive
    )
    return (
        grid.join(active, ["cohort_month", "cohort_basis", "months_since"], "left")
        .select(
            "cohort_month",
            "cohort_basis",
            "months_since",
            F.col("cohort_size").cast("long").alias("cohort_size"),
            F.coalesce(F.col("active").cast("long"), F.lit(0).cast("long")).alias("active"),
        )
        .withColumn("retention", F.col("active").cast("double") / F.col("cohort_size"))
        .withColumn("complete", F.last_day(month) <= F.lit(as_of))
        .withColumn("as_of_date", F.lit(as_of))
        .orderBy("cohort_month", "cohort_basis", "months_since")
    )


def _price_frame(prices: DataFrame | pd.DataFrame, spark) -> DataFrame:
    if isinstance(prices, pd.DataFrame):
        rows = prices[["country", "currency", "plan", "monthly_price"]].astype(
            {"monthly_price": "float64"}
        )
        return spark.createDataFrame(rows.to_dict("records"), schema=PRICE_SCHEMA)
    return prices.select(
        F.upper("country").alias("country"),
        F.upper("currency").alias("currency"),
        F.lower("plan").alias("plan"),
        F.col("monthly_price").cast("double").alias("monthly_price"),
    )


def _or_unknown(value: Column) -> Column:
    return F.coalesce(F.nullif(value, F.lit("")), F.lit(UNKNOWN))


def plan_country_mix(
    plays: DataFrame, profiles: DataFrame, prices: DataFrame | pd.DataFrame, as_of: dt.date
) -> DataFrame:
    """Listeners, recent activity and estimated monthly revenue per plan × country.

    `prices` is the table prices.load_prices gives (pandas or Spark). Revenue is listeners ×
    list price: null where the table has no price for that country and plan, 0 on free.
    """
    played = _upto(plays, as_of)
    signed = _signed_up(profiles, as_of).select(
        "user_id",
        _or_unknown(F.lower(F.trim("plan"))).alias("plan"),
        _or_unknown(F.upper(F.trim("country"))).alias("country"),
    )
    anonymous = (
        played.select("user_id")
        .distinct()
        .join(profiles.select("user_id"), "user_id", "left_anti")
        .select("user_id", F.lit(UNKNOWN).alias("plan"), F.lit(UNKNOWN).alias("country"))
    )
    members = signed.unionByName(anonymous)
    since = as_of - dt.timedelta(days=ACTIVE_DAYS - 1)
    recent = (
        played.filter(F.col("local_date") >= F.lit(since))
        .join(members, "user_id")
        .groupBy("plan", "country")
        .agg(
            F.countDistinct("user_id").alias("active_listeners"),
            F.count("*").alias("plays"),
            (F.sum("ms_played") / 60_000).alias("minutes"),
            F.avg(F.col("skipped").cast("double")).alias("skip_rate"),
        )
    )
    price = _price_frame(prices, plays.sparkSession)
    currency_of = price.groupBy("country").agg(F.min("currency").alias("country_currency"))
    monthly = F.when(F.col("plan") == "free", F.lit(0.0)).otherwise(F.col("monthly_price"))
    zero = F.lit(0).cast("long")
    return (
        members.groupBy("plan", "country")
        .agg(F.count("*").alias("listeners"))
        .join(recent, ["plan", "country"], "left")
        .join(price, ["country", "plan"], "left")
        .join(currency_of, "country", "left")
        .select(
            "plan",
            "country",
            F.col("listeners").cast("long").alias("listeners"),
            F.coalesce(F.col("active_listeners").cast("long"), zero).alias("active_listeners"),
            F.coalesce(F.col("plays").cast("long"), zero).alias("plays"),
            F.coalesce(F.col("minutes").cast("double"), F.lit(0.0)).alias("minutes"),
            F.col("skip_rate").cast("double").alias("skip_rate"),
            F.coalesce("currency", "country_currency").alias("currency"),
            monthly.cast("double").alias("monthly_price"),
        )
        .withColumn("estimated_monthly_revenue", F.col("listeners") * F.col("monthly_price"))
        .withColumn("as_of_date", F.lit(as_of))
        .orderBy("plan", "country")
    )


def crowd_top(
    plays: DataFrame,
    tracks: DataFrame,
    as_of: dt.date,
    *,
    min_group: int = 5,
    exclude_users: Iterable[str] = (),
    top_n: int = 20,
) -> tuple[DataFrame, int]:
    """The crowd's weekly top tracks, artists and genres, and how many plays were set aside.

    Stream-farming accounts are dropped first so they cannot buy a place. An item fewer than
    `min_group` distinct listeners played is never shown (k-anonymity: a niche track with one
    fan would otherwise reveal that fan's week); ranks count only what is shown.
    """
    excluded = sorted(set(exclude_users))
    played = _upto(plays, as_of)
    excluded_plays = 0
    if excluded:
        farmed = F.col("user_id").isin(excluded)
        excluded_plays = int(played.filter(farmed).count())
        played = played.filter(~farmed)
    monday = F.date_sub("local_date", (F.dayofweek("local_date") + 5) % 7)
    catalog = tracks.select(
        "track_id",
        F.col("primary_artist").alias("catalog_artist"),
        F.col("track_name").alias("catalog_title"),
        F.col("genres").alias("catalog_genres"),
    ).dropDuplicates(["track_id"])
    real = F.col("track_id").isNotNull() & ~F.col("track_id").startswith(ESTIMATE_PREFIX)
    no_genres = F.array().cast("array<string>")
    genres = F.coalesce(F.when(real, F.array_distinct("catalog_genres")), no_genres)
    # Each play once per thing it counts for: its track, its artist, each of its genres.
    items = F.concat(
        F.array(
            F.struct(F.lit("track").alias("kind"), F.when(real, F.col("track_id")).alias("item")),
            F.struct(
                F.lit("artist").alias("kind"),
                F.when(F.length(F.trim("artist_name")) > 0, F.col("artist_name")).alias("item"),
            ),
        ),
        F.transform(genres, lambda g: F.struct(F.lit("genre").alias("kind"), g.alias("item"))),
    )
    counts = (
        played.join(catalog.select("track_id", "catalog_genres"), "track_id", "left")
        .select(
            monday.alias("week_start"),
            "user_id",
            "artist_name",
            "track_name",
            F.explode(items).alias("counted"),
        )
        .filter(F.col("counted.item").isNotNull())
        .groupBy("week_start", "counted.kind", "counted.item")
        .agg(
            F.count("*").alias("plays"),
            F.countDistinct("user_id").alias("listeners"),
            F.min("artist_name").alias("play_artist"),
            F.min("track_name").alias("play_title"),
        )
        .filter(F.col("listeners") >= min_group)
    )
    order = Window.partitionBy("week_start", "kind").orderBy(
        F.desc("plays"), F.desc("listeners"), F.asc("item")
    )
    track_name = F.concat_ws(
        " – ",
        F.coalesce("catalog_artist", "play_artist"),
        F.coalesce("catalog_title", "play_title"),
    )
    on_track = (F.col("kind") == "track") & (F.col("item") == F.col("track_id"))
    frame = (
        counts.withColumn("rank", F.row_number().over(order).cast("long"))
        .filter(F.col("rank") <= top_n)
        .join(catalog.drop("catalog_genres"), on_track, "left")
        .select(
            "week_start",
            "kind",
            "item",
            F.when(F.col("kind") == "track", track_name)
            .otherwise(F.col("item"))
            .alias("item_name"),
            "rank",
            F.col("plays").cast("long").alias("plays"),
            F.col("listeners").cast("long").alias("listeners"),
        )
        .withColumn("as_of_date", F.lit(as_of))
        .orderBy("week_start", "kind", "rank")
    )
    return frame, excluded_plays
