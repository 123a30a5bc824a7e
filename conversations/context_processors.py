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
    "suspended": _("Your chat access has been suspended. You can still read your conversations."),
    "deactivated": _("Your account has been deactivated."),
    "moreConversationsFailed": _("Could not load more conversations."),
    "olderMessagesFailed": _("Could not load earlier messages."),
    "actionsFor": _("Actions for %(title)s"),
    "replyCopied": _("Reply copied."),
    "replyCopyFailed": _("Could not copy the reply."),
    "branchPosition": _("Version %(index)s of %(total)s"),
    "branchFailed": _("Could not show that version. Reload the page to try again."),
    "attachedFiles": _("Attached files"),
    "openImage": _("Open the image %(name)s"),
    "pastedImage": _("Pasted image"),
    "removeFile": _("Remove %(name)s"),
    "tooManyFiles": _("At most %(count)s files can go with one message."),
    "uploadFailed": _("The file could not be uploaded. Please try again."),
    "characterCount": _("%(count)s of %(limit)s characters"),
    "instructionsSaved": _("Instructions saved. They apply from the next reply on."),
    "instructionsFailed": _("The instructions could not be saved. Please try again."),
    # static/js/sharing.js
    "actionFailed": _("That did not work. Please try again."),
    "pinned": _("Conversation pinned."),
    "unpinned": _("Conversation unpinned."),
    "archived": _("Conversation archived. It is listed under Archived conversations."),
    "unarchived": _("Conversation restored."),
    "createLink": _("Create link"),
    "updateLink": _("Update link"),
    "linkReady": _("The link shows the conversation as it is now."),
    "linkCopied": _("Link copied."),
    "linkCopyFailed": _("Could not copy the link: select it and copy it."),
    "linkRevoked": _("Link revoked: it no longer opens the conversation."),
    "ratingSaved": _("Thanks: your rating is saved."),
    "ratingRemoved": _("Rating removed."),
    "feedbackSent": _("Thanks: your comment is saved."),
    "importUploading": _("Uploading…"),
    "importProcessing": _("Reading the conversations…"),
    "importFailed": _("The import failed."),
    "importDone": _("Imported: %(imported)s. Skipped: %(skipped)s."),
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
