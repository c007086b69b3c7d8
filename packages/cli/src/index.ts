export { formatDuration, parseDuration } from './duration.js';
export { CliError, describeFailure, EXIT } from './exit-codes.js';
export { buildHostRows, type HostRow, summarizeSlots } from './host-rows.js';
export { type OwnerLiveness, ownerLiveness, recordLiveness } from './owner-liveness.js';
export { buildProgram, type RunContext, run } from './program.js';
export { type ClaimReading, readHostClaim } from './read-host-claim.js';
export { DEFAULT_REAP_RULES, decideReap, type ReapRules, type ReapVerdict } from './reap-plan.js';
