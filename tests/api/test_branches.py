"""The API of conversation trees (issue 14) against the loopback upstream: edit and resend,
regenerate keeping every answer, switching branches, the current branch and the whole tree,
and exactly which messages the model receives."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from accounts import services as account_services
from conversations.models import ChatSession, Message
from tests.factories import UserFactory, conversation

pytestmark = pytest.mark.django_db(transaction=True)


def post(client, path, body, **headers):
    return client.post(path, body, content_type="application/json", headers=headers)


def model_saw(upstream) -> list[str]:
    return [m["content"] for m in upstream.reply_requests()[-1]["messages"][1:]]


def contents(response) -> list[str]:
    return [m["content"] for m in response.json()]


@pytest.fixture
def branched(api, upstream, bystanders):
    """q1 -> a1 -> q2 -> a2, then q2 edited; the user's other conversation is there too."""
    first = post(api, "/api/chat", {"message": "q1"}).json()
    session_id = first["sessionId"]
    post(api, "/api/chat", {"message": "q2", "sessionId": session_id})
    conversation(ChatSession.objects.get(pk=session_id).user, turns=1)
    q2 = Message.objects.get(session_id=session_id, content="q2")
    edit = post(
        api,
        "/api/chat",
        {"message": "q2 edited", "sessionId": session_id, "editMessageId": str(q2.pk)},
    )
    assert edit.status_code == 200, edit.content
    return session_id, q2, edit.json()


def test_edit_answers_a_sibling_with_only_its_branch_sent_to_the_model(api, upstream, branched):
    session_id, q2, edit = branched
    assert model_saw(upstream) == ["q1", "You said: q1", "q2 edited"]
    nothing = post(api, f"/api/chat/sessions/{session_id}", {})
    messages = api.get(f"/api/chat/sessions/{session_id}/messages")
    assert contents(messages) == ["q1", "You said: q1", "q2 edited", "You said: q2 edited"]
    edited = messages.json()[2]
    assert edited["parentId"] == str(q2.parent_id)
    assert edited["siblingIds"] == [str(q2.pk), edited["messageId"]]
    assert messages.json()[0]["parentId"] is None
    assert messages.json()[3]["messageId"] == edit["messageId"]
    session = api.get(f"/api/chat/sessions/{session_id}").json()
    assert session["currentMessageId"] == edit["messageId"]
    every = api.get(f"/api/chat/sessions/{session_id}/messages?all=true")
    assert contents(every) == [
        "q1",
        "You said: q1",
        "q2",
        "You said: q2",
        "q2 edited",
        "You said: q2 edited",
    ]
    assert nothing.status_code == 400 and nothing.json()["field"] == "title"


def test_regenerate_a_given_reply_keeps_it_and_switching_shows_each_branch(api, upstream, branched):
    session_id, q2, edit = branched
    old_answer = Message.objects.get(parent=q2)
    again = post(
        api, f"/api/chat/sessions/{session_id}/regenerate", {"messageId": str(old_answer.pk)}
    )
    assert again.status_code == 200, again.content
    assert model_saw(upstream) == ["q1", "You said: q1", "q2"]
    branch = api.get(f"/api/chat/sessions/{session_id}/messages").json()
    assert [m["content"] for m in branch][:3] == ["q1", "You said: q1", "q2"]
    assert branch[-1]["siblingIds"] == [str(old_answer.pk), again.json()["messageId"]]
    assert Message.objects.filter(pk=old_answer.pk, content="You said: q2").exists()

    switched = api.patch(
        f"/api/chat/sessions/{session_id}",
        {"currentMessageId": edit["messageId"]},
        content_type="application/json",
    )
    assert switched.status_code == 200
    assert switched.json()["currentMessageId"] == edit["messageId"]
    assert contents(api.get(f"/api/chat/sessions/{session_id}/messages"))[-1] == (
        "You said: q2 edited"
    )
    # From the first message: at each step the newest child, so the edited question's.
    first = branch[0]["messageId"]
    switched = post(api, f"/api/chat/sessions/{session_id}", {"currentMessageId": first})
    assert switched.json()["currentMessageId"] == edit["messageId"]
    switched = post(api, f"/api/chat/sessions/{session_id}", {"currentMessageId": str(q2.pk)})
    assert switched.json()["currentMessageId"] == again.json()["messageId"]
    # A send continues the branch shown.
    post(api, "/api/chat", {"message": "q3", "sessionId": session_id})
    assert model_saw(upstream) == ["q1", "You said: q1", "q2", "You said: q2", "q3"]


def test_bad_ids_answer_400_naming_the_field_or_404(api, other_api, upstream, branched, bystanders):
    session_id, q2, edit = branched
    reply = edit["messageId"]
    bad = post(api, "/api/chat", {"message": "x", "sessionId": session_id, "editMessageId": reply})
    assert bad.status_code == 400 and bad.json()["field"] == "editMessageId"
    bad = post(api, f"/api/chat/sessions/{session_id}/regenerate", {"messageId": str(q2.pk)})
    assert bad.status_code == 400 and bad.json()["field"] == "messageId"
    strangers = [str(bystanders.messages[0].pk), "00000000-0000-0000-0000-000000000000"]
    for message_id in strangers:
        assert (
            post(
                api,
                "/api/chat",
                {"message": "x", "sessionId": session_id, "editMessageId": message_id},
            ).status_code
            == 404
        )
        assert (
            post(api, "/api/chat", {"message": "x", "editMessageId": message_id}).status_code == 404
        )
        assert (
            post(
                api, f"/api/chat/sessions/{session_id}/regenerate", {"messageId": message_id}
            ).status_code
            == 404
        )
        assert (
            post(
                api, f"/api/chat/sessions/{session_id}", {"currentMessageId": message_id}
            ).status_code
            == 404
        )
    # Another user cannot edit in this conversation either.
    assert (
        post(other_api, "/api/chat", {"message": "x", "editMessageId": str(q2.pk)}).status_code
        == 404
    )
    assert bystanders.unchanged()


def test_edit_streams_and_replays_with_an_idempotency_key(api, upstream, branched):
    session_id, q2, _ = branched
    body = {
        "message": "q2 again",
        "sessionId": session_id,
        "editMessageId": str(q2.pk),
        "stream": True,
    }
    first = post(api, "/api/chat", body, **{"Idempotency-Key": "edit-1"})
    replay = post(api, "/api/chat", body, **{"Idempotency-Key": "edit-1"})
    assert first.status_code == replay.status_code == 200
    assert first["Content-Type"].startswith("text/event-stream")
    assert replay["Idempotent-Replayed"] == "true"
    again = Message.objects.get(session_id=session_id, content="q2 again")
    assert again.parent_id == q2.parent_id


@pytest.mark.parametrize("kind", ["regenerate", "edit"])
def test_racing_regenerates_or_an_edit_and_a_send_serialize_on_the_conversation(
    live_app, upstream, kind
):
    user = UserFactory()
    token = account_services.issue_token(user=user).token
    headers = {"Authorization": f"Bearer {token}"}
    first = httpx.post(live_app + "/api/chat", json={"message": "q1"}, headers=headers).json()
    session_id = first["sessionId"]
    q1 = str(Message.objects.get(session_id=session_id, content="q1").pk)
    if kind == "regenerate":
        bodies = [(f"/api/chat/sessions/{session_id}/regenerate", {})] * 2
    else:
        bodies = [
            ("/api/chat", {"message": "edited", "sessionId": session_id, "editMessageId": q1}),
            ("/api/chat", {"message": "next", "sessionId": session_id}),
        ]

    async def race():
        async with httpx.AsyncClient(base_url=live_app, headers=headers, timeout=60) as client:
            return await asyncio.gather(*(client.post(path, json=body) for path, body in bodies))

    responses = asyncio.run(race())
    codes = sorted(r.status_code for r in responses)
    rows = list(Message.objects.filter(session_id=session_id).order_by("sequence"))
    assert [m.sequence for m in rows] == list(range(1, len(rows) + 1))
    by_id = {m.pk: m for m in rows}
    for message in rows[1:]:
        if message.content == "edited":
            continue  # a sibling of the first message: no parent
        assert message.parent_id in by_id and by_id[message.parent_id].sequence < message.sequence
    if kind == "regenerate":
        # One goes first; the other finds its reply in progress or answers after it.
        assert codes in ([200, 200], [200, 409]), [r.text for r in responses]
        answers = [m for m in rows if m.role == "assistant"]
        assert len(answers) == 1 + codes.count(200)
        assert {m.parent_id for m in answers} == {rows[0].pk}
    else:
        assert codes == [200, 200], [r.text for r in responses]
        edited = next(m for m in rows if m.content == "edited")
        assert edited.parent_id is None
    # The request that went last made its branch current.
    assert ChatSession.objects.get(pk=session_id).current_message_id == rows[-1].pk
