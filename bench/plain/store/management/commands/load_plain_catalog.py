"""Products for the benchmark: `count` of them, each with deep stock, so that checkouts are
measured and never a sell-out. Idempotent by SKU: a rerun tops the stock up."""

from decimal import Decimal

from django.core.management.base import BaseCommand
from django.db import transaction

from bench.plain.store.models import Product


class Command(BaseCommand):
    help = "Create N products with deep stock (the plain design's benchmark catalog)."

    def add_arguments(self, parser):
        parser.add_argument("--products", type=int, default=20)
        parser.add_argument("--on-hand", type=int, default=100_000_000)

    @transaction.atomic
    def handle(self, *args, products: int, on_hand: int, **options):
        for n in range(1, products + 1):
            Product.objects.update_or_create(
                sku=f"BENCH-{n:04d}",
                defaults={
                    "name": f"Bench product {n}",
                    "price": Decimal("10.00") + n,
                    "on_hand": on_hand,
                    "low_stock_threshold": 0,
                },
            )
        self.stdout.write(f"Plain catalog: {products} products, {on_hand} each on hand.")
