from django.urls import path

from . import pages

urlpatterns = [
    path("login/", pages.login, name="login"),
    path("logout/", pages.logout, name="logout"),
]
