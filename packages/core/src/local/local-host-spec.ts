import { z } from 'zod';
import { parseWithPath } from '../options/parse-with-path.js';

const localHostSpecSchema = z
  .object({
    /** The shell each slot runs; any POSIX sh. */
    shell: z.string().min(1).default('/bin/sh'),
    /** Extra environment for every shell on the host. */
    env: z.record(z.string(), z.string()).default({}),
  })
  .strict();

export type LocalHostSpec = z.input<typeof localHostSpecSchema>;
export type ResolvedLocalHostSpec = z.output<typeof localHostSpecSchema>;

export function resolveLocalHostSpec(input: unknown, path: string): ResolvedLocalHostSpec {
  return parseWithPath(localHostSpecSchema, input ?? {}, path);
}
