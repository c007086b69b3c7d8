import { createHash } from 'node:crypto';

/** Label keys every managed host carries (Docker labels, Nomad Meta, Modal tags, marker files). */
export const LABEL = {
  managed: 'berth.managed',
  pool: 'berth.pool',
  profile: 'berth.profile',
  spec: 'berth.spec',
  owner: 'berth.owner',
  version: 'berth.version',
  createdAt: 'berth.created',
} as const;

export const BERTH_VERSION = '0.1.0';

/** Label values are limited to `[A-Za-z0-9_.-]`, at most 63 characters, so every engine accepts them. */
export function sanitizeLabelValue(value: string): string {
  const cleaned = value.replace(/[^A-Za-z0-9_.-]/g, '_');
  if (cleaned.length <= 63) return cleaned;
  // Keep it unique when truncating: a short hash of the full value replaces the tail.
  const hash = createHash('sha256').update(value).digest('hex').slice(0, 8);
  return `${cleaned.slice(0, 54)}_${hash}`;
}

/** A stable, order-independent hash of a resolved host spec: reuse a host only when it matches. */
export function hashSpec(spec: unknown, slotsPerHost: number): string {
  return createHash('sha256')
    .update(canonicalJson({ spec, slotsPerHost, layout: 1 }))
    .digest('hex')
    .slice(0, 16);
}

function canonicalJson(value: unknown): string {
  if (value === undefined) return 'null';
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

export interface PoolLabelsInput {
  poolId: string;
  profile: string;
  specHash: string;
  owner: string;
}

export function buildHostLabels(input: PoolLabelsInput): Record<string, string> {
  return {
    [LABEL.managed]: '1',
    [LABEL.pool]: sanitizeLabelValue(input.poolId),
    [LABEL.profile]: sanitizeLabelValue(input.profile),
    [LABEL.spec]: input.specHash,
    [LABEL.owner]: sanitizeLabelValue(input.owner),
    [LABEL.version]: sanitizeLabelValue(BERTH_VERSION),
    [LABEL.createdAt]: String(Date.now()),
  };
}

/** The selector that finds one pool profile's hosts, and nothing else's. */
export function poolSelector(poolId: string, profile?: string): Record<string, string> {
  const selector: Record<string, string> = { [LABEL.managed]: '1', [LABEL.pool]: sanitizeLabelValue(poolId) };
  if (profile !== undefined) selector[LABEL.profile] = sanitizeLabelValue(profile);
  return selector;
}
