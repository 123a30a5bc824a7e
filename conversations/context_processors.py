from functools import cache

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from conversations import llm

DEMO_BANNER_COOKIE = "demo_banner"  # set to "dismissed" by static/js/chat.js

# What static/js/chat.js says, translated here (#chat-strings): the script has no words.
CHAT_STRINGS = {
    "copy": _("Copy"),
    "copyCode": _("Copy code"),
    "copied": _("Copied"),
    "copyFailed": _("Copy failed"),
    "reconnecting": _("Connection lost; reconnecting…"),
    "signedOut": _("You have been signed out."),
    "signIn": _("Sign in to keep chatting."),
    "suspended": _(
        "Your chat access has been suspended. You can still read your conversations."
    ),
    "deactivated": _("Your account has been deactivated."),
    "moreConversationsFailed": _("Could not load more conversations."),
    "olderMessagesFailed": _("Could not load earlier messages."),
    "actionsFor": _("Actions for %(title)s"),
    "replyCopied": _("Reply copied."),
    "replyCopyFailed": _("Could not copy the reply."),
}


def chat(request) -> dict:
    """What every page needs to show the demo banner (unless dismissed) and the message limit."""
    # Asked by the template only where it is used (it may read the catalogue), once.
    demo_mode = cache(llm.is_demo)
    return {
        "demo_mode": demo_mode,
        "demo_banner": lambda: (
            demo_mode() and request.COOKIES.get(DEMO_BANNER_COOKIE) != "dismissed"
        ),
        "max_message_chars": settings.CHATBOT_MAX_MESSAGE_CHARS,
        "chat_strings": CHAT_STRINGS,
    }
