"""A delivery's id (`webhook-id`): the form the redeliver URL accepts, and new each time."""

import re

from webhooks.signatures import delivery_id_new


def test_ids_have_the_form_the_redeliver_url_accepts_and_do_not_repeat():
    ids = [delivery_id_new() for _ in range(2_000)]  # many share a millisecond
    assert all(re.fullmatch(r"msg_[0-9a-f]{32}", pk) for pk in ids)
    assert len(set(ids)) == len(ids)
