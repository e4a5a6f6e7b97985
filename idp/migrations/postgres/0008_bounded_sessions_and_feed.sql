-- The revocation feed becomes an append-only log with positions, so that
-- pollers and instances ask for what changed after a cursor instead of
-- downloading the whole feed, and a refresh session keeps one row whatever
-- it does.

-- One row per revocation, in commit order. `at` is the token's `exp` for a
-- revoked token, when the session ended for a session, and the cut-off
-- (`issued_before`) for a client or subject.
CREATE TABLE revocation_log (
    position   BIGINT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('token', 'session', 'client', 'subject')),
    id         TEXT NOT NULL,
    at         BIGINT NOT NULL,
    except_sid TEXT
);
CREATE INDEX revocation_log_at ON revocation_log (kind, at);

-- The feed's identity (a cursor from another database is refused) and the
-- highest position purged: cursors before it can no longer be answered.
CREATE TABLE revocation_feed (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    epoch          TEXT NOT NULL,
    purged_through BIGINT NOT NULL DEFAULT 0
);
INSERT INTO revocation_feed (id, epoch)
VALUES (1, substr(md5(random()::text || clock_timestamp()::text), 1, 16));

-- What the feed holds today enters the log.
INSERT INTO revocation_log (position, kind, id, at, except_sid)
SELECT (SELECT value FROM change_counters WHERE name = 'revocations')
         + ROW_NUMBER() OVER (ORDER BY at, kind, id COLLATE "C"),
       kind, id, at, except_sid
FROM (
    SELECT 'token' AS kind, jti AS id, expires_at AS at, NULL::TEXT AS except_sid
    FROM revoked_tokens
    UNION ALL
    SELECT 'session', family_id, MAX(revoked_at), NULL FROM (
        SELECT family_id, revoked_at FROM refresh_tokens WHERE revoked_at IS NOT NULL
        UNION ALL
        SELECT family_id, revoked_at FROM grants WHERE revoked_at IS NOT NULL
    ) AS ended GROUP BY family_id
    UNION ALL
    SELECT kind, id, issued_before, except_sid FROM token_cutoffs
) AS live;
UPDATE change_counters
SET value = COALESCE((SELECT MAX(position) FROM revocation_log), value)
WHERE name = 'revocations';

-- Appends the changed row to the log at the next position. The UPDATE of
-- the counter row locks it until the transaction ends, so a second writer
-- waits for the first to commit before it takes the next position:
-- positions become visible in commit order, and a poller holding position
-- N can never later find an N-1 it missed (a plain sequence could commit
-- out of order between instances).
CREATE FUNCTION log_revocation() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    pos BIGINT;
BEGIN
    UPDATE change_counters SET value = value + 1 WHERE name = 'revocations'
    RETURNING value INTO pos;
    IF TG_TABLE_NAME = 'revoked_tokens' THEN
        INSERT INTO revocation_log (position, kind, id, at)
        VALUES (pos, 'token', NEW.jti, NEW.expires_at);
    ELSIF TG_TABLE_NAME = 'token_cutoffs' THEN
        INSERT INTO revocation_log (position, kind, id, at, except_sid)
        VALUES (pos, NEW.kind, NEW.id, NEW.issued_before, NEW.except_sid);
    ELSE
        INSERT INTO revocation_log (position, kind, id, at)
        VALUES (pos, 'session', NEW.family_id, NEW.revoked_at);
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER revocations_changed ON revoked_tokens;
DROP TRIGGER sessions_revoked ON refresh_tokens;
DROP TRIGGER grants_revoked ON grants;
DROP TRIGGER token_cutoffs_changed ON token_cutoffs;

CREATE TRIGGER revoked_tokens_logged AFTER INSERT ON revoked_tokens
FOR EACH ROW EXECUTE FUNCTION log_revocation();
CREATE TRIGGER sessions_logged AFTER UPDATE OF revoked_at ON refresh_tokens
FOR EACH ROW WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL)
EXECUTE FUNCTION log_revocation();
CREATE TRIGGER grants_logged AFTER UPDATE OF revoked_at ON grants
FOR EACH ROW WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL)
EXECUTE FUNCTION log_revocation();
CREATE TRIGGER token_cutoffs_logged AFTER INSERT OR UPDATE ON token_cutoffs
FOR EACH ROW EXECUTE FUNCTION log_revocation();

-- A refresh session (family) keeps one row: its current token's digest and
-- generation. Earlier generations are recognised by their MAC, not stored.
-- Used tokens of live sessions and rows of ended sessions go (the log above
-- carries the ended sessions); a live session's current token keeps
-- working, and `legacy_hash` keeps recognising it as reused once rotated.
-- `used_at` is no longer written.
DELETE FROM refresh_tokens WHERE used_at IS NOT NULL OR revoked_at IS NOT NULL;
DELETE FROM refresh_tokens a USING refresh_tokens b
WHERE a.family_id = b.family_id
  AND (a.created_at, a.token_hash) < (b.created_at, b.token_hash);
ALTER TABLE refresh_tokens ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;
ALTER TABLE refresh_tokens ADD COLUMN legacy_hash BYTEA;
DROP INDEX refresh_tokens_family;
CREATE UNIQUE INDEX refresh_tokens_one_per_family ON refresh_tokens (family_id);
CREATE UNIQUE INDEX refresh_tokens_legacy ON refresh_tokens (legacy_hash)
WHERE legacy_hash IS NOT NULL;

-- Purges by expiry.
CREATE INDEX browser_sessions_ended ON browser_sessions (ended_at) WHERE ended_at IS NOT NULL;
