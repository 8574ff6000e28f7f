from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import path


def trivial(request: HttpRequest) -> HttpResponse:
    """Reads one setting, as most views do somewhere, and answers a few bytes."""
    return HttpResponse(str(settings.BENCH_LIMIT), content_type="text/plain")


urlpatterns = [path("t/", trivial)]
