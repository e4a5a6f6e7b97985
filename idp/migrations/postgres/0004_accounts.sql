-- The PostgreSQL schema of ../sqlite/0004_accounts.sql, table for table.
-- Accounts that can be managed, and revocation that reaches everywhere:
-- disabled users and verified emails; one-time account tokens (password
-- reset, email verification, the step between a password and a second
-- factor); TOTP second factors with recovery codes; and cut-offs that
-- revoke every token of a client or of a user issued before a time.

-- A disabled user cannot sign in by any path; the time it happened.
ALTER TABLE users ADD COLUMN disabled_at BIGINT;
ALTER TABLE users ADD COLUMN email_verified BOOLEAN NOT NULL DEFAULT FALSE;
-- The user's tokens are issued with an `iat` no earlier than this: the
-- latest subject cut-off, so that a login in the same second as a cut-off
-- is not caught by it.
ALTER TABLE users ADD COLUMN tokens_not_before BIGINT NOT NULL DEFAULT 0;

-- How a session was authenticated: the `amr` of its tokens, space-separated.
ALTER TABLE refresh_tokens ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_client ON refresh_tokens (client_id);

-- Every token of a client (`kind` 'client', `id` its client_id) or of a
-- subject (`kind` 'subject', `id` the user id) with `iat` before
-- `issued_before` is refused, except those of the session `except_sid`.
-- Published in the revocation feed for one access-token lifetime.
CREATE TABLE token_cutoffs (
    kind          TEXT NOT NULL CHECK (kind IN ('client', 'subject')),
    id            TEXT NOT NULL,
    issued_before BIGINT NOT NULL,
    except_sid    TEXT,
    PRIMARY KEY (kind, id)
);
CREATE INDEX token_cutoffs_time ON token_cutoffs (issued_before);
CREATE TRIGGER token_cutoffs_changed AFTER INSERT OR UPDATE ON token_cutoffs
FOR EACH ROW EXECUTE FUNCTION bump_change_counter('revocations');

-- Single-use tokens mailed or handed to a user, stored as SHA-256 digests.
CREATE TABLE account_tokens (
    token_hash BYTEA PRIMARY KEY,
    purpose    TEXT NOT NULL CHECK (purpose IN ('password_reset', 'email_verification', 'mfa')),
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT,
    failures   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX account_tokens_user ON account_tokens (user_id, purpose);
CREATE INDEX account_tokens_expiry ON account_tokens (expires_at);

-- One TOTP factor per user (RFC 6238). The secret is sealed with
-- IDP_KEY_ENCRYPTION_KEY when set. `last_step` is the latest time step a
-- code was accepted for: no code of that step or an earlier one is taken
-- again.
CREATE TABLE totp_factors (
    user_id      TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret       BYTEA NOT NULL,
    encrypted    BOOLEAN NOT NULL,
    created_at   BIGINT NOT NULL,
    confirmed_at BIGINT,
    last_step    BIGINT NOT NULL DEFAULT 0
);

-- Single-use recovery codes, stored as SHA-256 digests.
CREATE TABLE recovery_codes (
    user_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash BYTEA NOT NULL,
    used_at   BIGINT,
    PRIMARY KEY (user_id, code_hash)
);
