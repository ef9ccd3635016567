import type { FastifyRequest } from 'fastify';
import { credentialFromHeader } from '../../api/api-keys.js';
import type { NodeContext } from '../ceremonies/context.js';
import { credentialOf, isSignedRequest, setPrincipal } from './key-routes.js';
import type { NodeServer } from './server.js';

/** Set by the admin guard: a signed request on this route is the admin's. */
const ADMIN_ROUTE = Symbol('admin route');

export interface Guards {
  requireUser(req: FastifyRequest): Promise<void>;
  requireAdmin(req: FastifyRequest): Promise<void>;
}

/**
 * The one authentication of a request, into a principal the route reads (principalOf). A
 * bearer key is checked in onRequest, before the body is even parsed, so an anonymous caller
 * learns nothing about what a valid body looks like; a signed request once its body has
 * arrived (preHandler), as the route's guard asks (a user's or the admin's).
 */
export function installAuthentication(app: NodeServer, ctx: NodeContext): Guards {
  const credential = (req: FastifyRequest) => credentialFromHeader(req.headers.authorization);
  const requireUser = async (req: FastifyRequest) => {
    if (!isSignedRequest(req)) setPrincipal(req, await ctx.callers.user(credential(req)));
  };
  const requireAdmin = async (req: FastifyRequest) => {
    (req as unknown as Record<symbol, boolean>)[ADMIN_ROUTE] = true;
    if (!isSignedRequest(req)) await ctx.callers.admin(credential(req));
  };
  app.addHook('preHandler', async (req) => {
    if (!isSignedRequest(req)) return;
    if ((req as unknown as Record<symbol, boolean>)[ADMIN_ROUTE]) await ctx.callers.admin(credentialOf(req), true);
    else setPrincipal(req, await ctx.callers.user(credentialOf(req), true));
  });
  return { requireUser, requireAdmin };
}
