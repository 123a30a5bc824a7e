"""A conversation's tree in admin (issue 14): every branch listed with its parent, branches
indented, the current branch and hidden messages marked; staff only."""

from __future__ import annotations

import importlib
import re

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django.test import Client

from conversations.models import ChatSession
from tests.factories import MessageFactory, UserFactory, conversation

pytestmark = pytest.mark.django_db

moderators_migration = importlib.import_module("conversations.migrations.0003_moderators_group")
INDENT = "\u2003"


@pytest.fixture
def moderator_client() -> Client:
    moderators_migration.create_moderators(apps, None)
    moderator = UserFactory(is_staff=True)
    moderator.groups.add(Group.objects.get(name=moderators_migration.MODERATORS))
    client = Client()
    client.force_login(moderator)
    return client


def branched(user):
    """question 0 / answer 0, then question 1 answered twice (a regenerate) and edited
    once (answered too); the edit's branch is current, the second answer hidden."""
    session = conversation(user, turns=2, title="Branched")
    question = session.messages.get(content="question 1")
    MessageFactory(
        session=session, role="assistant", content="answer 1 again", parent=question, hidden=True
    )
    answer = session.messages.get(content="answer 0")
    edited = MessageFactory(session=session, content="question 1 edited", parent=answer)
    MessageFactory(session=session, role="assistant", content="answer edited", parent=edited)
    return session


def rows(html: str) -> dict[str, str]:
    """The inline's rows, by excerpt: the text of the branch and reply-to cells."""
    found = {}
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", html, re.S):
        cells = [
            re.sub(r"<[^>]+>", "", cell).strip(" \n")
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        texts = [c for c in cells if c.startswith(("question", "answer"))]
        branch = [c for c in cells if "current" in c or c.endswith("-") or "hidden" in c]
        if texts:
            found[texts[0]] = " | ".join(cells)
            found[texts[0] + ":branch"] = branch[0] if branch else ""
    return found


def test_admin_shows_every_branch_with_its_parent_and_marks_current_and_hidden(
    moderator_client, user
):
    session = branched(user)
    response = moderator_client.get(f"/admin/conversations/chatsession/{session.pk}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    table = rows(html)
    # Every message of every branch is listed, in creation order.
    for text in (
        "question 0",
        "answer 0",
        "question 1",
        "answer 1",
        "answer 1 again",
        "question 1 edited",
        "answer edited",
    ):
        assert text in table, text
    assert table["question 0:branch"] == "current"
    assert table["answer 0:branch"] == "current"
    # The branch shown to the user: the edit and its answer, not the old question.
    assert table["question 1 edited:branch"] == f"{INDENT}\u21b3 current"
    assert table["answer edited:branch"] == f"{INDENT}\u21b3 current"
    assert table["question 1:branch"] == "-"
    assert table["answer 1:branch"] == "-"
    # A second answer of question 1 opens a branch one level in, and is marked hidden.
    assert table["answer 1 again:branch"] == f"{INDENT}\u21b3 hidden"
    # The reply-to column names the parent's sequence.
    assert "#2" in table["question 1 edited"] and "#3" in table["answer 1 again"]
    assert session.messages.count() == 7


def test_admin_tree_reads_the_tree_once(moderator_client, user, django_assert_max_num_queries):
    small = branched(user)
    big = conversation(user, turns=20, title="Long")
    with django_assert_max_num_queries(30) as small_queries:
        moderator_client.get(f"/admin/conversations/chatsession/{small.pk}/change/")
    with django_assert_max_num_queries(len(small_queries.captured_queries)):
        moderator_client.get(f"/admin/conversations/chatsession/{big.pk}/change/")


def test_admin_tree_refused_to_non_staff(user):
    session = branched(user)
    client = Client()
    client.force_login(user)
    response = client.get(f"/admin/conversations/chatsession/{session.pk}/change/")
    assert response.status_code == 302 and "/login/" in response["Location"]
    staff_without_rights = UserFactory(is_staff=True)
    client.force_login(staff_without_rights)
    response = client.get(f"/admin/conversations/chatsession/{session.pk}/change/")
    assert response.status_code == 403
    assert ChatSession.objects.filter(pk=session.pk).exists()
