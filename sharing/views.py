"""The shared page (no login, a read-only snapshot) and copying it into one's own chats."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from sharing import selectors, services
from sharing.errors import ShareNotFound


def _share_or_404(token: str):
    try:
        return selectors.get_share(token=token)
    except ShareNotFound:
        raise Http404("This conversation is not shared.") from None


@require_GET
def shared_page(request: HttpRequest, token: str) -> HttpResponse:
    """Title, messages (rendered as in the chat), model and date; nothing of the owner."""
    share = _share_or_404(token)
    response = render(
        request,
        "sharing/shared.html",
        {"share": share, "messages": selectors.shared_messages(share)},
    )
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "no-referrer"
    return response


@login_required
@require_POST
def continue_shared(request: HttpRequest, token: str) -> HttpResponse:
    """The snapshot becomes the signed-in viewer's own new conversation."""
    try:
        session = services.continue_shared(user=request.user, token=token)
    except ShareNotFound:
        raise Http404("This conversation is not shared.") from None
    return redirect("chat-session", session_id=session.pk)
