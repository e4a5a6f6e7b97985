-- APIs (resource servers) a client may name with `resource=` (RFC 8707):
-- a token for one of them carries that resource alone in `aud`. `scope`,
-- when not empty, is what the API offers; its tokens carry no other scope.
CREATE TABLE apis (
    resource   TEXT PRIMARY KEY,
    scope      TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);

-- Login sessions bound to a DPoP key (RFC 9449 §5): their refresh tokens
-- are accepted only with a proof made with the key whose RFC 7638
-- thumbprint is `jkt`, and their access tokens are bound to it.
CREATE TABLE dpop_sessions (
    family_id  TEXT PRIMARY KEY,
    jkt        TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
