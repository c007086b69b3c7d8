import { describe, expect, it } from 'vitest';
import { OutputLog } from './docker-sandbox.js';

describe('OutputLog (the local control plane keeps exec output for resumed reads)', () => {
  it('reads from any offset, across and inside chunks', () => {
    const log = new OutputLog();
    for (const part of ['ab', 'cde', '', 'f', 'ghij']) log.append(Buffer.from(part));
    const all = 'abcdefghij';
    for (let offset = 0; offset <= all.length + 1; offset++) {
      expect(log.readFrom(offset).toString()).toBe(all.slice(offset));
    }
    expect(log.size).toBe(10);
  });

  it('wakes a waiting reader on new bytes and on end', async () => {
    const log = new OutputLog();
    const signal = new AbortController().signal;
    const waiting = log.waitBeyond(0, signal);
    log.append(Buffer.from('x'));
    await waiting;
    const ending = log.waitBeyond(1, signal);
    log.end();
    await ending;
    expect(log.ended).toBe(true);
  });
});
