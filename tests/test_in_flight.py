"""Queries in flight together: results in the order asked, a failure cancels what is queued."""

import threading

import pytest

from moodlake_dagster.assets.in_flight import in_flight


def test_results_come_in_the_order_asked_though_a_later_one_finishes_first():
    first_may_finish = threading.Event()

    def slow():
        assert first_may_finish.wait(10)
        return "slow"

    def fast():
        first_may_finish.set()  # runs at the same time as `slow`, and lets it end
        return "fast"

    assert list(in_flight([("a", slow), ("b", fast)], n=2)) == [("a", "slow"), ("b", "fast")]


def test_a_failure_is_raised_and_the_work_still_queued_is_cancelled():
    ran = []

    def fails():
        raise RuntimeError("the query failed")

    def later():
        ran.append("later")

    with pytest.raises(RuntimeError, match="the query failed"):
        list(in_flight([("a", fails), *[(i, later) for i in range(50)]], n=1))
    assert len(ran) < 50  # without cancelling, all 50 would run before the error surfaced
