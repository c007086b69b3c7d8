import { describe, expect, it } from 'vitest';
import { BerthError } from '../errors/index.js';
import { assertTransition, canTransition, SLOT_STATES, SLOT_TRANSITIONS } from './slot-states.js';

describe('slot state table', () => {
  const allowed = new Set([
    'available>acquired',
    'acquired>executing',
    'executing>acquired',
    'acquired>releasing',
    'releasing>available',
    ...SLOT_STATES.map((state) => `${state}>error`),
  ]);

  // Every pair of states, exhaustively: the table and the documented machine agree.
  for (const from of SLOT_STATES) {
    for (const to of SLOT_STATES) {
      const legal = allowed.has(`${from}>${to}`);
      it(`${from} → ${to} is ${legal ? 'legal' : 'illegal'}`, () => {
        expect(canTransition(from, to)).toBe(legal);
        if (legal) {
          expect(() => assertTransition('s', from, to)).not.toThrow();
        } else {
          let thrown: unknown;
          try {
            assertTransition('s', from, to);
          } catch (error) {
            thrown = error;
          }
          expect(BerthError.hasCode(thrown, 'SLOT_STATE')).toBe(true);
        }
      });
    }
  }

  it('lists every state', () => {
    expect(Object.keys(SLOT_TRANSITIONS).sort()).toEqual([...SLOT_STATES].sort());
  });
});
