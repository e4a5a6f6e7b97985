-- Ended sessions reach resource servers: a refresh family revoked (logout,
-- replay of a used refresh token, /revoke of a refresh token) puts its
-- session id in the revocation feed, so every access token of that session
-- is refused, not only the one presented.
CREATE INDEX refresh_tokens_revoked ON refresh_tokens (revoked_at) WHERE revoked_at IS NOT NULL;

CREATE TRIGGER sessions_revoked AFTER UPDATE OF revoked_at ON refresh_tokens
WHEN OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL
BEGIN UPDATE change_counters SET value = value + 1 WHERE name = 'revocations'; END;
