from django.conf import settings

from conversations import llm

DEMO_BANNER_COOKIE = "demo_banner"  # set to "dismissed" by static/js/chat.js


def chat(request) -> dict:
    """What every page needs to show the demo banner (unless dismissed) and the message limit."""
    demo_mode = llm.is_demo()
    return {
        "demo_mode": demo_mode,
        "demo_banner": demo_mode and request.COOKIES.get(DEMO_BANNER_COOKIE) != "dismissed",
        "max_message_chars": settings.CHATBOT_MAX_MESSAGE_CHARS,
    }
