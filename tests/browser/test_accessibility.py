"""axe-core finds nothing on the login, chat (with code, while streaming and after), settings
and admin pages, at 1280 px and a phone's 390 px, in the light and the dark theme; each
state is also saved as a screenshot in test-artifacts/screens for reviewers."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from accounts.services import issue_token
from loopback.upstream import Behaviour
from sharing.services import share_session
from tests.browser.conftest import log_in, wait_for_open_drawer
from tests.factories import MessageFactory, UserFactory, conversation

pytestmark = pytest.mark.browser

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
WIDTHS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
THEMES = ["light", "dark"]
RULES = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
CODE_REPLY = (
    "Use `sorted` with a **key**:\n\n```python\n# sort people by age, oldest last\n"
    "people = [{'name': 'Ada', 'age': 36}, {'name': 'Alan', 'age': 41}]\n"
    "by_age = sorted(people, key=lambda p: p['age'])  # a stable sort\n"
    "print(len(by_age) >= 2 and by_age[0]['age'] < 40)\n```\n\n"
    "| name | age |\n|---|---|\n| Ada | 36 |\n| Alan | 41 |\n"
)


@pytest.fixture(scope="module")
def screens(artifacts_dir):
    path = artifacts_dir / "screens"
    path.mkdir(parents=True, exist_ok=True)
    return path


def audit(page, screens: Path, name: str) -> None:
    """Run axe-core on the page as it is now and save a screenshot; fail on any violation."""
    page.screenshot(path=str(screens / f"{name}.png"), full_page=False)
    if not page.evaluate("() => Boolean(window.axe)"):
        page.evaluate(AXE.read_text())
    result = page.evaluate(
        """async (tags) => {
            const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
            return result.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 3).map((n) => [n.target.join(' '), n.failureSummary]),
            }));
        }""",
        RULES,
    )
    assert result == [], f"{name}: {result}"


@pytest.fixture
def pages(chromium, live_app):
    """A new page per width and theme, logged in as ``user`` when given."""
    contexts = []

    def open_page(width: str, theme: str, user=None):
        context = chromium.new_context(viewport=WIDTHS[width], color_scheme=theme)
        contexts.append(context)
        if user is not None:
            log_in(context, live_app, user)
        page = context.new_page()
        page.js_errors = []
        page.on("pageerror", lambda error: page.js_errors.append(str(error)))
        return page

    yield open_page
    for context in contexts:
        context.close()


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("width", list(WIDTHS))
def test_login_page(pages, live_app, screens, width, theme):
    page = pages(width, theme)
    page.goto(live_app + "/accounts/login/")
    audit(page, screens, f"login-{width}-{theme}")


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("width", list(WIDTHS))
def test_chat_with_code_while_streaming_and_after(
    pages, live_app, upstream, user, screens, width, theme
):
    session = conversation(user, turns=1, title="Sorting in Python")
    MessageFactory(session=session, content="How do I sort a list of dicts by a key?")
    MessageFactory(session=session, role="assistant", content=CODE_REPLY)
    conversation(user, turns=1, title="Trip to Lisbon")
    page = pages(width, theme, user)
    page.goto(f"{live_app}/c/{session.pk}/")
    expect(page.get_by_role("button", name="Copy code")).to_be_visible()
    audit(page, screens, f"chat-{width}-{theme}")

    # Long enough (40 s) to be still streaming after the audit on a slow machine; Stop ends it.
    upstream.push(Behaviour(content=CODE_REPLY + " more" * 2000, token_gap=0.02))
    composer = page.locator("#composer-input")
    composer.fill("And in reverse?")
    composer.press("Enter")
    expect(page.locator(".message-assistant")).to_have_count(3)
    reply = page.locator(".message-assistant").last
    expect(reply).to_have_attribute("data-status", "streaming")
    expect(reply.locator("pre code")).to_contain_text("by_age")
    assert reply.get_attribute("data-status") == "streaming"
    audit(page, screens, f"chat-streaming-{width}-{theme}")
    page.get_by_role("button", name="Stop").click()
    expect(reply).to_have_attribute("data-status", "cancelled")
    audit(page, screens, f"chat-after-{width}-{theme}")

    if width == "phone":
        page.get_by_role("button", name="Menu", exact=True).click()
        expect(page.get_by_role("button", name="Close menu")).to_be_focused()
        wait_for_open_drawer(page)
        audit(page, screens, f"chat-drawer-{width}-{theme}")
    assert page.js_errors == []


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("width", list(WIDTHS))
def test_settings_page(pages, live_app, user, screens, width, theme):
    issue_token(user=user)
    page = pages(width, theme, user)
    page.goto(live_app + "/settings/")
    audit(page, screens, f"settings-{width}-{theme}")


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("width", list(WIDTHS))
def test_admin_pages(pages, live_app, user, screens, width, theme):
    admin = UserFactory(is_staff=True, is_superuser=True)
    conversation(user, turns=1, title="Reviewed chat")
    page = pages(width, theme, admin)
    page.goto(live_app + "/admin/")
    audit(page, screens, f"admin-{width}-{theme}")
    page.goto(live_app + "/admin/conversations/chatsession/")
    audit(page, screens, f"admin-sessions-{width}-{theme}")


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("width", list(WIDTHS))
def test_chat_sharing_rating_and_details_states(pages, live_app, user, screens, width, theme):
    session = conversation(user, turns=1, title="Sorting in Python", pinned=True)
    MessageFactory(session=session, content="How do I sort?")
    MessageFactory(
        session=session,
        role="assistant",
        content=CODE_REPLY,
        model="gpt-test",
        prompt_tokens=120,
        completion_tokens=80,
        cached_tokens=64,
        first_token_ms=300,
        total_ms=1800,
    )
    conversation(user, turns=1, title="Trip to Lisbon")
    share_session(user=user, session_id=session.pk)
    page = pages(width, theme, user)
    page.goto(f"{live_app}/c/{session.pk}/")
    reply = page.locator(".message-assistant").last
    reply.get_by_text("Details").click()
    reply.get_by_role("button", name="Bad reply").click()
    expect(reply.get_by_role("button", name="Send feedback")).to_be_visible()
    audit(page, screens, f"chat-rated-{width}-{theme}")

    if width == "phone":
        page.get_by_role("button", name="Menu", exact=True).click()
        wait_for_open_drawer(page)
    page.get_by_role("button", name="Actions for Sorting in Python").click()
    page.get_by_role("menuitem", name="Share").click()
    page.get_by_role("button", name="Create link").click()
    expect(page.get_by_role("button", name="Revoke link")).to_be_visible()
    audit(page, screens, f"chat-share-{width}-{theme}")

    page.goto(f"{live_app}/settings/")
    expect(page.locator("#shared-links")).to_be_visible()
    audit(page, screens, f"settings-sharing-{width}-{theme}")
    assert page.js_errors == []


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("width", list(WIDTHS))
def test_sidebar_search_results(pages, live_app, user, screens, width, theme):
    pinned = conversation(user, turns=0, title="Sorting notes", pinned=True)
    MessageFactory(session=pinned, content="How do I sort a list of dictionaries by a key?")
    other = conversation(user, turns=0, title="Trip to Lisbon")
    MessageFactory(session=other, content="Pack light, and sort the tickets by date first.")
    page = pages(width, theme, user)
    page.goto(f"{live_app}/?q=sort")
    if width == "phone":
        page.get_by_role("button", name="Menu", exact=True).click()
        wait_for_open_drawer(page)
    expect(page.locator(".session-snippet mark")).to_have_count(2)
    audit(page, screens, f"chat-search-{width}-{theme}")
    assert page.js_errors == []
