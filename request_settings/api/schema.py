"""The OpenAPI description of the API's operations, through drf-spectacular.

Each view carries its own ``ApiSchema`` instead of ``@extend_schema`` decorators: those subclass the
``DEFAULT_SCHEMA_CLASS`` configured when the module is imported, so the description would depend on the
project's settings and on import order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter


class ApiSchema(AutoSchema):
    """drf-spectacular's AutoSchema with per-method parameters, bodies, responses and operation ids."""

    def __init__(
        self,
        *,
        parameters: Sequence[OpenApiParameter] = (),
        requests: Mapping[str, Any] | None = None,
        responses: Mapping[str, Any] | None = None,
        operation_ids: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.extra_parameters = list(parameters)
        self.requests = dict(requests or {})
        self.responses = dict(responses or {})
        self.operation_ids = dict(operation_ids or {})

    def get_tags(self) -> list[str]:
        return ["request settings"]

    def get_override_parameters(self) -> list[Any]:
        return [*super().get_override_parameters(), *self.extra_parameters]

    def get_request_serializer(self) -> Any:
        return self.requests.get(self.method, super().get_request_serializer())

    def get_response_serializers(self) -> Any:
        return self.responses.get(self.method, super().get_response_serializers())

    def get_operation_id(self) -> str:
        return self.operation_ids.get(self.method) or super().get_operation_id()
