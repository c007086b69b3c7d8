/** Who can ask a pool to drain: its own process (`drain()`) or the external marker. */
export type DrainSource = 'api' | 'marker';
export type DrainMode = 'wait' | 'fail';

/**
 * The drain requests of one pool, composed: drained while either source asks; `fail` while any
 * asks for `fail` (the stricter one wins), else `wait`.
 */
export class DrainRequests {
  private readonly requests = new Map<DrainSource, DrainMode>();

  get effective(): DrainMode | undefined {
    if (this.requests.size === 0) return undefined;
    return [...this.requests.values()].includes('fail') ? 'fail' : 'wait';
  }

  get sources(): DrainSource[] {
    return [...this.requests.keys()].sort();
  }

  has(source: DrainSource): boolean {
    return this.requests.has(source);
  }

  modeOf(source: DrainSource): DrainMode | undefined {
    return this.requests.get(source);
  }

  /** Returns whether the request changed anything (a repeat of the same request does not). */
  set(source: DrainSource, mode: DrainMode): boolean {
    if (this.requests.get(source) === mode) return false;
    this.requests.set(source, mode);
    return true;
  }

  clear(source: DrainSource): boolean {
    return this.requests.delete(source);
  }
}
