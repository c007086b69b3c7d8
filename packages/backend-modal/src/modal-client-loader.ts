import { BackendUnavailableError } from '@berth/core';
import type { ModalClient, ModalClientParams } from 'modal';
import { retryAfterMiddleware } from './retry-after.js';

type ModalSdk = typeof import('modal');

let sdk: Promise<ModalSdk> | undefined;

/**
 * The `modal` SDK, imported on first use only: `@berth/core` and the other backends never load it.
 * Pinned to `~0.11` (package.json): some registries serve an unrelated package as `modal@latest`.
 */
export function loadModalSdk(): Promise<ModalSdk> {
  sdk ??= import('modal').catch((error: unknown) => {
    sdk = undefined;
    throw new BackendUnavailableError(
      `The Modal SDK could not be loaded (${String(error)}). Install it with \`npm install modal@~0.11.1\` (pin the range: \`modal@latest\` may be an unrelated package in some registries).`,
      ['modal'],
      { cause: error },
    );
  });
  return sdk;
}

/** A `ModalClient` for the backend's options; credentials come from them, MODAL_* variables, or ~/.modal.toml. */
export async function createModalClient(params: ModalClientParams): Promise<ModalClient> {
  const { ModalClient: Client } = await loadModalSdk();
  return new Client({ ...params, grpcMiddleware: [retryAfterMiddleware, ...(params.grpcMiddleware ?? [])] });
}
