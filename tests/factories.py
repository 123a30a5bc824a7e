"""Test data, built with factory-boy."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import factory
from django.utils import timezone

from accounts.models import User
from conversations.context import count_tokens
from conversations.models import ChatSession, Message

PASSWORD = "Correct-horse-battery-9"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class ChatSessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ChatSession

    user = factory.SubFactory(UserFactory)
    title = factory.Sequence(lambda n: f"Chat {n}")


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Message
        skip_postgeneration_save = True

    session = factory.SubFactory(ChatSessionFactory)
    role = Message.Role.USER
    content = factory.Sequence(lambda n: f"message number {n}")
    status = Message.Status.COMPLETE
    token_count = factory.LazyAttribute(lambda o: count_tokens(o.content))
    created_at = factory.LazyFunction(timezone.now)

    @factory.lazy_attribute
    def sequence(self):
        last = self.session.messages.order_by("-sequence").values_list("sequence", flat=True)
        return (last.first() or 0) + 1

    @factory.lazy_attribute
    def parent(self):
        """The session's current leaf: messages made one after another form one branch."""
        return ChatSession.objects.get(pk=self.session.pk).current_message

    @factory.post_generation
    def make_current(obj, create, extracted, **kwargs):
        """The new message is the current leaf (``make_current=False`` leaves it off)."""
        if create and extracted is not False:
            ChatSession.objects.filter(pk=obj.session_id).update(current_message=obj)
            obj.session.current_message = obj


def conversation(user=None, turns: int = 2, **session_fields) -> ChatSession:
    """A session with ``turns`` complete user/assistant exchanges."""
    session = ChatSessionFactory(user=user or UserFactory(), **session_fields)
    for turn in range(turns):
        MessageFactory(session=session, role=Message.Role.USER, content=f"question {turn}")
        MessageFactory(session=session, role=Message.Role.ASSISTANT, content=f"answer {turn}")
    return session


@dataclass
class Bystanders:
    """Another user's conversation that a test of the first user must never see or change."""

    user: User
    session: ChatSession
    messages: list[Message]
    hidden: Message
    stale_reply: Message
    words: tuple[str, ...] = ("bystander", "holiday")
    _before: list[tuple] = field(default_factory=list)

    def rows(self) -> list[tuple]:
        session = ChatSession.objects.values_list("title", "updated_at").get(pk=self.session.pk)
        messages = Message.objects.filter(session=self.session).order_by("sequence")
        return [session, *messages.values_list("content", "status", "hidden", "updated_at")]

    def unchanged(self) -> bool:
        return self.rows() == self._before


def bystander_conversation(*, age: timedelta = timedelta(days=1)) -> Bystanders:
    """A second user with an untitled conversation, created ``age`` ago: a question and an
    answer (complete), a message hidden by a moderator and a reply left streaming by a
    writer that died. Their text contains ``Bystanders.words``."""
    long_ago = timezone.now() - age
    user = UserFactory()
    session = ChatSessionFactory(user=user, title="", created_at=long_ago, updated_at=long_ago)

    def message(role, content, **fields):
        return MessageFactory(
            session=session,
            role=role,
            content=content,
            created_at=long_ago,
            updated_at=long_ago,
            **fields,
        )

    question = message(Message.Role.USER, "bystander question about holiday plans")
    answer = message(Message.Role.ASSISTANT, "bystander answer about holiday plans")
    hidden = message(Message.Role.USER, "bystander hidden holiday text", hidden=True)
    stale = message(
        Message.Role.ASSISTANT, "bystander half holiday reply", status=Message.Status.STREAMING
    )
    bystanders = Bystanders(
        user=user,
        session=session,
        messages=[question, answer, hidden, stale],
        hidden=hidden,
        stale_reply=stale,
    )
    bystanders._before = bystanders.rows()
    return bystanders
