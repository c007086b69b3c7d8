import { ModalClient, type ModalClientParams } from 'modal';
import type { LocalModal } from './local-modal/local-modal-server.js';

/**
 * A real `ModalClient` pointed at `modal`: the SDK reads MODAL_SERVER_URL (and the V2 switch) from
 * the environment when it is constructed, so they are set just for that.
 */
export function localModalClient(
  modal: LocalModal,
  options: { sandboxV2?: boolean } & ModalClientParams = {},
): ModalClient {
  const { sandboxV2, ...params } = options;
  const env = modal.env({ ...(sandboxV2 === undefined ? {} : { sandboxV2 }) });
  const saved = Object.fromEntries(Object.keys(env).map((key) => [key, process.env[key]]));
  Object.assign(process.env, env);
  try {
    return new ModalClient({ logLevel: 'error', ...params });
  } finally {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
}
