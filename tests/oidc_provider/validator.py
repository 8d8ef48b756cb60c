"""The provider's claims: the user's name, email and groups (the custom
claim Flowdeck maps to project roles), and the faults a test asks for."""

from __future__ import annotations

import json
import time
from typing import Any

from django.contrib.auth.models import Group
from oauth2_provider.oauth2_validators import OAuth2Validator

# What the next ID tokens get wrong, set by the tests through /control/:
# {"aud": "...", "iat_offset": seconds, "tamper": true}.
FAULTS: dict[str, Any] = {}


class GroupsValidator(OAuth2Validator):
    # Every claim below goes out whatever the scopes asked for: the tests are
    # about what the relying party does with them.
    oidc_claim_scope = None

    def get_additional_claims(self, request: Any) -> dict[str, Any]:
        user = request.user
        return {
            "preferred_username": user.username,
            "email": user.email,
            "groups": sorted(
                Group.objects.filter(user=user).values_list("name", flat=True)
            ),
        }

    def finalize_id_token(
        self, id_token: dict[str, Any], token: Any, token_handler: Any, request: Any
    ) -> str:
        """django-oauth-toolkit's, with the requested faults applied to the
        claims before signing (or to the signed token, for a tampered one)."""
        from jwcrypto import jwt

        claims, expiration_time = self.get_id_token_dictionary(
            token, token_handler, request
        )
        id_token.update(**claims)
        if "nonce" not in id_token and request.nonce:
            id_token["nonce"] = request.nonce
        for claim in ("aud", "azp"):
            if claim in FAULTS:
                id_token[claim] = FAULTS[claim]
        offset = int(FAULTS.get("iat_offset", 0))
        if offset:
            now = int(time.time()) + offset
            id_token["iat"] = now
            id_token["exp"] = now + 300
            id_token["auth_time"] = now
        header = {
            "typ": "JWT",
            "alg": request.client.algorithm,
            "kid": request.client.jwk_key.thumbprint(),
        }
        signed = jwt.JWT(
            header=json.dumps(header, default=str),
            claims=json.dumps(id_token, default=str),
        )
        signed.make_signed_token(request.client.jwk_key)
        saved = self._save_id_token(id_token["jti"], request, expiration_time)
        request.access_token = saved
        request.id_token = saved
        serialized: str = signed.serialize()
        if FAULTS.get("tamper"):
            serialized = _with_claim_changed(serialized, "preferred_username", "root")
        return serialized


def _with_claim_changed(serialized: str, name: str, value: str) -> str:
    """The same signature over a changed payload: what an attacker who edits
    a token in flight sends."""
    import base64

    head, payload, signature = serialized.split(".")
    padded = payload + "=" * (-len(payload) % 4)
    claims = json.loads(base64.urlsafe_b64decode(padded))
    claims[name] = value
    changed = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
    return f"{head}.{changed.decode()}.{signature}"
