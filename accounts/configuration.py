"""Sign-in policy read from the environment at start-up: required two-factor, single sign-on
providers and the group mapping. Pure parsing, imported by ``chatbot.settings``; a bad value
raises ``ImproperlyConfigured`` naming its variable, so the process does not start."""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

MFA_POLICIES = ("off", "staff", "all")
PROVIDER_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
# Plain http is refused for an identity provider except on the machine itself (tests, dev).
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}


def mfa_policy(value: str) -> str:
    """``CHATBOT_REQUIRE_MFA``: who must set up a second factor (off, staff or all)."""
    policy = value.strip().lower() or "off"
    if policy not in MFA_POLICIES:
        raise ImproperlyConfigured(f"CHATBOT_REQUIRE_MFA must be off, staff or all, got {value!r}.")
    return policy


def _load_json(name: str, value: str, kind: type):
    try:
        data = json.loads(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} is not valid JSON: {exc}") from exc
    if not isinstance(data, kind):
        raise ImproperlyConfigured(f"{name} must be a JSON {kind.__name__}.")
    return data


def _issuer(name: str, value: object) -> str:
    not_a_url = ImproperlyConfigured(f"{name}: issuer must be an https URL, got {value!r}.")
    if not isinstance(value, str):
        raise not_a_url
    parts = urlsplit(value)
    if not parts.netloc or parts.scheme not in {"https", "http"}:
        raise not_a_url
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        raise ImproperlyConfigured(f"{name}: issuer must use https, got {value!r}.")
    return value.rstrip("/")


def oidc_providers(value: str) -> list[dict]:
    """``CHATBOT_OIDC_PROVIDERS``: a JSON list of ``{"id", "name", "issuer", "client_id",
    "secret"}`` objects, returned as allauth ``openid_connect`` apps."""
    name = "CHATBOT_OIDC_PROVIDERS"
    if not value.strip():
        return []
    apps, seen = [], set()
    for index, entry in enumerate(_load_json(name, value, list)):
        where = f"{name}[{index}]"
        if not isinstance(entry, dict):
            raise ImproperlyConfigured(f"{where} must be a JSON object.")
        missing = [
            key
            for key in ("id", "name", "issuer", "client_id", "secret")
            if not isinstance(entry.get(key), str) or not entry[key].strip()
        ]
        if missing:
            needed = ", ".join(missing)
            raise ImproperlyConfigured(f"{where} needs non-empty strings for: {needed}.")
        unknown = set(entry) - {"id", "name", "issuer", "client_id", "secret", "scope"}
        if unknown:
            raise ImproperlyConfigured(f"{where} has unknown keys: {', '.join(sorted(unknown))}.")
        if not PROVIDER_ID.fullmatch(entry["id"]) or entry["id"] in seen:
            raise ImproperlyConfigured(
                f"{where}: id must be unique, lower-case letters, digits, - or _, "
                f"got {entry['id']!r}."
            )
        seen.add(entry["id"])
        scope = entry.get("scope", ["openid", "profile", "email"])
        if not isinstance(scope, list) or not all(isinstance(item, str) for item in scope):
            raise ImproperlyConfigured(f"{where}: scope must be a list of strings.")
        apps.append(
            {
                "provider_id": entry["id"],
                "name": entry["name"],
                "client_id": entry["client_id"],
                "secret": entry["secret"],
                "settings": {
                    "server_url": _issuer(where, entry["issuer"]),
                    "scope": scope,
                    "token_auth_method": "client_secret_post",
                },
            }
        )
    return apps


def oidc_group_map(value: str) -> dict[str, str]:
    """``CHATBOT_OIDC_GROUP_MAP``: a JSON object from a group claim value to a Django
    group name."""
    name = "CHATBOT_OIDC_GROUP_MAP"
    if not value.strip():
        return {}
    data = _load_json(name, value, dict)
    for claim, group in data.items():
        if not isinstance(group, str) or not group.strip() or len(group) > 150:
            raise ImproperlyConfigured(
                f"{name}: {claim!r} must map to a group name (1 to 150 characters)."
            )
    return data


def form_action_origins(apps: list[dict]) -> list[str]:
    """The providers' origins: a sign-in form's redirect to them must pass the CSP."""
    origins = []
    for app in apps:
        parts = urlsplit(app["settings"]["server_url"])
        origins.append(f"{parts.scheme}://{parts.netloc}")
    return sorted(set(origins))
