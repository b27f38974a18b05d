// JSON schemas of the projects and files API: request validation and the OpenAPI document.

// Names are one line of printable text, not only blanks; descriptions may span lines but
// never carry NUL (Postgres text cannot hold it). Each pattern is linear: the name's is blanks,
// then the first visible character, then the rest, with no way to split a string twice (the
// earlier "any, one visible, any" backtracked quadratically: issue 11).
const NAME = {
  type: 'string',
  minLength: 1,
  maxLength: 200,
  pattern: '^[^\\S\\p{Cc}]*[^\\s\\p{Cc}]\\P{Cc}*$',
};
const DESCRIPTION = { type: 'string', maxLength: 2000, pattern: '^[^\\u0000]*$' };

export const project = {
  type: 'object',
  required: ['id', 'name', 'description', 'revision', 'fileCount', 'totalBytes', 'createdAt', 'updatedAt'],
  properties: {
    id: { type: 'string', format: 'uuid' },
    ownerId: { type: 'string', format: 'uuid' },
    name: { type: 'string' },
    description: { type: 'string' },
    revision: { type: 'integer', description: 'Counts file changes' },
    fileCount: { type: 'integer' },
    totalBytes: { type: 'integer' },
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
  },
};

export const projectPage = {
  type: 'object',
  required: ['items', 'nextCursor'],
  properties: { items: { type: 'array', items: project }, nextCursor: { type: ['string', 'null'] } },
};

export const createProject = {
  type: 'object',
  required: ['name'],
  additionalProperties: false,
  properties: { name: NAME, description: DESCRIPTION },
};

export const updateProject = {
  type: 'object',
  minProperties: 1,
  additionalProperties: false,
  properties: { name: NAME, description: DESCRIPTION },
};

export const fileEntry = {
  type: 'object',
  required: ['path', 'size', 'contentHash', 'version', 'updatedAt'],
  properties: {
    path: { type: 'string' },
    size: { type: 'integer' },
    contentHash: {
      type: 'string',
      description: '64-bit xxHash of the content, hex; the ETag is this in quotes',
    },
    version: { type: 'integer', description: 'The project revision that last changed the file' },
    updatedAt: { type: 'string', format: 'date-time' },
  },
};

export const fileTree = {
  type: 'object',
  required: ['revision', 'files'],
  properties: { revision: { type: 'integer' }, files: { type: 'array', items: fileEntry } },
};

// Paths are checked by the path rules (vfs.paths.ts) with their own error code; the schema
// only bounds the size of what reaches them.
const PATH = { type: 'string', minLength: 1, maxLength: 4096 };

export const moveRequest = {
  type: 'object',
  required: ['from', 'to'],
  additionalProperties: false,
  properties: {
    from: PATH,
    to: PATH,
    overwrite: { type: 'boolean', default: false, description: 'Replace a file at `to` (files only)' },
  },
};

export const moveResult = {
  type: 'object',
  required: ['from', 'to', 'directory', 'files'],
  properties: {
    from: { type: 'string' },
    to: { type: 'string' },
    directory: { type: 'boolean' },
    files: { type: 'array', items: fileEntry },
  },
};

export const projectIdParam = { name: 'id', in: 'path' as const, schema: { type: 'string', format: 'uuid' } };

export const filePathParam = {
  name: 'path',
  in: 'path' as const,
  description: 'The file path; it spans segments (`src/app/main.ts`)',
  schema: { type: 'string', minLength: 1 },
};
