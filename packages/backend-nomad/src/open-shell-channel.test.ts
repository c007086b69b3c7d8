import {
  AbortedError,
  AuthenticationError,
  BackendUnavailableError,
  BerthError,
  NotFoundError,
} from '@berth/core';
import { describe, expect, it } from 'vitest';
import { channelCloseInfo } from './open-shell-channel.js';

const dropped = new BackendUnavailableError('The exec session closed before Nomad reported an exit code.', [
  'x',
]);

describe('channelCloseInfo', () => {
  it('reports the exit code of a shell that exited, without transportDropped', async () => {
    let asked = false;
    const info = await channelCloseInfo({ exitCode: 137 }, 'alloc', async () => {
      asked = true;
      return undefined;
    });
    expect(info).toEqual({ exitCode: 137 });
    expect(asked).toBe(false);
  });

  it('marks a websocket that dropped while the allocation runs as transportDropped', async () => {
    const info = await channelCloseInfo({ error: dropped }, 'alloc', async () => undefined);
    expect(info.transportDropped).toBe(true);
    expect(info.error).toBe(dropped);
  });

  it('marks a drop as transportDropped when Nomad cannot tell (unreachable agent)', async () => {
    const info = await channelCloseInfo({ error: dropped }, 'alloc', async () => {
      throw new BackendUnavailableError('down', ['x']);
    });
    expect(info.transportDropped).toBe(true);
  });

  it('reports a drop caused by the allocation going away as host loss, not a dropped transport', async () => {
    const info = await channelCloseInfo(
      { error: dropped },
      'alloc',
      async () => 'Nomad wants allocation 1234 to stop',
    );
    expect(info.transportDropped).toBeUndefined();
    expect(BerthError.hasCode(info.error, 'HOST_LOST')).toBe(true);
    expect(info.error?.message).toContain('to stop');
  });

  it('does not call closes we asked for or Nomad refused dropped transports', async () => {
    for (const error of [
      new AbortedError('closed by this process'),
      new AuthenticationError('denied'),
      new NotFoundError('no such allocation'),
    ]) {
      const info = await channelCloseInfo({ error }, 'alloc', async () => undefined);
      expect(info).toEqual({ error });
    }
  });
});
