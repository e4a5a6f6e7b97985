-- The API (RFC 8707 `resource`) an authorization was requested for: the
-- access tokens of its code and of its refresh tokens are for that API
-- alone unless a token request names it again. NULL: the default audience,
-- or whichever registered API each token request names.
ALTER TABLE grants ADD COLUMN resource TEXT;
