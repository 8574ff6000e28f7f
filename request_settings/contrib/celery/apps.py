from __future__ import annotations

from django.apps import AppConfig


class RequestSettingsCeleryConfig(AppConfig):
    """Connects Celery's signals: the host goes out with each message and is re-activated on the worker."""

    name = "request_settings.contrib.celery"
    label = "request_settings_celery"
    verbose_name = "Request settings: Celery"

    def ready(self) -> None:
        from request_settings.contrib.celery import receivers

        receivers.connect()
