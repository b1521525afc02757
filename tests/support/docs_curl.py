"""docs/api.md's "A checkout with curl" run against a running stack (tests.support.stack),
as a newcomer pastes it: the commands the API's guide shows must keep working."""

import re
import subprocess

from store.models import Order, Product
from tests.support import PROJECT_DIR


def api_docs_curl_section_run(stack, admin_password: str) -> None:
    """docs/api.md's "A checkout with curl", run by bash as a newcomer pastes it (the
    stack's address and the first two products of its catalog; its staff password where
    make run keeps it): the first order cancelled, the second fulfilled and then refused
    a cancel."""
    docs = (PROJECT_DIR / "docs" / "api.md").read_text()
    script = re.search(r"## A checkout with curl.*?```sh\n(.*?)```", docs, re.S)[1]
    first, second = Product.objects.order_by("pk").values_list("pk", flat=True)[:2]
    script = (
        script.replace("http://127.0.0.1:8000", stack.base)
        .replace('"product_id": 1,', f'"product_id": {first},')
        .replace('"product_id": 2,', f'"product_id": {second},')
    )
    var = stack.log_path.parent / "var"
    (var / "admin_password").write_text(admin_password)
    ran = subprocess.run(
        ["bash", "-e", "-c", script], cwd=var.parent, capture_output=True, text=True, timeout=90
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.endswith(
        '{"detail":"The order is fulfilled: it can no longer be cancelled."}'
    )
    orders = Order.objects.filter(customer__user__username="ada").order_by("pk")
    assert [(o.status, o.tracking_number) for o in orders] == [
        ("cancelled", ""),
        ("fulfilled", "1Z999AA10123456784"),
    ]
