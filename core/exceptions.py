"""Domain errors any app's services and selectors may raise, which core.api answers for
every view: the domain layer names what went wrong, not an HTTP status."""


class DomainError(Exception):
    """A request the domain refuses: answered with `status` and a one-line `detail`; with
    a `field`, the way a serializer answers that field's error ({"detail": "<field>:
    <detail>", "<field>": ["<detail>"]}). A subclass may add keys in answer()."""

    status = 400
    detail = "Invalid input."
    field = ""

    def answer(self) -> dict:
        if self.field:
            return {"detail": f"{self.field}: {self.detail}", self.field: [self.detail]}
        return {"detail": self.detail}


class NotFound(DomainError):
    """Unknown, or not the caller's (someone else's row is not said to exist): a 404
    whose `detail` each subclass words."""

    status = 404
    detail = "Not found."
