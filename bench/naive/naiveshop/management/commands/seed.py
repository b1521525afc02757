import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from rest_framework.authtoken.models import Token

from naiveshop.models import Product


class Command(BaseCommand):
    help = "Products with stock to spare and shoppers with API tokens; prints them as JSON."

    def add_arguments(self, parser):
        parser.add_argument("--products", type=int, default=20)
        parser.add_argument("--users", type=int, default=8)

    def handle(self, *args, products, users, **options):
        made = Product.objects.bulk_create(
            Product(name=f"Product {n}", price=f"{10 + n}.50", stock=10**8) for n in range(products)
        )
        tokens = []
        for n in range(users):
            user = get_user_model().objects.create_user(f"shopper{n}", f"shopper{n}@naive.example")
            tokens.append(Token.objects.create(user=user).key)
        self.stdout.write(json.dumps({"products": [p.pk for p in made], "tokens": tokens}))
