"""The browser's WebSocket at /ws/chat/: one per tab, carrying every conversation of its user.

Client messages (JSON): ``send`` {text, sessionId?, editMessageId?, model?, attachments?
(file ids), requestId?}, ``stop``
{messageId}, ``regenerate`` / ``retry`` {sessionId, messageId?}, ``switch`` {sessionId,
currentMessageId} (show another branch), ``resume`` {messageId} (the text so far of a reply
that streams). The consumer calls the same services as the API,
announces each new turn to the user's group so every tab shows it, and starts the reply in
the background, where it keeps going if this tab closes. The reply's deltas, its final
row and the generated title reach every tab through the group events ``replies`` sends.

A socket lives only as long as its browser session and its account: each send and
regenerate checks both in the database trip it makes anyway, and sign-out, a password
change, deactivation and suspension close the user's sockets at once through the group
(``events.close_sockets``), with a close code the page understands.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.db.models import Exists
from django.template.loader import render_to_string
from django.utils import timezone

from chatbot.forks.channels import NoConnectionCleanupDispatch
from conversations import events, payloads, rendering, replies, selectors, services
from conversations.db import run_db
from conversations.errors import MessageNotFound
from conversations.json_depth import TooDeep, check_depth
from conversations.models import Message
from conversations.services import Turn
from core.errors import OUTAGES, ChatError, InvalidInput, StorageUnavailable


class AccessEnded(Exception):
    """The socket's session or account no longer allows chatting: close it with ``code``."""

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(reason)


def bubble_html(payload: payloads.MessagePayload) -> str:
    """A message bubble from its event payload, with the same partial as the page."""
    message = SimpleNamespace(
        id=payload["messageId"],
        role=payload["role"],
        status=payload["status"],
        hidden=payload["hidden"],
        content=payload["content"],
        error=payload.get("error", ""),
        **_usage_fields(payload.get("usage")),
    )
    return render_to_string("conversations/_message.html", {"message": message})


def _usage_fields(usage: payloads.ReplyUsage | None) -> dict:
    """A finished reply's model, tokens and timings under the row's own field names."""
    if usage is None:
        return {}
    return {
        "model": usage["model"],
        "prompt_tokens": usage["promptTokens"],
        "completion_tokens": usage["completionTokens"],
        "cached_tokens": usage["cachedTokens"],
        "first_token_ms": usage["firstTokenMs"],
        "total_ms": usage["totalMs"],
    }


def rendered(payload: payloads.MessagePayload) -> payloads.RenderedMessage:
    return {**payload, "html": bubble_html(payload)}


# Database work goes through conversations.db, so no message needs Channels' connection
# cleanup (chatbot.forks.channels).
class ChatConsumer(NoConnectionCleanupDispatch, AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=events.SIGNED_OUT)
            return
        self.user = user
        # What the session was verified against just now (Channels' get_user): a send
        # whose user has another password hash comes from before a password change.
        self.password_hash = user.password
        self.session_key = self.scope["session"].session_key
        self.session_tag = events.session_tag(self.session_key)
        self.group = events.user_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        # Leaving the group is all: replies this tab started keep generating.
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    # --- From the browser ---------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None):
        try:
            if text_data is not None:
                # Python's parser recurses per level: a deep frame would raise RecursionError.
                check_depth(text_data)
            content = json.loads(text_data) if text_data is not None else None
        except TooDeep as exc:
            await self.send_error(InvalidInput(str(exc)))
            return
        except ValueError:
            content = None
        if not isinstance(content, dict):
            await self.send_error(InvalidInput("Messages must be JSON objects."))
            return
        await self.receive_json(content)

    async def receive_json(self, content: dict, **kwargs) -> None:
        handlers = {
            "send": self.handle_send,
            "stop": self.handle_stop,
            "regenerate": self.handle_regenerate,
            "resume": self.handle_resume,
            "retry": self.handle_regenerate,
            "switch": self.handle_switch,
        }
        # Any JSON value may come: only a string names a handler (a list is not hashable).
        message_type = content.get("type")
        handler = handlers.get(message_type) if isinstance(message_type, str) else None
        if handler is None:
            await self.send_error(InvalidInput("Unknown message type."))
            return
        try:
            await handler(content)
        except AccessEnded as exc:
            await self.close(code=exc.code, reason=exc.reason)
        except ChatError as exc:
            await self.send_error(exc, request_id=content.get("requestId"))
        except OUTAGES:
            await self.send_error(StorageUnavailable(), request_id=content.get("requestId"))

    async def send_error(self, exc: ChatError, *, request_id=None) -> None:
        """The one place a domain error becomes a WebSocket message."""
        await self.send_json(payloads.error_event(exc, request_id=request_id))

    def _refresh_user(self) -> None:
        """Re-read the user and check the socket's session, in one query; ``AccessEnded``
        when the session was signed out, expired or predates a password change, or the
        account was deactivated or deleted. Suspension and new custom instructions apply
        to an open tab too (the services check suspension)."""
        live_session = Session.objects.filter(
            session_key=self.session_key, expire_date__gt=timezone.now()
        )
        row = (
            get_user_model()
            .objects.filter(pk=self.user.pk)
            .annotate(signed_in=Exists(live_session))
            .values_list(
                "password", "signed_in", "is_active", "chat_suspended", "custom_instructions"
            )
            .first()
        )
        if row is None or not row[1] or row[0] != self.password_hash:
            raise AccessEnded(events.SIGNED_OUT, "signed out")
        if not row[2]:
            raise AccessEnded(events.ACCESS_ENDED, "deactivated")
        self.user.chat_suspended, self.user.custom_instructions = row[3], row[4]

    def _check_send(self, content: dict) -> services.CheckedSend:
        self._refresh_user()
        return services.check_send(
            user=self.user,
            text=content.get("text"),
            session_id=content.get("sessionId") or None,
            edit_message_id=content.get("editMessageId") or None,
            model=content.get("model"),
            attachments=content.get("attachments"),
        )

    def _check_regenerate(self, content: dict) -> Turn:
        self._refresh_user()
        return services.check_regenerate(
            user=self.user,
            session_id=content.get("sessionId"),
            message_id=content.get("messageId") or None,
        )

    def _switch(self, content: dict) -> None:
        self._refresh_user()
        services.switch_branch(
            user=self.user,
            session_id=content.get("sessionId"),
            message_id=content.get("currentMessageId"),
        )

    async def handle_send(self, content: dict) -> None:
        # The user's fresh flags and the send's check in one database trip.
        checked = await run_db(self._check_send, content)
        turn = await services.finish_send(checked)
        await self._announce(turn, request_id=content.get("requestId"))

    async def handle_regenerate(self, content: dict) -> None:
        turn = await run_db(self._check_regenerate, content)
        await self._announce(turn, request_id=content.get("requestId"), regenerated=True)

    async def handle_switch(self, content: dict) -> None:
        """Show another branch; every tab hears of it through the ``chat.branch`` event."""
        await run_db(self._switch, content)

    async def handle_stop(self, content: dict) -> None:
        message = await run_db(
            selectors.get_message, user=self.user, message_id=content.get("messageId")
        )
        if message.status == Message.Status.STREAMING:
            await replies.stop_reply(message.pk)

    def _resume_answer(self, message_id) -> tuple[str, payloads.ReplyEvent | None]:
        """The reply's id, and its final event unless it still streams."""
        message = selectors.get_message(user=self.user, message_id=message_id)
        if message.status == Message.Status.STREAMING:
            return str(message.pk), None
        return str(message.pk), payloads.reply_event(message)

    async def handle_resume(self, content: dict) -> None:
        """A tab (re)joining a reply that was streaming when its page loaded: the text so
        far comes from the process generating it, or the final row if it has ended."""
        try:
            reply_id, final = await run_db(self._resume_answer, content.get("messageId"))
        except MessageNotFound:
            return  # deleted meanwhile: the tab has been told
        if final is None:
            await events.ask_for_reply_text(reply_id, reply_to=self.channel_name)
        else:
            await self.chat_reply(final)

    async def _announce(self, turn: Turn, *, request_id, regenerated: bool = False) -> None:
        """Tell every tab about the new turn, then start the reply in the background."""
        reply = turn.reply
        event = payloads.turn_event(
            session_id=turn.session.pk,
            created=turn.created_session,
            regenerated=regenerated,
            request_id=request_id,
            user_message=rendered(payloads.message_payload(turn.user_message)),
            reply=rendered(payloads.message_payload(reply)) if reply is not None else None,
            session_html=render_to_string(
                "conversations/_session_items.html", {"sessions": [turn.session]}
            ),
        )
        await events.publish(self.user.pk, event)
        if turn.reply is not None:
            replies.start_reply(turn)

    # --- From the user's group (every tab, any process) ---------------------------------

    async def chat_turn(self, event: dict) -> None:
        await self.send_json({**event, "type": "turn"})

    async def chat_delta(self, event: dict) -> None:
        await self.send_json({**event, "type": "delta"})

    async def chat_reply(self, event: Mapping[str, Any]) -> None:
        message = event["message"]
        await self.send_json(
            {
                "type": "reply",
                "message": {
                    **message,
                    "html": rendering.render_markdown(message["content"]),
                    "bubbleHtml": bubble_html(message),
                },
            }
        )

    async def chat_title(self, event: dict) -> None:
        await self.send_json({**event, "type": "title"})

    async def chat_branch(self, event: dict) -> None:
        await self.send_json({**event, "type": "branch"})

    async def chat_session_deleted(self, event: dict) -> None:
        await self.send_json({**event, "type": "sessionDeleted"})

    async def chat_close(self, event: dict) -> None:
        if event["session"] in (None, self.session_tag):
            await self.close(code=event["code"], reason=event["reason"])
