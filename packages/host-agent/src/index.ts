export {
  AGENT_FILE_NAME,
  AGENT_INSTALL_DIRECTORY,
  type AgentArch,
  type AgentBinary,
  agentArchOf,
  agentBinary,
} from './agent-binary.js';
export {
  AGENT_PROTOCOL_VERSION,
  AgentStartError,
  type AgentTransport,
  agentArgv,
  type ConnectAgentOptions,
  HostAgentSession,
} from './host-agent-session.js';
