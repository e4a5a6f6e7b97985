-- Attempt limits kept in the database, so every process on one database
-- shares them (see src/accounts/limits.rs).

-- A random key, made once, that the throttle's slot numbers are keyed
-- with: without it an attacker could search offline for an email whose
-- slot collides with someone else's.
CREATE TABLE throttle_secret (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    secret BLOB NOT NULL
);

-- A fixed number of slots (the configured cap): each holds the uses of
-- the current window of whichever keys hash to it. Keys are never stored.
CREATE TABLE throttle_slots (
    slot INTEGER PRIMARY KEY,
    ends_at INTEGER NOT NULL,
    used INTEGER NOT NULL
);
CREATE INDEX throttle_slots_ends_at ON throttle_slots (ends_at);

-- Digests of (email, address) pairs that signed in recently.
CREATE TABLE trusted_sign_ins (
    key BLOB PRIMARY KEY,
    last_at INTEGER NOT NULL
);
CREATE INDEX trusted_sign_ins_last_at ON trusted_sign_ins (last_at);

-- One case-folding rule for emails on every backend: `email_key` is the
-- address trimmed and lower-cased by Unicode's rules (`store::email_key`),
-- computed by the program, so `ÄNN@x` and `änn@x` are one account here and
-- on PostgreSQL alike. Existing rows are filled in, and the unique index
-- created, by the program right after this migration (SQLite's lower()
-- folds ASCII only).
ALTER TABLE users ADD COLUMN email_key TEXT;
