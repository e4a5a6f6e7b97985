#!/usr/bin/env bash
# Validates the IdP's OpenAPI document with an independent validator
# (Python's openapi-spec-validator, against the OpenAPI 3.1 schema), as
# `idp openapi` prints it — the very text `GET /openapi.json` serves.
# Nothing is started. The route coverage check (every route the router
# serves is documented, and only those) is `idp/tests/openapi.rs`, part
# of `cargo test --workspace`.
# Installs the validator into a virtualenv under target/ on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=target/openapi-venv
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check 'openapi-spec-validator>=0.7,<0.8'
fi

cargo build --quiet --bin idp
OUT=target/openapi.json
target/debug/idp openapi >"$OUT"
"$VENV/bin/python" -m openapi_spec_validator --schema 3.1 --errors all "$OUT"
echo "openapi: $(jq -r '.openapi' "$OUT"), $(jq '[.paths[] | keys[]] | length' "$OUT") operations on $(jq '.paths | length' "$OUT") paths: valid"
