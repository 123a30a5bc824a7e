"""The schema's 429 answers name every limit a send can reach: the rate limit, the daily
token quota and the monthly token budget."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/api/chat", "/v1/chat/completions"])
def test_a_429_answer_names_the_rate_the_daily_quota_and_the_monthly_budget(anonymous, path):
    schema = anonymous.get("/api/schema/", headers={"Accept": "application/json"}).json()
    description = schema["paths"][path]["post"]["responses"]["429"]["description"]
    assert "Rate limit" in description
    assert "daily token quota" in description
    assert "monthly token budget" in description
