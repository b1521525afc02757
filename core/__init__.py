"""What every app may import, below them all: the API's error answers and parsers, OpenAPI
hooks, health and probes, metrics and tracing set-up, reading the environment, and the
way a domain signal is sent inside a transaction (core.signals). It imports no app."""
