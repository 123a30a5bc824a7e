"""Attaching files in a real Chromium (issue 18): the attach button, drag and drop and
paste; chips with name, size, thumbnail and upload progress, removable; refusals shown on
the chip with the typed message kept; files sent with the message and shown in it."""

from __future__ import annotations

import base64
import copy

import pytest
from playwright.sync_api import expect

from attachments.models import StoredFile
from catalogue.models import Model, Provider
from conversations.models import Message
from tests.attachments.samples import image_bytes
from tests.browser.conftest import wait_until
from tests.factories import conversation

pytestmark = pytest.mark.browser

SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
NOTES = "Meeting notes\nBudget: 42 euros\n"


@pytest.fixture(autouse=True)
def file_storage_dir(settings, tmp_path):
    """The attachments storage in a folder of this test's own."""
    storages = copy.deepcopy(settings.STORAGES)
    storages["attachments"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": tmp_path / "attachments"},
    }
    settings.STORAGES = storages
    return tmp_path / "attachments"


@pytest.fixture
def seer(transactional_db, upstream):
    """The default model, on the loopback upstream, takes images."""
    provider = Provider.objects.create(name="loopback", base_url=upstream.base_url)
    return Model.objects.create(
        id="seer", label="Seer", provider=provider, vision=True, is_default=True
    )


def chips(page):
    return page.locator("#attachment-chips > .attachment-chip")


def attach(page, name: str, data: bytes, mime: str) -> None:
    page.locator("#file-input").set_input_files(
        files=[{"name": name, "mimeType": mime, "buffer": data}]
    )


def drop(page, name: str, data: bytes, mime: str) -> None:
    """Drag a file from outside the browser and drop it on the conversation."""
    page.evaluate(
        """([name, b64, mime]) => {
          const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
          const transfer = new DataTransfer();
          transfer.items.add(new File([bytes], name, { type: mime }));
          const main = document.getElementById("main");
          const init = { bubbles: true, cancelable: true, dataTransfer: transfer };
          for (const type of ["dragenter", "dragover"]) {
            main.dispatchEvent(new DragEvent(type, init));
          }
          window.dropZoneShown = !document.getElementById("drop-zone").hidden;
          main.dispatchEvent(new DragEvent("drop", init));
        }""",
        [name, base64.b64encode(data).decode(), mime],
    )


def paste_image(page, data: bytes) -> None:
    page.locator("#composer-input").evaluate(
        """(input, b64) => {
          const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
          const transfer = new DataTransfer();
          transfer.items.add(new File([bytes], "image.png", { type: "image/png" }));
          const init = { bubbles: true, cancelable: true, clipboardData: transfer };
          input.dispatchEvent(new ClipboardEvent("paste", init));
        }""",
        base64.b64encode(data).decode(),
    )


def test_attach_drop_and_paste_make_removable_chips(
    logged_in_page, live_app, user, seer, artifacts_dir
):
    page = logged_in_page
    page.goto(live_app + "/")
    page.locator("#composer-input").fill("What is in these?")
    page.get_by_role("button", name="Attach files").click()  # opens the picker; harmless
    attach(page, "photo.png", image_bytes("PNG", size=(40, 30)), "image/png")
    drop(page, "notes.txt", NOTES.encode(), "text/plain")
    assert page.evaluate("window.dropZoneShown") is True
    expect(page.locator("#drop-zone")).to_be_hidden()
    paste_image(page, image_bytes("PNG", size=(20, 20)))
    expect(chips(page)).to_have_count(3)
    for chip in chips(page).all():
        expect(chip).to_have_attribute("data-state", "ready")
    photo, notes, pasted = chips(page).all()
    expect(photo.locator(".chip-name")).to_have_text("photo.png")
    expect(notes.locator(".chip-name")).to_have_text("notes.txt")
    expect(notes.locator(".chip-size")).to_have_text("31 bytes")
    # Images show a thumbnail served by the app (the stored, re-encoded file).
    expect(photo.locator(".chip-thumb img")).to_have_count(1)
    thumb = photo.locator(".chip-thumb img")
    # The thumbnail loads after the chip appears: wait for it, then read its size.
    page.wait_for_function("img => img.complete && img.naturalWidth", arg=thumb.element_handle())
    assert thumb.evaluate("img => img.naturalWidth") == 40
    expect(notes.locator(".chip-thumb img")).to_have_count(0)
    expect(page.locator(".chip-progress")).to_have_count(0)
    assert StoredFile.objects.filter(owner=user).count() == 3
    page.screenshot(path=str(artifacts_dir / "attachments-chips.png"))

    pasted.get_by_role("button", name="Remove image.png").click()
    expect(chips(page)).to_have_count(2)
    # A removed file that was never sent is deleted at once.
    wait_until(lambda: StoredFile.objects.filter(owner=user).count() == 2, page=page)
    assert sorted(StoredFile.objects.filter(owner=user).values_list("name", flat=True)) == [
        "notes.txt",
        "photo.png",
    ]
    expect(page.locator("#composer-input")).to_have_value("What is in these?")
    assert page.js_errors == []


def test_a_refused_file_says_why_and_keeps_the_typed_message(
    logged_in_page, live_app, user, seer, settings, artifacts_dir
):
    settings.CHATBOT_MAX_FILE_BYTES = 1000
    page = logged_in_page
    page.set_viewport_size({"width": 390, "height": 800})
    page.goto(live_app + "/")
    page.locator("#composer-input").fill("Keep this text")
    attach(page, "drawing.svg", SVG, "image/svg+xml")
    attach(page, "big.txt", b"x" * 5000, "text/plain")
    attach(page, "fake.png", b"<html><script>alert(1)</script></html>", "image/png")
    expect(chips(page)).to_have_count(3)
    svg, big, fake = chips(page).all()
    for chip in (svg, big, fake):
        expect(chip).to_have_attribute("data-state", "refused")
    expect(svg.get_by_role("alert")).to_contain_text("svg", ignore_case=True)
    expect(big.get_by_role("alert")).not_to_be_empty()
    expect(fake.get_by_role("alert")).to_contain_text("html", ignore_case=True)
    # The server's detail is shown as text: a name can never become markup.
    assert page.locator("#attachment-chips script").count() == 0
    expect(page.locator("#composer-input")).to_have_value("Keep this text")
    expect(page.locator("#send-button")).to_be_enabled()
    page.screenshot(path=str(artifacts_dir / "attachments-refused-phone.png"))
    svg.get_by_role("button", name="Remove drawing.svg").click()
    expect(chips(page)).to_have_count(2)
    assert StoredFile.objects.filter(owner=user).count() == 0
    assert page.js_errors == []


def send_with_files(page, live_app, session) -> None:
    page.goto(f"{live_app}/c/{session.pk}/")
    attach(page, "photo.png", image_bytes("PNG", size=(40, 30)), "image/png")
    attach(page, "notes.txt", NOTES.encode(), "text/plain")
    expect(page.locator("#attachment-chips > [data-state=ready]")).to_have_count(2)
    page.locator("#composer-input").fill("Summarize the notes and describe the photo")
    page.locator("#composer-input").press("Enter")
    reply = page.locator(".message-assistant")
    expect(reply).to_have_count(1)
    expect(reply).to_have_attribute("data-status", "complete")
    expect(chips(page)).to_have_count(0)


def shows_files(page) -> None:
    bubble = page.locator(".message-user").last
    expect(bubble.locator(".attachment-image img")).to_have_attribute("alt", "photo.png")
    page.wait_for_function(
        "() => document.querySelector('.message-user .attachment-image img')?.naturalWidth"
    )
    expect(bubble.get_by_role("link", name="notes.txt")).to_have_attribute("download", "notes.txt")
    expect(bubble.get_by_role("link", name="Open the image photo.png")).to_have_attribute(
        "target", "_blank"
    )


def test_files_go_with_the_message_and_show_in_it(
    logged_in_page, live_app, upstream, user, seer, artifacts_dir
):
    session = conversation(user, turns=0, title="Files", model="seer")
    page = logged_in_page
    send_with_files(page, live_app, session)
    stored = Message.objects.get(session=session, role="user")
    assert [link.file.name for link in stored.attachment_links.select_related("file")] == [
        "photo.png",
        "notes.txt",
    ]
    page.reload()
    shows_files(page)  # rendered by the page
    page.screenshot(path=str(artifacts_dir / "attachments-desktop.png"), full_page=True)
    # The download is the file itself, to its owner.
    link = page.locator(".message-user").last.get_by_role("link", name="notes.txt")
    assert page.request.get(live_app + link.get_attribute("href")).body() == NOTES.encode()

    # An edited question keeps its files.
    question = page.locator(".message-user").last
    question.get_by_role("button", name="Edit").click()
    question.get_by_role("textbox", name="Edit your message").fill("Only the notes, please")
    question.get_by_role("button", name="Save and send").click()
    expect(page.locator(".message-user .message-body")).to_have_text(["Only the notes, please"])
    expect(page.locator(".message-assistant")).to_have_attribute("data-status", "complete")
    edited = Message.objects.get(session=session, content="Only the notes, please")
    assert [link.file.name for link in edited.attachment_links.select_related("file")] == [
        "photo.png",
        "notes.txt",
    ]
    assert page.js_errors == []


def test_files_show_live_in_every_tab(
    logged_in_page, live_app, upstream, user, seer, browser_context
):
    session = conversation(user, turns=0, title="Files", model="seer")
    other = browser_context.new_page()
    other.goto(f"{live_app}/c/{session.pk}/")
    expect(other.locator("#chat-app")).to_have_attribute("data-connected", "true")
    page = logged_in_page
    send_with_files(page, live_app, session)
    # From the turn's message payload, before any reload: here and in the other tab.
    shows_files(page)
    shows_files(other)
    assert page.js_errors == []


def test_the_model_reads_the_files_sent_from_the_page(
    logged_in_page, live_app, upstream, user, seer
):
    session = conversation(user, turns=0, title="Files", model="seer")
    send_with_files(logged_in_page, live_app, session)
    # The document's text with the message, marked with its name; the image as an image part.
    parts = upstream.reply_requests()[-1]["messages"][-1]["content"]
    assert isinstance(parts, list)
    text = " ".join(part.get("text", "") for part in parts if part["type"] == "text")
    assert "Budget: 42 euros" in text and "notes.txt" in text
    assert [p["image_url"]["url"][:22] for p in parts if p["type"] == "image_url"] == [
        "data:image/png;base64,"
    ]
