import { rmSync } from 'node:fs';

/**
 * Removes the scratch Berth home every test process wrote to (vitest.config.ts sets BERTH_HOME), so
 * drain markers and process records of SIGKILLed test pools never land in the real ~/.berth.
 */
export default function setup(): () => void {
  const home = process.env.BERTH_HOME;
  return () => {
    if (home) rmSync(home, { recursive: true, force: true });
  };
}
