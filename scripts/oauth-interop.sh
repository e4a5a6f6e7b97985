#!/usr/bin/env bash
# Drives the IdP's token endpoint with an independent OAuth 2.0 client
# library (Python's Authlib), for both client authentication methods
# (client_secret_basic and client_secret_post), and verifies the issued
# token with Authlib's own JOSE implementation against /jwks alone.
# Installs Authlib into a virtualenv under target/ on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=target/interop-venv
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check 'authlib>=1.3,<2' 'requests>=2.31,<3'
fi

cargo build --quiet --bin idp
WORK=$(mktemp -d "${TMPDIR:-/tmp}/idp-interop.XXXXXX")
IDP_PID=
cleanup() { [ -n "$IDP_PID" ] && kill "$IDP_PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

export IDP_DB="$WORK/idp.db" IDP_LOG=warn
SECRET=$(target/debug/idp clients create --id interop --scope "api:read api:write" 2>/dev/null | awk '/^client_secret:/ {print $2}')
target/debug/idp serve --bind 127.0.0.1:0 >"$WORK/out" 2>"$WORK/err" &
IDP_PID=$!
for _ in $(seq 1 300); do [ -s "$WORK/out" ] && break; sleep 0.1; done
ISSUER="http://$(awk 'NR==1 {print $4}' "$WORK/out")"

PYTHONWARNINGS=ignore ISSUER=$ISSUER CLIENT_SECRET=$SECRET "$VENV/bin/python" - <<'PY'
import os, sys, time
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.integrations.base_client.errors import OAuthError
from authlib.jose import JsonWebKey, jwt

issuer = os.environ["ISSUER"]
secret = os.environ["CLIENT_SECRET"]
meta = requests.get(issuer + "/.well-known/oauth-authorization-server", timeout=5).json()
assert meta["issuer"] == issuer, meta
keys = JsonWebKey.import_key_set(requests.get(meta["jwks_uri"], timeout=5).json())

passed = failed = 0
def check(name, condition, detail=""):
    global passed, failed
    if condition:
        passed += 1
        print(f"  ok    {name}")
    else:
        failed += 1
        print(f"  FAIL  {name} {detail}")

for method in ("client_secret_basic", "client_secret_post"):
    session = OAuth2Session("interop", secret, token_endpoint_auth_method=method, scope="api:read")
    token = session.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
    check(f"{method}: token issued", token.get("token_type") == "Bearer", token)
    check(f"{method}: requested scope granted", token.get("scope") == "api:read", token)
    claims = jwt.decode(token["access_token"], keys)
    claims.validate(now=time.time())
    check(f"{method}: signature verifies against /jwks", claims["iss"] == issuer and claims["sub"] == "interop", dict(claims))
    check(f"{method}: RFC 9068 typ", claims.header.get("typ") == "at+jwt", claims.header)

    bad = OAuth2Session("interop", "wrong-secret", token_endpoint_auth_method=method)
    try:
        bad.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
        check(f"{method}: wrong secret refused", False, "token was issued")
    except OAuthError as e:
        check(f"{method}: wrong secret refused with invalid_client", e.error == "invalid_client", e.error)

    wide = OAuth2Session("interop", secret, token_endpoint_auth_method=method, scope="admin")
    try:
        wide.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
        check(f"{method}: unknown scope refused", False, "token was issued")
    except OAuthError as e:
        check(f"{method}: unknown scope refused with invalid_scope", e.error == "invalid_scope", e.error)

print(f"oauth-interop: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
