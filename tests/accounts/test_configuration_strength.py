"""The sign-in variables parsed directly, the cases mutation testing found unchecked: each
accepted spelling and its normal form, the exact sentence of each refusal, the edges of the
provider id and group name lengths, the issuer rules and the provider origins."""

from __future__ import annotations

import json
import re

import pytest
from django.core.exceptions import ImproperlyConfigured

from accounts import configuration

PROVIDERS = "CHATBOT_OIDC_PROVIDERS"
GROUP_MAP = "CHATBOT_OIDC_GROUP_MAP"


def provider(**fields) -> dict:
    entry = {
        "id": "corp",
        "name": "Corp",
        "issuer": "https://idp.example.com",
        "client_id": "chatbot",
        "secret": "s3cret",
    }
    return {key: value for key, value in {**entry, **fields}.items() if value is not None}


def providers(*entries) -> list[dict]:
    return configuration.oidc_providers(json.dumps(list(entries)))


def refused(message: str):
    return pytest.raises(ImproperlyConfigured, match="^" + re.escape(message) + "$")


@pytest.mark.parametrize(
    ("value", "policy"),
    [("off", "off"), ("staff", "staff"), ("all", "all"), (" Staff ", "staff"), ("ALL", "all")],
)
def test_mfa_policy_accepts_each_value_in_any_case(value, policy):
    assert configuration.mfa_policy(value) == policy


@pytest.mark.parametrize("value", ["", "   "])
def test_an_empty_mfa_policy_is_off(value):
    assert configuration.mfa_policy(value) == "off"


def test_an_unknown_mfa_policy_is_refused_naming_the_value():
    with refused("CHATBOT_REQUIRE_MFA must be off, staff or all, got 'Sometimes'."):
        configuration.mfa_policy("Sometimes")


@pytest.mark.parametrize("value", ["", "  \n"])
def test_no_providers_and_no_group_map_when_empty(value):
    assert configuration.oidc_providers(value) == []
    assert configuration.oidc_group_map(value) == {}


def test_a_provider_becomes_an_allauth_app_with_every_field():
    assert providers(provider(issuer="https://idp.example.com/tenant/")) == [
        {
            "provider_id": "corp",
            "name": "Corp",
            "client_id": "chatbot",
            "secret": "s3cret",
            "settings": {
                "server_url": "https://idp.example.com/tenant",
                "scope": ["openid", "profile", "email"],
                "token_auth_method": "client_secret_post",
            },
        }
    ]


def test_a_providers_own_scope_is_kept():
    apps = providers(provider(scope=["openid", "groups"]), provider(id="other", scope=[]))
    assert [app["settings"]["scope"] for app in apps] == [["openid", "groups"], []]


def test_ids_of_letters_digits_dash_and_underscore_up_to_40_are_accepted():
    ids = ["a", "0", "a-b_c9", "a" * 40]
    assert [app["provider_id"] for app in providers(*(provider(id=i) for i in ids))] == ids


@pytest.mark.parametrize("bad", ["Corp", "-corp", "_corp", "a" * 41, "co rp", "corp!", "é"])
def test_other_ids_are_refused_naming_the_entry_and_the_id(bad):
    with refused(
        f"{PROVIDERS}[1]: id must be unique, lower-case letters, digits, - or _, got {bad!r}."
    ):
        providers(provider(id="fine"), provider(id=bad))


def test_a_repeated_id_is_refused():
    with refused(
        f"{PROVIDERS}[2]: id must be unique, lower-case letters, digits, - or _, got 'a'."
    ):
        providers(provider(id="a"), provider(id="b"), provider(id="a"))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("not json", f"{PROVIDERS} is not valid JSON: Expecting value: line 1 column 1 (char 0)"),
        ("{}", f"{PROVIDERS} must be a JSON list."),
        ('"corp"', f"{PROVIDERS} must be a JSON list."),
        ('[{"id": "corp"}, 3]', None),
        ("[[]]", f"{PROVIDERS}[0] must be a JSON object."),
    ],
)
def test_a_provider_list_that_is_not_a_list_of_objects_is_refused(value, message):
    if message is None:  # the first entry's missing keys come first
        message = f"{PROVIDERS}[0] needs non-empty strings for: name, issuer, client_id, secret."
    with refused(message):
        configuration.oidc_providers(value)


@pytest.mark.parametrize(
    ("fields", "missing"),
    [
        ({"id": None}, "id"),
        ({"name": "  "}, "name"),
        ({"issuer": 3}, "issuer"),
        ({"client_id": ""}, "client_id"),
        ({"secret": None, "name": None}, "name, secret"),
    ],
)
def test_each_missing_or_blank_field_is_named(fields, missing):
    with refused(f"{PROVIDERS}[0] needs non-empty strings for: {missing}."):
        providers(provider(**fields))


def test_unknown_keys_are_named_in_order():
    with refused(f"{PROVIDERS}[0] has unknown keys: audience, extra."):
        providers(provider(extra=1, audience="x"))


@pytest.mark.parametrize("scope", ["openid", ["openid", 3], {"openid": True}])
def test_a_scope_that_is_not_a_list_of_strings_is_refused(scope):
    with refused(f"{PROVIDERS}[0]: scope must be a list of strings."):
        providers(provider(scope=scope))


@pytest.mark.parametrize(
    ("issuer", "server_url"),
    [
        ("https://idp.example.com", "https://idp.example.com"),
        ("https://idp.example.com//", "https://idp.example.com"),
        ("https://idp.example.com/realmX/", "https://idp.example.com/realmX"),
        ("http://localhost:8080/", "http://localhost:8080"),
        ("http://127.0.0.1:9000", "http://127.0.0.1:9000"),
        ("http://[::1]:9000", "http://[::1]:9000"),
    ],
)
def test_https_issuers_and_plain_http_on_this_machine_are_accepted(issuer, server_url):
    assert providers(provider(issuer=issuer))[0]["settings"]["server_url"] == server_url


@pytest.mark.parametrize("issuer", ["ftp://idp.example.com", "idp.example.com", "https:///x"])
def test_an_issuer_that_is_no_web_url_is_refused(issuer):
    with refused(f"{PROVIDERS}[0]: issuer must be an https URL, got {issuer!r}."):
        providers(provider(issuer=issuer))


def test_a_non_string_issuer_is_refused_as_no_url():
    with refused(f"{PROVIDERS}[0]: issuer must be an https URL, got ['https://a']."):
        configuration._issuer(f"{PROVIDERS}[0]", ["https://a"])


@pytest.mark.parametrize("issuer", ["http://idp.example.com", "http://10.0.0.1"])
def test_plain_http_elsewhere_is_refused(issuer):
    with refused(f"{PROVIDERS}[0]: issuer must use https, got {issuer!r}."):
        providers(provider(issuer=issuer))


def test_a_group_map_is_returned_as_given():
    mapping = {"idp-staff": "Staff", "idp-long": "g" * 150}
    assert configuration.oidc_group_map(json.dumps(mapping)) == mapping


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("[]", f"{GROUP_MAP} must be a JSON dict."),
        ("{", None),
        ('{"staff": 3}', f"{GROUP_MAP}: 'staff' must map to a group name (1 to 150 characters)."),
        ('{"staff": " "}', f"{GROUP_MAP}: 'staff' must map to a group name (1 to 150 characters)."),
        (
            json.dumps({"ok": "Ok", "long": "g" * 151}),
            f"{GROUP_MAP}: 'long' must map to a group name (1 to 150 characters).",
        ),
    ],
)
def test_a_bad_group_map_is_refused_naming_the_variable(value, message):
    if message is None:
        message = f"{GROUP_MAP} is not valid JSON: "
        with pytest.raises(ImproperlyConfigured, match="^" + re.escape(message)):
            configuration.oidc_group_map(value)
        return
    with refused(message):
        configuration.oidc_group_map(value)


def test_form_action_origins_are_each_providers_scheme_and_host_once_sorted():
    apps = providers(
        provider(id="b", issuer="https://b.example.com/tenant/v2.0"),
        provider(id="a", issuer="https://a.example.com:8443/x"),
        provider(id="c", issuer="https://b.example.com/other"),
        provider(id="d", issuer="http://localhost:9000/"),
    )
    assert configuration.form_action_origins(apps) == [
        "http://localhost:9000",
        "https://a.example.com:8443",
        "https://b.example.com",
    ]
    assert configuration.form_action_origins([]) == []
