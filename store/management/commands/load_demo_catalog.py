from decimal import Decimal

from django.core.management.base import BaseCommand
from django.db import transaction

from store.models import Product

# (sku, name, price, on hand, low-stock threshold). A few are nearly sold out, so the
# low-stock alert shows up after a checkout or two.
DEMO_CATALOG = [
    ("MUG-ENM-01", "Enamel Camp Mug, 350 ml", "14.90", 240, 20),
    ("TEE-ORG-M", "Organic Cotton T-Shirt, M", "24.00", 180, 15),
    ("TEE-ORG-L", "Organic Cotton T-Shirt, L", "24.00", 160, 15),
    ("BAG-CNV-01", "Canvas Tote Bag", "18.50", 300, 25),
    ("BTL-STL-750", "Insulated Steel Bottle, 750 ml", "32.00", 120, 10),
    ("NTB-A5-DOT", "A5 Dotted Notebook", "12.75", 400, 30),
    ("PEN-FTN-BLK", "Fountain Pen, Black", "39.00", 90, 8),
    ("INK-BLU-50", "Bottled Ink, Blue, 50 ml", "11.20", 150, 12),
    ("CAP-WOL-GRY", "Merino Wool Beanie, Grey", "29.90", 110, 10),
    ("SCK-HIK-42", "Hiking Socks, Size 42", "15.00", 220, 20),
    ("LMP-DSK-LED", "LED Desk Lamp", "64.00", 45, 5),
    ("CHR-CBL-USB", "Braided USB-C Cable, 2 m", "9.99", 500, 40),
    ("HDP-WRL-01", "Wireless Headphones", "129.00", 6, 5),
    ("KBD-MEC-TKL", "Mechanical Keyboard, Tenkeyless", "149.00", 4, 3),
    ("BKP-RLT-20", "Roll-top Backpack, 20 l", "89.00", 3, 3),
]


class Command(BaseCommand):
    help = "Load the demo catalog. Idempotent: creates missing products, changes none."

    @transaction.atomic
    def handle(self, *args, **options):
        there = Product.objects.filter(sku__in=[row[0] for row in DEMO_CATALOG]).count()
        # Only what is missing (a known SKU is skipped): a rerun must not undo sales or an
        # operator's edits.
        products = [
            Product(
                sku=sku, name=name, price=Decimal(price), on_hand=on_hand, low_stock_threshold=low
            )
            for sku, name, price, on_hand, low in DEMO_CATALOG
        ]
        Product.objects.bulk_create(products, ignore_conflicts=True)
        self.stdout.write(
            f"Demo catalog: {len(DEMO_CATALOG)} products ({len(DEMO_CATALOG) - there} new, "
            f"{there} already there)."
        )
