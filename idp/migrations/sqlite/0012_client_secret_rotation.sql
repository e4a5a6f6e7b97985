-- A client's secret rotated with an overlap: the digest of the secret it
-- replaced, which keeps working until the time beside it (Unix seconds).
ALTER TABLE clients ADD COLUMN previous_secret_hash BLOB;
ALTER TABLE clients ADD COLUMN previous_secret_expires_at INTEGER;
