-- The longest access-token lifetime and JWKS max-age of the instances that
-- sign with a key, recorded by each instance before it signs: pruning keeps
-- a retired key published for at least that long, whatever the flags of the
-- process that prunes. Zero: no instance declared (keys stored before).
ALTER TABLE signing_keys ADD COLUMN declared_access_ttl INTEGER NOT NULL DEFAULT 0;
ALTER TABLE signing_keys ADD COLUMN declared_jwks_max_age INTEGER NOT NULL DEFAULT 0;
