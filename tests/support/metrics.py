"""A /metrics answer, read as Prometheus reads it."""


# The runner's own helpers: tests start Redis the way `make run` does.


class Metrics:
    """A /metrics answer, parsed by prometheus-client's own parser."""

    def __init__(self, text: str):
        from prometheus_client.parser import text_string_to_metric_families

        self.samples = [
            sample for family in text_string_to_metric_families(text) for sample in family.samples
        ]

    def value(self, name: str, **labels) -> float | None:
        """The sample `name` whose labels include `labels`; None when there is none."""
        found = [
            s.value for s in self.samples if s.name == name and labels.items() <= s.labels.items()
        ]
        assert len(found) <= 1, f"{len(found)} samples match {name} {labels}"
        return found[0] if found else None
