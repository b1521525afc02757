from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.parsers import FormParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from . import services
from .parsers import JSONParser
from .serializers import RegisterSerializer, UserSerializer


class RegisterView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(
        summary="Sign up",
        description="Creates the user and their customer; a welcome email is queued.",
        request=RegisterSerializer,
        responses={201: UserSerializer},
    )
    def post(self, request):
        body = RegisterSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            user = services.user_register(**body.validated_data)
        except DjangoValidationError as exc:
            raise exceptions.ValidationError({"password": exc.messages}) from None
        except IntegrityError:
            # Two registrations of one name at once: the loser gets the same 400.
            raise exceptions.ValidationError({"username": ["This username is taken."]}) from None
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)


class TokenView(ObtainAuthToken):
    """POST username and password, get the API token. DRF's view, with the API's parsers
    (its own list bypasses the JSON parser's limits); forms still work."""

    parser_classes = [JSONParser, FormParser]
    authentication_classes = []  # credentials go in the body; a stale token header is no 401
