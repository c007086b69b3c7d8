import { describe, expect, it } from 'vitest';
import {
  describePlacementFailure,
  describeTaskEvent,
  findFailureEvent,
  isExhaustion,
} from './describe-nomad-failure.js';

describe('describePlacementFailure', () => {
  it('phrases filtered constraints like `nomad job status`', () => {
    const metric = {
      NodesEvaluated: 1,
      NodesFiltered: 1,
      NodesExhausted: 0,
      ConstraintFiltered: { '${attr.kernel.name} = plan9': 1 },
    };
    expect(describePlacementFailure(metric)).toEqual([
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Nomad's own ${…} interpolation
      'Constraint "${attr.kernel.name} = plan9": 1 nodes excluded by filter',
    ]);
    expect(isExhaustion(metric)).toBe(false);
  });

  it('reports exhausted dimensions and empty datacenters', () => {
    const metric = {
      NodesEvaluated: 0,
      NodesFiltered: 0,
      NodesExhausted: 1,
      NodesAvailable: { dc9: 0 },
      DimensionExhausted: { memory: 1 },
    };
    expect(describePlacementFailure(metric)).toEqual([
      'No nodes were eligible for evaluation',
      'No nodes are available in datacenter "dc9"',
      'Resources exhausted on 1 nodes',
      'Dimension "memory" exhausted on 1 nodes',
    ]);
    expect(isExhaustion(metric)).toBe(true);
  });
});

describe('task events', () => {
  it('finds the failing event and prefers the driver error text', () => {
    const state = {
      State: 'dead',
      Failed: true,
      Restarts: 0,
      Events: [
        { Type: 'Received', Time: 1, DisplayMessage: 'Task received by client' },
        {
          Type: 'Driver Failure',
          Time: 2,
          DriverError: 'Failed to pull `nope:1`: not found',
          DisplayMessage: 'x',
        },
        { Type: 'Not Restarting', Time: 3, FailsTask: true, DisplayMessage: 'Error was unrecoverable' },
      ],
    };
    const failure = findFailureEvent(state);
    expect(failure?.Type).toBe('Driver Failure');
    expect(describeTaskEvent(failure!)).toBe('Driver Failure: Failed to pull `nope:1`: not found');
    expect(describeTaskEvent({ Type: 'Terminated', Time: 4, ExitCode: 137, Signal: 9 })).toBe(
      'Terminated: exit code 137, signal 9',
    );
    expect(findFailureEvent({ State: 'running', Failed: false, Restarts: 0, Events: [] })).toBeUndefined();
  });
});
