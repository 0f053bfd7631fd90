/**
 * Break-glass tokens: a few static bearer tokens that authenticate as a fixed
 * Kubernetes user when the identity provider is down. Only their SHA-256
 * digests are configured (a file mounted from a Kubernetes Secret), so the
 * configuration never holds a usable token.
 */
import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { FieldReader } from '../../gateway/config/load.js';
import { ValidationError } from '../../gateway/errors.js';
import type { KubernetesUser } from '../../gateway/kubernetes/index.js';

/** One break-glass token: its name (logged and counted), its SHA-256 digest, and the user it authenticates as. */
export interface BreakGlassToken {
  readonly name: string;
  /** SHA-256 of the token's UTF-8 bytes: 32 bytes. */
  readonly sha256: Buffer;
  readonly user: KubernetesUser;
}

const MAX_FILE_BYTES = 256 * 1024;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const SHA256_HEX = /^[0-9a-fA-F]{64}$/;

/**
 * Reads a list of break-glass token entries at `field`:
 * `{ name, sha256: <64 hex digits>, user: { username, uid?, groups?, extra? } }`.
 * Names and digests must be unique.
 *
 * @throws ValidationError naming the field of the first problem.
 * @example
 * const tokens = readBreakGlassTokens(new FieldReader(file), raw.breakGlassTokens ?? [], 'breakGlassTokens');
 */
export function readBreakGlassTokens(r: FieldReader, value: unknown, field: string): BreakGlassToken[] {
  const names = new Set<string>();
  const digests = new Set<string>();
  return r.array(value, field).map((item, i) => {
    const at = `${field}[${i}]`;
    const entry = r.object(item, at, ['name', 'sha256', 'user']);
    for (const key of ['name', 'sha256', 'user']) if (entry[key] === undefined) r.fail(`${at}.${key}`, 'is required');
    const name = r.string(entry.name, `${at}.name`);
    if (!NAME.test(name)) r.fail(`${at}.name`, `'${name}' must be 1 to 63 letters, digits, '.', '_' or '-'`);
    if (names.has(name)) r.fail(`${at}.name`, `'${name}' is used twice`);
    names.add(name);
    const hex = r.string(entry.sha256, `${at}.sha256`);
    // The digest is not echoed back: it is as good as the token for anyone who can brute-force a weak one.
    if (!SHA256_HEX.test(hex)) r.fail(`${at}.sha256`, 'must be 64 hexadecimal digits (the SHA-256 of the token)');
    if (digests.has(hex.toLowerCase())) r.fail(`${at}.sha256`, 'is the digest of another entry');
    digests.add(hex.toLowerCase());
    return { name, sha256: Buffer.from(hex, 'hex'), user: readUser(r, entry.user, `${at}.user`) };
  });
}

/**
 * Reads the break-glass tokens from a YAML file holding the list (a key of a
 * mounted Secret). An empty file is an empty list.
 *
 * @throws ValidationError naming the file and the field.
 * @example
 * const tokens = await readBreakGlassTokensFile('/etc/gatehouse/break-glass/tokens.yaml');
 */
export async function readBreakGlassTokensFile(file: string): Promise<BreakGlassToken[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ValidationError(file, undefined, '', `cannot read the file: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  if (Buffer.byteLength(text) > MAX_FILE_BYTES) throw new ValidationError(file, undefined, '', `larger than ${MAX_FILE_BYTES} bytes`);
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ValidationError(file, undefined, '', `not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
  }
  return readBreakGlassTokens(new FieldReader(file), doc.toJS() ?? [], '');
}

function readUser(r: FieldReader, value: unknown, field: string): KubernetesUser {
  const user = r.object(value, field, ['username', 'uid', 'groups', 'extra']);
  if (user.username === undefined) r.fail(`${field}.username`, 'is required');
  const extra: Record<string, readonly string[]> = {};
  for (const [key, values] of Object.entries(r.object(user.extra ?? {}, `${field}.extra`, undefined))) {
    extra[key] = typeof values === 'string' ? [r.string(values, `${field}.extra.${key}`)] : r.strings(values, `${field}.extra.${key}`);
  }
  return {
    username: r.string(user.username, `${field}.username`),
    ...(user.uid === undefined ? {} : { uid: r.string(user.uid, `${field}.uid`) }),
    groups: r.strings(user.groups ?? [], `${field}.groups`),
    extra,
  };
}
