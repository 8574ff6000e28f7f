"""tests.urls plus the views of tests/honored_views.py and Django's own auth views."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import include, path

from tests import honored_views

urlpatterns = [
    path("", include("tests.urls")),
    path("honored/csrf/", honored_views.csrf_cookie, name="honored-csrf"),
    path("honored/private/", honored_views.private, name="honored-private"),
    path("honored/admins-mail/", honored_views.admins_mail, name="honored-admins-mail"),
    path("honored/user-mail/", honored_views.user_mail, name="honored-user-mail"),
    path("honored/mail-connection/", honored_views.mail_connection, name="honored-mail-connection"),
    path("honored/message-date/", honored_views.message_date, name="honored-message-date"),
    path("honored/form/", honored_views.form_post, name="honored-form"),
    path("honored/cafe/", honored_views.cafe, name="honored-cafe"),
    path("honored/messages/", honored_views.debug_message, name="honored-messages"),
    path("honored/site/", honored_views.current_site, name="honored-site"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(template_name="admin/login.html"),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
]
