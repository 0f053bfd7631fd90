/**
 * Properties of the DER reader (gateway/identity/der.ts) on a real
 * certificate, mutations of it and random bytes: walking every element either
 * succeeds with elements inside their parent or stops with a DerError, never
 * another exception.
 */
import test from 'ava';
import fc from 'fast-check';
import { DerError, DerTag, readChildren, readElement, readOid, readTime, type DerElement } from '../../gateway/identity/der.js';
import { createCa, issueCert } from '../helpers/certs.js';
import { numRuns } from './runs.js';

const ca = await createCa('der-property-ca');
const leaf = await issueCert(ca, {
  uris: ['spiffe://cluster.local/ns/default/sa/reminder'],
  dns: ['reminder.default.svc'],
  commonName: 'reminder',
});
const constructed = 0x20;

/** Walks the whole tree, reading OIDs and times where they are tagged; false when an element leaves its parent. */
function walk(der: Uint8Array, element: DerElement, limit: number): boolean {
  if (!(element.start < element.contentStart && element.contentStart <= element.end && element.end <= limit)) return false;
  if (element.tag === DerTag.ObjectIdentifier) readOid(der, element);
  if (element.tag === DerTag.UtcTime || element.tag === DerTag.GeneralizedTime) readTime(der, element);
  if ((element.tag & constructed) === 0) return true;
  return readChildren(der, element).every((child) => walk(der, child, element.end));
}

/** Walks `der` from its first element: true, or a DerError; anything else thrown fails the property. */
function walksOrRefuses(der: Uint8Array): boolean {
  try {
    return walk(der, readElement(der, 0), der.length);
  } catch (error) {
    return error instanceof DerError && error.message.length > 0;
  }
}

test('the real certificate walks to the end without an error', (t) => {
  const root = readElement(leaf.der, 0);
  t.is(root.end, leaf.der.length);
  t.true(walk(leaf.der, root, leaf.der.length));
});

test('mutated DER (flipped, overwritten, cut or inserted bytes) and random bytes are walked or refused with a DerError', (t) => {
  const mutation = fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('flip', 'set', 'cut', 'insert')), {
    minLength: 1,
    maxLength: 4,
  });
  const mutated = mutation.map((steps) => {
    let der = Buffer.from(leaf.der);
    for (const [position, byte, kind] of steps) {
      const at = position % Math.max(1, der.length);
      if (kind === 'flip') der[at] = (der[at] ?? 0) ^ (1 << (byte % 8));
      else if (kind === 'set') der[at] = byte;
      else if (kind === 'cut') der = der.subarray(0, at);
      else der = Buffer.concat([der.subarray(0, at), Buffer.from([byte]), der.subarray(at)]);
    }
    return der;
  });
  fc.assert(fc.property(fc.oneof(mutated, fc.uint8Array({ maxLength: 64 })), walksOrRefuses), { numRuns: numRuns(3000) });
  t.pass();
});
