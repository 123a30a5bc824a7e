import pytest

from accounts import services as account_services
from tests.catalogue.conftest import (  # noqa: F401 - fixtures
    providers,
    second_upstream,
    second_upstream_server,
)
from tests.factories import UserFactory


@pytest.fixture
def caller(live_app, upstream):
    """A user with a personal API token, and the app's /v1 base URL."""
    user = UserFactory()
    return user, account_services.issue_token(user=user).token, f"{live_app}/v1"
