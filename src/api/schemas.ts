/** Every API schema in one namespace (for the OpenAPI document, the CRD generator and clients). */
export * from './common.js';
export * from './nodes.js';
export * from './clusters.js';
export * from './jobs.js';
export * from './tokens.js';
export * from './hardware.js';
export * from './discovery.js';
export * from './system.js';
