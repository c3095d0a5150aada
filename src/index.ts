/**
 * pi-controller's control-plane API for embedding and for the other components (discovery,
 * provisioner, reconciler, agent link). The hardware API is `pi-controller/hw`; this entry
 * point never loads the native addon.
 */
export { createApp, API_ROOT, type AppDeps, type ControlPlaneApp } from './server/app.js';
export { startControlPlane, type RunningControlPlane, type StartOptions } from './daemon/serve.js';
export type { AgentGateway, AgentPresence, AgentStatus, BackupService, JoinToken, KubernetesGateway } from './core/ports.js';
export { openStore, Store, type StoreOptions, LATEST_SCHEMA_VERSION } from './store/index.js';
export { loadConfig, ConfigSchema, DEFAULTS as CONFIG_DEFAULTS, type Config } from './config/index.js';
export { EventBus, matchesFilter } from './events/bus.js';
export { BackupManager, restoreBackup, inspectBackup } from './backup/index.js';
export { createLogging, type Logging } from './log/index.js';
export * from './api/errors.js';
export type { EventMap, EventType, EventEnvelope } from './api/events.js';
export * as schemas from './api/schemas.js';
