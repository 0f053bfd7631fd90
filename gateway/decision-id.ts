/**
 * Decision ids: random version-4 UUIDs, like node:crypto's `randomUUID`,
 * made for the Check hot path. `randomUUID` assembles its text from sixteen
 * two-character pieces, about 550 bytes of short-lived strings per id; here
 * the text is written into a buffer and read out as one 36-byte string.
 * The randomness is the same: bytes from the system's CSPRNG, fetched for a
 * batch of ids at a time (as `randomUUID` does), each byte used once.
 */
import { randomFillSync } from 'node:crypto';

/** Ids per fetch of random bytes. */
const BATCH = 256;
const random = Buffer.allocUnsafeSlow(16 * BATCH);
let used = BATCH;

const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');
/** Where the two hex digits of each of the 16 bytes go in `xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`. */
const DIGIT_OFFSETS = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34] as const;
const text = Buffer.from('00000000-0000-0000-0000-000000000000', 'latin1');

/**
 * A new random UUID (RFC 9562 version 4), lower-case.
 *
 * @example
 * newDecisionId() // → '3b241101-e2bb-4255-8caf-4136c566a962'
 */
export function newDecisionId(): string {
  if (used === BATCH) {
    randomFillSync(random);
    used = 0;
  }
  const start = 16 * used++;
  for (let i = 0; i < 16; i++) {
    let byte = random[start + i] as number;
    if (i === 6)
      byte = (byte & 0x0f) | 0x40; // version 4
    else if (i === 8) byte = (byte & 0x3f) | 0x80; // variant 10xx
    const at = DIGIT_OFFSETS[i] as number;
    text[at] = HEX_DIGITS[byte >> 4] as number;
    text[at + 1] = HEX_DIGITS[byte & 0x0f] as number;
  }
  return text.toString('latin1');
}
