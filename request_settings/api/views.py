"""The API's views: list, read, write and delete overrides; effective values per host; the audit trail.

Every write goes through ``SettingOverride.objects.set`` / ``unset`` (validation, audit, signal, invalidation on
commit). Authentication is the project's REST framework configuration; rights are Django's permissions asked with
the object (``permissions.allowed``), so a tenant editor sees and changes only the rows of its hosts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import exceptions, status
from rest_framework.generics import GenericAPIView, ListAPIView
from rest_framework.metadata import SimpleMetadata
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import JSONParser
from rest_framework.request import Request, clone_request
from rest_framework.response import Response

from request_settings import audit, effective, preview, schedules
from request_settings.api import serializers
from request_settings.api.permissions import OverridePermission
from request_settings.api.schema import ApiSchema
from request_settings.exceptions import InvalidHost
from request_settings.forms import host_label
from request_settings.hosts import clean_host
from request_settings.models import SettingOverrideChange, SettingSchedule, get_override_model, storable
from request_settings.rights import Action, allowed, filter_allowed, override_for

_T = TypeVar("_T")

HOST_PARAMETER = OpenApiParameter(
    "host",
    str,
    description='A host name such as shop.example.com; "" or absent for the all-hosts row.',
)
HOST_FILTER = OpenApiParameter("host", str, description='Only the rows of this host ("" for the all-hosts rows).')
KEY_FILTER = OpenApiParameter("key", str, description="Only the rows of this key.")


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class SafeJSONParser(JSONParser):
    """JSON only; a body nested deeper than Python's parser can follow is a 400, not a 500."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - the body is nested too deeply.") from None


class Metadata(SimpleMetadata):
    """OPTIONS: the body each write takes, described without looking a row up.

    REST framework's own would call ``get_object()`` (these views have no queryset: a 500), and its answer would tell
    whether the user may write that row, so whether it exists.
    """

    def determine_actions(self, request: Request, view: Any) -> dict[str, Any]:
        actions: dict[str, Any] = {}
        bodies: dict[str, Any] = getattr(view.schema, "requests", {})
        for method in sorted({"PUT", "POST"} & set(view.allowed_methods)):
            view.request = clone_request(request, method)
            try:
                view.check_permissions(view.request)
            except exceptions.APIException:
                continue
            finally:
                view.request = request
            body = bodies[method] if method in bodies else view.get_serializer_class()
            if body is not None:
                actions[method] = self.get_serializer_info(body() if isinstance(body, type) else body)
        return actions


def _host_param(request: Request, *, default: str | None = "", patterns: bool = True) -> str | None:
    """The ``host`` query parameter through the one host rule (``hosts.clean_host``); a 400 naming it if refused."""
    text = request.query_params.get("host")
    if text is None:
        return default
    try:
        return clean_host(text, patterns=patterns)
    except InvalidHost as error:
        raise exceptions.ValidationError({"host": [str(error)]}) from None


def _visible(request: Request, items: Iterable[_T], key_host: Callable[[_T], tuple[str, str]]) -> Iterable[_T]:
    """The items the user may view: all with the model permission, else those the object permission allows."""
    if allowed(request.user, "view"):
        return items
    return [item for item in items if allowed(request.user, "view", override_for(*key_host(item)))]


class _Base(GenericAPIView):  # type: ignore[type-arg]
    permission_classes = [OverridePermission]
    pagination_class = None
    metadata_class = Metadata


class _FilteredList(ListAPIView):  # type: ignore[type-arg]
    """A list filtered by ``?host=`` and ``?key=``, cut down to what the user may view, paginated."""

    permission_classes = [OverridePermission]
    pagination_class = Pagination
    metadata_class = Metadata

    def filter_queryset(self, queryset: Any) -> Any:
        host = _host_param(self.request, default=None)
        if host is not None:
            queryset = queryset.filter(host=host)
        key = self.request.query_params.get("key")
        if key is not None:
            queryset = queryset.filter(key=key) if storable(key) else queryset.none()
        return self.visible(queryset)

    def visible(self, queryset: Any) -> Any:
        raise NotImplementedError


class OverrideListView(_FilteredList):
    """The override rows, sorted by host then key; filter with ``host`` and ``key``."""

    serializer_class = serializers.OverrideSerializer
    schema = ApiSchema(parameters=[HOST_FILTER, KEY_FILTER], operation_ids={"GET": "overrides_list"})

    def get_queryset(self) -> Any:
        return get_override_model()._default_manager.select_related("updated_by").order_by("host", "key")

    def visible(self, queryset: Any) -> Any:
        return filter_allowed(self.request.user, queryset, "view")  # a queryset: counts and pages stay in SQL


class OverrideDetailView(_Base):
    """One override, by key and ``?host=``: read it, create or update it (PUT), remove it (DELETE)."""

    serializer_class = serializers.OverrideSerializer
    parser_classes = [SafeJSONParser]
    schema = ApiSchema(
        parameters=[HOST_PARAMETER],
        requests={"PUT": serializers.OverrideValueSerializer},
        responses={
            "PUT": {
                200: serializers.OverrideSerializer,
                201: serializers.OverrideSerializer,
                400: OpenApiResponse(OpenApiTypes.OBJECT, description="Messages by field, naming the key and value."),
            },
            "DELETE": {204: None},
        },
    )

    def _target(self, request: Request, key: str) -> tuple[str, Any]:
        """(host, the row or an unsaved one), after the permission check: a 403 never tells whether a row exists."""
        host = _host_param(request)
        assert host is not None
        rows = get_override_model()._default_manager.select_related("updated_by")
        row = rows.filter(key=key, host=host).first() if storable(key) else None
        self.check_object_permissions(request, row if row is not None else override_for(key, host))
        return host, row

    def get(self, request: Request, key: str) -> Response:
        _host, row = self._target(request, key)
        if row is None:
            raise Http404
        return Response(self.get_serializer(row).data)

    def put(self, request: Request, key: str) -> Response:
        host, row = self._target(request, key)
        body = serializers.OverrideValueSerializer(data=request.data)
        try:
            body.is_valid(raise_exception=True)
            saved = get_override_model()._default_manager.set(key, body.validated_data["value"], host, request.user)
        except DjangoValidationError as error:
            raise exceptions.ValidationError(_by_field(error)) from None
        except RecursionError:
            raise exceptions.ValidationError({"value": [f"The value for {key} is nested too deeply."]}) from None
        saved = get_override_model()._default_manager.select_related("updated_by").get(pk=saved.pk)
        code = status.HTTP_201_CREATED if row is None else status.HTTP_200_OK
        return Response(self.get_serializer(saved).data, status=code)

    def delete(self, request: Request, key: str) -> Response:
        host, row = self._target(request, key)
        if row is None or not get_override_model()._default_manager.unset(key, host, request.user):
            raise Http404
        return Response(status=status.HTTP_204_NO_CONTENT)


class DraftListView(ListAPIView):  # type: ignore[type-arg]
    """The signed-in user's own drafts, sorted by host then key (nobody sees another user's drafts)."""

    serializer_class = serializers.DraftSerializer
    permission_classes = [OverridePermission]
    pagination_class = Pagination
    schema = ApiSchema(operation_ids={"GET": "drafts_list"})

    def get_queryset(self) -> Any:
        return preview.drafts_of(self.request.user)


class DraftDetailView(_Base):
    """The user's draft of one key and ``?host=``: save it (PUT, checked like a write), discard it (DELETE)."""

    serializer_class = serializers.DraftSerializer
    parser_classes = [SafeJSONParser]
    schema = ApiSchema(
        parameters=[HOST_PARAMETER],
        requests={"PUT": serializers.DraftBodySerializer},
        responses={
            "PUT": {
                200: serializers.DraftSerializer,
                400: OpenApiResponse(OpenApiTypes.OBJECT, description="Messages by field, naming the key and value."),
            },
            "DELETE": {204: None},
        },
    )

    def put(self, request: Request, key: str) -> Response:
        if not request.user.is_staff:
            raise exceptions.PermissionDenied("Only staff can save drafts: previewing them needs a staff account.")
        host = _host_param(request)
        assert host is not None
        body = serializers.DraftBodySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        remove = body.validated_data["remove"]
        # The rights saving would need: delete for a removal, add or change for a value.
        row = get_override_model()._default_manager.filter(key=key, host=host).first() if storable(key) else None
        target = row if row is not None else override_for(key, host)
        action: Action = "delete" if remove else ("add" if row is None else "change")
        if not allowed(request.user, action, target):
            raise exceptions.PermissionDenied()
        try:
            draft = preview.save_draft(request.user, key, body.validated_data.get("value"), host, remove=remove)
        except DjangoValidationError as error:
            raise exceptions.ValidationError(_by_field(error)) from None
        except RecursionError:
            raise exceptions.ValidationError({"value": [f"The value for {key} is nested too deeply."]}) from None
        return Response(self.get_serializer(draft).data)

    def delete(self, request: Request, key: str) -> Response:
        host = _host_param(request)
        assert host is not None
        if not storable(key) or not preview.drafts_of(request.user).filter(key=key, host=host).delete()[0]:
            raise Http404
        return Response(status=status.HTTP_204_NO_CONTENT)


class DraftPublishView(_Base):
    """POST: publish every draft of the user through the write API, all or nothing (400 naming each problem)."""

    serializer_class = serializers.DraftSerializer
    schema = ApiSchema(requests={"POST": None}, responses={"POST": serializers.DraftSerializer(many=True)})

    def post(self, request: Request) -> Response:
        try:
            published = preview.publish(request.user)
        except DjangoValidationError as error:
            raise exceptions.ValidationError({"non_field_errors": list(error.messages)}) from None
        return Response(self.get_serializer(published, many=True).data)


def _by_field(error: DjangoValidationError) -> dict[str, list[str]]:
    """A Django ValidationError as REST framework's ``{"field": [messages]}``; host errors under ``host``."""
    if hasattr(error, "error_dict"):
        return {field: list(DjangoValidationError(errors).messages) for field, errors in error.error_dict.items()}
    return {"non_field_errors": list(error.messages)}


class EffectiveView(_Base):
    """Every key worth showing (keys with rows, declared keys) as a request for ``?host=`` gets it, with its source."""

    serializer_class = serializers.EffectiveSerializer
    schema = ApiSchema(parameters=[HOST_PARAMETER], responses={"GET": serializers.EffectiveSerializer(many=True)})

    def get(self, request: Request) -> Response:
        host = _host_param(request, patterns=False)  # a request's host: patterns are rows, not hosts
        assert host is not None
        lines = effective.resolve(host)
        visible = _visible(request, lines, lambda line: (line.key, host))
        if lines and not visible:
            raise exceptions.PermissionDenied(f"You may not view the settings of {host_label(host)}.")
        return Response(self.get_serializer(visible, many=True).data)


class ChangeListView(_FilteredList):
    """The audit trail, newest first; filter with ``host`` and ``key``."""

    serializer_class = serializers.ChangeSerializer
    schema = ApiSchema(parameters=[HOST_FILTER, KEY_FILTER], operation_ids={"GET": "changes_list"})

    def get_queryset(self) -> Any:
        # The start and end of a scheduled window are recorded ahead: listed once they have happened.
        return audit.happened(SettingOverrideChange.objects.select_related("user").order_by("-changed_at", "-id"))

    def visible(self, queryset: Any) -> Any:
        # A change outlives its row: each one is judged as the (key, host) it changed.
        return _visible(self.request, queryset, lambda change: (change.key, change.host))


class ScheduleListView(_FilteredList):
    """The scheduled values that have not ended, by host, key and start (GET); schedule one (POST).

    Rights are those over the override of the same key and host: viewing it to see its windows, changing it to
    schedule (a 403 otherwise). A refused value or an overlapping window is a 400 naming what is wrong.
    """

    serializer_class = serializers.ScheduleSerializer
    parser_classes = [SafeJSONParser]
    schema = ApiSchema(
        parameters=[HOST_FILTER, KEY_FILTER],
        operation_ids={"GET": "schedules_list", "POST": "schedules_create"},
        responses={
            "POST": {
                201: serializers.ScheduleSerializer,
                400: OpenApiResponse(OpenApiTypes.OBJECT, description="Messages by field; an overlap under "
                                     "non_field_errors, naming the other window."),
            }
        },
    )  # fmt: skip

    def get_queryset(self) -> Any:
        rows = SettingSchedule.objects.select_related("created_by").order_by("host", "key", "start")
        return rows.exclude(end__lte=timezone.now())

    def visible(self, queryset: Any) -> Any:
        return schedules.visible(self.request.user, queryset)

    def post(self, request: Request) -> Response:
        body = serializers.ScheduleSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            host = clean_host(data["host"])
        except InvalidHost as error:
            raise exceptions.ValidationError({"host": [str(error)]}) from None
        if not schedules.may_edit(request.user, data["key"], host):
            raise exceptions.PermissionDenied(f"You may not schedule {data['key']} for {host_label(host)}.")
        try:
            row = get_override_model()._default_manager.schedule(
                data["key"], data["value"], host=host, start=data["start"], end=data["end"], user=request.user
            )
        except DjangoValidationError as error:
            raise exceptions.ValidationError(_by_field(error)) from None
        row = SettingSchedule.objects.select_related("created_by").get(pk=row.pk)
        return Response(serializers.ScheduleSerializer(row).data, status=status.HTTP_201_CREATED)


class ScheduleDetailView(_Base):
    """One scheduled value: read it (GET), cancel it (DELETE; audited, its start and end not yet come removed)."""

    serializer_class = serializers.ScheduleSerializer
    schema = ApiSchema(responses={"DELETE": {204: None}})

    def _row(self, request: Request, pk: int, *, editing: bool) -> SettingSchedule:
        row: SettingSchedule | None = SettingSchedule.objects.select_related("created_by").filter(pk=pk).first()
        if row is None or not schedules.may_view(request.user, row.key, row.host):
            raise Http404
        if editing and not schedules.may_edit(request.user, row.key, row.host):
            raise exceptions.PermissionDenied(
                f"You may not cancel the schedules of {row.key} for {host_label(row.host)}."
            )
        return row

    def get(self, request: Request, pk: int) -> Response:
        return Response(self.get_serializer(self._row(request, pk, editing=False)).data)

    def delete(self, request: Request, pk: int) -> Response:
        row = self._row(request, pk, editing=True)
        if not get_override_model()._default_manager.unschedule(row, user=request.user):
            raise Http404
        return Response(status=status.HTTP_204_NO_CONTENT)
