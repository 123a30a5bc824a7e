"""OpenAPI generation shared by the API apps."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import get_doc


class OperationSchema(AutoSchema):
    """An operation's description comes from ``extend_schema`` or its action's docstring,
    never from the view class's docstring, which speaks to developers."""

    # drf-spectacular's signature, not that of DRF's ViewInspector it derives from.
    def get_description(self) -> str:  # type: ignore[override]
        action = getattr(self.view, getattr(self.view, "action", None) or "", None)
        return get_doc(action) if action is not None else ""
