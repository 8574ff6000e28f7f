from __future__ import annotations

from django.urls import path

from tests.helperapp import views

app_name = "helperapp"
urlpatterns = [path("greeting/", views.greeting, name="greeting")]
