import { InvalidOptionsError } from '@berth/core';

/** Small validators that name the offending field path in every message. */

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'object') return 'an object';
  return String(value);
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype = Object.getPrototypeOf(value) as unknown;
  return prototype === Object.prototype || prototype === null;
}

export function expectObject(value: unknown, path: string, example: string): Record<string, unknown> {
  if (!isPlainObject(value))
    throw new InvalidOptionsError(path, `expected an object like ${example}, got ${describe(value)}.`);
  return value;
}

/** Rejects keys outside `known`, suggesting the right spelling for near misses (`memoryMb` → `memoryMiB`). */
export function rejectUnknownKeys(
  value: Record<string, unknown>,
  known: readonly string[],
  path: string,
): void {
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue;
    const near = known.find((candidate) => normalizeKey(candidate) === normalizeKey(key));
    const hint = near ? ` Did you mean \`${near}\`?` : ` Known keys: ${known.join(', ')}.`;
    throw new InvalidOptionsError(`${path}.${key}`, `unknown option.${hint}`);
  }
}

function normalizeKey(key: string): string {
  return key
    .toLowerCase()
    .replace(/[^a-z]/g, '')
    .replace(/(mib|mb|ms|s)$/, '');
}

export function expectString(value: unknown, path: string, what = 'a non-empty string'): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new InvalidOptionsError(path, `expected ${what}, got ${describe(value)}.`);
  }
  return value;
}

export function expectNumber(
  value: unknown,
  path: string,
  range: { min: number; max?: number; integer?: boolean; unit?: string },
): number {
  const unit = range.unit ? ` ${range.unit}` : '';
  const kind = range.integer ? 'an integer' : 'a number';
  const bounds = range.max === undefined ? `≥ ${range.min}` : `between ${range.min} and ${range.max}`;
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    (range.integer && !Number.isInteger(value)) ||
    value < range.min ||
    (range.max !== undefined && value > range.max)
  ) {
    throw new InvalidOptionsError(path, `expected ${kind} ${bounds}${unit}, got ${describe(value)}.`);
  }
  return value;
}

export function expectBoolean(value: unknown, path: string): boolean {
  if (typeof value !== 'boolean')
    throw new InvalidOptionsError(path, `expected true or false, got ${describe(value)}.`);
  return value;
}

export function expectStringArray(value: unknown, path: string, example: string): string[] {
  if (!Array.isArray(value))
    throw new InvalidOptionsError(
      path,
      `expected an array of strings like ${example}, got ${describe(value)}.`,
    );
  return value.map((item, index) => expectString(item, `${path}[${index}]`));
}

export function expectStringRecord(value: unknown, path: string, example: string): Record<string, string> {
  const record = expectObject(value, path, example);
  const result: Record<string, string> = {};
  for (const [key, item] of Object.entries(record)) {
    if (typeof item !== 'string') {
      throw new InvalidOptionsError(
        `${path}.${key}`,
        `expected a string, got ${describe(item)}. Quote numbers: '${String(item)}'.`,
      );
    }
    result[key] = item;
  }
  return result;
}

/** An absolute POSIX path without `.`/`..` segments, normalised (no duplicate or trailing slash). */
export function expectAbsolutePath(
  value: unknown,
  path: string,
  options: { allowRoot?: boolean } = {},
): string {
  const text = expectString(value, path, 'an absolute path');
  if (!text.startsWith('/'))
    throw new InvalidOptionsError(path, `expected an absolute path, got ${describe(text)}.`);
  const segments = text.split('/').filter((segment) => segment !== '');
  if (segments.some((segment) => segment === '.' || segment === '..')) {
    throw new InvalidOptionsError(path, `\`.\` and \`..\` segments are not allowed, got ${describe(text)}.`);
  }
  if (segments.some((segment) => segment.includes('\0')))
    throw new InvalidOptionsError(path, 'NUL bytes are not allowed.');
  const normalised = `/${segments.join('/')}`;
  if (normalised === '/' && !options.allowRoot)
    throw new InvalidOptionsError(path, 'expected a directory below `/`, not `/` itself.');
  return normalised;
}
