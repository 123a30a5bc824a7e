"""GET /v1/models is the token's user's view of the catalogue: another group's models are
neither listed nor usable, and a revoked or expired token answers 401."""

from __future__ import annotations

from datetime import timedelta

import openai
import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from knox.models import AuthToken

from accounts import services as account_services
from conversations.models import ChatSession
from tests.factories import UserFactory


@pytest.fixture
def member_and_outsider(live_app, providers):
    """A member of Research and a user outside it, each with a token."""
    member, outsider = UserFactory(), UserFactory()
    member.groups.add(Group.objects.get(name="Research"))
    return (
        (member, account_services.issue_token(user=member)),
        (outsider, account_services.issue_token(user=outsider)),
    )


def client_for(live_app, token: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{live_app}/v1", api_key=token, max_retries=0)


def test_each_token_lists_only_its_users_models(live_app, member_and_outsider):
    (_member, member_token), (_outsider, outsider_token) = member_and_outsider

    listed = {
        who: [
            (m.id, m.object, m.owned_by) for m in client_for(live_app, issued.token).models.list()
        ]
        for who, issued in (("member", member_token), ("outsider", outsider_token))
    }

    # The default first; the disabled model for nobody; Research's for its member only.
    assert listed["member"] == [
        ("fast", "model", "alpha"),
        ("down", "model", "nowhere"),
        ("research", "model", "beta"),
        ("strong", "model", "beta"),
    ]
    assert listed["outsider"] == [
        ("fast", "model", "alpha"),
        ("down", "model", "nowhere"),
        ("strong", "model", "beta"),
    ]


def test_another_groups_model_is_not_found_for_an_outsider(
    live_app, member_and_outsider, upstream, second_upstream
):
    (_member, _), (outsider, outsider_token) = member_and_outsider
    client = client_for(live_app, outsider_token.token)

    with pytest.raises(openai.NotFoundError) as refused:
        client.chat.completions.create(
            model="research", messages=[{"role": "user", "content": "let me in"}]
        )

    # The same answer as for a model that does not exist: its existence is not revealed.
    assert refused.value.body == {
        "message": "The model 'research' does not exist or you do not have access to it.",
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_found",
    }
    assert upstream.requests == [] and second_upstream.requests == []
    assert not ChatSession.objects.filter(user=outsider).exists()


@pytest.mark.parametrize("how", ["revoked", "expired"])
def test_a_revoked_or_expired_token_is_refused(live_app, member_and_outsider, how):
    (member, issued), _ = member_and_outsider
    client = client_for(live_app, issued.token)
    assert client.models.list().data[0].id == "fast"
    if how == "revoked":
        account_services.revoke_token(user=member, token_key=issued.record.token_key)
    else:
        AuthToken.objects.filter(pk=issued.record.pk).update(
            expiry=timezone.now() - timedelta(seconds=1)
        )

    with pytest.raises(openai.AuthenticationError) as refused:
        client.models.list()
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="fast", messages=[{"role": "user", "content": "x"}])

    assert refused.value.status_code == 401
    assert refused.value.code == "invalid_api_key"
    assert refused.value.response.headers["WWW-Authenticate"] == "Bearer"
    assert not ChatSession.objects.filter(user=member).exists()


def test_a_continued_conversation_answers_with_the_model_the_request_names(
    live_app, member_and_outsider, upstream, second_upstream
):
    (member, issued), _ = member_and_outsider
    client = client_for(live_app, issued.token)
    first = client.chat.completions.with_raw_response.create(
        model="fast", messages=[{"role": "user", "content": "one"}]
    )
    session_id = first.headers["X-Chat-Session-Id"]

    second = client.chat.completions.create(
        model="strong",
        messages=[{"role": "user", "content": "two"}],
        extra_headers={"X-Chat-Session-Id": session_id},
    )

    assert second.model == "strong"
    assert [b["model"] for b in upstream.reply_requests()] == ["alpha-fast-v1"]
    (sent,) = second_upstream.reply_requests()
    assert sent["model"] == "strong"
    assert [m["content"] for m in sent["messages"][1:]] == ["one", "You said: one", "two"]
    # The conversation switched from this turn on, as POST /api/chat with a model does.
    assert ChatSession.objects.get(pk=session_id, user=member).model == "strong"


def test_a_fallbacks_answer_names_the_model_that_answered(
    live_app, member_and_outsider, second_upstream
):
    (_member, issued), _ = member_and_outsider
    client = client_for(live_app, issued.token)
    hello = [{"role": "user", "content": "hello"}]

    completion = client.chat.completions.create(model="down", messages=hello)
    chunks = list(
        client.chat.completions.create(
            model="down", messages=hello, stream=True, stream_options={"include_usage": True}
        )
    )

    # "down"'s provider refuses connections: its fallback answered, and says so.
    assert (completion.model, completion.choices[0].message.content) == (
        "strong",
        "You said: hello",
    )
    assert chunks[-2].choices[0].finish_reason == "stop" and chunks[-2].model == "strong"
    assert chunks[-1].usage is not None and chunks[-1].model == "strong"
    assert [b["model"] for b in second_upstream.reply_requests()] == ["strong", "strong"]
