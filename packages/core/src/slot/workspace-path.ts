import path from 'node:path/posix';
import { InvalidOptionsError } from '../errors/index.js';

/**
 * Resolves a user path against a slot workspace. Relative paths must stay inside the workspace
 * (no `..` escapes); absolute paths are taken as they are, since the host is the boundary.
 */
export function resolveWorkspacePath(workspace: string, input: string, field: string): string {
  if (typeof input !== 'string' || input.length === 0) {
    throw new InvalidOptionsError(field, 'expected a non-empty path.');
  }
  if (input.includes('\0')) throw new InvalidOptionsError(field, 'paths cannot contain NUL bytes.');
  if (path.isAbsolute(input)) return path.normalize(input);
  const resolved = path.normalize(path.join(workspace, input));
  if (resolved !== workspace && !resolved.startsWith(`${workspace}/`)) {
    throw new InvalidOptionsError(
      field,
      `'${input}' escapes the slot workspace ${workspace}; use a path inside it (no leading '..').`,
    );
  }
  return resolved;
}
