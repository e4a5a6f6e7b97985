#!/usr/bin/env bash
# The whole flow, end to end, on loopback: build, start the identity
# provider and the resource server on free ports with a throw-away data
# directory, then sign up, log in, fetch /jwks, call the resource server,
# use the client registry and client_credentials, refresh, log out, sign in
# through the browser flow (OpenID Connect authorization code with PKCE,
# driven with curl: a cookie jar, form posts), rotate keys while everything
# keeps running, disable a user (the resource server refuses their token)
# and log in with a TOTP second factor whose codes are computed here. Every
# step prints its HTTP status; any unexpected answer stops the demo with a
# non-zero exit.
set -euo pipefail

cd "$(dirname "$0")/.."
for tool in cargo curl jq openssl python3; do
  command -v "$tool" >/dev/null || { echo "demo needs $tool on PATH" >&2; exit 1; }
done

# shellcheck source=scripts/lib/stack.sh
source scripts/lib/stack.sh
echo "== building"
stack_bins dev
stack_workdir demo

# step DESCRIPTION EXPECTED_STATUS CURL_ARGS... ; the body is left in $WORK/body
step() {
  local what=$1 expected=$2; shift 2
  local status
  status=$(curl -sS -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' "$@")
  if [ "$status" = "$expected" ]; then
    printf '  %-62s %s\n' "$what" "$status"
  else
    printf '  %-62s %s (expected %s)\n' "$what" "$status" "$expected"
    sed 's/^/      /' "$WORK/body"; echo
    exit 1
  fi
}
body() { jq -r "$1" "$WORK/body"; }
# The Location header of the last step.
location() { awk 'tolower($1) == "location:" {print $2}' "$WORK/headers" | tr -d '\r'; }

# Short cache lifetimes so that a rotation can be shown in seconds rather
# than the production minutes; the mechanism is the same.
export IDP_DB="$WORK/idp.db" IDP_OUTBOX="$WORK/outbox" IDP_BCRYPT_COST=10 IDP_LOG=warn RUST_LOG=warn
export IDP_JWKS_MAX_AGE=2 IDP_KEY_POLL=1

echo "== identity provider"
stack_start "$WORK/idp" "$BIN/idp" serve --bind 127.0.0.1:0
IDP="http://$ADDR"
IDP_PID=${PIDS[-1]}
echo "  idp at $IDP"

EMAIL="ada.$RANDOM@example.com"
step "POST /user (signup $EMAIL)" 201 -X POST "$IDP/user" \
  -H 'content-type: application/json' \
  -d "{\"email\":\"$EMAIL\",\"name\":\"Ada Lovelace\",\"password\":\"correct horse battery\"}"
step "POST /user again (same email)" 409 -X POST "$IDP/user" \
  -H 'content-type: application/json' \
  -d "{\"email\":\"$EMAIL\",\"name\":\"Ada\",\"password\":\"correct horse battery\"}"
step "POST /login (wrong password)" 401 -X POST "$IDP/login" \
  -H 'content-type: application/json' -d "{\"email\":\"$EMAIL\",\"password\":\"not my password\"}"
step "POST /login" 200 -X POST "$IDP/login" \
  -H 'content-type: application/json' -d "{\"email\":\"$EMAIL\",\"password\":\"correct horse battery\"}"
USER_TOKEN=$(body .access_token)
REFRESH_TOKEN=$(body .refresh_token)
echo "      scope: $(body .scope), expires_in: $(body .expires_in)s"
step "POST /login (HTTP Basic)" 200 -X POST "$IDP/login" -u "$EMAIL:correct horse battery"
step "GET /jwks" 200 "$IDP/jwks"
echo "      published kids: $(body '[.keys[].kid] | join(", ")')"
step "GET /.well-known/openid-configuration" 200 "$IDP/.well-known/openid-configuration"
echo "      issuer: $(body .issuer)"

# The kid in a JWT's header (base64url, padding restored).
kid_of() {
  local h; h=$(cut -d. -f1 <<<"$1" | tr '_-' '/+')
  while [ $(( ${#h} % 4 )) -ne 0 ]; do h="$h="; done
  base64 -d <<<"$h" | jq -r .kid
}

echo
echo "== resource server (validates locally against the cached /jwks)"
stack_start "$WORK/rs" "$BIN/resource-server" --bind 127.0.0.1:0 --issuer "$IDP" \
  --revocation-poll 1 --jwks-min-ttl 1
RS="http://$ADDR"
echo "  resource server at $RS"
step "GET /api/public (no token)" 200 "$RS/api/public"
step "GET /user/profile (no token)" 401 "$RS/user/profile"
step "GET /user/profile (login token)" 200 "$RS/user/profile" -H "authorization: Bearer $USER_TOKEN"
echo "      $(jq -c .user "$WORK/body")"
step "GET /api/private (login token)" 200 "$RS/api/private" -H "authorization: Bearer $USER_TOKEN"
step "GET /api/private-scoped (login token, no api:read)" 403 "$RS/api/private-scoped" -H "authorization: Bearer $USER_TOKEN"
step "GET /user/profile (tampered token)" 401 "$RS/user/profile" -H "authorization: Bearer ${USER_TOKEN%?}x"

echo
echo "== OAuth 2.0 clients"
"$BIN/idp" clients create --id demo-admin --admin 2>/dev/null >"$WORK/admin"
ADMIN_SECRET=$(awk '/^client_secret:/ {print $2}' "$WORK/admin")
echo "  idp clients create --id demo-admin --admin (secret printed once)"
step "POST /token client_credentials (admin client)" 200 -u "demo-admin:$ADMIN_SECRET" \
  -d grant_type=client_credentials "$IDP/token"
ADMIN_TOKEN=$(body .access_token)
step "POST /clients (register reports-svc)" 201 -X POST "$IDP/clients" \
  -H "authorization: Bearer $ADMIN_TOKEN" -H 'content-type: application/json' \
  -d '{"client_id":"reports-svc","scope":"api:read"}'
SVC_SECRET=$(body .client_secret)
step "POST /clients with a non-admin token" 403 -X POST "$IDP/clients" \
  -H "authorization: Bearer $USER_TOKEN" -H 'content-type: application/json' \
  -d '{"client_id":"sneaky","scope":"admin"}'
step "POST /token client_credentials (client_secret_post)" 200 \
  -d grant_type=client_credentials -d client_id=reports-svc -d "client_secret=$SVC_SECRET" "$IDP/token"
SVC_TOKEN=$(body .access_token)
echo "      scope: $(body .scope)"
step "POST /token with a wrong secret" 401 -u "reports-svc:wrong" -d grant_type=client_credentials "$IDP/token"
step "GET /api/private-scoped (service token)" 200 "$RS/api/private-scoped" -H "authorization: Bearer $SVC_TOKEN"
step "POST /introspect (service token)" 200 -u "reports-svc:$SVC_SECRET" -d "token=$SVC_TOKEN" "$IDP/introspect"
echo "      active: $(body .active), client_id: $(body .client_id)"

echo
echo "== sessions"
step "POST /token refresh_token" 200 -d grant_type=refresh_token -d "refresh_token=$REFRESH_TOKEN" "$IDP/token"
NEW_REFRESH=$(body .refresh_token)
USER_TOKEN=$(body .access_token)
step "POST /token with the used refresh token (reuse)" 400 -d grant_type=refresh_token -d "refresh_token=$REFRESH_TOKEN" "$IDP/token"
echo "      $(body .error): $(body .error_description)"
step "POST /token with its successor (family revoked)" 400 -d grant_type=refresh_token -d "refresh_token=$NEW_REFRESH" "$IDP/token"
step "POST /login again" 200 -X POST "$IDP/login" -u "$EMAIL:correct horse battery"
USER_TOKEN=$(body .access_token)
step "GET /user/profile (new session)" 200 "$RS/user/profile" -H "authorization: Bearer $USER_TOKEN"
step "POST /logout" 200 -X POST "$IDP/logout" -H "authorization: Bearer $USER_TOKEN"
for _ in $(seq 1 50); do
  code=$(curl -s -o /dev/null -w '%{http_code}' "$RS/user/profile" -H "authorization: Bearer $USER_TOKEN")
  [ "$code" = 401 ] && break
  sleep 0.1
done
step "GET /user/profile (logged-out token, via the revocation feed)" 401 "$RS/user/profile" -H "authorization: Bearer $USER_TOKEN"

echo
echo "== browser sign-in: OpenID Connect authorization code flow with PKCE (curl as the browser)"
"$BIN/idp" clients create --id demo-web --scope "" --redirect-uri http://127.0.0.1:9/cb \
  --post-logout-redirect-uri http://127.0.0.1:9/bye 2>/dev/null >"$WORK/web"
WEB_SECRET=$(awk '/^client_secret:/ {print $2}' "$WORK/web")
echo "  idp clients create --id demo-web --redirect-uri http://127.0.0.1:9/cb (a web app)"
JAR="$WORK/cookies"
VERIFIER=$(openssl rand -base64 48 | tr '+/' '-_' | tr -d '=\n')
CHALLENGE=$(printf %s "$VERIFIER" | openssl dgst -binary -sha256 | base64 | tr '+/' '-_' | tr -d '=\n')
AUTH_PARAMS=(--data-urlencode response_type=code --data-urlencode client_id=demo-web
  --data-urlencode redirect_uri=http://127.0.0.1:9/cb --data-urlencode "scope=openid profile email"
  --data-urlencode state=demo-state --data-urlencode nonce=demo-nonce
  --data-urlencode "code_challenge=$CHALLENGE" --data-urlencode code_challenge_method=S256)
step "GET /authorize (no session: the sign-in page)" 200 -G -c "$JAR" -b "$JAR" "$IDP/authorize" "${AUTH_PARAMS[@]}"
CSRF=$(grep -o 'name="csrf_token" value="[^"]*"' "$WORK/body" | sed 's/.*value="//; s/"$//')
step "POST /signin (wrong password: the form again)" 200 -c "$JAR" -b "$JAR" "$IDP/signin" \
  "${AUTH_PARAMS[@]}" --data-urlencode "csrf_token=$CSRF" --data-urlencode "email=$EMAIL" --data-urlencode "password=wrong password"
step "POST /signin without its CSRF token" 403 -c "$JAR" -b "$JAR" "$IDP/signin" \
  "${AUTH_PARAMS[@]}" --data-urlencode "email=$EMAIL" --data-urlencode "password=correct horse battery"
step "POST /signin (back to the app with a code)" 303 -c "$JAR" -b "$JAR" "$IDP/signin" \
  "${AUTH_PARAMS[@]}" --data-urlencode "csrf_token=$CSRF" --data-urlencode "email=$EMAIL" --data-urlencode "password=correct horse battery"
CALLBACK=$(location)
CODE=$(sed -n 's/.*[?&]code=\([^&]*\).*/\1/p' <<<"$CALLBACK")
echo "      $(cut -d'?' -f1 <<<"$CALLBACK")?code=…&state=$(sed -n 's/.*[?&]state=\([^&]*\).*/\1/p' <<<"$CALLBACK")&iss=…"
step "POST /token authorization_code (+ code_verifier)" 200 -u "demo-web:$WEB_SECRET" "$IDP/token" \
  -d grant_type=authorization_code --data-urlencode "code=$CODE" \
  --data-urlencode redirect_uri=http://127.0.0.1:9/cb --data-urlencode "code_verifier=$VERIFIER"
WEB_ACCESS=$(body .access_token)
ID_TOKEN=$(body .id_token)
payload() {
  local p; p=$(cut -d. -f2 <<<"$1" | tr '_-' '/+')
  while [ $(( ${#p} % 4 )) -ne 0 ]; do p="$p="; done
  base64 -d <<<"$p"
}
echo "      id_token: $(payload "$ID_TOKEN" | jq -c '{aud, nonce, email, email_verified, name}')"
step "GET /userinfo (code-flow access token)" 200 "$IDP/userinfo" -H "authorization: Bearer $WEB_ACCESS"
echo "      $(jq -c . "$WORK/body")"
step "GET /user/profile at the resource server" 200 "$RS/user/profile" -H "authorization: Bearer $WEB_ACCESS"
step "POST /token with the same code again (replay)" 400 -u "demo-web:$WEB_SECRET" "$IDP/token" \
  -d grant_type=authorization_code --data-urlencode "code=$CODE" \
  --data-urlencode redirect_uri=http://127.0.0.1:9/cb --data-urlencode "code_verifier=$VERIFIER"
echo "      $(body .error): $(body .error_description)"
for _ in $(seq 1 50); do
  code=$(curl -s -o /dev/null -w '%{http_code}' "$RS/user/profile" -H "authorization: Bearer $WEB_ACCESS")
  [ "$code" = 401 ] && break
  sleep 0.1
done
step "GET /user/profile (token of the replayed code, via the feed)" 401 "$RS/user/profile" -H "authorization: Bearer $WEB_ACCESS"
step "GET /authorize again (single sign-on: no form)" 303 -G -c "$JAR" -b "$JAR" "$IDP/authorize" "${AUTH_PARAMS[@]}"
step "GET /end_session (id_token_hint, registered return)" 303 -G -c "$JAR" -b "$JAR" "$IDP/end_session" \
  --data-urlencode "id_token_hint=$ID_TOKEN" --data-urlencode post_logout_redirect_uri=http://127.0.0.1:9/bye \
  --data-urlencode state=bye
echo "      -> $(location)"
step "GET /authorize prompt=none (signed out)" 303 -G -c "$JAR" -b "$JAR" "$IDP/authorize" "${AUTH_PARAMS[@]}" \
  --data-urlencode prompt=none
echo "      error=$(sed -n 's/.*[?&]error=\([^&]*\).*/\1/p' <<<"$(location)")"

echo
echo "== key rotation while the resource server runs"
step "POST /login" 200 -X POST "$IDP/login" -u "$EMAIL:correct horse battery"
BEFORE=$(body .access_token)
echo "      token signed by $(kid_of "$BEFORE")"
sleep 2   # the next key has now been published for a full max-age
"$BIN/idp" keys rotate | sed -n 1p | sed 's/^/  idp keys rotate: /'
kill -HUP "$IDP_PID"   # reload at once instead of within --key-poll
sleep 0.3
step "POST /login" 200 -X POST "$IDP/login" -u "$EMAIL:correct horse battery"
AFTER=$(body .access_token)
echo "      token signed by $(kid_of "$AFTER")"
[ "$(kid_of "$BEFORE")" != "$(kid_of "$AFTER")" ] || { echo "  the IdP still signs with the old key" >&2; exit 1; }
step "GET /user/profile (token from before the rotation)" 200 "$RS/user/profile" -H "authorization: Bearer $BEFORE"
step "GET /user/profile (token from after the rotation)" 200 "$RS/user/profile" -H "authorization: Bearer $AFTER"
step "GET /jwks (retired, current and next published)" 200 "$IDP/jwks"
echo "      $(body '.keys | length') keys"

echo
echo "== accounts: an administrator disables a user"
step "POST /login" 200 -X POST "$IDP/login" -u "$EMAIL:correct horse battery"
USER_TOKEN=$(body .access_token)
step "GET /userinfo" 200 "$IDP/userinfo" -H "authorization: Bearer $USER_TOKEN"
USER_ID=$(body .sub)
step "GET /user/profile (before)" 200 "$RS/user/profile" -H "authorization: Bearer $USER_TOKEN"
step "POST /token client_credentials (admin client)" 200 -u "demo-admin:$ADMIN_SECRET" \
  -d grant_type=client_credentials "$IDP/token"
ADMIN_TOKEN=$(body .access_token)
step "GET /admin/users" 200 "$IDP/admin/users?limit=10" -H "authorization: Bearer $ADMIN_TOKEN"
echo "      $(body '.users | length') user(s)"
step "PATCH /admin/users/{id} {\"disabled\": true}" 200 -X PATCH "$IDP/admin/users/$USER_ID" \
  -H "authorization: Bearer $ADMIN_TOKEN" -H 'content-type: application/json' -d '{"disabled":true}'
for _ in $(seq 1 50); do
  code=$(curl -s -o /dev/null -w '%{http_code}' "$RS/user/profile" -H "authorization: Bearer $USER_TOKEN")
  [ "$code" = 401 ] && break
  sleep 0.1
done
step "GET /user/profile (disabled user's token, via the feed)" 401 "$RS/user/profile" -H "authorization: Bearer $USER_TOKEN"
step "POST /login (disabled, right password)" 403 -X POST "$IDP/login" -u "$EMAIL:correct horse battery"
echo "      $(body .error)"
step "PATCH /admin/users/{id} {\"disabled\": false}" 200 -X PATCH "$IDP/admin/users/$USER_ID" \
  -H "authorization: Bearer $ADMIN_TOKEN" -H 'content-type: application/json' -d '{"disabled":false}'

# An authenticator app's code (RFC 6238: HMAC-SHA-1, 30 s steps, 6 digits)
# for the base32 secret $1, $2 steps from now.
totp() {
  python3 - "$1" "$2" <<'PY'
import base64, hashlib, hmac, struct, sys, time
secret = sys.argv[1]
key = base64.b32decode(secret + "=" * (-len(secret) % 8))
step = int(time.time()) // 30 + int(sys.argv[2])
mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
offset = mac[-1] & 0x0F
value = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
print(f"{value % 1_000_000:06d}")
PY
}

echo
echo "== a TOTP second factor"
step "POST /login" 200 -X POST "$IDP/login" -u "$EMAIL:correct horse battery"
USER_TOKEN=$(body .access_token)
step "POST /account/totp {}" 200 -X POST "$IDP/account/totp" \
  -H "authorization: Bearer $USER_TOKEN" -H 'content-type: application/json' -d '{}'
SECRET=$(body .secret)
echo "      $(body .otpauth_uri | sed 's/secret=[A-Z0-9]*/secret=.../')"
step "POST /account/totp/confirm (code from the secret)" 200 -X POST "$IDP/account/totp/confirm" \
  -H "authorization: Bearer $USER_TOKEN" -H 'content-type: application/json' \
  -d "{\"code\":\"$(totp "$SECRET" 0)\"}"
echo "      $(body '.recovery_codes | length') recovery codes"
step "POST /login (password only)" 401 -X POST "$IDP/login" -u "$EMAIL:correct horse battery"
echo "      $(body .error)"
MFA_TOKEN=$(body .mfa_token)
NEXT_CODE=$(totp "$SECRET" 1)
step "POST /login/mfa (next code)" 200 -X POST "$IDP/login/mfa" -H 'content-type: application/json' \
  -d "{\"mfa_token\":\"$MFA_TOKEN\",\"code\":\"$NEXT_CODE\"}"
STRONG_TOKEN=$(body .access_token)
claims() {
  local p; p=$(cut -d. -f2 <<<"$1" | tr '_-' '/+')
  while [ $(( ${#p} % 4 )) -ne 0 ]; do p="$p="; done
  base64 -d <<<"$p"
}
echo "      amr: $(claims "$STRONG_TOKEN" | jq -c .amr), acr: $(claims "$STRONG_TOKEN" | jq -r .acr)"
step "GET /user/profile (two-factor token)" 200 "$RS/user/profile" -H "authorization: Bearer $STRONG_TOKEN"
step "POST /login" 401 -X POST "$IDP/login" -u "$EMAIL:correct horse battery"
MFA_TOKEN=$(body .mfa_token)
step "POST /login/mfa (the same code again)" 401 -X POST "$IDP/login/mfa" -H 'content-type: application/json' \
  -d "{\"mfa_token\":\"$MFA_TOKEN\",\"code\":\"$NEXT_CODE\"}"
echo "      $(body .error)"

echo
echo "demo finished: every step answered as expected"
