import type { FastifyInstance } from 'fastify';
import { instrumentHttp } from '../../observability/http.js';
import { silentLogger, type Logger } from '../../observability/logger.js';
import { Metrics } from '../../observability/metrics.js';
import { frostFamilies } from '../../ceremony/families.js';
import type { FrostFamily } from '../../protocols/frost/suite.js';
import type { NodeContext } from '../ceremonies/context.js';
import { registerAdminRoutes } from './admin-routes.js';
import { installAuthentication } from './authentication.js';
import { registerBanRoutes } from './ban-routes.js';
import { registerEcdsaRoutes } from './ecdsa-routes.js';
import { registerFrostRoutes } from './frost-routes.js';
import { registerNodeInfoRoutes } from './node-info-routes.js';
import { createNodeServer } from './server.js';
import { registerUserRoutes } from './user-routes.js';

/**
 * The node's REST API (seed 000). Authentication runs in onRequest, before the body is
 * even parsed, so an anonymous caller learns nothing about what a valid body looks like.
 */

export interface AppOptions {
  version: string;
  maxBatch: number;
  /** Origins allowed to call the API from a browser (a device party in a web app); none by default. */
  corsOrigins?: string[];
  /** Default: a silent logger and the process's own metrics registry (tests). */
  logger?: Logger;
  metrics?: Metrics;
}

export async function buildApp(ctx: NodeContext, opts: AppOptions): Promise<FastifyInstance> {
  const logger = opts.logger ?? silentLogger();
  const metrics = opts.metrics ?? new Metrics('node', { node: ctx.self });
  const app = await createNodeServer(opts, logger);
  const { requireUser, requireAdmin } = installAuthentication(app, ctx);
  instrumentHttp(app, logger, metrics);

  registerNodeInfoRoutes(app, ctx);
  registerUserRoutes(app, ctx, { requireUser, requireAdmin });
  for (const family of frostFamilies() as FrostFamily[]) {
    registerFrostRoutes(app, ctx, family, { maxBatch: opts.maxBatch, requireUser, metrics });
  }
  registerEcdsaRoutes(app, ctx, { maxBatch: opts.maxBatch, requireUser, metrics });
  registerAdminRoutes(app, ctx, { requireAdmin });
  registerBanRoutes(app, ctx.banRecords, { requireAdmin });
  return app;
}

