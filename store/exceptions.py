"""Domain errors of the store, answered by core.api for every view (core.exceptions)."""

from dataclasses import dataclass

from core.exceptions import DomainError, NotFound


class CartNotFound(NotFound):
    detail = "Cart not found."


class CartItemNotFound(NotFound):
    detail = "Cart item not found."


class OrderNotFound(NotFound):
    detail = "Order not found."


class CartEmpty(DomainError):
    field, detail = "cart_id", "The cart is empty."


class ProductNotFound(DomainError):
    field, detail = "product_id", "Unknown product."


class QuantityTooLarge(DomainError):
    """Raised with the most of one product a cart may hold."""

    field = "quantity"

    @property
    def detail(self) -> str:
        return f"At most {self.args[0]} of one product per cart."


class StockAdjustmentRefused(Exception):
    """An adjustment would leave less on hand than is reserved (or below zero)."""


class IdempotencyKeyReused(DomainError):
    """The same Idempotency-Key was sent with a different request body."""

    status = 422
    detail = "This Idempotency-Key was already used with a different request body."


@dataclass(frozen=True)
class Shortage:
    product_id: int
    sku: str
    name: str
    requested: int
    available: int


class InsufficientStock(DomainError):
    """A 409 naming the products short (ShortageErrorSerializer)."""

    status = 409

    def __init__(self, shortages: list[Shortage]):
        self.shortages = shortages
        names = ", ".join(f"{s.name} ({s.sku})" for s in shortages)
        self.detail = f"Insufficient stock for: {names}."
        super().__init__(self.detail)

    def answer(self) -> dict:
        fields = ("product_id", "sku", "requested", "available")  # ShortageSerializer's
        products = [{field: getattr(s, field) for field in fields} for s in self.shortages]
        return {"detail": self.detail, "products": products}


class OrderNotCancellable(DomainError):
    status, detail = 409, "The order is fulfilled: it can no longer be cancelled."


class OrderNotFulfillable(DomainError):
    status, detail = 409, "The order is cancelled: it cannot be fulfilled."
