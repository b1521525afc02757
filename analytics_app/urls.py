from django.urls import path

from . import views

urlpatterns = [
    path("events/", views.EventListView.as_view(), name="analytics-events"),
    path("daily/", views.DailySummaryView.as_view(), name="analytics-daily"),
]
