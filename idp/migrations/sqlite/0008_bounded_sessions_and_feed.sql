-- The revocation feed becomes an append-only log with positions, so that
-- pollers and instances ask for what changed after a cursor instead of
-- downloading the whole feed, and a refresh session keeps one row whatever
-- it does.

-- One row per revocation, in commit order. `at` is the token's `exp` for a
-- revoked token, when the session ended for a session, and the cut-off
-- (`issued_before`) for a client or subject. Positions are the
-- 'revocations' change counter: a writer bumps it and uses the new value,
-- and SQLite has one writer at a time, so positions commit in order.
CREATE TABLE revocation_log (
    position   INTEGER PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('token', 'session', 'client', 'subject')),
    id         TEXT NOT NULL,
    at         INTEGER NOT NULL,
    except_sid TEXT
);
CREATE INDEX revocation_log_at ON revocation_log (kind, at);

-- The feed's identity (a cursor from another database is refused) and the
-- highest position purged: cursors before it can no longer be answered.
CREATE TABLE revocation_feed (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    epoch          TEXT NOT NULL,
    purged_through INTEGER NOT NULL DEFAULT 0
);
INSERT INTO revocation_feed (id, epoch) VALUES (1, lower(hex(randomblob(8))));

-- What the feed holds today enters the log.
INSERT INTO revocation_log (position, kind, id, at, except_sid)
SELECT (SELECT value FROM change_counters WHERE name = 'revocations')
         + ROW_NUMBER() OVER (ORDER BY at, kind, id),
       kind, id, at, except_sid
FROM (
    SELECT 'token' AS kind, jti AS id, expires_at AS at, NULL AS except_sid FROM revoked_tokens
    UNION ALL
    SELECT 'session', family_id, MAX(revoked_at), NULL FROM (
        SELECT family_id, revoked_at FROM refresh_tokens WHERE revoked_at IS NOT NULL
        UNION ALL
        SELECT family_id, revoked_at FROM grants WHERE revoked_at IS NOT NULL
    ) GROUP BY family_id
    UNION ALL
    SELECT kind, id, issued_before, except_sid FROM token_cutoffs
);
UPDATE change_counters
SET value = COALESCE((SELECT MAX(position) FROM revocation_log), value)
WHERE name = 'revocations';

-- Every revocation appends to the log under the counter.
DROP TRIGGER revocations_changed;
DROP TRIGGER sessions_revoked;
DROP TRIGGER grants_revoked;
DROP TRIGGER token_cutoffs_inserted;
DROP TRIGGER token_cutoffs_updated;

CREATE TRIGGER revoked_tokens_logged AFTER INSERT ON revoked_tokens
BEGIN
    UPDATE change_counters SET value = value + 1 WHERE name = 'revocations';
    INSERT INTO revocation_log (position, kind, id, at)
    VALUES ((SELECT value FROM change_counters WHERE name = 'revocations'),
            'token', NEW.jti, NEW.expires_at);
END;

CREATE TRIGGER sessions_logged AFTER UPDATE OF revoked_at ON refresh_tokens
WHEN OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL
BEGIN
    UPDATE change_counters SET value = value + 1 WHERE name = 'revocations';
    INSERT INTO revocation_log (position, kind, id, at)
    VALUES ((SELECT value FROM change_counters WHERE name = 'revocations'),
            'session', NEW.family_id, NEW.revoked_at);
END;

CREATE TRIGGER grants_logged AFTER UPDATE OF revoked_at ON grants
WHEN OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL
BEGIN
    UPDATE change_counters SET value = value + 1 WHERE name = 'revocations';
    INSERT INTO revocation_log (position, kind, id, at)
    VALUES ((SELECT value FROM change_counters WHERE name = 'revocations'),
            'session', NEW.family_id, NEW.revoked_at);
END;

CREATE TRIGGER token_cutoffs_inserted_logged AFTER INSERT ON token_cutoffs
BEGIN
    UPDATE change_counters SET value = value + 1 WHERE name = 'revocations';
    INSERT INTO revocation_log (position, kind, id, at, except_sid)
    VALUES ((SELECT value FROM change_counters WHERE name = 'revocations'),
            NEW.kind, NEW.id, NEW.issued_before, NEW.except_sid);
END;

CREATE TRIGGER token_cutoffs_updated_logged AFTER UPDATE ON token_cutoffs
BEGIN
    UPDATE change_counters SET value = value + 1 WHERE name = 'revocations';
    INSERT INTO revocation_log (position, kind, id, at, except_sid)
    VALUES ((SELECT value FROM change_counters WHERE name = 'revocations'),
            NEW.kind, NEW.id, NEW.issued_before, NEW.except_sid);
END;

-- A refresh session (family) keeps one row: its current token's digest and
-- generation. Earlier generations are recognised by their MAC, not stored.
-- Used tokens of live sessions and rows of ended sessions go (the log above
-- carries the ended sessions); a live session's current token keeps
-- working, and `legacy_hash` keeps recognising it as reused once rotated.
-- `used_at` is no longer written.
DELETE FROM refresh_tokens WHERE used_at IS NOT NULL OR revoked_at IS NOT NULL;
DELETE FROM refresh_tokens
WHERE rowid NOT IN (SELECT MAX(rowid) FROM refresh_tokens GROUP BY family_id);
ALTER TABLE refresh_tokens ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
ALTER TABLE refresh_tokens ADD COLUMN legacy_hash BLOB;
DROP INDEX refresh_tokens_family;
CREATE UNIQUE INDEX refresh_tokens_one_per_family ON refresh_tokens (family_id);
CREATE UNIQUE INDEX refresh_tokens_legacy ON refresh_tokens (legacy_hash)
WHERE legacy_hash IS NOT NULL;

-- Purges by expiry.
CREATE INDEX browser_sessions_ended ON browser_sessions (ended_at) WHERE ended_at IS NOT NULL;
