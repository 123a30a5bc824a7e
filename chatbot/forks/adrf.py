"""adrf views whose sync work runs where the project says, and viewsets whose routes are
async only where their action is.

Forks ``adrf.views.APIView.async_dispatch`` (adrf 0.1.14), which runs authentication,
permissions and throttles in a thread started for the request, opening and closing a
database connection of its own; and relies on ``adrf.viewsets.ViewSetMixin.as_view``
choosing the async view by ``cls.view_is_async`` and ``APIView.dispatch`` by
``self.view_is_async``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from adrf.views import APIView
from asgiref.sync import iscoroutinefunction
from django.utils.decorators import classonlymethod


class SyncWorkDispatch(APIView):
    """adrf's APIView, with the sync part of a request (``sync_initial``, and a sync handler
    such as OPTIONS) run by ``run_sync``."""

    async def run_sync(self, fn: Callable[..., Any], *args, **kwargs) -> Any:
        raise NotImplementedError

    def sync_initial(self, request, *args, **kwargs) -> None:
        self.initial(request, *args, **kwargs)

    async def async_dispatch(self, request, *args, **kwargs):
        self.args, self.kwargs = args, kwargs
        request = self.initialize_request(request, *args, **kwargs)
        self.request = request
        self.headers = self.default_response_headers
        try:
            await self.run_sync(self.sync_initial, request, *args, **kwargs)
            method = request.method.lower()
            handler = self.http_method_not_allowed
            if method in self.http_method_names:
                handler = getattr(self, method, self.http_method_not_allowed)
            if iscoroutinefunction(handler):
                response = await handler(request, *args, **kwargs)
            else:  # OPTIONS, or a method not allowed
                response = await self.run_sync(handler, request, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - DRF turns it into the error response
            response = self.handle_exception(exc)
        self.response = self.finalize_response(request, response, *args, **kwargs)
        return self.response


class PerRouteAsyncViewSetMixin:
    """For an adrf viewset: a route is an async view only if one of its actions is a
    coroutine (adrf makes every route async when any action is), so reads stay sync."""

    @classonlymethod
    def as_view(cls, actions=None, **initkwargs):
        is_async = any(iscoroutinefunction(getattr(cls, name)) for name in (actions or {}).values())
        route_class = type(
            cls.__name__,
            (cls,),
            {"view_is_async": is_async, "__module__": cls.__module__, "__doc__": cls.__doc__},
        )
        # route_class is a subclass of cls, made above, which the checker cannot see.
        return super(PerRouteAsyncViewSetMixin, route_class).as_view(  # type: ignore[misc]
            actions, **initkwargs
        )
