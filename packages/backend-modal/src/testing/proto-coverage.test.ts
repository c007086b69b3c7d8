import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';

// The messages the local control plane reads or writes. Every field number the installed `modal`
// SDK encodes for them must exist in the vendored protos: a newer SDK that adds one fails here
// (the server would silently drop it otherwise), and ../proto/README.md says how to update.
const MESSAGES = [
  'AppGetOrCreateRequest',
  'ImageGetOrCreateRequest',
  'Image',
  'SecretGetOrCreateRequest',
  'VolumeGetOrCreateRequest',
  'SandboxCreateRequest',
  'SandboxCreateV2Request',
  'Sandbox',
  'Resources',
  'NetworkAccess',
  'VolumeMount',
  'SandboxTag',
  'SecretSource',
  'SandboxGetTaskIdRequest',
  'SandboxWaitRequest',
  'SandboxTerminateRequest',
  'SandboxListRequest',
  'SandboxTagsSetRequest',
  'SandboxTagsGetRequest',
  'SandboxGetCommandRouterAccessRequest',
  'TaskGetCommandRouterAccessRequest',
  'TaskExecStartRequest',
  'TaskExecStdinWriteRequest',
  'TaskExecStdioReadRequest',
  'TaskExecWaitRequest',
  'TaskExecPollRequest',
  'TaskExecStdinStatusRequest',
  'GenericResult',
  'RPCRetryPolicy',
];

// Newer than the pinned commit and deliberately not served: no local equivalent exists.
const IGNORED: Record<string, string> = {
  'Image #24': 'image architecture: local test images are the machine’s own',
  'Sandbox #42': 'experimental outbound policy (header rewriting through Modal’s proxy)',
  'Sandbox #43': 'X.509 SVID workload identity',
  'Sandbox #44': 'outbound policy (Modal’s egress proxy)',
};

function sdkEncodedFields(source: string, message: string): number[] {
  const start = source.indexOf(`\nvar ${message} = {\n  encode(message, writer = new BinaryWriter()) {\n`);
  if (start < 0) return [];
  const end = source.indexOf('\n  decode(', start);
  return [...source.slice(start, end).matchAll(/writer\.uint32\((\d+)\)/g)].map(
    (match) => Number(match[1]) >>> 3,
  );
}

describe('vendored Modal protos', () => {
  it('hold every field the installed modal SDK encodes for the calls the local control plane serves', () => {
    const require = createRequire(import.meta.url);
    const sdk = readFileSync(join(dirname(require.resolve('modal')), 'index.js'), 'utf8');
    const protoDir = fileURLToPath(new URL('./proto/', import.meta.url));
    const root = new protobuf.Root();
    root.resolvePath = (_origin, target) => (target.startsWith('google/') ? target : join(protoDir, target));
    root.loadSync(['modal_proto/api.proto', 'modal_proto/task_command_router.proto']);
    const missing: string[] = [];
    for (const message of MESSAGES) {
      const type =
        root.lookup(`modal.client.${message}`) ?? root.lookup(`modal.task_command_router.${message}`);
      const fields = sdkEncodedFields(sdk, message);
      expect(fields.length, `the SDK encodes ${message}`).toBeGreaterThan(0);
      for (const id of fields) {
        const key = `${message} #${id}`;
        if ((!(type instanceof protobuf.Type) || !type.fieldsById[id]) && !IGNORED[key]) missing.push(key);
      }
    }
    expect(missing).toEqual([]);
  });
});
