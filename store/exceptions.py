"""Domain errors of the store. Views turn them into HTTP answers (core.api)."""

from dataclasses import dataclass


class StoreError(Exception):
    pass


class CartNotFound(StoreError):
    pass


class CartItemNotFound(StoreError):
    pass


class CartEmpty(StoreError):
    pass


class ProductNotFound(StoreError):
    pass


class QuantityTooLarge(StoreError):
    pass


class StockAdjustmentRefused(StoreError):
    """An adjustment would leave less on hand than is reserved (or below zero)."""


class IdempotencyKeyReused(StoreError):
    """The same Idempotency-Key was sent with a different request body."""


@dataclass(frozen=True)
class Shortage:
    product_id: int
    sku: str
    name: str
    requested: int
    available: int


class InsufficientStock(StoreError):
    def __init__(self, shortages: list[Shortage]):
        self.shortages = shortages
        names = ", ".join(f"{s.name} ({s.sku})" for s in shortages)
        super().__init__(f"Insufficient stock for: {names}.")
