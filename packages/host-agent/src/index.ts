export { AgentBackedHost } from './agent-backed-host.js';
export {
  AGENT_FILE_NAME,
  AGENT_INSTALL_DIRECTORY,
  type AgentArch,
  type AgentBinary,
  agentArchOf,
  agentBinary,
  agentBinaryUnder,
} from './agent-binary.js';
export { AgentHostRuntime, type AgentHostRuntimeOptions } from './agent-host-runtime.js';
export {
  type AgentHostAccess,
  AgentLink,
  type AgentLinkMode,
  type AgentLinkOptions,
  type AgentLinkState,
  classifyAgentFailure,
} from './agent-link.js';
export {
  AGENT_PROTOCOL_VERSION,
  AgentIntegrityError,
  AgentStartError,
  type AgentTransport,
  agentArgv,
  type ConnectAgentOptions,
  HostAgentSession,
} from './host-agent-session.js';
