-- A change that ends a user's sessions (password change or reset,
-- disabling, signing out everywhere) revokes the user's grants: found by
-- user rather than by scanning every grant.
CREATE INDEX grants_user ON grants (user_id);
