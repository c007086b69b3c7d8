import { InvalidOptionsError } from '@berth/core';

/** Small validators for host specs: each throws `InvalidOptionsError` naming the exact path. */

export function record(input: unknown, path: string): Record<string, unknown> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new InvalidOptionsError(
      path,
      `expected an object, got ${Array.isArray(input) ? 'an array' : typeof input}.`,
    );
  }
  return input as Record<string, unknown>;
}

export function optionalString(input: unknown, path: string): string | undefined {
  if (input === undefined) return undefined;
  if (typeof input !== 'string' || input === '')
    throw new InvalidOptionsError(path, 'expected a non-empty string.');
  return input;
}

export function boolean(input: unknown, path: string): boolean {
  if (typeof input !== 'boolean')
    throw new InvalidOptionsError(path, `expected true or false, got ${JSON.stringify(input)}.`);
  return input;
}

export function integer(
  input: unknown,
  fallback: number,
  path: string,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (input === undefined) return fallback;
  if (typeof input !== 'number' || !Number.isInteger(input) || input < min || input > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `between ${min} and ${max}`;
    throw new InvalidOptionsError(path, `expected an integer ${range}, got ${JSON.stringify(input)}.`);
  }
  return input;
}

export function oneOf<T extends string>(input: unknown, fallback: T, allowed: readonly T[], path: string): T {
  if (input === undefined) return fallback;
  if (!allowed.includes(input as T))
    throw new InvalidOptionsError(
      path,
      `expected one of ${allowed.join(', ')}, got ${JSON.stringify(input)}.`,
    );
  return input as T;
}

export function stringArray(input: unknown, path: string, minLength: number): string[] {
  if (
    !Array.isArray(input) ||
    input.length < minLength ||
    input.some((item) => typeof item !== 'string' || item === '')
  ) {
    throw new InvalidOptionsError(
      path,
      `expected an array of ${minLength > 0 ? 'at least one ' : ''}non-empty string${minLength > 0 ? '' : 's'}.`,
    );
  }
  return [...input] as string[];
}

export function stringRecord(input: unknown, path: string): Record<string, string> {
  if (input === undefined) return {};
  const value = record(input, path);
  for (const [key, item] of Object.entries(value)) {
    if (typeof item !== 'string') throw new InvalidOptionsError(`${path}.${key}`, 'expected a string value.');
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key))
      throw new InvalidOptionsError(
        `${path}.${key}`,
        'expected an environment variable name ([A-Za-z_][A-Za-z0-9_]*).',
      );
  }
  return { ...(value as Record<string, string>) };
}
