import { BerthError } from '@berth/core';
import { describe, expect, it } from 'vitest';
import type { NomadQueryResult } from './nomad-http-transport.js';
import { nextIndex, watchBlockingQuery } from './watch-blocking-query.js';

/** A scripted blocking query: answers with the given indexes in order, recording what it was sent. */
function scripted(indexes: number[]) {
  const sent: number[] = [];
  const query = async ({ index }: { index: number }): Promise<NomadQueryResult<string>> => {
    sent.push(index);
    const next = indexes.shift();
    if (next === undefined) return new Promise(() => undefined);
    return { value: `v${next}`, index: next, knownLeader: true, lastContactMs: 0 };
  };
  return { query, sent };
}

async function take<T>(iterator: AsyncGenerator<T>, count: number): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterator) {
    items.push(item);
    if (items.length === count) break;
  }
  return items;
}

describe('nextIndex', () => {
  it('feeds the received index back', () => {
    expect(nextIndex(10, 12)).toEqual({ index: 12, reset: false });
    expect(nextIndex(12, 12)).toEqual({ index: 12, reset: false });
  });
  it('resets to 0 when the index goes backwards', () => {
    expect(nextIndex(50, 7)).toEqual({ index: 0, reset: true });
  });
  it('never blocks on index 0', () => {
    expect(nextIndex(0, 0)).toEqual({ index: 1, reset: false });
  });
});

describe('watchBlockingQuery', () => {
  it('yields the first answer, then only answers whose index changed', async () => {
    const { query, sent } = scripted([5, 5, 5, 8, 9]);
    const values = await take(watchBlockingQuery(query, { minIntervalMs: 0 }), 3);
    expect(values.map((value) => value.index)).toEqual([5, 8, 9]);
    expect(sent).toEqual([0, 5, 5, 5, 8]);
  });

  it('re-reads from 0 after the index went backwards and yields that read', async () => {
    const { query, sent } = scripted([20, 3, 4, 6]);
    const values = await take(watchBlockingQuery(query, { minIntervalMs: 0 }), 3);
    expect(values.map((value) => value.index)).toEqual([20, 4, 6]);
    expect(sent).toEqual([0, 20, 0, 4]);
  });

  it('starts blocking at once from an initial index', async () => {
    const { query, sent } = scripted([7, 9]);
    const values = await take(watchBlockingQuery(query, { initialIndex: 7, minIntervalMs: 0 }), 1);
    expect(values.map((value) => value.index)).toEqual([9]);
    expect(sent).toEqual([7, 7]);
  });

  it('ends with AbortedError when the signal fires', async () => {
    const controller = new AbortController();
    const { query } = scripted([1]);
    const iterator = watchBlockingQuery(query, { signal: controller.signal, minIntervalMs: 0 });
    await iterator.next();
    controller.abort();
    await expect(iterator.next()).rejects.toSatisfy((error) => BerthError.hasCode(error, 'ABORTED'));
  });
});
