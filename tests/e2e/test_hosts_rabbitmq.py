"""The host bed (tests/e2e/test_hosts.py) with RabbitMQ the broker: this process's node
(tests.support.brokers.RabbitMQNode), in a vhost of the bed's own, which the hosts reach
through the bridge (a forwarder on this process's address: a host cut off is cut off from
RabbitMQ too, which notices it by its missed heartbeats). The channel layer stays a Redis,
the data host's. Production's windows (tests.support.shop_on_hosts): heartbeats every
10 s, a 60 s email claim, a 60 s deadline, the reconciler every 30 s."""

import pytest

from tests.support.host_bed import (
    PROMISE_SECONDS,
    rabbitmq_vhost,
    shop_bed,
    worker_host_cut_mid_send,
)

# One bed of hosts for the module: its tests in one process (tests.support.isolation).
pytestmark = [pytest.mark.rabbitmq, pytest.mark.xdist_group("hosts-rabbitmq")]


@pytest.fixture(scope="module")
def shop(rabbitmq_node):
    with rabbitmq_vhost(rabbitmq_node) as broker, shop_bed(rabbitmq=broker) as shop:
        yield shop


def test_a_worker_host_cut_mid_task_costs_under_2_minutes_and_back_does_none_twice(shop):
    """tests.support.host_bed.worker_host_cut_mid_send, on RabbitMQ: it closes the cut
    host's connection once two or three heartbeats are missed and gives its unacknowledged
    messages (the held email, and those it pushed to the cut host's consumers after the
    cut) to the other host; the email waits for its claim to go stale (60 s)."""
    took = worker_host_cut_mid_send(shop)

    print(f"\nRabbitMQ: all done {took:.0f} s after the cut, by the other host")
    assert took <= PROMISE_SECONDS
