"""The catalogue as the rest of the code sees it: plain frozen entries, whichever source
(admin rows, the TOML file, or the implicit one-model catalogue of the settings) they
came from. No database and no SDK here."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

PER_TOKENS = 1_000_000


@dataclass(frozen=True)
class Price:
    """A model's prices per million tokens; None: not known."""

    input: Decimal | None = None
    cached_input: Decimal | None = None
    output: Decimal | None = None

    def cost(self, *, prompt_tokens: int, cached_tokens: int, completion_tokens: int):
        """The exact cost of these tokens (cached ones at the cached rate, the rest of the
        prompt at the input rate), or None without any price or one the tokens need."""
        if self == Price():
            return None
        parts = (
            (prompt_tokens - cached_tokens, self.input),
            (cached_tokens, self.cached_input),
            (completion_tokens, self.output),
        )
        if any(tokens and price is None for tokens, price in parts):
            return None
        return sum(
            (Decimal(tokens) * price / PER_TOKENS for tokens, price in parts if tokens and price),
            Decimal(0),
        )


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
    price: Price = Price()

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
