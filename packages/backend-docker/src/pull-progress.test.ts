import { describe, expect, it } from 'vitest';
import { PullProgress } from './pull-progress.js';

const line = (event: object) => `${JSON.stringify(event)}\n`;

describe('PullProgress', () => {
  it('sums layer progress into one fraction, across chunk boundaries', () => {
    const progress = new PullProgress('img:1');
    const text =
      line({ status: 'Pulling from library/img', id: '1' }) +
      line({ status: 'Downloading', id: 'a', progressDetail: { current: 50, total: 100 } }) +
      line({ status: 'Downloading', id: 'b', progressDetail: { current: 0, total: 300 } });
    const updates = [...progress.push(text.slice(0, 70)), ...progress.push(text.slice(70))];
    expect(updates.map((update) => update.fraction)).toEqual([undefined, 0.5, 0.125]);
    expect(updates[1]).toEqual({ phase: 'pull', message: 'a: Downloading', fraction: 0.5 });
    expect(progress.push(line({ status: 'Pull complete', id: 'a' }))[0]?.fraction).toBe(0.25);
  });

  it('remembers the first error line', () => {
    const progress = new PullProgress('img:1');
    progress.push(
      line({ errorDetail: { message: 'denied' }, error: 'denied: requested access' }) + 'not json\n',
    );
    expect(progress.error).toBe('denied: requested access');
  });
});
