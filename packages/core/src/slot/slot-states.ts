import { SlotStateError } from '../errors/index.js';

export type SlotState = 'available' | 'acquired' | 'executing' | 'releasing' | 'error';

export const SLOT_STATES: readonly SlotState[] = ['available', 'acquired', 'executing', 'releasing', 'error'];

/**
 * The slot state machine as data (docs/architecture.md §3). Any state may move to `error`; `error` is
 * terminal: the slot is quarantined until its host is replaced.
 */
export const SLOT_TRANSITIONS: Readonly<Record<SlotState, readonly SlotState[]>> = {
  available: ['acquired', 'error'],
  acquired: ['executing', 'releasing', 'error'],
  executing: ['acquired', 'error'],
  releasing: ['available', 'error'],
  error: ['error'],
};

export function canTransition(from: SlotState, to: SlotState): boolean {
  return SLOT_TRANSITIONS[from].includes(to);
}

export function assertTransition(slotId: string, from: SlotState, to: SlotState): void {
  if (!canTransition(from, to)) {
    const hint =
      from === 'executing'
        ? ' A slot runs one command at a time; await the running exec first.'
        : from === 'error'
          ? ' The slot is quarantined after an error; acquire another slot.'
          : '';
    throw new SlotStateError(`Slot ${slotId} cannot go from '${from}' to '${to}'.${hint}`);
  }
}
