"""JSON parsing that honours ``DATA_UPLOAD_MAX_MEMORY_SIZE``.

DRF reads the body as a stream, which skips the size check Django applies in
``request.body``; without this an API client could post a body of any size.
"""

from __future__ import annotations

import io

from django.conf import settings
from rest_framework.parsers import JSONParser

from conversations.api.errors import PayloadTooLarge


class LimitedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and stream is not None:
            body = stream.read(limit + 1)
            if len(body) > limit:
                raise PayloadTooLarge()
            stream = io.BytesIO(body)
        return super().parse(stream, media_type, parser_context)
