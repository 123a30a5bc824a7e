"""Server-rendered chat pages: the chat, older messages, the sidebar, rename and delete.

Reads go through selectors (another user's conversation is a 404 like a missing one) and
writes through services; the live parts arrive over the WebSocket (``consumers``).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_http_methods

from attachments import selectors as attachment_selectors
from catalogue import selectors as catalogue_selectors
from catalogue.entries import ModelEntry
from conversations import payloads, rendering, selectors, services
from conversations.errors import SessionNotFound
from conversations.models import ChatSession, Message
from core.errors import InvalidInput
from sharing import selectors as sharing_selectors

MESSAGES_PAGE = 50
SESSIONS_PAGE = 50
CURSOR_SEPARATOR = "~"
SIDEBAR_FIELDS = ("id", "title", "updated_at", "pinned", "archived")


def _session_or_404(request: HttpRequest, session_id) -> ChatSession:
    try:
        return selectors.get_session(user=request.user, session_id=session_id)
    except SessionNotFound:
        raise Http404(gettext("Conversation not found.")) from None


def _latest_messages(
    messages: QuerySet[Message], *, before: int | None = None
) -> tuple[list[Message], bool]:
    """The newest page of messages (before a sequence), oldest first, and whether more exist."""
    if before is not None:
        messages = messages.filter(sequence__lt=before)
    page = list(messages.order_by("-sequence")[: MESSAGES_PAGE + 1])
    has_more = len(page) > MESSAGES_PAGE
    return list(reversed(page[:MESSAGES_PAGE])), has_more


def _with_attachments(messages: list[Message]) -> list[Message]:
    """``messages`` (marked by ``marking_files``) with ``attachments``, their files as the
    message payload lists them, for the bubbles: one query for a page that has any."""
    for message in attachment_selectors.with_attached_files(messages):
        message.attachments = payloads.attachments_of(message)
    return messages


def _session_cursor(session: ChatSession) -> str:
    return f"{session.updated_at.isoformat()}{CURSOR_SEPARATOR}{session.pk}"


def _sessions_page(
    request: HttpRequest, *, query: str, after: str = "", archived: bool = False
) -> dict:
    """One page of the sidebar, keyset-paginated on (updated_at, id) so every page costs
    one query however many conversations the user has; pinned ones are listed apart, and
    a search's results carry the excerpt around their match, read in that query."""
    sessions = selectors.sessions_for_user(request.user, query=query, archived=archived)
    if not archived:
        sessions = sessions.filter(pinned=False)
    if query:
        sessions = selectors.with_search_excerpt(sessions, query=query)
    if after:
        try:
            stamp, _, raw_id = after.partition(CURSOR_SEPARATOR)
            updated_at, last_id = datetime.fromisoformat(stamp), uuid.UUID(raw_id)
        except ValueError:
            raise InvalidInput(gettext("The list position is not valid."), field="after") from None
        sessions = sessions.filter(
            Q(updated_at__lt=updated_at) | Q(updated_at=updated_at, id__lt=last_id)
        )
    page = list(sessions.only(*SIDEBAR_FIELDS)[: SESSIONS_PAGE + 1])
    has_more = len(page) > SESSIONS_PAGE
    page = page[:SESSIONS_PAGE]
    return {
        "sessions": page,
        "next_cursor": _session_cursor(page[-1]) if has_more else "",
    }


def _pinned_sessions(request: HttpRequest, *, query: str) -> list[ChatSession]:
    """The pinned conversations, shown first in the sidebar (one query, a bounded list)."""
    # Without a query the selector leaves archived ones out; a search finds them too.
    sessions = selectors.sessions_for_user(request.user, query=query).filter(pinned=True)
    if query:
        sessions = selectors.with_search_excerpt(sessions, query=query)
    return list(sessions.only(*SIDEBAR_FIELDS)[:SESSIONS_PAGE])


def _model_labels(models: list[ModelEntry]) -> dict[str, str]:
    """Labels by id of the user's models and of their fallbacks (which may have answered),
    for the header and the replies; other ids show as themselves."""
    labels = {}
    for entry in models:
        labels[entry.id] = entry.label
        if entry.fallback is not None:
            labels.setdefault(entry.fallback.id, entry.fallback.label)
    return labels


@login_required
@require_GET
def chat(request: HttpRequest, session_id=None) -> HttpResponse:
    """The chat page: sidebar, the open conversation (latest messages) and the composer."""
    query = request.GET.get("q", "").strip()[:200]
    archived = request.GET.get("archived") == "1"
    models = catalogue_selectors.models_for(request.user)
    context = {
        "chat_models": models,
        "model_labels": _model_labels(models),
        "instructions_max_chars": services.INSTRUCTIONS_MAX_CHARS,
        "query": query,
        "archived_view": archived,
        "pinned_sessions": [] if archived else _pinned_sessions(request, query=query),
        "sanitizer_policy": rendering.client_policy(),
        "page_constants": payloads.page_constants(),
        **_sessions_page(request, query=query, archived=archived),
    }
    if session_id is not None:
        session = _session_or_404(request, session_id)
        messages, has_more = _latest_messages(
            sharing_selectors.with_feedback(
                attachment_selectors.marking_files(selectors.branch_messages(session)),
                user=request.user,
            )
        )
        context.update(
            session=session,
            # As ``catalogue_selectors.session_model`` chooses, from the models read above.
            session_model=next(
                (entry for entry in models if entry.id == session.model),
                models[0] if models else None,
            ),
            chat_messages=_with_attachments(selectors.with_sibling_ids(messages)),
            has_more=has_more,
        )
    return render(request, "conversations/chat.html", context)


@login_required
@require_GET
def older_messages(request: HttpRequest, session_id) -> JsonResponse:
    """The current branch's messages before ``?before=<sequence>`` as rendered bubbles, for
    scrolling up; without ``before`` its latest page (another branch was chosen)."""
    try:
        messages_qs = selectors.messages_for_session(user=request.user, session_id=session_id)
    except SessionNotFound as exc:
        return JsonResponse({"detail": exc.detail}, status=404)
    try:
        before = int(request.GET["before"]) if "before" in request.GET else None
    except ValueError:
        return JsonResponse(
            {"detail": gettext("Say which message to load before: ?before=<sequence>.")},
            status=400,
        )
    messages, has_more = _latest_messages(
        sharing_selectors.with_feedback(
            attachment_selectors.marking_files(messages_qs), user=request.user
        ),
        before=before,
    )
    html = render_to_string(
        "conversations/_messages.html",
        {"chat_messages": _with_attachments(selectors.with_sibling_ids(messages))},
        request=request,
    )
    return JsonResponse(
        {
            "html": html,
            "hasMore": has_more,
            "before": messages[0].sequence if messages else (before or 0),
        }
    )


@login_required
@require_GET
def sessions_list(request: HttpRequest) -> JsonResponse:
    """The next page of the sidebar (``?after=<cursor>``) as rendered items."""
    query = request.GET.get("q", "").strip()[:200]
    try:
        page = _sessions_page(
            request,
            query=query,
            after=request.GET.get("after", ""),
            archived=request.GET.get("archived") == "1",
        )
    except InvalidInput as exc:
        return JsonResponse({"detail": exc.detail}, status=400)
    html = render_to_string(
        "conversations/_session_items.html",
        {"sessions": page["sessions"], "query": query},
        request=request,
    )
    return JsonResponse({"html": html, "next": page["next_cursor"]})


@login_required
@require_http_methods(["GET", "POST"])
def rename(request: HttpRequest, session_id) -> HttpResponse:
    """Rename a conversation (the sidebar's inline form posts here)."""
    session = _session_or_404(request, session_id)
    error = ""
    if request.method == "POST":
        try:
            session = services.rename_session(
                user=request.user, session_id=session.pk, title=request.POST.get("title", "")
            )
        except InvalidInput as exc:
            error = exc.detail
        else:
            return redirect("chat-session", session_id=session.pk)
    return render(
        request,
        "conversations/rename.html",
        {"session": session, "error": error, "title": request.POST.get("title", session.title)},
        status=400 if error else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def delete(request: HttpRequest, session_id) -> HttpResponse:
    """Delete a conversation after a confirm step (a page, or the in-page dialog)."""
    session = _session_or_404(request, session_id)
    if request.method == "POST":
        try:
            services.delete_session(user=request.user, session_id=session_id)
        except SessionNotFound:
            # Deleted meanwhile (another tab): a 404 like any missing conversation.
            raise Http404(gettext("Conversation not found.")) from None
        title = session.title or gettext("New chat")
        flash.success(request, gettext("“%(title)s” was deleted.") % {"title": title})
        return redirect("chat")
    return render(request, "conversations/delete.html", {"session": session})
