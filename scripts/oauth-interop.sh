#!/usr/bin/env bash
# Drives the IdP's token endpoint with an independent OAuth 2.0 client
# library (Python's Authlib), for both client authentication methods
# (client_secret_basic and client_secret_post), and verifies the issued
# token with Authlib's own JOSE implementation against /jwks alone. Then
# the OpenID Connect code flow as an Authlib relying party: discovery
# validated by Authlib's metadata classes, PKCE S256, the sign-in form
# submitted by a plain HTTP session as a browser would, and the ID token
# verified by Authlib (signature via /jwks, iss, aud, nonce, at_hash), for
# a confidential and a public client.
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
# Redirect URIs nothing listens on: the relying party reads the code from
# the redirect's Location and never follows it.
RP_SECRET=$(target/debug/idp clients create --id rp --scope "" --redirect-uri http://127.0.0.1:9/cb 2>/dev/null | awk '/^client_secret:/ {print $2}')
target/debug/idp clients create --id rp-spa --public --redirect-uri http://127.0.0.1/spa >/dev/null 2>&1
target/debug/idp serve --bind 127.0.0.1:0 >"$WORK/out" 2>"$WORK/err" &
IDP_PID=$!
for _ in $(seq 1 300); do [ -s "$WORK/out" ] && break; sleep 0.1; done
ISSUER="http://$(awk 'NR==1 {print $4}' "$WORK/out")"

PYTHONWARNINGS=ignore ISSUER=$ISSUER CLIENT_SECRET=$SECRET RP_SECRET=$RP_SECRET "$VENV/bin/python" - <<'PY'
import os, sys, time
from html.parser import HTMLParser
from urllib.parse import urlparse, parse_qs
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.integrations.base_client.errors import OAuthError
from authlib.jose import JsonWebKey, jwt
from authlib.common.security import generate_token
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from authlib.oidc.core import CodeIDToken
from authlib.oidc.discovery import OpenIDProviderMetadata

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

# --- OpenID Connect: discovery, the code flow with PKCE, the ID token ---
oidc = requests.get(issuer + "/.well-known/openid-configuration", timeout=5).json()
for cls in (AuthorizationServerMetadata, OpenIDProviderMetadata):
    try:
        cls(oidc).validate()
        check(f"discovery validates as {cls.__name__}", True)
    except Exception as e:
        check(f"discovery validates as {cls.__name__}", False, repr(e))

class Form(HTMLParser):
    """The hidden fields of the sign-in page's form."""
    def __init__(self):
        super().__init__()
        self.fields = {}
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input" and a.get("type") == "hidden":
            self.fields[a["name"]] = a.get("value", "")

def code_flow(client_id, client_secret, redirect_uri, auth_method):
    session = OAuth2Session(client_id, client_secret, scope="openid profile email",
                            redirect_uri=redirect_uri, code_challenge_method="S256",
                            token_endpoint_auth_method=auth_method)
    verifier, nonce = generate_token(48), generate_token(20)
    url, state = session.create_authorization_url(oidc["authorization_endpoint"],
                                                  code_verifier=verifier, nonce=nonce)
    browser = requests.Session()
    page = browser.get(url, allow_redirects=False, timeout=5)
    form = Form(); form.feed(page.text)
    check(f"{auth_method}: sign-in page with a CSRF field", page.status_code == 200 and "csrf_token" in form.fields, page.status_code)
    answer = browser.post(issuer + "/signin", allow_redirects=False, timeout=5,
                          data={**form.fields, "email": "rp-user@example.com", "password": "correct horse battery"})
    callback = answer.headers.get("Location", "")
    params = parse_qs(urlparse(callback).query)
    check(f"{auth_method}: redirected with code, state and iss (RFC 9207)",
          answer.status_code == 303 and params.get("state") == [state] and params.get("iss") == [issuer], callback)
    token = session.fetch_token(oidc["token_endpoint"], authorization_response=callback,
                                state=state, code_verifier=verifier)
    claims = jwt.decode(token["id_token"], keys, claims_cls=CodeIDToken,
                        claims_options={"iss": {"essential": True, "value": issuer},
                                        "aud": {"essential": True, "value": client_id}},
                        claims_params={"nonce": nonce, "client_id": client_id,
                                       "access_token": token["access_token"]})
    try:
        claims.validate(now=time.time())
        check(f"{auth_method}: ID token verifies (signature via /jwks, iss, aud, nonce, at_hash)", True)
    except Exception as e:
        check(f"{auth_method}: ID token verifies", False, repr(e))
    check(f"{auth_method}: ID token typ JWT with email and name", claims.header.get("typ") == "JWT"
          and claims.get("email") == "rp-user@example.com" and claims.get("name") == "RP User", dict(claims))
    info = session.get(oidc["userinfo_endpoint"], timeout=5).json()
    check(f"{auth_method}: userinfo answers for the same subject", info.get("sub") == claims["sub"], info)
    try:
        session.fetch_token(oidc["token_endpoint"], authorization_response=callback,
                            state=state, code_verifier=verifier)
        check(f"{auth_method}: a replayed code is refused", False, "tokens were issued")
    except OAuthError as e:
        check(f"{auth_method}: a replayed code is refused with invalid_grant", e.error == "invalid_grant", e.error)

requests.post(issuer + "/user", json={"email": "rp-user@example.com", "name": "RP User",
                                      "password": "correct horse battery"}, timeout=5)
code_flow("rp", os.environ["RP_SECRET"], "http://127.0.0.1:9/cb", "client_secret_basic")
code_flow("rp-spa", None, "http://127.0.0.1:51234/spa", "none")

print(f"oauth-interop: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
