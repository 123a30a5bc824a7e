"""Errors of sharing, import and feedback, as the domain errors every transport translates."""

from __future__ import annotations

from core.errors import ChatError


class ShareNotFound(ChatError):
    status_code = 404
    code = "not_found"
    default_detail = "This shared conversation does not exist or is no longer shared."


class BadImport(ChatError):
    status_code = 400
    code = "bad_import"
    default_detail = "The file could not be imported."
