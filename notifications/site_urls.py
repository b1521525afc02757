from django.urls import path

from . import pages

urlpatterns = [path("<str:token>/", pages.unsubscribe, name="notifications-unsubscribe")]
