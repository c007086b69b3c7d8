/**
 * `npm run bench`: prints one JSON object per line, `{name, value, unit, baseline?, ratio?}`.
 * Sections whose engine is unreachable print why on stderr and are left out.
 * Usage: npm run bench [-- local docker nomad modal ssh]
 */
import type { BenchResult } from './bench-result.js';
import { benchLocal } from './local.js';

const sections: Record<string, () => Promise<BenchResult[]>> = {
  local: benchLocal,
  docker: async () => {
    const results = await (await import('./docker.js')).benchDocker();
    // Skipped (empty) when the daemon is unreachable; the slot benchmarks need it too.
    return results.length === 0
      ? results
      : [...results, ...(await (await import('./docker-slot.js')).benchDockerSlot())];
  },
  'docker-slot': async () => (await import('./docker-slot.js')).benchDockerSlot(),
  nomad: async () => (await import('./nomad.js')).benchNomad(),
  modal: async () => (await import('./modal.js')).benchModal(),
  ssh: async () => (await import('./ssh.js')).benchSsh(),
};

const wanted = process.argv.slice(2).filter((arg) => arg in sections);
for (const name of wanted.length > 0 ? wanted : Object.keys(sections)) {
  try {
    for (const result of await sections[name]!()) console.log(JSON.stringify(result));
  } catch (error) {
    console.error(`bench ${name} failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  }
}
