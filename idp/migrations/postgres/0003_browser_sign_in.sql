-- Browser sign-in (OpenID Connect authorization code flow); the same tables
-- as ../sqlite/0003_browser_sign_in.sql.

-- Browser clients: where the IdP may send a browser back, whether the
-- client holds a secret, whether users approve its scopes. URIs are
-- space-separated (a valid URI has no spaces).
ALTER TABLE clients ADD COLUMN redirect_uris TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN public BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE clients ADD COLUMN consent BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE clients ADD COLUMN post_logout_redirect_uris TEXT NOT NULL DEFAULT '';

-- Signed-in browsers. The cookie holds a 256-bit secret stored only as its
-- SHA-256; `id` is the public session id (the ID token's `sid`).
CREATE TABLE browser_sessions (
    id          TEXT PRIMARY KEY,
    cookie_hash BYTEA NOT NULL UNIQUE,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    auth_time   BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    ended_at    BIGINT
);
CREATE INDEX browser_sessions_expiry ON browser_sessions (expires_at);

-- One row per authorization: the code (SHA-256 only) and what it is bound
-- to, and afterwards the tokens issued from it. `family_id` is the `sid` of
-- those access tokens and the family of their refresh tokens, so revoking
-- the grant reaches resource servers through the revocation feed.
CREATE TABLE grants (
    family_id       TEXT PRIMARY KEY,
    code_hash       BYTEA NOT NULL UNIQUE,
    client_id       TEXT NOT NULL,
    redirect_uri    TEXT NOT NULL,
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scope           TEXT NOT NULL,
    code_challenge  TEXT NOT NULL,
    nonce           TEXT,
    session_id      TEXT NOT NULL,
    auth_time       BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    code_expires_at BIGINT NOT NULL,
    code_used_at    BIGINT,
    expires_at      BIGINT NOT NULL,
    revoked_at      BIGINT
);
CREATE INDEX grants_session ON grants (session_id);
CREATE INDEX grants_expiry ON grants (expires_at);
CREATE INDEX grants_revoked ON grants (revoked_at) WHERE revoked_at IS NOT NULL;

CREATE TRIGGER grants_revoked AFTER UPDATE OF revoked_at ON grants
FOR EACH ROW WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL)
EXECUTE FUNCTION bump_change_counter('revocations');

-- Consent remembered per user, client and exact scope set (sorted).
CREATE TABLE consents (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL,
    scope      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id, scope)
);
