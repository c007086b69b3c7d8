import type { ModalClient, Sandbox } from 'modal';
import { describe, expect, it } from 'vitest';
import { mapSandboxError, rememberClient, sandboxEnd } from './sandbox-end.js';

const V2_ID = 'sb-v2-0000000000000000000000000';

function clientError(code: number, details: string) {
  return Object.assign(new Error(`/modal.client.ModalClient/X: ${details}`), {
    name: 'ClientError',
    code,
    details,
  });
}

/** A sandbox handle whose result the test sets; counts the lookups. */
function fakeSandbox(result: { status: number; exitcode: number; exception: string } | undefined) {
  const lookups: string[] = [];
  const sb = { sandboxId: V2_ID, poll: async () => null } as unknown as Sandbox;
  const wait = (rpc: string) => async (request: { sandboxId: string; timeout: number }) => {
    lookups.push(`${rpc} ${request.sandboxId} ${request.timeout}`);
    return result ? { result } : {};
  };
  const client = {
    cpClient: { sandboxWait: wait('v1'), sandboxWaitV2: wait('v2') },
  } as unknown as ModalClient;
  rememberClient(sb, client);
  return { sb, lookups };
}

describe('mapSandboxError', () => {
  it('a transient failure on a running sandbox is not HOST_LOST, whatever its text says', async () => {
    const { sb, lookups } = fakeSandbox(undefined);
    for (const error of [
      clientError(4, 'request timed out'),
      clientError(9, 'Sandbox is not running yet'),
      clientError(5, 'exec terminated: not found'),
      new Error('stream terminated'),
    ]) {
      const mapped = await mapSandboxError(sb, error, 'run a command');
      expect(mapped).not.toMatchObject({ code: 'HOST_LOST' });
    }
    expect(lookups).toEqual(Array.from({ length: 4 }, () => `v2 ${V2_ID} 0`));
  });

  it("is HOST_LOST with Modal's own reason once the sandbox's result shows it finished", async () => {
    const { sb } = fakeSandbox({
      status: 3,
      exitcode: 0,
      exception: 'Sandbox terminated from the dashboard',
    });
    const mapped = await mapSandboxError(sb, clientError(4, 'request timed out'), 'run a command');
    expect(mapped).toMatchObject({ code: 'HOST_LOST', hostId: V2_ID });
    expect(mapped.message).toMatch(/terminated: Sandbox terminated from the dashboard/);
  });

  it('an idle timeout reads as one, not as "exited with code 0"', async () => {
    const { sb } = fakeSandbox({ status: 7, exitcode: 0, exception: 'Sandbox idle timeout' });
    expect(await sandboxEnd(sb)).toEqual({ status: 7, exitcode: 0, exception: 'Sandbox idle timeout' });
    const mapped = await mapSandboxError(sb, new Error('stream closed'), 'run a command');
    expect(mapped.message).toMatch(/idle timeout \(idleTimeoutMs\): Sandbox idle timeout/);
    expect(mapped.message).not.toMatch(/exited with code/);
  });

  it('aborts and refused credentials are never turned into HOST_LOST', async () => {
    const { sb, lookups } = fakeSandbox({ status: 3, exitcode: 0, exception: 'terminated' });
    expect(await mapSandboxError(sb, clientError(16, 'token expired'), 'x')).toMatchObject({
      code: 'AUTHENTICATION',
    });
    expect(lookups).toEqual([]);
  });
});
