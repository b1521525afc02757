from celery import shared_task
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .models import AnalyticsEvent, Order, OrderItem, Product


@shared_task
def send_confirmation(order_id):
    order = Order.objects.select_related("user").get(pk=order_id)
    send_mail(
        f"Order #{order.pk} confirmed",
        f"Thank you for your order of {order.total}. We will let you know when it ships.",
        None,
        [order.user.email],
    )
    Order.objects.filter(pk=order_id).update(email_sent_at=timezone.now())


@shared_task
def update_inventory(order_id):
    with transaction.atomic():
        for item in OrderItem.objects.filter(order_id=order_id):
            Product.objects.filter(pk=item.product_id).update(stock=F("stock") - item.quantity)
        Order.objects.filter(pk=order_id).update(stock_updated_at=timezone.now())


@shared_task
def record_analytics(order_id):
    AnalyticsEvent.objects.create(name="order_created", order_id=order_id)
