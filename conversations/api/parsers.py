"""JSON parsing that honours ``DATA_UPLOAD_MAX_MEMORY_SIZE`` and a nesting limit.

DRF reads the body as a stream, which skips the size check Django applies in
``request.body``; without this an API client could post a body of any size. A body nested
about a thousand levels deep would raise RecursionError in the parser (a 500): its depth is
checked first (conversations.json_depth).
"""

from __future__ import annotations

import io

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from conversations.api.errors import PayloadTooLarge
from conversations.json_depth import TooDeep, check_depth


class LimitedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        path = request.path if request is not None else ""
        # The ASGI handler bounded the body by the same table before it was read.
        limit = settings.BODY_LIMITS_BY_PATH.get(path, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        body = stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(body) > limit:
            raise PayloadTooLarge(limit)
        try:
            check_depth(body)
        except TooDeep as exc:
            raise ParseError(str(exc), code="too_deep") from None
        return super().parse(io.BytesIO(body), media_type, parser_context)
