from django.urls import path

from . import pages

urlpatterns = [
    path("analytics/", pages.analytics_page, name="analytics-page"),
]
