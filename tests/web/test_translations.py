"""Every string of the app's own templates and script is marked for translation, and the
German, French and Spanish catalogues translate all of it."""

from __future__ import annotations

import gettext
import html
import re
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
# The app's own templates.
TEMPLATES = [
    "templates/base.html",
    "templates/503.html",
    "templates/admin/base_site.html",
    "templates/allauth/layouts/base.html",
    "templates/accounts/settings.html",
    "templates/conversations/_attachment.html",
    "templates/conversations/_attachment_templates.html",
    "templates/conversations/_branch_switcher.html",
    "templates/conversations/_message.html",
    "templates/conversations/_messages.html",
    "templates/conversations/_session_items.html",
    "templates/conversations/chat.html",
    "templates/conversations/delete.html",
    "templates/conversations/rename.html",
    "templates/accounts/_security.html",
    "templates/sharing/shared.html",
    "templates/socialaccount/snippets/provider_list.html",
    "templates/usage/_bar_chart.html",
    "templates/usage/_settings_usage.html",
    "templates/usage/_reply_stats.html",
    "templates/usage/admin_dashboard.html",
    "templates/account/password_change.html",
    "templates/sharing/_reply_feedback.html",
    "templates/sharing/_session_menu_items.html",
    "templates/sharing/_settings_shares.html",
    "templates/sharing/_share_dialog.html",
    "templates/sharing/_sidebar_groups.html",
]
LANGUAGES = ["de", "fr", "es"]
# Names that stay as they are in every language.
UNTRANSLATED = {"Chatbot"}

_REMOVED = [
    re.compile(r"{%\s*comment\s*%}.*?{%\s*endcomment\s*%}", re.S),
    re.compile(r"{#.*?#}", re.S),
    re.compile(r"{%\s*blocktrans(late)?\b.*?{%\s*endblocktrans(late)?\s*%}", re.S),
    re.compile(r"<(script|style|code)\b.*?</\1>", re.S),
    re.compile(r"{%\s*block body_class\s*%}.*?{%\s*endblock\s*%}", re.S),
]
_ATTRIBUTE = re.compile(r"""\s(aria-label|placeholder|title|alt)="([^"]*)\"""")
_TAG = re.compile(r"{%.*?%}|{{.*?}}|<[^>]*>", re.S)


def unmarked(source: str) -> list[str]:
    """Visible text and labelling attributes that are not inside a translation tag."""
    for pattern in _REMOVED:
        source = pattern.sub(" ", source)
    found = []
    for _name, value in _ATTRIBUTE.findall(source):
        text = _TAG.sub(" ", value)
        if re.search(r"[A-Za-z]{2}", text):
            found.append(f"attribute: {value}")
    for chunk in _TAG.split(_ATTRIBUTE.sub(" ", source)):
        text = " ".join(re.sub(r"[^\w\s]", " ", html.unescape(chunk)).split())
        if re.search(r"[A-Za-z]{2}", text) and text not in UNTRANSLATED:
            found.append(text)
    return found


@pytest.mark.parametrize("path", TEMPLATES)
def test_every_template_string_is_marked(path):
    assert unmarked((ROOT / path).read_text()) == []


def test_the_checker_finds_an_unmarked_string():
    source = (
        '{% load i18n %}<p>{% translate "Fine" %}</p><button aria-label="Close">x</button>'
        "<h1>Not marked</h1>{% blocktranslate %}Fine too{% endblocktranslate %}"
    )
    assert unmarked(source) == ["attribute: Close", "Not marked"]


def test_the_script_has_no_user_facing_literal():
    """chat.js takes its words from the page (#chat-strings), translated by the server."""
    script = (ROOT / "static/js/chat.js").read_text()
    sentences = re.findall(r"""(?:textContent\s*=|showError\(|announce\()\s*(["'`])[A-Z]""", script)
    assert sentences == []


def entries(po: str) -> list[dict[str, str]]:
    """The entries of a .po file (not the header, not obsolete ones): their fields, with
    ``fuzzy`` when so marked."""
    found = []
    for block in po.split("\n\n"):
        lines = [line for line in block.splitlines() if not line.startswith("#~")]
        fields: dict[str, str] = {}
        current = None
        for line in lines:
            match = re.match(r'(msgctxt|msgid|msgid_plural|msgstr(?:\[\d+\])?) "(.*)"$', line)
            if match:
                current = match.group(1)
                fields[current] = match.group(2)
            elif line.startswith('"') and current:
                fields[current] += line[1:-1]
            elif line.startswith("#,") and "fuzzy" in line:
                fields["fuzzy"] = "yes"
        if fields.get("msgid"):
            found.append(
                {
                    key: value.encode().decode("unicode_escape").encode("latin-1").decode()
                    for key, value in fields.items()
                }
            )
    return found


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_catalogue_translates_everything_and_is_compiled(language):
    folder = ROOT / "locale" / language / "LC_MESSAGES"
    catalogue = entries((folder / "django.po").read_text())
    missing = [
        entry["msgid"]
        for entry in catalogue
        if "fuzzy" in entry or not all(v for k, v in entry.items() if k.startswith("msgstr"))
    ]
    assert missing == []
    with (folder / "django.mo").open("rb") as compiled:
        translations = gettext.GNUTranslations(compiled)
    stale = [
        entry["msgid"]
        for entry in catalogue
        if "msgstr" in entry
        and "msgctxt" not in entry
        and translations.gettext(entry["msgid"]) != entry["msgstr"]
    ]
    assert stale == [], "compile the catalogue: manage.py compilemessages"


_TRANSLATE = re.compile(r'{%\s*(?:translate|trans)\s+"([^"]+)"(?:\s+context\s+"([^"]+)")?')


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_marked_template_string_is_in_the_catalogue(language):
    # A string marked after the last makemessages has no entry, and shows in English.
    folder = ROOT / "locale" / language / "LC_MESSAGES"
    catalogue = {
        (entry.get("msgctxt"), entry["msgid"])
        for entry in entries((folder / "django.po").read_text())
    }
    marked = {
        (context, text.replace("%", "%%") if "%" in text else text)
        for path in TEMPLATES
        for text, context in _TRANSLATE.findall((ROOT / path).read_text())
    }
    assert (
        sorted(text for context, text in marked if (context or None, text) not in catalogue) == []
    )
