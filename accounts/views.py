from django.contrib.auth.signals import user_logged_in
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, generics, status
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.parsers import FormParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import ErrorSerializer
from core.parsers import JSONParser

from . import selectors, services
from .exceptions import SignUpThrottled
from .models import LoginEvent
from .serializers import (
    AuthTokenSerializer,
    LoginEventSerializer,
    RegisterSerializer,
    TokenSerializer,
    UserSerializer,
)


class RegisterView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(
        summary="Sign up",
        description="Creates the user and their customer; a welcome email is queued. 400 "
        "naming the field when the username is taken or another account has this email "
        "address (compared case-insensitively). 429 with Retry-After after too many "
        "sign-ups from one address, or when an account was made for this email address "
        "a short while ago; its detail says which.",
        request=RegisterSerializer,
        responses={
            201: UserSerializer,
            429: OpenApiResponse(ErrorSerializer, description="Too many sign-ups; wait."),
        },
        parameters=[
            OpenApiParameter(
                "Retry-After",
                type=int,
                location=OpenApiParameter.HEADER,
                response=[429],
                description="Seconds.",
            )
        ],
    )
    def post(self, request):
        body = RegisterSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            # core.api answers its refusal of a field (a ValidationError) with a 400.
            user = services.user_register(
                **body.validated_data, ip=selectors.request_ip(request=request)
            )
        except SignUpThrottled as refused:
            raise exceptions.Throttled(wait=refused.retry_after, detail=refused.reason) from None
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)


class TokenView(ObtainAuthToken):
    """POST username and password, get the API token. DRF's view, with the API's parsers
    (its own list bypasses the JSON parser's limits); forms still work. A success sends
    user_logged_in, as Django's own logins do (a failure sends user_login_failed from
    authenticate()); repeated failures are throttled per IP and per username."""

    parser_classes = [JSONParser, FormParser]
    authentication_classes = []  # credentials go in the body; a stale token header is no 401
    serializer_class = AuthTokenSerializer  # counts the attempt before the password is checked

    @extend_schema(
        summary="Get the API token",
        description="The same 400 for an unknown username and a wrong password. After "
        "repeated failures from one IP or for one username: 429 with Retry-After.",
        request=AuthTokenSerializer,
        responses={200: TokenSerializer},
    )
    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = serializer.validated_data["user"]
        token, _created = Token.objects.get_or_create(user=user)
        # As Django's own logins do, with the one thing this request's path does not tell.
        user_logged_in.send(
            sender=type(user), request=request, user=user, method=LoginEvent.Method.TOKEN
        )
        return Response({"token": token.key})


@extend_schema_view(get=extend_schema(summary="The caller's logins, newest first"))
class LoginListView(generics.ListAPIView):
    """The caller's own recent logins."""

    serializer_class = LoginEventSerializer

    def get_queryset(self):
        return selectors.login_event_list(user=self.request.user)
