from core.exceptions import DomainError, NotFound


class EndpointNotFound(NotFound):
    detail = "No webhook endpoint has that id."


class DeliveryNotFound(NotFound):
    detail = "No webhook delivery has that id."


class EndpointDisabled(DomainError):
    detail = "The endpoint is disabled: enable it first (PATCH enabled=true)."
