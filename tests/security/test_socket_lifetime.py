"""An open WebSocket lives no longer than its browser session and its account, and a new
password ends every API token: tested from outside, against the app served by uvicorn,
with a real WebSocket client and real HTTP clients (signed in through the login form or a
session cookie).

Close codes the page understands: 4401 signed out (sign-out, a password change), 4403 the
account was deactivated or its chat access suspended.
"""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
import websockets
from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import channel_layers
from django.contrib.sessions.models import Session
from django.core import mail
from django.test import Client
from knox.models import AuthToken

from accounts import services as account_services
from accounts.models import User
from conversations.models import ChatSession
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

NEW_PASSWORD = "Another-staple-battery-7"
# Seconds to wait for a socket or a request: generous, for a loaded CI machine.
WAIT = 30


@pytest.fixture(autouse=True)
def _own_channel_layer():
    """A channel layer object of this test's own: with Redis one object serves the whole
    test process, and it refuses receives from two event loops at once (the live server's
    and a communicator's in tests/web), which a consumer cancelled mid-receive can leave
    behind."""
    channel_layers.backends.pop(DEFAULT_CHANNEL_LAYER, None)
    yield
    channel_layers.backends.pop(DEFAULT_CHANNEL_LAYER, None)


def session_cookie(user) -> str:
    """A signed-in browser session of ``user`` (what the login form would set)."""
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def superuser_cookie() -> str:
    return session_cookie(UserFactory(is_staff=True, is_superuser=True))


def browser(live_app: str, sessionid: str | None = None) -> httpx.Client:
    client = httpx.Client(base_url=live_app, timeout=WAIT, follow_redirects=True)
    if sessionid:
        client.cookies.set("sessionid", sessionid)
    return client


def csrf_token(client: httpx.Client, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, (path, page.status_code)
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)


def post_form(client: httpx.Client, path: str, data: dict) -> httpx.Response:
    return client.post(path, data={**data, "csrfmiddlewaretoken": csrf_token(client, path)})


def sign_in(client: httpx.Client, user, password: str = PASSWORD) -> None:
    post_form(client, "/accounts/login/", {"login": user.username, "password": password})
    assert client.get("/settings/", follow_redirects=False).status_code == 200


async def open_socket(live_app: str, sessionid: str):
    return await websockets.connect(
        live_app.replace("http", "ws", 1) + "/ws/chat/",
        additional_headers={"Origin": live_app, "Cookie": f"sessionid={sessionid}"},
        open_timeout=WAIT,
    )


async def closed_with(socket) -> tuple[int, str]:
    """The code and reason the server closed ``socket`` with (any frames before are read)."""
    try:
        while True:
            await asyncio.wait_for(socket.recv(), WAIT)
    except websockets.ConnectionClosed as closed:
        return closed.rcvd.code, closed.rcvd.reason


async def still_open(socket) -> bool:
    """The socket answers a message: an unknown type gets an error back."""
    await socket.send('{"type": "ping"}')
    answer = await asyncio.wait_for(socket.recv(), WAIT)
    return '"Unknown message type."' in answer


def run(coroutine):
    return asyncio.run(coroutine)


def bearer_status(live_app: str, token: str) -> int:
    return httpx.get(
        live_app + "/api/chat/sessions",
        headers={"Authorization": f"Bearer {token}"},
        timeout=WAIT,
    ).status_code


# --- A deeply nested frame --------------------------------------------------------------


def test_a_deeply_nested_frame_gets_an_error_and_the_socket_stays_usable(live_app, upstream):
    user = UserFactory()
    cookie = session_cookie(user)
    frame = '{"type": "send", "text": "hi", "x": ' + "[" * 990 + "]" * 990 + "}"

    async def scenario():
        async with await open_socket(live_app, cookie) as socket:
            await socket.send(frame)
            error = await asyncio.wait_for(socket.recv(), WAIT)
            await socket.send('{"type": "send", "text": "still here?", "requestId": "r1"}')
            turn = await asyncio.wait_for(socket.recv(), WAIT)
            # Read up to the last event of the turn (the generated title), so that the server
            # is not sending while the socket closes.
            while '"type": "title"' not in await asyncio.wait_for(socket.recv(), WAIT):
                pass
            return error, turn

    error, turn = run(scenario())
    assert '"code": "invalid"' in error and "nested too deeply" in error
    assert '"type": "turn"' in turn and '"requestId": "r1"' in turn
    assert ChatSession.objects.filter(user=user).count() == 1


# --- Sign-out ------------------------------------------------------------------------------


def test_signing_out_closes_that_browsers_sockets_and_no_others(live_app):
    user = UserFactory()
    signing_out, elsewhere = session_cookie(user), session_cookie(user)

    async def scenario():
        async with (
            await open_socket(live_app, signing_out) as mine,
            await open_socket(live_app, elsewhere) as theirs,
        ):
            with browser(live_app, signing_out) as other_tab:
                await asyncio.to_thread(post_form, other_tab, "/accounts/logout/", {})
            return await closed_with(mine), await still_open(theirs)

    (code, reason), other_open = run(scenario())
    assert (code, reason) == (4401, "signed out")
    assert other_open


def test_a_send_on_a_socket_whose_session_was_signed_out_is_refused(live_app, upstream):
    # Without the close event (a sign-out in a process whose layer was down): the send's
    # own check, in the trip it makes anyway.
    user = UserFactory()
    cookie = session_cookie(user)

    async def scenario():
        async with await open_socket(live_app, cookie) as socket:
            await Session.objects.filter(session_key=cookie).adelete()
            await socket.send('{"type": "send", "text": "hello"}')
            return await closed_with(socket)

    assert run(scenario()) == (4401, "signed out")
    assert not ChatSession.objects.filter(user=user).exists()


# --- Password change, reset, admin -----------------------------------------------------


def test_changing_the_password_closes_every_socket_and_revokes_tokens(live_app):
    user = UserFactory()
    token = account_services.issue_token(user=user).token
    assert bearer_status(live_app, token) == 200
    elsewhere = session_cookie(user)

    async def scenario():
        with browser(live_app) as changer:
            await asyncio.to_thread(sign_in, changer, user)
            changer_cookie = changer.cookies["sessionid"]
            async with (
                await open_socket(live_app, elsewhere) as other_browser,
                await open_socket(live_app, changer_cookie) as own_tab,
            ):
                changed = await asyncio.to_thread(
                    post_form,
                    changer,
                    "/accounts/password/change/",
                    {"oldpassword": PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
                )
                assert changed.status_code == 200
                closed = await closed_with(other_browser), await closed_with(own_tab)
            # The browser that changed it is still signed in (on a new session key): its
            # tab reconnects; the other browser's session is over.
            async with await open_socket(live_app, changer.cookies["sessionid"]) as reopened:
                reopened_ok = await still_open(reopened)
            with pytest.raises(websockets.InvalidStatus):
                await open_socket(live_app, elsewhere)
            return closed, reopened_ok

    closed, reopened_ok = run(scenario())
    assert closed == ((4401, "password changed"), (4401, "password changed"))
    assert reopened_ok
    assert bearer_status(live_app, token) == 401
    assert not AuthToken.objects.filter(user=user).exists()


def test_resetting_the_password_closes_sockets_and_revokes_tokens(live_app):
    user = UserFactory()
    token = account_services.issue_token(user=user).token
    cookie = session_cookie(user)
    mail.outbox.clear()

    async def scenario():
        async with await open_socket(live_app, cookie) as socket:
            with browser(live_app) as stranger:
                await asyncio.to_thread(
                    post_form, stranger, "/accounts/password/reset/", {"email": user.email}
                )
                link = re.search(
                    r"https?://\S+/accounts/password/reset/key/\S+/", mail.outbox[-1].body
                )
                path = "/" + link.group(0).split("/", 3)[3]
                form = await asyncio.to_thread(stranger.get, path)
                assert form.status_code == 200
                done = await asyncio.to_thread(
                    post_form,
                    stranger,
                    str(form.url.raw_path.decode()),
                    {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
                )
                assert done.status_code == 200
            return await closed_with(socket)

    assert run(scenario()) == (4401, "password changed")
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert bearer_status(live_app, token) == 401


def test_an_admin_setting_the_password_closes_sockets_and_revokes_tokens(live_app):
    user = UserFactory()
    token = account_services.issue_token(user=user).token
    cookie, admin_cookie = session_cookie(user), superuser_cookie()

    async def scenario():
        async with await open_socket(live_app, cookie) as socket:
            with browser(live_app, admin_cookie) as admin:
                path = f"/admin/accounts/user/{user.pk}/password/"
                changed = await asyncio.to_thread(
                    post_form,
                    admin,
                    path,
                    {
                        "password1": NEW_PASSWORD,
                        "password2": NEW_PASSWORD,
                        "usable_password": "true",
                    },
                )
                assert (
                    changed.status_code == 200 and "Password changed successfully" in changed.text
                )
            return await closed_with(socket)

    assert run(scenario()) == (4401, "password changed")
    assert bearer_status(live_app, token) == 401


def test_a_first_password_revokes_nothing(db):
    # A user who had no usable password (an account made by an admin or a social login)
    # sets one: nobody could have known an old one.
    user = UserFactory()
    user.set_unusable_password()
    user.save()
    account_services.issue_token(user=user)
    user.set_password(NEW_PASSWORD)
    user.save()
    assert AuthToken.objects.filter(user=user).count() == 1


def test_settings_say_a_new_password_signs_out_other_browsers_and_revokes_tokens(live_app):
    user = UserFactory()
    with browser(live_app, session_cookie(user)) as client:
        for path in ("/settings/", "/accounts/password/change/"):
            text = client.get(path).text
            assert "revokes all your API tokens" in text, path
            assert "signs out your other browsers" in text, path


# --- Deactivation and suspension ---------------------------------------------------------


def test_deactivating_in_admin_closes_the_users_sockets(live_app):
    user = UserFactory()
    cookie, admin_cookie = session_cookie(user), superuser_cookie()

    async def scenario():
        async with await open_socket(live_app, cookie) as socket:
            with browser(live_app, admin_cookie) as admin:
                path = f"/admin/accounts/user/{user.pk}/change/"
                data = {
                    "username": user.username,
                    "email": user.email,
                    "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
                    "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
                    "custom_instructions": "",
                    # "is_active" left out: the box is unticked.
                }
                saved = await asyncio.to_thread(post_form, admin, path, data)
                assert saved.status_code == 200 and "was changed successfully" in saved.text
            return await closed_with(socket)

    assert run(scenario()) == (4403, "deactivated")
    assert not User.objects.get(pk=user.pk).is_active


def test_a_send_from_a_deactivated_account_is_refused_and_closes_the_socket(live_app, upstream):
    user = UserFactory()
    cookie = session_cookie(user)

    async def scenario():
        async with await open_socket(live_app, cookie) as socket:
            # Without the close event (a change made by an update, or in another process
            # whose layer was down): the send's own check.
            await User.objects.filter(pk=user.pk).aupdate(is_active=False)
            await socket.send('{"type": "send", "text": "hello"}')
            return await closed_with(socket)

    assert run(scenario()) == (4403, "deactivated")
    assert not ChatSession.objects.filter(user=user).exists()


def test_suspending_in_admin_closes_the_users_sockets(live_app):
    user = UserFactory()
    cookie, admin_cookie = session_cookie(user), superuser_cookie()

    async def scenario():
        async with await open_socket(live_app, cookie) as socket:
            with browser(live_app, admin_cookie) as admin:
                done = await asyncio.to_thread(
                    post_form,
                    admin,
                    "/admin/accounts/user/",
                    {"action": "suspend", "_selected_action": str(user.pk)},
                )
                assert done.status_code == 200 and "1 user suspended" in done.text
            return await closed_with(socket)

    assert run(scenario()) == (4403, "suspended")
