"""Price history: a real change of a product's price, saved through the ORM (any save),
is recorded once with who made it when known; orders keep the price they were placed at."""

import logging
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from store.models import PriceChange
from store.services import prices as price_services
from store.services.prices import price_changes_by
from tests.core.test_admin import product_form, staff_client  # noqa: F401 - a fixture
from tests.factories import ProductFactory, UserFactory, cart_with
from tests.support.clients import client_for
from tests.support.polling import wait_for_a_lock_wait

pytestmark = pytest.mark.django_db


def history(product) -> list[tuple[Decimal, Decimal]]:
    return list(
        PriceChange.objects.filter(product=product)
        .order_by("id")
        .values_list("old_price", "new_price")
    )


def test_a_price_saved_from_the_shell_is_recorded_and_logged(caplog):
    mug = ProductFactory(price="12.50")
    mug.price = Decimal("14.00")
    with caplog.at_level(logging.INFO, logger="store.services.prices"):
        mug.save()

    assert history(mug) == [(Decimal("12.50"), Decimal("14.00"))]
    assert PriceChange.objects.get().changed_by is None
    assert "12.50 -> 14.00" in caplog.text


def test_a_save_without_a_price_change_records_nothing():
    mug = ProductFactory(price="12.50")
    mug.name = "Big mug"
    mug.save()
    mug.price = "12.5"  # the same amount, written differently
    mug.save()
    mug.save(update_fields=["name"])
    assert history(mug) == []


def test_a_new_product_has_no_history():
    assert history(ProductFactory(price="3.00")) == []


def test_a_change_rolled_back_leaves_no_history():
    mug = ProductFactory(price="12.50")
    with pytest.raises(RuntimeError), transaction.atomic():
        mug.price = Decimal("20.00")
        mug.save()
        raise RuntimeError("rolled back")
    assert history(mug) == []


@pytest.mark.parametrize("bad", ["-1.00", "abc"])
def test_a_negative_or_non_numeric_price_is_refused_with_no_history(bad):
    mug = ProductFactory(price="12.50")
    mug.price = bad
    with pytest.raises((IntegrityError, ValidationError)), transaction.atomic():
        mug.save()
    assert history(mug) == []
    mug.refresh_from_db()
    assert mug.price == Decimal("12.50")


def test_the_admin_records_who_changed_it(staff_client):  # noqa: F811
    mug = ProductFactory(price="12.50")
    response = staff_client.post(
        f"/admin/store/product/{mug.pk}/change/", product_form(mug, price="9.99")
    )
    assert response.status_code == 302
    change = PriceChange.objects.get(product=mug)
    assert (change.old_price, change.new_price) == (Decimal("12.50"), Decimal("9.99"))
    assert change.changed_by.username == "ops"
    listed = staff_client.get("/admin/store/pricechange/", {"q": mug.sku}).content.decode()
    assert "9.99" in listed and "12.50" in listed and "ops" in listed  # the history's page


@pytest.mark.parametrize("bad", ["-1", "abc"])
def test_the_admin_refuses_a_bad_price_with_a_form_error(staff_client, bad):  # noqa: F811
    mug = ProductFactory(price="12.50")
    response = staff_client.post(
        f"/admin/store/product/{mug.pk}/change/", product_form(mug, price=bad)
    )
    assert response.status_code == 200  # the form again, with its error
    assert response.context["adminform"].form.errors["price"]
    assert history(mug) == []


def test_price_changes_by_names_the_author_only_inside_its_block():
    author = UserFactory(is_staff=True)
    mug = ProductFactory(price="1.00")
    with price_changes_by(author):
        mug.price = Decimal("2.00")
        mug.save()
    mug.price = Decimal("3.00")
    mug.save()
    assert list(PriceChange.objects.order_by("id").values_list("changed_by", flat=True)) == [
        author.pk,
        None,
    ]


def test_the_history_api_is_public_newest_first(anon_client):
    mug = ProductFactory(price="1.00")
    for price in ("2.00", "3.00"):
        mug.price = Decimal(price)
        mug.save()

    response = anon_client.get(f"/api/products/{mug.pk}/price-history/")
    assert response.status_code == 200
    assert [(c["old_price"], c["new_price"]) for c in response.json()["results"]] == [
        ("2.00", "3.00"),
        ("1.00", "2.00"),
    ]
    assert anon_client.get("/api/products/999999/price-history/").status_code == 404
    hidden = ProductFactory(is_active=False)
    assert anon_client.get(f"/api/products/{hidden.pk}/price-history/").status_code == 404


def test_an_order_keeps_the_price_of_its_checkout(user):
    mug = ProductFactory(price="10.00", on_hand=10)
    cart = cart_with(user.customer, (mug, 1))
    client = client_for(user)
    order_id = client.post("/api/orders/", {"cart_id": str(cart.pk)}, format="json").json()["id"]
    mug.price = Decimal("99.00")
    mug.save()
    order = client.get(f"/api/orders/{order_id}/").json()
    assert order["total"] == "10.00"
    assert order["items"][0]["unit_price"] == "10.00"


@pytest.mark.django_db(transaction=True)  # autocommit, as a shell or a script runs
def test_a_price_change_whose_history_cannot_be_written_is_not_made(monkeypatch):
    """The price and its history row commit together: the change is refused, not lost."""
    from store.models import Product

    mug = ProductFactory(price="12.50")

    def history_insert_fails(**kwargs):
        raise IntegrityError("the history insert failed")

    monkeypatch.setattr(price_services, "price_change_record", history_insert_fails)
    with pytest.raises(IntegrityError):
        mug.price = Decimal("14.00")
        mug.save()
    assert Product.objects.get(pk=mug.pk).price == Decimal("12.50")
    assert history(mug) == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_price_changes_at_once_record_one_chain():
    """The first save holds its transaction open; the second, from a copy of the product
    read before it, must wait for the row and record the first's price as its old one."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    from store.models import Product

    mug = ProductFactory(price="12.50")
    stale = Product.objects.get(pk=mug.pk)
    first_saved, release = threading.Event(), threading.Event()

    def first():
        try:
            with transaction.atomic():
                mug.price = Decimal("14.00")
                mug.save()
                first_saved.set()
                release.wait(timeout=10)
        finally:
            connection.close()

    def second():
        first_saved.wait(timeout=10)
        try:
            stale.price = Decimal("16.00")
            stale.save()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        done = [pool.submit(first), pool.submit(second)]
        wait_for_a_lock_wait()  # the second waits on the row lock
        assert not done[1].done()
        release.set()
        for future in done:
            future.result(timeout=30)

    assert history(mug) == [
        (Decimal("12.50"), Decimal("14.00")),
        (Decimal("14.00"), Decimal("16.00")),
    ]


@pytest.mark.postgres  # where a row lock exists: Django refuses one outside a transaction
@pytest.mark.django_db(transaction=True)  # no test transaction around it
def test_the_locking_price_read_refuses_to_run_outside_a_transaction():
    from store import locks

    mug = ProductFactory(price="1.00")
    with pytest.raises(transaction.TransactionManagementError):
        locks.product_price_for_update(product_id=mug.pk, using="default").first()
    with transaction.atomic():
        price = locks.product_price_for_update(product_id=mug.pk, using="default").first()
        assert price == Decimal("1.00")
