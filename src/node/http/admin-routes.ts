import type { FastifyInstance } from 'fastify';
import { registerAuditRoutes } from './admin/audit.js';
import { registerPolicyRoutes } from './admin/policies.js';
import { registerRuleRoutes } from './admin/rules.js';
import { adminScope, type AdminContext, type AdminRouteOptions } from './admin/scope.js';
import { registerUserKeyRoutes } from './admin/users-keys.js';

export type { AdminContext, AdminRouteOptions };

/**
 * The admin API for this node's policies and audit log (seed 000's policy endpoints).
 * Rules, policies and bindings are per node: an administrator configures each node.
 * Every mutation, done or refused, is appended to the audit log with actor "admin".
 */export function registerAdminRoutes(app: FastifyInstance, ctx: AdminContext, opts: AdminRouteOptions): void {
  const scope = adminScope(app, ctx, opts);
  registerRuleRoutes(scope);
  registerPolicyRoutes(scope);
  registerUserKeyRoutes(scope);
  registerAuditRoutes(scope);
}
