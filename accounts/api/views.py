"""Personal API tokens: sign in for a token, list and revoke your tokens."""

from __future__ import annotations

import re

from allauth.account.adapter import get_adapter
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import (
    AuthenticationFailed,
    NotFound,
    PermissionDenied,
    Throttled,
    ValidationError,
)
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.viewsets import ViewSet

from accounts import policy, services
from accounts.api.serializers import (
    IssuedTokenSerializer,
    TokenRequestSerializer,
    TokenSerializer,
)
from chatbot.schema import OperationSchema
from core.serializers import ErrorSerializer, SuccessSerializer

TOKEN_KEY_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,25}")


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


class TokenViewSet(ViewSet):
    """Your tokens: sign in for one, list them, revoke the one in use or any other."""

    schema = OperationSchema()
    lookup_url_kwarg = "token_key"
    # As ``<str:token_key>``: any key reaches the view, which answers 404 for a bad one.
    lookup_value_regex = "[^/]+"
    throttle_scope = "token"

    def _signing_in(self) -> bool:
        action = getattr(self, "action", None)
        if not action:
            # DRF asks for the authenticators before it sets ``action``: read it off the method.
            action = self.action_map.get((self.request.method or "").lower())
        return action == "sign_in"

    def get_authenticators(self):
        # Signing in needs no credentials, and no CSRF token from a stale session cookie.
        return [] if self._signing_in() else super().get_authenticators()

    def get_permissions(self):
        return [AllowAny()] if self._signing_in() else super().get_permissions()

    def get_throttles(self):
        return [ScopedRateThrottle()] if self._signing_in() else []

    def get_authenticate_header(self, request) -> str:
        # Wrong credentials are 401 even though signing in itself takes no authenticator.
        return "Bearer"

    @extend_schema(
        operation_id="auth_token_create",
        summary="Get a token",
        description="Sign in with username (or email) and password; the token expires.",
        request=TokenRequestSerializer,
        responses={
            200: IssuedTokenSerializer,
            400: _error("Missing or malformed fields."),
            401: _error("Wrong username or password."),
            403: _error("The account signs in with two factors or single sign-on only."),
            429: _error("Too many attempts; see the Retry-After header."),
        },
        auth=[],
        tags=["auth"],
    )
    def sign_in(self, request):
        serializer = TokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        # allauth's adapter, not django.contrib.auth: wrong passwords sent here count towards
        # the same lockout as the login page, and a locked account gets no token.
        try:
            user = get_adapter(request._request).authenticate(
                request._request,
                username=serializer.validated_data["username"],
                password=serializer.validated_data["password"],
            )
        except DjangoValidationError as exc:
            raise Throttled(detail=" ".join(exc.messages)) from None
        if user is None:
            raise AuthenticationFailed("The username or password is not correct.")
        # A password alone must not pass a second factor: such accounts make tokens in Settings.
        if refusal := policy.token_refusal(user):
            raise PermissionDenied(refusal)
        issued = services.issue_token(user=user)
        payload = {
            "token": issued.token,
            "tokenKey": issued.record.token_key,
            "expiry": issued.record.expiry,
        }
        return Response(IssuedTokenSerializer(payload).data)

    @extend_schema(
        operation_id="auth_token_revoke",
        summary="Revoke the token making this request",
        responses={
            200: SuccessSerializer,
            400: _error("The request was not made with a token."),
            401: _error("Missing or invalid credentials."),
        },
        tags=["auth"],
    )
    def revoke_current(self, request):
        if request.auth is None:
            raise ValidationError({"non_field_errors": ["This request was not made with a token."]})
        services.revoke_token_record(request.auth)
        return Response({"success": True})

    @extend_schema(
        operation_id="auth_tokens_list",
        summary="List your tokens",
        description="Live tokens, newest first; secrets are never shown again.",
        responses={200: TokenSerializer(many=True), 401: _error("Missing credentials.")},
        tags=["auth"],
    )
    def list(self, request):
        tokens = services.tokens_for_user(request.user)
        context = {"current": request.auth}
        return Response(TokenSerializer(tokens, many=True, context=context).data)

    @extend_schema(
        operation_id="auth_tokens_revoke",
        summary="Revoke one of your tokens",
        parameters=[OpenApiParameter("token_key", OpenApiTypes.STR, OpenApiParameter.PATH)],
        request=None,
        responses={
            200: SuccessSerializer,
            401: _error("Missing credentials."),
            404: _error("No such token of yours."),
        },
        tags=["auth"],
    )
    def destroy(self, request, token_key):
        if not TOKEN_KEY_SHAPE.fullmatch(token_key) or not services.revoke_token(
            user=request.user, token_key=token_key
        ):
            raise NotFound("Token not found.")
        return Response({"success": True})
