"""The host bed (tests/e2e/test_hosts.py) with RabbitMQ the broker: this process's node
(tests.support.brokers.RabbitMQNode), in a vhost of the bed's own, which the hosts reach
through the bridge (a forwarder on this process's address: a host cut off is cut off from
RabbitMQ too, which notices it by its missed heartbeats). The channel layer stays a Redis,
the data host's. Production's windows (tests.support.shop_on_hosts): a job's 75 s lease,
its kind woken again 30 s after a wake-up while it is due, heartbeats every 10 s."""

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
    """tests.support.host_bed.worker_host_cut_mid_send, on RabbitMQ: the held job is
    claimed by the other host once its lease lapses (75 s), whatever the broker does; the
    wake-ups RabbitMQ pushed to the cut host's consumers after the cut come back once it
    closes that connection (two or three missed heartbeats), or are sent again 30 s
    after."""
    took = worker_host_cut_mid_send(shop)

    print(f"\nRabbitMQ: all done {took:.0f} s after the cut, by the other host")
    assert took <= PROMISE_SECONDS
