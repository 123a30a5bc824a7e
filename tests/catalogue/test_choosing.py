"""A model per conversation, chosen through the API: sent to its provider, refused when
unknown, disabled or another group's, switched from a turn on; its own instructions."""

from __future__ import annotations

import itertools
import time

import pytest
from django.contrib.auth.models import Group

from catalogue.models import Model
from conversations.models import ChatSession, Message
from tests.api.conftest import bearer_client
from tests.catalogue.conftest import ALPHA_KEY, BETA_KEY
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def send(client, **body):
    return client.post("/api/chat", body, content_type="application/json")


def test_a_new_conversation_uses_the_chosen_model_and_its_provider(
    providers, user, upstream, second_upstream
):
    response = send(bearer_client(user), message="hello", model="strong")
    assert response.status_code == 200, response.content
    session = ChatSession.objects.get(pk=response.json()["sessionId"])
    assert session.model == "strong"
    # The reply and the title, both from the chosen model's provider, with its key; the
    # title is asked for after the reply has been answered.
    deadline = time.monotonic() + 30
    while len(second_upstream.chat_requests()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [body["model"] for body in second_upstream.chat_requests()] == ["strong", "strong"]
    assert {r["headers"]["authorization"] for r in second_upstream.requests} == {
        f"Bearer {BETA_KEY}"
    }
    assert upstream.chat_requests() == []
    reply = Message.objects.get(pk=response.json()["messageId"])
    assert reply.model == "strong"


def test_without_a_choice_the_default_model_answers(providers, user, upstream):
    response = send(bearer_client(user), message="hello")
    assert response.status_code == 200
    assert ChatSession.objects.get().model == "fast"
    (body,) = upstream.reply_requests()
    assert body["model"] == "alpha-fast-v1"
    assert upstream.requests[0]["headers"]["authorization"] == f"Bearer {ALPHA_KEY}"


@pytest.mark.parametrize("model", ["nope", "off", "research"])
def test_an_unknown_disabled_or_other_groups_model_is_refused_and_nothing_stored(
    providers, user, model
):
    response = send(bearer_client(user), message="hello", model=model)
    assert response.status_code == 400
    assert response.json()["field"] == "model"
    assert response.json()["detail"] == f"Unknown model {model!r}."
    assert not ChatSession.objects.exists() and not Message.objects.exists()


def test_a_groups_model_answers_its_members(providers, second_upstream):
    member = UserFactory()
    member.groups.add(Group.objects.get(name="Research"))
    response = send(bearer_client(member), message="hello", model="research")
    assert response.status_code == 200
    assert second_upstream.reply_requests()[0]["model"] == "research"


def test_a_model_left_by_its_group_is_replaced_by_the_default(providers, upstream):
    member = UserFactory()
    research = Group.objects.get(name="Research")
    member.groups.add(research)
    first = send(bearer_client(member), message="one", model="research").json()
    member.groups.remove(research)
    response = send(bearer_client(member), message="two", sessionId=first["sessionId"])
    assert response.status_code == 200
    assert upstream.reply_requests()[-1]["model"] == "alpha-fast-v1"


def test_a_send_switches_an_existing_conversation_from_this_turn_on(
    providers, user, upstream, second_upstream
):
    client = bearer_client(user)
    first = send(client, message="one").json()
    send(client, message="two", sessionId=first["sessionId"], model="strong")
    send(client, message="three", sessionId=first["sessionId"])
    assert [b["model"] for b in upstream.reply_requests()] == ["alpha-fast-v1"]
    assert [b["model"] for b in second_upstream.reply_requests()] == ["strong", "strong"]
    # The new model sees the whole conversation.
    assert [m["content"] for m in second_upstream.reply_requests()[-1]["messages"][1:]] == [
        "one",
        "You said: one",
        "two",
        "You said: two",
        "three",
    ]


def test_each_model_gets_its_own_context_budget(
    providers, user, upstream, second_upstream, settings
):
    """A small window sends only the newest turns; the big one, on the same conversation,
    sends them all."""
    settings.CHATBOT_MAX_REPLY_TOKENS = 100
    Model.objects.filter(pk="fast").update(context_tokens=400)  # a budget of 300
    client = bearer_client(user)
    text = "word " * 40
    session_id = send(client, message=text).json()["sessionId"]
    for _ in range(4):
        send(client, message=text, sessionId=session_id)
    small = upstream.reply_requests()[-1]["messages"]
    send(client, message=text, sessionId=session_id, model="strong")
    big = second_upstream.reply_requests()[-1]["messages"]
    assert 2 <= len(small) < len(big) == 1 + 2 * 5 + 1
    assert sum(len(m["content"].split()) for m in small) < 300


def test_the_fallback_answers_and_the_reply_records_it(providers, user, second_upstream):
    response = send(bearer_client(user), message="hello", model="down")
    assert response.status_code == 200
    assert Message.objects.get(pk=response.json()["messageId"]).model == "strong"
    assert ChatSession.objects.get().model == "down"


def test_successive_prompts_keep_their_prefix_while_history_is_cut_in_blocks(
    providers, user, upstream, settings
):
    """What the model receives turn after turn: the previous prompt, then the new turn,
    except at the few turns where the oldest messages are dropped in one block."""
    from conversations.context import MESSAGE_OVERHEAD_TOKENS, REPLY_PRIMING_TOKENS, count_tokens

    settings.CHATBOT_MAX_REPLY_TOKENS = 200
    Model.objects.filter(pk="fast").update(context_tokens=4200)  # a prompt budget of 4,000
    client = bearer_client(user)
    session_id = None
    for turn in range(60):
        body = {"message": f"turn {turn}: " + "lorem ipsum dolor sit amet " * 10}
        if session_id:
            body["sessionId"] = session_id
        session_id = send(client, **body).json()["sessionId"]
    prompts = upstream.reply_requests()
    assert len(prompts) == 60
    kept = sum(
        after["messages"][: len(before["messages"])] == before["messages"]
        for before, after in itertools.pairwise(prompts)
    )
    assert kept / 59 >= 0.8
    assert not prompts[-1]["messages"][1]["content"].startswith("turn 0:")  # history was cut
    for prompt in prompts:
        used = REPLY_PRIMING_TOKENS + sum(
            count_tokens(m["content"]) + MESSAGE_OVERHEAD_TOKENS for m in prompt["messages"]
        )
        assert used <= 4000
