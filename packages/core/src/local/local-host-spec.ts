import { z } from 'zod';
import { parseWithPath } from '../options/parse-with-path.js';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const envName = z.string().regex(ENV_NAME, {
  error: 'environment variable names are letters, digits and `_`, not starting with a digit',
});

const localHostSpecSchema = z
  .object({
    /** The shell each slot runs; any POSIX sh. */
    shell: z.string().min(1).default('/bin/sh'),
    /** Extra environment for every shell on the host. */
    env: z.record(envName, z.string()).default({}),
    /**
     * Names of variables copied from this process's environment into every shell on the host
     * (read when each shell starts; the values are never written to disk). Anything else of the
     * caller's environment stays out: shells get only `LOCAL_BASE_ENV`, `env` and these. Left out
     * of the spec when unset, so the spec hash of hosts made before it existed does not change.
     */
    forwardEnv: z.array(envName).optional(),
  })
  .strict()
  .superRefine((spec, context) => {
    spec.forwardEnv?.forEach((name, index) => {
      if (name in spec.env)
        context.addIssue({
          code: 'custom',
          path: ['forwardEnv', index],
          message: `\`${name}\` is also set in \`env\`; keep one`,
        });
    });
  });

export type LocalHostSpec = z.input<typeof localHostSpecSchema>;
export type ResolvedLocalHostSpec = z.output<typeof localHostSpecSchema>;

export function resolveLocalHostSpec(input: unknown, path: string): ResolvedLocalHostSpec {
  return parseWithPath(localHostSpecSchema, input ?? {}, path);
}

/**
 * What a local shell inherits from the caller's environment by default: enough to find programs,
 * the user's home and the locale, nothing that tends to hold secrets (API keys, tokens).
 */
export const LOCAL_BASE_ENV: readonly string[] = [
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'SHELL',
  'LANG',
  'LANGUAGE',
  'LC_ALL',
  'LC_CTYPE',
  'LC_COLLATE',
  'LC_MESSAGES',
  'LC_NUMERIC',
  'LC_TIME',
  'TERM',
  'TZ',
  'TMPDIR',
];

/** A local shell's environment: the base names and `forwardEnv` from `source`, then the spec's `env`. */
export function localShellEnv(
  spec: ResolvedLocalHostSpec,
  source: Readonly<Record<string, string | undefined>>,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of [...LOCAL_BASE_ENV, ...(spec.forwardEnv ?? [])]) {
    const value = source[name];
    if (value !== undefined) env[name] = value;
  }
  return { ...env, ...spec.env };
}
