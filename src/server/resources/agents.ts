/** /api/v1/agents: the node agents (link, health, applied state), join tokens and revocation. */
import { Type } from '@sinclair/typebox';
import { AgentInfo, AgentLogLines } from '../../api/agent.js';
import { ListOf, Name, NodeParams, Obj, Timestamp } from '../../api/common.js';
import { ControllerError } from '../../api/errors.js';
import { route, type Resource } from '../routes.js';
import type { AgentGateway } from '../../core/ports.js';
import type { ResourceDeps } from '../deps.js';

const LogsQuery = Obj({
  after: Type.Optional(Type.Integer({ minimum: 0, description: 'lines with a seq greater than this (default 0: every line kept)' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 200 })),
});
const JoinTokenCreate = Obj({
  node: Name,
  ttlSeconds: Type.Optional(
    Type.Integer({ minimum: 10, maximum: 7 * 86400, default: 900, description: 'how long the token may be used (once)' }),
  ),
});
const JoinTokenCreated = Obj({
  token: Type.String({ description: 'shown once: pass it to pi-controller agent --join-token' }),
  node: Name,
  expiresAt: Timestamp,
  server: Type.String({ description: 'the agent endpoint (pass it to --server)' }),
});

export function agentsResource({ agents, store }: ResourceDeps): Resource {
  const dir = (): AgentGateway => {
    if (!agents) throw new ControllerError('UNAVAILABLE', 503, 'the agent link is not running in this process');
    return agents;
  };
  return {
    prefix: '/agents',
    tag: 'agents',
    routes: [
      route({
        method: 'GET',
        path: '/',
        role: 'viewer',
        summary: 'List node agents: link, health, applied state',
        response: { status: 200, schema: ListOf(AgentInfo) },
        handler: () => {
          const items = dir().list();
          return { status: 200, body: { items, total: items.length } };
        },
      }),
      route({
        method: 'GET',
        path: '/:node/logs',
        role: 'viewer',
        summary:
          "The agent's own recent log lines (JSON, numbered), from the ring it keeps (1000 lines, 256 KiB), asked over its link; 409 AGENT_OFFLINE when not connected",
        params: NodeParams,
        query: LogsQuery,
        response: { status: 200, schema: AgentLogLines },
        transactional: false,
        handler: async ({ params, query }) => ({ status: 200, body: await dir().logs(params.node, query.after ?? 0, query.limit ?? 200) }),
      }),
      route({
        method: 'GET',
        path: '/:node',
        role: 'viewer',
        summary: "One node's agent: link, health, applied state, certificates",
        params: NodeParams,
        response: { status: 200, schema: AgentInfo },
        handler: ({ params }) => ({ status: 200, body: dir().info(params.node) }),
      }),
      route({
        method: 'POST',
        path: '/join-tokens',
        role: 'admin',
        summary: 'Create a one-time join token for a node (the node is created when unknown)',
        body: JoinTokenCreate,
        response: { status: 201, schema: JoinTokenCreated },
        audit: 'agent.join-token',
        handler: ({ body, auditTarget }) => {
          auditTarget(body.node);
          return { status: 201, body: dir().createJoinToken(body.node, (body.ttlSeconds ?? 900) * 1000) };
        },
      }),
      route({
        method: 'POST',
        path: '/:node/revoke',
        role: 'admin',
        summary: "Revoke a node's agent certificates and drop its link",
        params: NodeParams,
        response: { status: 200, schema: Obj({ revoked: Type.Array(Type.String()) }) },
        audit: 'agent.revoke',
        handler: ({ params, auditTarget }) => {
          const node = store.nodes.require(params.node);
          auditTarget(node.name);
          return { status: 200, body: { revoked: dir().revokeNode(node.name) } };
        },
      }),
      route({
        method: 'POST',
        path: '/:node/safe-state',
        role: 'operator',
        summary: "Ask a node's agent to apply its configured safe state",
        params: NodeParams,
        response: { status: 202, schema: Obj({ sent: Type.Boolean() }) },
        audit: 'agent.safe-state',
        handler: ({ params, auditTarget }) => {
          const node = store.nodes.require(params.node);
          auditTarget(node.name);
          const sent = dir().requestSafeState(node.id);
          if (!sent) throw new ControllerError('AGENT_NOT_CONNECTED', 409, `the agent of ${node.name} is not connected`);
          return { status: 202, body: { sent } };
        },
      }),
    ],
  };
}
