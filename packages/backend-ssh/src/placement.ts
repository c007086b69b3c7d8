import { shellQuote, throwIfAborted } from '@berth/core';
import { LABELS_FILE } from './ssh-host.js';
import type { SshMachine } from './ssh-machine.js';
import type { SshTimeouts } from './ssh-options.js';

/** What a host's labels file holds. */
export interface Marker {
  readonly id: string;
  readonly labels: Record<string, string>;
  readonly createdAtMs: number;
}

/** Every Berth host on a machine (all pools): one `cat` over the labels files. */
export async function listMarkers(machine: SshMachine, signal?: AbortSignal): Promise<Marker[]> {
  const root = shellQuote(machine.spec.root);
  const result = await machine.run(
    `for f in ${root}/*/*/${LABELS_FILE}; do [ -f "$f" ] && cat "$f" && echo; done; true`,
    undefined,
    signal,
  );
  return result.stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as Marker];
      } catch {
        return [];
      }
    });
}

/**
 * Placement: the count on each machine (from a shared probe at most a second old, so a burst of
 * creates costs one listing per machine) plus what this process is creating or created since it.
 */
export class Placement {
  #probe: { at: number; counts: Promise<Map<SshMachine, number | undefined>> } | undefined;
  readonly inFlight = new Map<SshMachine, number>();
  readonly createdAt: { machine: SshMachine; at: number }[] = [];
  /** Why each machine failed its last probe. */
  readonly #failures = new Map<SshMachine, unknown>();

  constructor(
    private readonly machines: () => Promise<SshMachine[]>,
    private readonly timeouts: SshTimeouts,
  ) {}

  /**
   * Each machine's load (`undefined`: unreachable), and with `reserve` the least-loaded machine under
   * its cap, counted in flight in the same step: concurrent creates sharing a probe spread out.
   */
  async loads(signal?: AbortSignal, reserve = false) {
    const failures = this.#failures;
    const timeouts = this.timeouts;
    const createdAt = this.createdAt;
    const inFlight = this.inFlight;
    if (!this.#probe || Date.now() - this.#probe.at > 1_000) {
      const at = Date.now();
      const counts = (async () => {
        const list = await this.machines();
        const entries = await Promise.all(
          list.map(async (machine) => {
            if (machine.lostReason) return [machine, undefined] as const;
            const markers = await listMarkers(
              machine,
              AbortSignal.timeout(timeouts.connectTimeoutMs + timeouts.readyTimeoutMs),
            ).catch((error: unknown) => {
              failures.set(machine, error);
              return undefined;
            });
            if (markers) failures.delete(machine);
            return [machine, markers?.length] as const;
          }),
        );
        return new Map(entries);
      })();
      this.#probe = { at, counts };
    }
    const current = this.#probe;
    const counts = await current.counts;
    throwIfAborted(signal, 'Placing an SSH host');
    const result = new Map<SshMachine, number | undefined>();
    for (const [machine, count] of counts) {
      if (count === undefined) {
        result.set(machine, undefined);
        continue;
      }
      const since = createdAt.filter((each) => each.machine === machine && each.at >= current.at).length;
      result.set(machine, count + since + (inFlight.get(machine) ?? 0));
    }
    const tried = [...counts.keys()].map((machine) => {
      const failure =
        failures.get(machine) ?? (machine.lostReason ? new Error(`lost: ${machine.lostReason}`) : undefined);
      return failure
        ? `${machine.spec.target.description} (${(failure as Error).message})`
        : machine.spec.target.description;
    });
    let chosen: SshMachine | undefined;
    if (reserve) {
      const open = [...result].filter(
        (entry): entry is [SshMachine, number] => entry[1] !== undefined && entry[1] < entry[0].spec.maxHosts,
      );
      open.sort((a, b) => a[1] - b[1]);
      chosen = open[0]?.[0];
      if (chosen) inFlight.set(chosen, (inFlight.get(chosen) ?? 0) + 1);
    }
    return { result, tried, failures: [...failures.values()], chosen };
  }
}
