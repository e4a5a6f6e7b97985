-- How a browser signed in, remembered by its session and by each grant
-- made in it: the `amr` of the tokens issued from it, space-separated
-- (`pwd`, `pwd otp`). Sessions and grants from before read as a password
-- alone.
ALTER TABLE browser_sessions ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
ALTER TABLE grants ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
CREATE INDEX browser_sessions_user ON browser_sessions (user_id) WHERE ended_at IS NULL;
