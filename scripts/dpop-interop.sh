#!/usr/bin/env bash
# An independent DPoP client (RFC 9449) against the real binaries: Python's
# joserfc makes the client's P-256 key and every proof, obtains a
# DPoP-bound token from the IdP's /token (client_credentials, resource=
# the demo API), and calls the demo API started with --require-dpop. It
# checks the binding (cnf.jkt is the key's RFC 7638 thumbprint, verified
# against /jwks with joserfc), the API's RFC 9728 metadata, and that the
# API refuses what RFC 9449 says to refuse: a bearer token, a replayed
# proof, a proof for another method or URL, a stale one, one without ath,
# one by another key. Installs joserfc into a virtualenv under target/.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=target/dpop-venv
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check 'joserfc>=1.0,<2' 'requests>=2.31,<3'
fi

cargo build --quiet --bin idp --bin resource-server
WORK=$(mktemp -d "${TMPDIR:-/tmp}/idp-dpop.XXXXXX")
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

# Waits for a server's "... listening on ADDR" line and prints ADDR.
addr_of() {
  for _ in $(seq 1 300); do
    [ -s "$1" ] && { awk 'NR==1 {print $4}' "$1"; return 0; }
    sleep 0.1
  done
  echo "server did not start: $(cat "$1.err" 2>/dev/null)" >&2
  return 1
}

export IDP_DB="$WORK/idp.db" IDP_LOG=warn RUST_LOG=warn
API=https://orders.dpop.test
SECRET=$(target/debug/idp clients create --id dpop-client --scope "api:read" 2>/dev/null | awk '/^client_secret:/ {print $2}')
target/debug/idp apis create --resource "$API" --scope "api:read" >/dev/null
target/debug/idp serve --bind 127.0.0.1:0 >"$WORK/idp" 2>"$WORK/idp.err" &
PIDS+=($!)
ISSUER="http://$(addr_of "$WORK/idp")"
target/debug/resource-server --bind 127.0.0.1:0 --issuer "$ISSUER" --audience "$API" \
  --require-dpop >"$WORK/rs" 2>"$WORK/rs.err" &
PIDS+=($!)
RS="http://$(addr_of "$WORK/rs")"

PYTHONWARNINGS=ignore ISSUER=$ISSUER RS=$RS API=$API CLIENT_SECRET=$SECRET "$VENV/bin/python" - <<'PY'
import base64, hashlib, os, sys, time, uuid
import requests
from joserfc import jwk, jwt

issuer, rs, api, secret = (os.environ[k] for k in ("ISSUER", "RS", "API", "CLIENT_SECRET"))
passed = failed = 0
def check(name, condition, detail=""):
    global passed, failed
    if condition:
        passed += 1
        print(f"  ok    {name}")
    else:
        failed += 1
        print(f"  FAIL  {name} {detail}")

key = jwk.ECKey.generate_key("P-256")
public = key.as_dict(private=False)

def proof(method, url, token=None, iat=None, jti=None, signer=None, ath=True):
    signer = signer or key
    claims = {"jti": jti or str(uuid.uuid4()), "htm": method, "htu": url,
              "iat": int(time.time()) if iat is None else iat}
    if token is not None and ath:
        digest = hashlib.sha256(token.encode()).digest()
        claims["ath"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": signer.as_dict(private=False)}
    return jwt.encode(header, claims, signer, algorithms=["ES256"])

meta = requests.get(issuer + "/.well-known/openid-configuration", timeout=5).json()
check("discovery advertises DPoP ES256", "ES256" in meta.get("dpop_signing_alg_values_supported", []), meta)
token_url = meta["token_endpoint"]
keys = jwk.KeySet.import_key_set(requests.get(meta["jwks_uri"], timeout=5).json())

answer = requests.post(token_url, auth=("dpop-client", secret), timeout=5,
                       data={"grant_type": "client_credentials", "resource": api},
                       headers={"DPoP": proof("POST", token_url)})
body = answer.json()
check("/token with a proof answers token_type DPoP", answer.status_code == 200 and body.get("token_type") == "DPoP", body)
token = body["access_token"]
claims = jwt.decode(token, keys, algorithms=["RS256"]).claims
check("the token is bound to the key (cnf.jkt = RFC 7638 thumbprint)", claims.get("cnf", {}).get("jkt") == key.thumbprint(), claims)
check("the token is for the API alone (aud)", claims.get("aud") == api, claims.get("aud"))

answer = requests.post(token_url, auth=("dpop-client", secret), timeout=5,
                       data={"grant_type": "client_credentials"},
                       headers={"DPoP": proof("GET", token_url)})
check("/token refuses a proof for another method", answer.status_code == 400 and answer.json().get("error") == "invalid_dpop_proof", answer.text)

metadata = requests.get(rs + "/.well-known/oauth-protected-resource", timeout=5).json()
check("the API's metadata names the resource and requires DPoP",
      metadata.get("resource") == api and metadata.get("dpop_bound_access_tokens_required") is True
      and issuer in metadata.get("authorization_servers", []), metadata)

url = rs + "/api/private"
def call(scheme="DPoP", the_proof=None, path="/api/private"):
    headers = {"Authorization": f"{scheme} {token}"}
    if the_proof is not None:
        headers["DPoP"] = the_proof
    return requests.get(rs + path, headers=headers, timeout=5)

good = proof("GET", url, token)
answer = call(the_proof=good)
check("the API accepts the bound token with a valid proof", answer.status_code == 200, answer.text)
answer = call(the_proof=proof("GET", rs + "/api/private-scoped", token), path="/api/private-scoped")
check("... and on the scoped route", answer.status_code == 200, answer.text)

def refused(name, answer, error):
    challenge = answer.headers.get("WWW-Authenticate", "")
    check(name, answer.status_code == 401 and challenge.startswith("DPoP ") and f'error="{error}"' in challenge,
          f"{answer.status_code} {challenge}")

refused("a replayed proof is refused", call(the_proof=good), "invalid_dpop_proof")
refused("a proof for another method is refused", call(the_proof=proof("POST", url, token)), "invalid_dpop_proof")
refused("a proof for another URL is refused", call(the_proof=proof("GET", rs + "/user/profile", token)), "invalid_dpop_proof")
refused("a stale proof is refused", call(the_proof=proof("GET", url, token, iat=int(time.time()) - 301)), "invalid_dpop_proof")
refused("a proof without ath is refused", call(the_proof=proof("GET", url, token, ath=False)), "invalid_dpop_proof")
other = jwk.ECKey.generate_key("P-256")
refused("a proof by another key is refused", call(the_proof=proof("GET", url, token, signer=other)), "invalid_dpop_proof")
answer = call(scheme="Bearer")
check("the bound token sent as Bearer is refused", answer.status_code == 401, answer.text)

plain = requests.post(token_url, auth=("dpop-client", secret), timeout=5,
                      data={"grant_type": "client_credentials", "resource": api}).json()
check("without a proof, /token answers Bearer", plain.get("token_type") == "Bearer", plain)
answer = requests.get(url, headers={"Authorization": f"Bearer {plain['access_token']}"}, timeout=5)
refused("the API started with --require-dpop refuses a bearer token", answer, "invalid_token")

print(f"dpop-interop: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
