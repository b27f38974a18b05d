-- Projects, their files (the virtual file system) and each project's event log.

-- `revision` counts file changes (a file's version is the revision that last wrote it);
-- `event_seq` is the last event id handed out for the project. Both only grow, under the row
-- lock of the transaction that changes them, so they are dense and commit in order.
CREATE TABLE projects (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  owner_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
  description text NOT NULL DEFAULT '' CHECK (char_length(description) <= 2000),
  revision bigint NOT NULL DEFAULT 0,
  file_count integer NOT NULL DEFAULT 0 CHECK (file_count >= 0),
  total_bytes bigint NOT NULL DEFAULT 0 CHECK (total_bytes >= 0),
  event_seq bigint NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
-- An owner's projects, newest first, in keyset pages.
CREATE INDEX projects_owner_page ON projects (owner_id, created_at DESC, id DESC);

-- Paths compare byte-wise (COLLATE "C") so a directory is the key range [dir/, dir0): '0' is
-- the character after '/'.
CREATE TABLE files (
  project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  path text COLLATE "C" NOT NULL,
  content bytea NOT NULL,
  size integer NOT NULL CHECK (size >= 0),
  content_hash text NOT NULL,
  version bigint NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (project_id, path)
);
CREATE TABLE project_events (
  project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  seq bigint NOT NULL,
  type text NOT NULL,
  data jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (project_id, seq)
);
-- Age-based retention deletes by time across projects.
CREATE INDEX project_events_created ON project_events (created_at);
