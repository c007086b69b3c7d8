import { raceAbort } from '@berth/core';
import type { HostKeyCheck } from './host-key-verifier.js';
import type { SshTarget } from './resolve-machines.js';
import { SshConnection } from './ssh-connection.js';
import type { SshTimeouts } from './ssh-options.js';
import { Gate } from './ssh-sockets.js';

interface Entry {
  connecting: Promise<SshConnection>;
  connection: SshConnection | undefined;
  references: number;
}

/**
 * The backend's connections, one per (user, host, port, key, jump chain) and `lane`, counted: a
 * host releasing its connection never closes one another host still uses (unlike a shared
 * ControlMaster torn down by one of its users). A dropped connection is forgotten; the next
 * acquire reconnects.
 */
export class ConnectionRegistry {
  readonly #entries = new Map<string, Entry>();
  readonly #gates = new Map<string, Gate>();
  readonly #owners = new WeakMap<SshConnection, string>();
  #disposed = false;

  constructor(
    private readonly timeouts: SshTimeouts,
    private readonly hostKeys: HostKeyCheck,
  ) {}

  /** `lane` > 0 asks for another connection to the same target (more channels than MaxSessions). */
  async acquire(target: SshTarget, signal?: AbortSignal, lane = 0): Promise<SshConnection> {
    const key = lane === 0 ? target.key : `${target.key}#${lane}`;
    let entry = this.#entries.get(key);
    if (entry?.connection?.isClosed) {
      this.#entries.delete(key);
      entry = undefined;
    }
    if (!entry) {
      const created: Entry = { connecting: undefined as never, connection: undefined, references: 0 };
      created.connecting = SshConnection.open(
        target,
        {
          timeouts: this.timeouts,
          hostKeys: this.hostKeys,
          handshakeGate: (each) => this.#gate(each),
          viaJump: (each, jumpSignal) => this.acquire(hopOf(each), jumpSignal),
          releaseJump: (connection) => this.release(connection),
        },
        undefined, // shared: no caller's signal cancels it
      ).then(
        (connection) => {
          created.connection = connection;
          this.#owners.set(connection, key);
          void connection.closed.then(() => {
            if (this.#entries.get(key) === created) this.#entries.delete(key);
          });
          if (this.#disposed || created.references === 0) this.#forget(key, created);
          return connection;
        },
        (error: unknown) => {
          if (this.#entries.get(key) === created) this.#entries.delete(key);
          throw error;
        },
      );
      this.#entries.set(key, created);
      entry = created;
    }
    entry.references++;
    try {
      return await raceAbort(entry.connecting, signal, `Connecting to ${target.description}`);
    } catch (error) {
      this.#drop(key, entry);
      throw error;
    }
  }

  release(connection: SshConnection): void {
    const key = this.#owners.get(connection);
    if (key === undefined) return;
    const entry = this.#entries.get(key);
    if (!entry || entry.connection !== connection) return;
    this.#drop(key, entry);
  }

  /** How many users a live connection has (tests, stats). */
  references(target: SshTarget): number {
    return this.#entries.get(target.key)?.references ?? 0;
  }

  dispose(): void {
    this.#disposed = true;
    for (const [key, entry] of this.#entries) {
      entry.references = 0;
      this.#forget(key, entry);
    }
  }

  #drop(key: string, entry: Entry): void {
    entry.references = Math.max(0, entry.references - 1);
    if (entry.references === 0) this.#forget(key, entry);
  }

  #forget(key: string, entry: Entry): void {
    if (this.#entries.get(key) === entry) this.#entries.delete(key);
    entry.connection?.close();
  }

  #gate(target: SshTarget): Gate {
    const machine = `${target.host}:${target.port}`;
    let gate = this.#gates.get(machine);
    if (!gate) {
      gate = new Gate(this.timeouts.maxHandshakesPerMachine);
      this.#gates.set(machine, gate);
    }
    return gate;
  }
}

/** The connection `target` is tunnelled through: its last jump host, reached through the others. */
export function hopOf(target: SshTarget): SshTarget {
  const hop = target.jump.at(-1)!;
  const outer = [...target.jump.slice(0, -1), ...hop.jump];
  return {
    ...hop,
    jump: outer,
    key: [hop.key, ...target.jump.slice(0, -1).map((each) => each.key)].join('<'),
    description:
      outer.length > 0
        ? `${hop.user}@${hop.host}:${hop.port} via ${outer.map((each) => `${each.host}:${each.port}`).join(', ')}`
        : hop.description,
  };
}
