-- How a browser signed in; the same columns as
-- ../sqlite/0007_browser_session_amr.sql.
ALTER TABLE browser_sessions ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
ALTER TABLE grants ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
CREATE INDEX browser_sessions_user ON browser_sessions (user_id) WHERE ended_at IS NULL;
