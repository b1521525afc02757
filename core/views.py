from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from rest_framework import exceptions, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from . import services
from .serializers import RegisterSerializer, UserSerializer


class RegisterView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

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
