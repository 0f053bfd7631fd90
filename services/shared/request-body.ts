/**
 * Reading an HTTP request body with a size limit, for the companion
 * services' HTTPS listeners: a declared length over the limit is refused
 * before reading, and reading stops as soon as the limit is passed.
 */
import type { IncomingMessage } from 'node:http';

export type RequestBody =
  { readonly ok: true; readonly bytes: Buffer } | { readonly ok: false; readonly problem: 'too-large' | 'unreadable' };

/**
 * The body of `request`, at most `maxBytes` long. Never rejects. After
 * `too-large` the rest of the body is left unread: answer and close the
 * connection.
 *
 * @example
 * const body = await readRequestBody(request, 64 * 1024);
 * if (!body.ok) return refuse(body.problem === 'too-large' ? 413 : 400);
 */
export function readRequestBody(request: IncomingMessage, maxBytes: number): Promise<RequestBody> {
  const tooLarge: RequestBody = { ok: false, problem: 'too-large' };
  const declared = Number(request.headers['content-length'] ?? '0');
  if (Number.isFinite(declared) && declared > maxBytes) return Promise.resolve(tooLarge);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > maxBytes) {
        request.off('data', onData);
        request.pause();
        resolve(tooLarge);
        return;
      }
      chunks.push(chunk);
    };
    request.on('data', onData);
    request.once('end', () => resolve({ ok: true, bytes: Buffer.concat(chunks) }));
    request.once('error', () => resolve({ ok: false, problem: 'unreadable' }));
  });
}
