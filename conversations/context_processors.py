from django.conf import settings

from conversations import llm


def chat(request) -> dict:
    """What every page needs to show the demo banner and the message limit."""
    return {
        "demo_mode": llm.is_demo(),
        "max_message_chars": settings.CHATBOT_MAX_MESSAGE_CHARS,
    }
