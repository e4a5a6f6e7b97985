-- Users who sign up and log in. Email is unique without regard to case.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE COLLATE NOCASE,
    name          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    scope         TEXT NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL
);

-- RSA signing keys. Every IdP instance on this database signs with the one
-- `current` key and publishes all of them.
CREATE TABLE signing_keys (
    kid          TEXT PRIMARY KEY,
    state        TEXT NOT NULL CHECK (state IN ('next', 'current', 'retired')),
    private_key  BLOB NOT NULL,
    encrypted    INTEGER NOT NULL DEFAULT 0,
    public_jwk   TEXT NOT NULL,
    bits         INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    activated_at INTEGER,
    retired_at   INTEGER
);
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys (state) WHERE state = 'current';
CREATE UNIQUE INDEX signing_keys_one_next ON signing_keys (state) WHERE state = 'next';

-- Monotonic counters that running instances poll to notice changes made by
-- other processes (a rotation from the CLI, say).
CREATE TABLE change_counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO change_counters (name, value) VALUES ('signing_keys', 0), ('revocations', 0);

CREATE TRIGGER signing_keys_changed_insert AFTER INSERT ON signing_keys
BEGIN UPDATE change_counters SET value = value + 1 WHERE name = 'signing_keys'; END;
CREATE TRIGGER signing_keys_changed_update AFTER UPDATE ON signing_keys
BEGIN UPDATE change_counters SET value = value + 1 WHERE name = 'signing_keys'; END;
CREATE TRIGGER signing_keys_changed_delete AFTER DELETE ON signing_keys
BEGIN UPDATE change_counters SET value = value + 1 WHERE name = 'signing_keys'; END;

-- OAuth 2.0 clients. Secrets are 256-bit random values, stored as SHA-256.
CREATE TABLE clients (
    client_id   TEXT PRIMARY KEY,
    secret_hash BLOB NOT NULL,
    scope       TEXT NOT NULL,
    admin       INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
);

-- Refresh tokens, stored as SHA-256 digests. A family is one login session;
-- every use rotates the token within its family.
CREATE TABLE refresh_tokens (
    token_hash BLOB PRIMARY KEY,
    family_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL,
    scope      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,
    revoked_at INTEGER
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_expiry ON refresh_tokens (expires_at);

-- Revoked access tokens, kept until the token would have expired anyway.
CREATE TABLE revoked_tokens (
    jti        TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER NOT NULL
);
CREATE INDEX revoked_tokens_expiry ON revoked_tokens (expires_at);

CREATE TRIGGER revocations_changed AFTER INSERT ON revoked_tokens
BEGIN UPDATE change_counters SET value = value + 1 WHERE name = 'revocations'; END;
