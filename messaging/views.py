from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from . import selectors, services
from .serializers import MessageCreateSerializer, MessageSerializer, MessagesMarkedReadSerializer


@extend_schema_view(get=extend_schema(summary="The order's conversation, oldest first"))
class OrderMessagesView(generics.ListAPIView):
    """The conversation about one order, between its customer and the shop's staff."""

    serializer_class = MessageSerializer

    def order(self):
        return selectors.conversation_order_get(
            user=self.request.user, order_id=self.kwargs["order_id"]
        )

    def get_queryset(self):
        return selectors.message_list(order=self.order())

    @extend_schema(
        summary="Write to the order's conversation",
        description=(
            "The order's customer or staff. The other side is notified (the customer when "
            "staff writes; the staff who took up the conversation, or all staff, when the "
            "customer writes)."
        ),
        request=MessageCreateSerializer,
        responses={201: MessageSerializer},
    )
    def post(self, request, order_id: int):
        order = self.order()
        body = MessageCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        message = services.message_post(
            order=order, author=request.user, body=body.validated_data["body"]
        )
        return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)


class OrderMessagesReadView(APIView):
    @extend_schema(
        summary="Mark read the messages the other side sent (read receipts)",
        description="The order's customer marks the staff's messages read; staff mark the "
        "customer's. Their authors see the receipt live. Marking again changes nothing.",
        request=None,
        responses=MessagesMarkedReadSerializer,
    )
    def post(self, request, order_id: int):
        order = selectors.conversation_order_get(user=request.user, order_id=order_id)
        return Response({"marked": services.messages_mark_read(order=order, reader=request.user)})
