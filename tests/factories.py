"""Test data, built with factory-boy."""

from __future__ import annotations

import factory
from django.utils import timezone

from accounts.models import User
from conversations import llm
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

    session = factory.SubFactory(ChatSessionFactory)
    role = Message.Role.USER
    content = factory.Sequence(lambda n: f"message number {n}")
    status = Message.Status.COMPLETE
    token_count = factory.LazyAttribute(lambda o: llm.count_tokens(o.content))
    created_at = factory.LazyFunction(timezone.now)

    @factory.lazy_attribute
    def sequence(self):
        last = self.session.messages.order_by("-sequence").values_list("sequence", flat=True)
        return (last.first() or 0) + 1


def conversation(user=None, turns: int = 2, **session_fields) -> ChatSession:
    """A session with ``turns`` complete user/assistant exchanges."""
    session = ChatSessionFactory(user=user or UserFactory(), **session_fields)
    for turn in range(turns):
        MessageFactory(session=session, role=Message.Role.USER, content=f"question {turn}")
        MessageFactory(session=session, role=Message.Role.ASSISTANT, content=f"answer {turn}")
    return session
