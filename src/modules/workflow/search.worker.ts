// Runs on a piscina worker thread: a search over a whole project is CPU-bound and a regex may
// backtrack for minutes, so it never runs on a worker process's event loop. The pool stops a
// search past its deadline by terminating this thread.

export interface SearchTask {
  files: { path: string; content: string }[];
  query: string;
  regex: boolean;
  ignoreCase: boolean;
  maxMatches: number;
}

export interface SearchMatch {
  path: string;
  /** 1-based. */
  line: number;
  /** 1-based, in UTF-16 code units (as editors count). */
  column: number;
  preview: string;
}

export interface SearchResult {
  matches: SearchMatch[];
  truncated: boolean;
  filesSearched: number;
}

const PREVIEW_CHARS = 160;

function preview(line: string, column: number, length: number): string {
  if (line.length <= PREVIEW_CHARS) return line;
  const start = Math.max(0, Math.min(column - 1 - 40, line.length - PREVIEW_CHARS));
  const cut = line.slice(start, start + Math.max(PREVIEW_CHARS, length));
  return `${start > 0 ? '…' : ''}${cut}${start + cut.length < line.length ? '…' : ''}`;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export default function search(task: SearchTask): SearchResult {
  const source = task.regex ? task.query : escapeRegExp(task.query);
  const pattern = new RegExp(source, task.ignoreCase ? 'gi' : 'g');
  const matches: SearchMatch[] = [];
  const files = [...task.files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const file of files) {
    const lines = file.content.split(/\r?\n/);
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i] as string;
      pattern.lastIndex = 0;
      for (let m = pattern.exec(line); m !== null; m = pattern.exec(line)) {
        if (matches.length === task.maxMatches)
          return { matches, truncated: true, filesSearched: files.length };
        matches.push({
          path: file.path,
          line: i + 1,
          column: m.index + 1,
          preview: preview(line, m.index + 1, m[0].length),
        });
        // An empty match (e.g. /^/) would otherwise match at the same place forever.
        if (m[0].length === 0) pattern.lastIndex++;
      }
    }
  }
  return { matches, truncated: false, filesSearched: files.length };
}
