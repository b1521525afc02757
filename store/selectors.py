"""Reads of the store. Every customer-facing read is scoped to the caller."""

import functools

from django.db import connection, transaction
from django.db.models import Prefetch, QuerySet
from django.db.transaction import TransactionManagementError
from django.utils import timezone

from lib.db import ModelColumns, attach_related, placeholders

from .models import (
    Cart,
    CartItem,
    Customer,
    Order,
    OrderItem,
    OrderSideEffect,
    PriceChange,
    Product,
)


def product_list() -> QuerySet[Product]:
    return Product.objects.filter(is_active=True).order_by("pk")


def product_price_history(*, product_id: int) -> QuerySet[PriceChange]:
    """A public product's price changes, newest first; Product.DoesNotExist for an unknown
    or inactive one."""
    product_list().only("pk").get(pk=product_id)
    return PriceChange.objects.filter(product_id=product_id).order_by("-changed_at", "-id")


def order_latest_with_lines(*, customer_id: int, lines_key: str, since) -> int | None:
    """The id of the customer's latest order with these lines placed at `since` or later.
    Written out (every checkout runs it; see lib.db), on the index (customer, lines_key,
    placed_at)."""
    placed_at = Order._meta.get_field("placed_at").get_db_prep_value(since, connection)
    with connection.cursor() as cursor:
        cursor.execute(
            _latest_with_lines_sql(connection.vendor), [customer_id, lines_key, placed_at]
        )
        row = cursor.fetchone()
    return row[0] if row else None


@functools.cache
def _latest_with_lines_sql(vendor: str) -> str:
    return (
        f"SELECT id FROM {connection.ops.quote_name(Order._meta.db_table)} "
        "WHERE customer_id = %s AND lines_key = %s AND placed_at >= %s "
        "ORDER BY placed_at DESC, id DESC LIMIT 1"
    )


def product_price(*, product_id: int, using: str = "default"):
    """The price stored now (None for no such row), the row locked until the transaction
    ends: what a save is about to change. As a save's UPDATE does, the lock leaves rows
    that refer to the product free to be written (FOR NO KEY UPDATE)."""
    if not transaction.get_connection(using).in_atomic_block:
        # As the ORM refuses on PostgreSQL, on SQLite too: a lock outside a transaction
        # ends at once.
        raise TransactionManagementError("product_price() needs a transaction")
    rows = Product.objects.using(using).select_for_update(no_key=True).filter(pk=product_id)
    return rows.values_list("price", flat=True).first()


def cart_get(*, customer, cart_id) -> Cart:
    """The caller's cart; Cart.DoesNotExist for an unknown or a foreign one alike."""
    return Cart.objects.prefetch_related(
        Prefetch("items", queryset=CartItem.objects.select_related("product"))
    ).get(pk=cart_id, customer=customer)


def cart_list(*, customer) -> QuerySet[Cart]:
    return Cart.objects.filter(customer=customer).prefetch_related(
        Prefetch("items", queryset=CartItem.objects.select_related("product"))
    )


def cart_item_get(*, customer, cart_id, item_id) -> CartItem:
    return CartItem.objects.select_related("product").get(
        pk=item_id, cart_id=cart_id, cart__customer=customer
    )


def order_list(*, customer) -> QuerySet[Order]:
    return Order.objects.filter(customer=customer).prefetch_related(
        Prefetch("items", queryset=OrderItem.objects.select_related("product")),
        "side_effects",
    )


def order_get(*, customer, order_id) -> Order:
    return order_list(customer=customer).get(pk=order_id)


def order_side_effects(*, order: Order) -> dict[str, str]:
    """{kind: status} for every side effect of DESIGN.md, pending until a task says else."""
    states = {kind: OrderSideEffect.Status.PENDING.value for kind in OrderSideEffect.Kind.values}
    states.update({effect.kind: effect.status for effect in order.side_effects.all()})
    return states


def side_effects_due(
    *, kind: str, order_id: int, limit: int, lock: bool = False
) -> tuple[str | None, list[int]]:
    """A batch of work for a side-effect task, in one statement: the status of `order_id`'s
    `kind` side effect (None when there is no such row or, with `lock`, another transaction
    holds it), and the ids of up to `limit` orders whose `kind` side effect is pending,
    oldest first, `order_id` among them when it is pending, or failed: a delivery of the
    order's own task that comes after the reconciler gave up on it (a queue that was only
    late) still does the work, which is never done twice.

    With `lock`, the rows are locked for the caller's transaction; rows another
    transaction holds are skipped (FOR UPDATE SKIP LOCKED): another delivery is on them.
    """
    if lock and not connection.in_atomic_block:
        # As the ORM's select_for_update() refuses: a lock outside a transaction ends at once.
        raise TransactionManagementError("side_effects_due(lock=True) needs a transaction")
    with connection.cursor() as cursor:
        cursor.execute(_side_effects_due_sql(lock), [kind, order_id, kind, PENDING, limit])
        found = dict(cursor.fetchall())
    pending = [
        oid
        for oid, status in found.items()
        if status == PENDING or (oid == order_id and status == FAILED)
    ]
    if len(pending) > limit:  # this order came on top of `limit` older ones: it goes first
        older = [oid for oid in pending if oid != order_id]
        pending = sorted([*older[: limit - 1], order_id])
    return found.get(order_id), pending


PENDING = OrderSideEffect.Status.PENDING.value
FAILED = OrderSideEffect.Status.FAILED.value


@functools.cache
def _side_effects_due_sql(lock: bool) -> str:
    # Written out, not built with the ORM: every side-effect task runs it, and building and
    # compiling the equivalent queryset cost ten times the CPU of the statement itself
    # (0.7 ms against 0.08 ms; the load benchmark's profile of the workers).
    table = connection.ops.quote_name(OrderSideEffect._meta.db_table)
    for_update = ""
    if lock and connection.features.has_select_for_update_skip_locked:
        for_update = connection.ops.for_update_sql(skip_locked=True)
    return (
        f"SELECT order_id, status FROM {table} "
        "WHERE kind = %s AND (order_id = %s OR order_id IN ("
        f"SELECT order_id FROM {table} WHERE kind = %s AND status = %s "
        "ORDER BY order_id LIMIT %s)) "
        f"ORDER BY order_id {for_update}"
    )


def side_effects_stuck_count() -> int:
    """Side effects pending past their deadline: the reconciler's next work."""
    return OrderSideEffect.objects.filter(
        status=OrderSideEffect.Status.PENDING, deadline__lt=timezone.now()
    ).count()


def orders_for_processing(*, order_ids: list[int], with_customer: bool = True) -> list[Order]:
    """Orders with what their side-effect tasks need, in one query over their items: the
    items and their products, and the customer's user unless `with_customer` is off.
    Unknown ids are left out; fields not read are deferred."""
    if not order_ids:
        return []
    shape = _processing_columns(with_customer)
    with connection.cursor() as cursor:
        cursor.execute(_processing_sql(with_customer, len(order_ids)), list(order_ids))
        rows = cursor.fetchall()
    start, columns = 0, []
    for model_columns in shape:
        columns.append(model_columns.instances(rows, start))
        start += len(model_columns.fields)
    orders: dict[int, Order] = {}
    items: dict[int, list[OrderItem]] = {}
    for item, product, order, *customer_and_user in zip(*columns, strict=True):
        if order.pk not in orders:  # its first item: the row's copy of the order is kept
            orders[order.pk] = order
            if customer_and_user:
                customer, user = customer_and_user
                customer.user = user
                order.customer = customer
        order = orders[order.pk]
        item.product = product
        item.order = order
        items.setdefault(order.pk, []).append(item)
    for order in orders.values():
        attach_related(order, items=items[order.pk])
    return list(orders.values())


CUSTOMER_USER_FIELDS = ("username", "email", "first_name", "last_name")


@functools.cache
def _processing_columns(with_customer: bool) -> tuple[ModelColumns, ...]:
    shape = (
        ModelColumns(OrderItem, "i", ("order", "product", "unit_price", "quantity")),
        ModelColumns(Product, "p", ("sku", "name")),
        ModelColumns(Order, "o", ("customer", "total", "placed_at", "status")),
    )
    if with_customer:
        user_model = Customer._meta.get_field("user").related_model
        shape += (
            ModelColumns(Customer, "c", ("user",)),
            ModelColumns(user_model, "u", CUSTOMER_USER_FIELDS),
        )
    return shape


@functools.lru_cache(maxsize=64)
def _processing_sql(with_customer: bool, count: int) -> str:
    # Written out, not built with the ORM: each side-effect task runs it, and the
    # equivalent queryset (select_related over four tables) cost about nine times the CPU
    # of the statement itself to build, compile and load (the load benchmark's profile).
    shape = _processing_columns(with_customer)
    quote = connection.ops.quote_name

    def table(model) -> str:
        return quote(model._meta.db_table)

    joins = [
        f"FROM {table(OrderItem)} i",
        f"JOIN {table(Product)} p ON p.id = i.product_id",
        f"JOIN {table(Order)} o ON o.id = i.order_id",
    ]
    if with_customer:
        joins += [
            f"JOIN {table(Customer)} c ON c.id = o.customer_id",
            f"JOIN {table(shape[-1].model)} u "
            f"ON u.{quote(shape[-1].model._meta.pk.column)} = c.user_id",
        ]
    return (
        f"SELECT {', '.join(columns.select() for columns in shape)} {' '.join(joins)} "
        f"WHERE i.order_id IN ({placeholders(count)}) ORDER BY i.order_id, i.product_id"
    )


def order_for_processing(*, order_id: int, with_customer: bool = True) -> Order:
    """One order as orders_for_processing() reads it. Raises Order.DoesNotExist."""
    orders = orders_for_processing(order_ids=[order_id], with_customer=with_customer)
    if not orders:  # checkout never writes an order without items
        raise Order.DoesNotExist(f"order {order_id} does not exist")
    return orders[0]


def order_items_unapplied(*, order_ids: list[int]) -> list[OrderItem]:
    """The items of these orders that no stock movement applied yet, by order and product:
    what the inventory task moves. Written out (one LEFT JOIN; see lib.db)."""
    if not order_ids:
        return []
    columns = _unapplied_columns()
    with connection.cursor() as cursor:
        cursor.execute(_unapplied_sql(connection.vendor, len(order_ids)), list(order_ids))
        return columns.instances(cursor.fetchall(), 0)


@functools.cache
def _unapplied_columns() -> ModelColumns:
    return ModelColumns(OrderItem, "i", ("order", "product", "quantity", "crossed_low_stock"))


@functools.lru_cache(maxsize=64)
def _unapplied_sql(vendor: str, count: int) -> str:
    quote = connection.ops.quote_name
    movement = OrderItem._meta.get_field("movement").related_model
    return (
        f"SELECT {_unapplied_columns().select()} FROM {quote(OrderItem._meta.db_table)} i "
        f"LEFT JOIN {quote(movement._meta.db_table)} m ON m.order_item_id = i.id "
        f"WHERE i.order_id IN ({placeholders(count)}) AND m.id IS NULL "
        "ORDER BY i.order_id, i.product_id"
    )


def products_lock(*, product_ids: list[int]) -> None:
    """Lock these product rows (FOR NO KEY UPDATE) in primary-key order, as checkout does,
    for the caller's transaction."""
    if not connection.features.has_select_for_update:
        return  # SQLite: a writer locks the whole database
    if not connection.in_atomic_block:
        raise TransactionManagementError("products_lock() needs a transaction")
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM {quote(Product._meta.db_table)} "
            f"WHERE id IN ({placeholders(len(product_ids))}) "
            f"ORDER BY id {connection.ops.for_update_sql(no_key=True)}",
            list(product_ids),
        )


def auth_token_get(*, key: str):
    """The API token with this key, its user and the user's customer (when there is one)
    loaded with it, in one statement; None for an unknown key."""
    token_columns, user_columns, customer_columns = _auth_token_columns()
    with connection.cursor() as cursor:
        cursor.execute(_auth_token_sql(), [key])
        rows = cursor.fetchall()
    if not rows:
        return None
    token = token_columns.instances(rows, 0)[0]
    start = len(token_columns.fields)
    user = user_columns.instances(rows, start)[0]
    start += len(user_columns.fields)
    if rows[0][start] is not None:  # LEFT JOIN: a user may have no customer yet
        user.customer = customer_columns.instances(rows, start)[0]
    token.user = user
    return token


@functools.cache
def _auth_token_columns() -> tuple[ModelColumns, ModelColumns, ModelColumns]:
    from rest_framework.authtoken.models import Token

    user_model = Customer._meta.get_field("user").related_model
    return (
        ModelColumns(Token, "t"),
        ModelColumns(user_model, "u"),
        # The primary key first: NULL when the user has no customer.
        ModelColumns(Customer, "c"),
    )


@functools.cache
def _auth_token_sql() -> str:
    # Written out, not built with the ORM: every API request runs it, and the equivalent
    # select_related("user__customer").get() cost about a sixth of the web processes' CPU
    # under load (the load benchmark's profile).
    token, user, customer = _auth_token_columns()
    quote = connection.ops.quote_name
    user_pk = quote(user.model._meta.pk.column)
    return (
        f"SELECT {token.select()}, {user.select()}, {customer.select()} "
        f"FROM {quote(token.model._meta.db_table)} t "
        f"JOIN {quote(user.model._meta.db_table)} u ON u.{user_pk} = t.user_id "
        f"LEFT JOIN {quote(Customer._meta.db_table)} c ON c.user_id = u.{user_pk} "
        f"WHERE t.{quote(token.model._meta.pk.column)} = %s"
    )


def product_get(*, product_id: int) -> Product:
    return Product.objects.get(pk=product_id)
