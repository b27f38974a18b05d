-- One row per refresh-token family: the lock that serialises rotation, reuse revocation and
-- logout of a family, and its revocation flag, checked under that lock so no token can be
-- issued into a family once it is revoked.
CREATE TABLE refresh_token_families (
  id uuid PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz
);
CREATE INDEX refresh_token_families_user ON refresh_token_families (user_id);

INSERT INTO refresh_token_families (id, user_id, revoked_at)
SELECT family_id, min(user_id::text)::uuid,
       CASE WHEN bool_and(revoked_at IS NOT NULL) THEN max(revoked_at) END
FROM refresh_tokens GROUP BY family_id;

ALTER TABLE refresh_tokens
  ADD CONSTRAINT refresh_tokens_family_fk FOREIGN KEY (family_id)
  REFERENCES refresh_token_families (id) ON DELETE CASCADE;
