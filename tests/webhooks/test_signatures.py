"""A delivery's id (`webhook-id`): it sorts by time, and within a process by creation."""

from webhooks import signatures
from webhooks.signatures import delivery_id_new


def test_ids_made_in_the_same_millisecond_sort_in_the_order_they_were_made():
    ids = [delivery_id_new() for _ in range(2_000)]  # many share a millisecond
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_an_id_after_the_clock_stepped_back_still_sorts_after_the_last(monkeypatch):
    later = delivery_id_new()
    monkeypatch.setattr(signatures.time, "time_ns", lambda: 1_000_000_000)  # 1970
    assert delivery_id_new() > later


def test_a_random_part_that_would_overflow_moves_to_the_next_millisecond(monkeypatch):
    monkeypatch.setattr(signatures, "_last_id", (5, 2**signatures.RANDOM_BITS - 1))
    monkeypatch.setattr(signatures.time, "time_ns", lambda: 5_000_000)
    assert delivery_id_new() == f"msg_{6:012x}{0:020x}"
