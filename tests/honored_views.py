"""Views through which tests/test_honored.py shows that Django obeys each honored setting."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.sites.shortcuts import get_current_site
from django.core.mail import EmailMessage, get_connection, mail_admins, send_mail
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt, ensure_csrf_cookie


@ensure_csrf_cookie
def csrf_cookie(request: HttpRequest) -> HttpResponse:
    """Sets the csrftoken cookie; CsrfViewMiddleware writes its attributes in the response phase."""
    return HttpResponse("csrf cookie set")


@login_required
def private(request: HttpRequest) -> HttpResponse:
    return HttpResponse("private")


def admins_mail(request: HttpRequest) -> HttpResponse:
    mail_admins("Disk full", "The disk is full.")
    return HttpResponse("sent")


def user_mail(request: HttpRequest) -> JsonResponse:
    """send_mail without a sender, as PasswordResetForm does: Django fills in DEFAULT_FROM_EMAIL."""
    sent = send_mail("Hello", "Hello there.", None, ["user@example.org"])
    return JsonResponse({"sent": sent})


def mail_connection(request: HttpRequest) -> JsonResponse:
    """The attributes of the backend get_connection() builds here; no connection is opened."""
    connection = get_connection()
    backend = type(connection)
    names = ("host", "port", "username", "password", "use_tls", "use_ssl", "timeout")
    return JsonResponse(
        {
            "backend": f"{backend.__module__}.{backend.__qualname__}",
            **{name: getattr(connection, name, None) for name in names},
        }
    )


def message_date(request: HttpRequest) -> JsonResponse:
    message = EmailMessage("Hello", "Hello there.", to=["user@example.org"]).message()
    return JsonResponse({"date": message["Date"]})


@csrf_exempt
def form_post(request: HttpRequest) -> JsonResponse:
    """Reads the body, so the DATA_UPLOAD_MAX_* limits apply here."""
    return JsonResponse({"fields": len(request.POST), "files": len(request.FILES)})


def cafe(request: HttpRequest) -> HttpResponse:
    return HttpResponse("café")


def debug_message(request: HttpRequest) -> JsonResponse:
    """Adds a debug and an info message; MESSAGE_LEVEL decides which are stored."""
    messages.debug(request, "debug detail")
    messages.info(request, "info detail")
    return JsonResponse({"messages": [message.message for message in messages.get_messages(request)]})


def current_site(request: HttpRequest) -> JsonResponse:
    site = get_current_site(request)
    return JsonResponse({"id": site.pk, "domain": site.domain})
