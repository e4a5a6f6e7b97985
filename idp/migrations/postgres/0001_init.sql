-- The PostgreSQL schema, table for table the SQLite one in ../0001_init.sql:
-- BYTEA for blobs, BIGINT for Unix seconds, BOOLEAN for flags. Applied in
-- one transaction by the IdP at start-up and recorded in schema_migrations.

-- Users who sign up and log in. Email is unique without regard to case:
-- lookups compare lower(email), which this index serves.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL,
    name          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    scope         TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL
);
CREATE UNIQUE INDEX users_email_lower ON users (lower(email));

-- RSA signing keys. Every IdP instance on this database signs with the one
-- `current` key and publishes all of them.
CREATE TABLE signing_keys (
    kid          TEXT PRIMARY KEY,
    state        TEXT NOT NULL CHECK (state IN ('next', 'current', 'retired')),
    private_key  BYTEA NOT NULL,
    encrypted    BOOLEAN NOT NULL DEFAULT FALSE,
    public_jwk   TEXT NOT NULL,
    bits         INTEGER NOT NULL,
    created_at   BIGINT NOT NULL,
    activated_at BIGINT,
    retired_at   BIGINT
);
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys (state) WHERE state = 'current';
CREATE UNIQUE INDEX signing_keys_one_next ON signing_keys (state) WHERE state = 'next';

-- Monotonic counters that running instances poll to notice changes made by
-- other processes (a rotation from the CLI, say). Key writers also lock the
-- `signing_keys` row first, so that rotations on several instances take turns.
CREATE TABLE change_counters (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO change_counters (name, value) VALUES ('signing_keys', 0), ('revocations', 0);

-- Bumps the counter named by the trigger's argument, once per changed row,
-- as the SQLite triggers do.
CREATE FUNCTION bump_change_counter() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE change_counters SET value = value + 1 WHERE name = TG_ARGV[0];
    RETURN NULL;
END;
$$;

CREATE TRIGGER signing_keys_changed AFTER INSERT OR UPDATE OR DELETE ON signing_keys
FOR EACH ROW EXECUTE FUNCTION bump_change_counter('signing_keys');

-- OAuth 2.0 clients. Secrets are 256-bit random values, stored as SHA-256.
CREATE TABLE clients (
    client_id   TEXT PRIMARY KEY,
    secret_hash BYTEA NOT NULL,
    scope       TEXT NOT NULL,
    admin       BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  BIGINT NOT NULL
);

-- Refresh tokens, stored as SHA-256 digests. A family is one login session;
-- every use rotates the token within its family.
CREATE TABLE refresh_tokens (
    token_hash BYTEA PRIMARY KEY,
    family_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL,
    scope      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT,
    revoked_at BIGINT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_expiry ON refresh_tokens (expires_at);

-- Revoked access tokens, kept until the token would have expired anyway.
CREATE TABLE revoked_tokens (
    jti        TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT NOT NULL
);
CREATE INDEX revoked_tokens_expiry ON revoked_tokens (expires_at);

-- Only inserted rows count: ON CONFLICT DO NOTHING skips a row trigger, as
-- INSERT OR IGNORE skips SQLite's.
CREATE TRIGGER revocations_changed AFTER INSERT ON revoked_tokens
FOR EACH ROW EXECUTE FUNCTION bump_change_counter('revocations');
