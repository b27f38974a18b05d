import type { Config } from '../../config.ts';
import type { Database } from '../../db/pool.ts';
import { AppError } from '../../errors.ts';
import { cursorPart, decodeCursor, encodeCursor } from '../../http/cursor.ts';
import type { EventsService } from '../events/index.ts';
import * as repo from './projects.repo.ts';

export interface Project {
  id: string;
  ownerId: string;
  name: string;
  description: string;
  /** Counts file changes; a file's `version` is the revision that last wrote it. */
  revision: number;
  fileCount: number;
  totalBytes: number;
  createdAt: string;
  updatedAt: string;
}

export interface ProjectsDeps {
  db: Database;
  events: EventsService;
  config: Pick<Config, 'PROJECTS_MAX_PER_USER'>;
}

function toProject(r: repo.ProjectRow): Project {
  return {
    id: r.id,
    ownerId: r.owner_id,
    name: r.name,
    description: r.description,
    revision: Number(r.revision),
    fileCount: r.file_count,
    totalBytes: Number(r.total_bytes),
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
  };
}

// Another user's project answers exactly like a missing one: its existence is not disclosed.
function notFound(): AppError {
  return new AppError('NOT_FOUND', { detail: 'No such project.' });
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// A cursor's createdAt keeps Postgres's microseconds, which a JS Date would truncate (and so
// skip rows).
function projectCursor(cursor: string): { createdAt: string; id: string } {
  const [createdAt, id] = decodeCursor(cursor, (c, i) => cursorPart.timestamp(c) && cursorPart.uuid(i));
  return { createdAt, id };
}

export function createProjectsService({ db, events, config }: ProjectsDeps) {
  const max = config.PROJECTS_MAX_PER_USER;
  return {
    /** Creates a project; under the owner's row lock, so a burst cannot pass PROJECTS_MAX_PER_USER. */
    async create(userId: string, input: { name: string; description?: string }): Promise<Project> {
      return db.transaction(async (tx) => {
        // A valid token can outlive its account by up to its lifetime.
        if (!(await repo.lockOwner(tx, 'user', userId))) {
          throw new AppError('UNAUTHORIZED', { detail: 'The account no longer exists.' });
        }
        const { projects } = await repo.ownerUsage(tx, userId);
        if (projects >= max) {
          throw new AppError('QUOTA_EXCEEDED', {
            detail: `A user owns at most ${max} projects.`,
            extensions: { limit: max, used: projects, kind: 'projects' },
          });
        }
        return toProject(await repo.insertProject(tx, userId, input.name.trim(), input.description ?? ''));
      });
    },

    /** The project when it exists and is the user's; NOT_FOUND otherwise (another user's included). */
    async getOwned(userId: string, projectId: string): Promise<Project> {
      const row = UUID.test(projectId) ? await repo.ownedProject(db, userId, projectId) : undefined;
      if (!row) throw notFound();
      return toProject(row);
    },

    /** The user's projects, newest first, in keyset pages. */
    async list(
      userId: string,
      limit: number,
      cursor: string | undefined,
    ): Promise<{ items: Project[]; nextCursor: string | null }> {
      const after = cursor ? projectCursor(cursor) : undefined;
      const rows = await repo.projectsPage(db, userId, limit + 1, after);
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return {
        items: page.map(toProject),
        nextCursor: rows.length > limit && last ? encodeCursor(last.created_key, last.id) : null,
      };
    },

    async update(
      userId: string,
      projectId: string,
      patch: { name?: string; description?: string },
    ): Promise<Project> {
      const row = await repo.updateProject(db, userId, projectId, { ...patch, name: patch.name?.trim() });
      if (!row) throw notFound();
      return toProject(row);
    },

    /** Deletes the project, its files and events; its open event streams end. */
    async remove(userId: string, projectId: string): Promise<void> {
      await db.transaction(async (tx) => {
        if (!(await repo.deleteProject(tx, userId, projectId))) throw notFound();
        await events.projectDeleted(tx, projectId);
      });
    },
  };
}

export type ProjectsService = ReturnType<typeof createProjectsService>;
