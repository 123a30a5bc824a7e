"""Writes and exports for a user's own account: API tokens, data export, deletion; and
moderators' suspension of users.

Tokens are django-rest-knox tokens: only a SHA-512 digest is stored, the token itself is
shown once, and each expires after ``API_TOKEN_TTL_DAYS``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from typing import IO

from allauth.usersessions.models import UserSession
from django.conf import settings
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from knox.models import AuthToken

from accounts.models import CUSTOM_INSTRUCTIONS_MAX_CHARS, User
from attachments.models import StoredFile
from attachments.storage import file_storage
from conversations import selectors as conversation_selectors
from conversations import services as conversation_services
from core.errors import InvalidInput


@dataclass(frozen=True)
class IssuedToken:
    """A new token: ``token`` is the secret, shown to its owner this once only."""

    record: AuthToken
    token: str


def set_custom_instructions(*, user: User, text: str) -> None:
    """Save the instructions added to the system prompt of every conversation of ``user``."""
    text = text.strip()
    limit = CUSTOM_INSTRUCTIONS_MAX_CHARS
    if len(text) > limit:
        raise InvalidInput(
            f"Custom instructions can be at most {limit} characters.", field="custom_instructions"
        )
    user.custom_instructions = text
    user.save(update_fields=["custom_instructions"])


def set_preferences(*, user: User, theme: str, language: str) -> None:
    """Save how the app looks to ``user``: its theme, and its language ('' follows the
    browser's)."""
    if theme not in User.Theme.values:
        raise InvalidInput("Choose a theme from the list.", field="theme")
    if language and language not in dict(settings.LANGUAGES):
        raise InvalidInput("Choose a language from the list.", field="language")
    user.theme, user.language = theme, language
    user.save(update_fields=["theme", "language"])


def issue_token(*, user: User) -> IssuedToken:
    _sweep_expired_tokens(user)
    record, token = AuthToken.objects.create(user=user)
    return IssuedToken(record=record, token=token)


def tokens_for_user(user: User) -> QuerySet[AuthToken]:
    """The user's live tokens, newest first. A read: expired ones are skipped, and deleted
    by ``issue_token`` and ``delete_expired_tokens``."""
    return AuthToken.objects.filter(user=user, expiry__gt=timezone.now()).order_by("-created")


def _sweep_expired_tokens(user: User) -> None:
    # Authentication checks only the token presented (accounts.api_auth); the user's
    # other expired tokens go here.
    AuthToken.objects.filter(user=user, expiry__lt=timezone.now()).delete()


def delete_expired_tokens() -> int:
    """Delete every user's expired tokens, also those of users who never sign in for a new
    one (``manage.py delete_expired_tokens``, run periodically); returns how many."""
    deleted, _ = AuthToken.objects.filter(expiry__lt=timezone.now()).delete()
    return deleted


def revoke_token(*, user: User, token_key: str) -> bool:
    """Revoke the user's token whose public key prefix is ``token_key``."""
    deleted, _ = AuthToken.objects.filter(user=user, token_key=token_key).delete()
    return bool(deleted)


def revoke_token_record(token: AuthToken) -> None:
    token.delete()


def end_access_after_password_change(*, user: User) -> None:
    """A new password (changed, reset or set by an admin) revokes every API token of the
    user and, once saved, closes all of their open sockets: whoever knew the old password
    keeps nothing. The browser that made the change stays signed in (Django moves its
    session to a new key); its tabs reconnect on their own."""
    AuthToken.objects.filter(user=user).delete()
    conversation_services.close_sockets_on_commit(user_id=user.pk, ending="password changed")


def end_browser_session(*, user: User, session_id: int) -> bool:
    """Sign one of the user's browser sessions out, and close that browser's sockets."""
    session = UserSession.objects.filter(user=user, pk=session_id).first()
    if session is None:
        return False
    session.end()
    conversation_services.close_sockets(
        user_id=user.pk, ending="signed out", session_key=session.session_key
    )
    return True


def end_all_browser_sessions(*, user: User) -> None:
    """Sign every browser session of the user out (suspension, deactivation)."""
    for session in UserSession.objects.filter(user=user):
        session.end()


def sync_groups_from_claim(*, user: User, claim) -> None:
    """Make the user's mapped Django groups match the provider's group claim
    (``CHATBOT_OIDC_GROUP_MAP``); groups outside the map are left as they are."""
    mapping = settings.CHATBOT_OIDC_GROUP_MAP
    if not mapping or claim is None:
        return
    values = {claim} if isinstance(claim, str) else {str(value) for value in claim}
    wanted = {mapping[value] for value in values if value in mapping}
    with transaction.atomic():
        for name in wanted:
            group, _ = Group.objects.get_or_create(name=name)
            user.groups.add(group)
        user.groups.remove(*Group.objects.filter(name__in=set(mapping.values()) - wanted))


# --- Moderators' actions on users ---------------------------------------------------------

SUSPENDED = "Suspended chat access."
RESTORED = "Restored chat access."


def suspend_users(*, moderator: User, users: QuerySet[User]) -> int:
    """Stop users from sending messages; they can still log in and read. Returns how many
    changed."""
    return _set_suspended(moderator=moderator, users=users, suspended=True, note=SUSPENDED)


def restore_users(*, moderator: User, users: QuerySet[User]) -> int:
    """Give suspended users their chat access back. Returns how many changed."""
    return _set_suspended(moderator=moderator, users=users, suspended=False, note=RESTORED)


def _set_suspended(*, moderator: User, users: QuerySet[User], suspended: bool, note: str) -> int:
    # Users already so are left alone; each changed one gets an entry in Django's admin log,
    # on its History page.
    with transaction.atomic():
        targets = list(
            User.objects.select_for_update()
            .filter(pk__in=users.order_by().values("pk"))
            .exclude(chat_suspended=suspended)
            .order_by("pk")
        )
        User.objects.filter(pk__in=[user.pk for user in targets]).update(chat_suspended=suspended)
        if targets:
            LogEntry.objects.log_actions(moderator.pk, targets, CHANGE, note)
        if suspended:
            for user in targets:
                conversation_services.close_sockets_on_commit(user_id=user.pk, ending="suspended")
    return len(targets)


EXPORT_CHUNK_BYTES = 256 * 1024


def export_user_data(user: User) -> dict:
    """Every conversation of the user with its messages and their files' metadata, as plain
    JSON-ready data."""
    return {
        "user": {"username": user.username, "email": user.email},
        "exportedAt": timezone.now().isoformat(),
        "conversations": list(conversation_selectors.exported_conversations(user=user)),
    }


def export_user_archive(*, user: User) -> IO[bytes]:
    """The user's export as a zip in a temporary file, read from its start: ``export.json``
    (the export, and ``files`` saying where each file is) and the user's own files (those the
    export shows, and those attached to nothing), copied from storage in chunks."""
    files = conversation_selectors.exported_files(user=user)
    listed = [{**described, "path": _archived_path(file)} for file, described in files]
    exported = {**export_user_data(user), "files": listed}
    archive = tempfile.TemporaryFile()  # noqa: SIM115 (the caller streams and closes it)
    try:
        with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
            zipped.writestr("export.json", json.dumps(exported, ensure_ascii=False, indent=2))
            storage = file_storage()
            for file, _ in files:
                with (
                    storage.open(file.key, "rb") as source,
                    zipped.open(_archived_path(file), "w", force_zip64=True) as target,
                ):
                    shutil.copyfileobj(source, target, EXPORT_CHUNK_BYTES)
    except BaseException:
        archive.close()
        raise
    archive.seek(0)
    return archive


def _archived_path(file: StoredFile) -> str:
    # The id keeps two files of one name apart, and makes a name such as ".." harmless.
    return f"files/{file.pk}-{file.name}"


def delete_account(*, user: User) -> None:
    """Delete the user and, by cascade, all their conversations, messages and tokens."""
    with transaction.atomic():
        conversation_services.delete_all_sessions(user=user)
        user.delete()
