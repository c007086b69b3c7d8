import type { z } from 'zod';
import { InvalidOptionsError } from '../errors/index.js';

/**
 * Parses `input` with `schema` and turns the first issue into an `InvalidOptionsError` naming the
 * full dotted path (`profiles.gpu.maxHosts`), so the user knows exactly which option to fix.
 */
export function parseWithPath<Schema extends z.ZodType>(
  schema: Schema,
  input: unknown,
  path: string,
): z.output<Schema> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = [path, ...issue.path.map(String)].filter(Boolean).join('.');
  throw new InvalidOptionsError(field || 'options', describeIssue(issue));
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') {
    return `unknown option(s) ${issue.keys.map((key) => `\`${key}\``).join(', ')}; check the spelling against the documented options.`;
  }
  return issue.message;
}
