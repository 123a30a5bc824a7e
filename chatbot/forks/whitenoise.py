"""WhiteNoise, usable in an async middleware chain.

Forks ``whitenoise.middleware.WhiteNoiseMiddleware.__call__`` (WhiteNoise 6.12.0): the
stock middleware is sync-only, and one sync middleware makes Django run every request,
the async chat send included, in a thread.
"""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from whitenoise.middleware import WhiteNoiseMiddleware


class AsyncWhiteNoiseMiddleware(WhiteNoiseMiddleware):
    """Serving a static file needs no I/O beyond what the response does itself, so the same
    lookup runs as is and anything else is awaited down the async chain."""

    async_capable = True
    sync_capable = True

    def __init__(self, get_response=None, settings=None) -> None:
        if settings is None:
            super().__init__(get_response)
        else:
            super().__init__(get_response, settings)
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self.__acall__(request)
        return super().__call__(request)

    async def __acall__(self, request):
        if self.autorefresh:
            static_file = self.find_file(request.path_info)
        else:
            static_file = self.files.get(request.path_info)
        if static_file is not None:
            return self.serve(static_file, request)
        return await self.get_response(request)
