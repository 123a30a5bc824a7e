"""Logging set-up: Django's, plus query strings kept out of the server's request lines."""

from __future__ import annotations

import logging
import logging.config

# uvicorn's access log, and the logger of its WebSocket "accepted" lines.
SERVER_LOGGERS = ("uvicorn.access", "uvicorn.error")


class StripQueryString(logging.Filter):
    """Drop the query string from request paths in a log line: search terms (``?q=``) and
    other query values are the user's data, not the operator's."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                arg.split("?", 1)[0] if isinstance(arg, str) and arg.startswith("/") else arg
                for arg in record.args
            )
        return True


def configure_logging(config: dict) -> None:
    """Apply ``LOGGING``, then filter uvicorn's request lines; uvicorn's own handlers and
    format stay as its command line set them (``--no-access-log`` included)."""
    logging.config.dictConfig(config)
    for name in SERVER_LOGGERS:
        logger = logging.getLogger(name)
        # django.setup() runs more than once in a test process (pytest-django, chatbot.asgi).
        if not any(isinstance(existing, StripQueryString) for existing in logger.filters):
            logger.addFilter(StripQueryString())
