"""The catalogue as the rest of the code sees it: plain frozen entries, whichever source
(admin rows, the TOML file, or the implicit one-model catalogue of the settings) they
came from. No database and no SDK here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProviderEntry:
    """An OpenAI-compatible server; ``api_key`` is read from the environment when the
    catalogue is read, never stored."""

    name: str
    base_url: str  # empty: OpenAI's
    api_key_env: str  # empty: no key (local servers accept any)
    api_key: str = ""


@dataclass(frozen=True)
class ModelEntry:
    id: str
    label: str
    # None: the built-in demo backend (no model configured).
    provider: ProviderEntry | None
    upstream: str
    # The whole window, shared by the prompt and the reply (``reply_tokens`` of it).
    context_tokens: int
    reply_tokens: int
    vision: bool = False
    default: bool = False
    enabled: bool = True
    groups: frozenset[str] = frozenset()  # empty: everyone
    fallback: ModelEntry | None = None  # followed one level only

    @property
    def prompt_budget(self) -> int:
        """Tokens the prompt may use: the window less what the reply is kept."""
        return self.context_tokens - self.reply_tokens

    def allows(self, group_names: frozenset[str]) -> bool:
        return self.enabled and (not self.groups or bool(self.groups & group_names))


def reply_tokens_for(*, context_tokens: int, max_reply_tokens: int) -> int:
    """The reply's reserve: ``CHATBOT_MAX_REPLY_TOKENS``, or half of a smaller window, so a
    small local model still gets a prompt."""
    return min(max_reply_tokens, context_tokens // 2)
