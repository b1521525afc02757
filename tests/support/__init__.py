"""Helpers of the tests, a module per concern: brokers (a Redis server of the test's own,
RabbitMQ, queues), smtp (a real SMTP server), streams (the live channels' clients),
processes (the project's own, as `make run` starts them), clients (API, browser, session),
polling, metrics (a /metrics answer) and push (Web Push's browser and push service)."""

from pathlib import Path

# The checkout the suite runs from; importing it imports nothing else (no Django).
PROJECT_DIR = Path(__file__).resolve().parents[2]
