import type { PoolEvents } from '../pool/pool-events.js';
import type { SlotPool } from '../pool/slot-pool.js';
import { debugEnabled, debugLog, describeForLog } from './debug-log.js';

/**
 * `BERTH_DEBUG`: the pool's events as log lines (the decisions only core sees — hosts left alone by
 * the sweep, retry delays — are logged where they are made). Identifiers and reasons only: no host
 * spec, environment, command or output.
 */
export function attachDebugLog(pool: SlotPool): void {
  const poolId = pool.options.poolId;
  const pool_ = (message: string) => debugLog('pool', poolId, message);
  const host = (message: string) => debugLog('host', poolId, message);
  const listeners: { [Name in keyof PoolEvents]?: PoolEvents[Name] } = {
    'host:creating': (event) => host(`creating a ${event.profile} host`),
    'host:created': (event) =>
      host(`created ${event.hostId} (${event.profile}) in ${Math.round(event.coldStartMs)} ms`),
    'host:lost': (event) => host(`lost ${event.hostId} (${event.profile}): ${event.reason}`),
    'host:removed': (event) => host(`removed ${event.hostId} (${event.profile}): ${event.reason}`),
    'host:error': (event) => {
      // Creation failures are logged with their retry decision where it is made (host-fleet).
      if (event.operation === 'create') return;
      const where = [event.hostId, event.slotId, event.trajectoryId && `trajectory ${event.trajectoryId}`]
        .filter(Boolean)
        .join(' ');
      host(`${event.operation} failed${where ? ` (${where})` : ''}: ${describeForLog(event.error)}`);
    },
    'pool:scaled': (event) => pool_(`scaled ${event.direction}: ${event.profile} has ${event.hosts} host(s)`),
    'pool:drain-requested': (event) => {
      const from = [
        event.principal && `from ${event.principal}`,
        event.requestedAt && `requested at ${event.requestedAt}`,
      ]
        .filter(Boolean)
        .join(', ');
      const why = event.corrupt ? ` (the marker is unreadable: ${event.corrupt})` : '';
      pool_(`drain (${event.mode}) requested by ${event.source}${from ? ` ${from}` : ''}${why}`);
    },
    'pool:resumed': (event) => pool_(`resumed: ${event.source} stopped asking to drain`),
    'pool:drained': () => pool_('drained: no slot is leased'),
    'pool:closed': () => {
      pool_('closed');
      for (const [name, listener] of Object.entries(listeners))
        pool.off(name as keyof PoolEvents, listener as (...args: unknown[]) => void);
    },
  };
  if (debugEnabled('exec')) {
    listeners['exec:end'] = (event) =>
      debugLog(
        'exec',
        poolId,
        `${event.slotId}${event.trajectoryId ? ` (trajectory ${event.trajectoryId})` : ''}: ${
          event.error
            ? `threw ${describeForLog(event.error)}`
            : `exit ${event.exitCode}${event.timedOut ? ' (timed out)' : ''}${event.aborted ? ' (aborted)' : ''}`
        } after ${Math.round(event.durationMs ?? 0)} ms`,
      );
  }
  if (debugEnabled('slot')) {
    listeners['slot:state'] = (event) =>
      debugLog('slot', poolId, `${event.slotId}: ${event.from} → ${event.to}`);
  }
  for (const [name, listener] of Object.entries(listeners))
    pool.on(name as keyof PoolEvents, listener as (...args: unknown[]) => void);
}
