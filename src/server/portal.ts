/**
 * @module server/portal
 * Serves the web portal (built by `npm run build` into `dist/portal`) from the management
 * listener at `/portal/`, and sends `/` there. The portal is static files that talk to the
 * management API and the token endpoint on the same origin, so it needs no route of its own.
 * Hashed assets are cached for a year; `index.html` is revalidated so a new build shows at once.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';

/** dist/portal: next to the compiled server (dist/server), or under dist/ when run from src/. */
export function portalDirectory(): string | undefined {
  const candidates = [
    join(import.meta.dirname, '..', 'portal'),
    join(import.meta.dirname, '..', '..', 'dist', 'portal'),
  ];
  return candidates.find((dir) => existsSync(join(dir, 'index.html')));
}

const SECURITY_HEADERS = {
  // Same origin only: the portal's scripts, styles and API calls all come from this listener.
  'content-security-policy':
    "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

export async function portalRoutes(app: FastifyInstance): Promise<void> {
  app.get('/', async (_request, reply) => reply.redirect('/portal/'));
  const root = portalDirectory();
  if (!root) {
    // A source checkout that was never built: say so instead of a bare 404.
    app.get('/portal/*', async (_request, reply) =>
      reply
        .code(503)
        .type('text/plain; charset=utf-8')
        .send('The portal is not built. Run `npm run build` and restart the server.\n'),
    );
    return;
  }
  await app.register(fastifyStatic, {
    root,
    prefix: '/portal/',
    // The listing of files is nobody's business; index.html answers /portal/.
    index: 'index.html',
    list: false,
    // `/portal` -> `/portal/`, so relative asset URLs resolve.
    redirect: true,
    dotfiles: 'deny',
    // Cache-Control is set below per file kind.
    cacheControl: false,
    setHeaders(res, path) {
      for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
      res.setHeader(
        'cache-control',
        path.includes(`${join(root, 'assets')}`)
          ? 'public, max-age=31536000, immutable'
          : 'no-cache',
      );
    },
  });
}
