"""CPU per call of the checkout and of each side-effect service, in process: no HTTP, no
Celery worker, no load, so the figures move only with the code (and the machine's speed).
With --against REV, the same calls on another revision in the same run, rounds taking
turns, so that a drift in the machine's speed hits both: the ratio is the figure to read.

    make bench-services BENCH_ARGS="--against cbea19f"

Each measurement runs in a child process whose imports come from one tree (this checkout,
or a git worktree of REV) on a fresh database (PostgreSQL when DATABASE_URL points at one),
DEBUG off. Per order: the checkout (cart and line made beforehand; the after-commit
publish included, to kombu's in-memory transport), then each side-effect service on that
order (batch size 1: no other order's work; email through the locmem backend, the SMTP
conversation not included). Prints the table (median CPU ms per call), writes
bench/results/services.json.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
CALLS = ("checkout", "inventory", "analytics", "email")


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def measure(orders: int) -> dict[str, list[float]]:
    """In the child: CPU ms of each call, per order (the tree's code is on sys.path)."""
    import django

    django.setup()
    import logging

    logging.disable(logging.WARNING)
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from store.models import Product

    store = service_calls()
    user = get_user_model().objects.create_user(
        username="bench", email="bench@example.com", password="bench-password-1"
    )
    customer = store.customer_ensure(user=user)
    products = [
        Product.objects.create(
            sku=f"BENCH-{n}", name=f"Bench {n}", price="10.00", on_hand=10**6, low_stock_threshold=0
        )
        for n in range(5)
    ]

    def cpu_ms(call) -> float:
        start = time.process_time()
        call()
        return (time.process_time() - start) * 1000

    placed, times = [], {name: [] for name in CALLS}
    for n in range(orders):
        cart = store.cart_create(customer=customer)
        store.cart_item_add(
            customer=customer, cart_id=cart.pk, product_id=products[n % 5].pk, quantity=1
        )
        times["checkout"].append(
            cpu_ms(lambda c=cart: placed.append(store.order_place(customer=customer, cart_id=c.pk)))
        )
    services = {"inventory": store.inventory, "analytics": store.analytics, "email": store.email}
    for name, service in services.items():
        for placement in placed:
            times[name].append(cpu_ms(lambda s=service, o=placement.order.pk: s(order_id=o)))
    return times


def service_calls() -> SimpleNamespace:
    """The services measured, in the layout of the tree the child runs: this one's, or the
    one before the apps moved out of store and core (for --against an older revision)."""
    try:
        from analytics_app.services import analytics_record
        from email_app.services import confirmation_email_send
        from store.services import carts, checkout, customers, stock
    except ImportError:
        from analytics_app.services import order_event_record
        from email_app.services import order_confirmation_send
        from store import services

        return SimpleNamespace(
            customer_ensure=services.customer_ensure,
            cart_create=services.cart_create,
            cart_item_add=services.cart_item_add,
            order_place=services.order_place,
            inventory=services.inventory_apply_order,
            analytics=order_event_record,
            email=order_confirmation_send,
        )
    return SimpleNamespace(
        customer_ensure=customers.customer_ensure,
        cart_create=carts.cart_create,
        cart_item_add=carts.cart_item_add,
        order_place=checkout.order_place,
        inventory=stock.inventory_apply,
        analytics=analytics_record,
        email=confirmation_email_send,
    )


def child_env(database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="core.settings",
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY="bench-only-not-a-secret",
        DATABASE_URL=database_url,
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        CELERY_BROKER_URL="memory://",
        SHOPFLOW_SIDE_EFFECT_BATCH_SIZE="1",
        SHOPFLOW_DUPLICATE_WINDOW_MINUTES="10",
        LOG_LEVEL="WARNING",
    )
    return env


def run_child(tree: Path, label: str, round_: int, args) -> dict[str, list[float]]:
    # load.py's: imported here, not at the top, where it would import this checkout's core
    # into a child that must take the other tree's.
    from load import fresh_database

    database = fresh_database(args.database_url, f"services_{label}_{round_}")
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(args.orders)]
    done = subprocess.run(
        command, cwd=tree, env=child_env(database), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.exit(f"bench/services.py: the run on {label} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", metavar="REV", help="also measure this git revision")
    parser.add_argument("--orders", type=int, default=300, help="orders per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", "sqlite:///"),
        help="server for the bench databases (default: DATABASE_URL, else SQLite)",
    )
    parser.add_argument("--out", default=str(RESULTS / "services.json"))
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, os.getcwd())
        print(json.dumps(measure(args.child)))
        return

    trees = {"this tree": ROOT}
    worktree = None
    if args.against:
        worktree = Path(tempfile.mkdtemp(prefix="shopflow-against-"))
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(worktree), args.against],
            cwd=ROOT, check=True, capture_output=True,
        )  # fmt: skip
        trees[args.against] = worktree
    try:
        samples: dict[str, dict[str, list[float]]] = {label: {} for label in trees}
        for round_ in range(1, args.rounds + 1):
            for label, tree in trees.items():
                say(f"round {round_}/{args.rounds}: {label} ({args.orders} orders)")
                times = run_child(tree, "a" if tree == ROOT else "b", round_, args)
                for name, values in times.items():
                    # The median of each round; their median is the figure.
                    samples[label].setdefault(name, []).append(statistics.median(values))
    finally:
        if worktree is not None:
            subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=ROOT,
                           check=False, capture_output=True)  # fmt: skip
            shutil.rmtree(worktree, ignore_errors=True)

    figures = {
        label: {name: round(statistics.median(v), 2) for name, v in per.items()}
        for label, per in samples.items()
    }
    labels = list(trees)
    header = ["CPU ms per call (median)", *labels, *(["ratio"] if len(labels) == 2 else [])]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for name in (*CALLS, "side effects, all three"):
        if name in CALLS:
            cells = [figures[label][name] for label in labels]
        else:
            cells = [round(sum(figures[label][c] for c in CALLS[1:]), 2) for label in labels]
        extra = [f"{cells[0] / cells[1]:.2f}x"] if len(cells) == 2 and cells[1] else []
        lines.append("| " + " | ".join([name, *map(str, cells), *extra]) + " |")
    print("\n".join(lines))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "against": args.against,
                "orders": args.orders,
                "rounds": args.rounds,
                "database": "postgresql" if args.database_url.startswith("postgres") else "sqlite",
                "figures": figures,
                "round_medians": samples,
                "table": lines,
            },
            indent=1,
        )
    )
    say(f"\nraw numbers: {out}")


if __name__ == "__main__":
    main()
