"""Monthly list prices per country and plan, for the revenue estimate in plan × country mix.

`DEFAULT_PRICES` are illustrative list prices written out by hand (roughly Spotify's public
prices in 2024), not billing data: no payment record ever feeds an estimate. An operator with
real prices sets their own with a CSV (`country,currency,plan,monthly_price`, one row per
country and plan) whose path the setting MOODLAKE_PRICES gives.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pandas as pd

PLANS = ("free", "premium", "family", "student", "duo")
PAID_PLANS = ("premium", "family", "student", "duo")
PRICE_COLUMNS = ["country", "currency", "plan", "monthly_price"]

# country → (currency, monthly price of premium, family, student, duo); free costs 0 everywhere.
DEFAULT_PRICES: dict[str, tuple[str, float, float, float, float]] = {
    "US": ("USD", 11.99, 19.99, 5.99, 16.99),
    "CA": ("CAD", 10.99, 18.99, 5.99, 14.99),
    "GB": ("GBP", 11.99, 19.99, 5.99, 16.99),
    "DE": ("EUR", 10.99, 17.99, 5.99, 14.99),
    "FR": ("EUR", 11.12, 18.21, 5.99, 15.17),
    "ES": ("EUR", 10.99, 17.99, 5.99, 14.99),
    "IT": ("EUR", 10.99, 17.99, 5.99, 14.99),
    "SE": ("SEK", 129.0, 219.0, 69.0, 169.0),
    "BR": ("BRL", 21.90, 34.90, 11.90, 27.90),
    "MX": ("MXN", 129.0, 199.0, 69.0, 169.0),
    "IN": ("INR", 119.0, 179.0, 59.0, 149.0),
    "JP": ("JPY", 980.0, 1580.0, 480.0, 1280.0),
    "AU": ("AUD", 13.99, 22.99, 6.99, 18.99),
}


def default_prices() -> pd.DataFrame:
    """`DEFAULT_PRICES` as a price table, a free row (0) per country included."""
    rows = []
    for country, (currency, *prices) in DEFAULT_PRICES.items():
        rows.append((country, currency, "free", 0.0))
        rows.extend(
            (country, currency, plan, float(price))
            for plan, price in zip(PAID_PLANS, prices, strict=True)
        )
    return pd.DataFrame(rows, columns=PRICE_COLUMNS)


def load_prices(path: Path | None) -> pd.DataFrame:
    """The price table: the defaults, or an operator's CSV, checked row by row.

    A bad row stops the load with its file and line: a price that silently became null or
    negative would turn into a wrong revenue figure nobody notices.
    """
    if path is None:
        return default_prices()
    path = Path(path)
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = [c.strip().lower() for c in reader.fieldnames or []]
        missing = [c for c in PRICE_COLUMNS if c not in header]
        if missing:
            raise ValueError(f"{path}: header lacks column(s) {', '.join(missing)}")
        reader.fieldnames = header
        rows, seen = [], {}
        for line, raw in enumerate(reader, start=2):
            rows.append(_checked(path, line, raw, seen))
    return pd.DataFrame(rows, columns=PRICE_COLUMNS).astype({"monthly_price": "float64"})


def _checked(path: Path, line: int, raw: dict, seen: dict) -> tuple[str, str, str, float]:
    def bad(why: str) -> ValueError:
        return ValueError(f"{path}, line {line}: {why}")

    country = (raw.get("country") or "").strip().upper()
    currency = (raw.get("currency") or "").strip().upper()
    plan = (raw.get("plan") or "").strip().lower()
    text = (raw.get("monthly_price") or "").strip()
    if not country:
        raise bad("missing country")
    if not currency:
        raise bad(f"missing currency for {country}")
    if plan not in PLANS:
        raise bad(f"unknown plan {plan!r} (expected one of {', '.join(PLANS)})")
    try:
        price = float(text)
    except ValueError:
        raise bad(f"monthly_price {text!r} is not a number") from None
    if math.isnan(price) or math.isinf(price):
        raise bad(f"monthly_price {text!r} is not a number")
    if price < 0:
        raise bad(f"negative monthly_price {price}")
    if plan == "free" and price != 0:
        raise bad(f"the free plan costs 0, not {price}")
    if (country, plan) in seen:
        raise bad(f"{country} {plan} already priced on line {seen[(country, plan)]}")
    seen[(country, plan)] = line
    return country, currency, plan, price
