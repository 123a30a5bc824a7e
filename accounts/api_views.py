"""Moved to ``accounts.api.views``. TODO(lead): delete this module once
tests/api/test_routes.py and scripts/mutation.py name the new one."""

from accounts.api.views import TokenViewSet  # noqa: F401
