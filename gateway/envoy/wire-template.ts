/**
 * A protobuf message encoded once and rendered many times with some of its
 * string fields replaced. Responses that differ only in per-user strings (the
 * request principal, in a header and in the metadata) share one template: a
 * rendering copies the template's bytes, writes the new strings and rewrites
 * the length prefix of every message that encloses them, without going
 * through protobufjs's object conversion and encoder again.
 *
 * A hole is a length-delimited field whose whole content is a placeholder
 * (random, so no request can forge it). Fixed-length stamps (the decision id,
 * a UUID) may also sit inside other bytes, such as a JSON body.
 */
import type protobuf from 'protobufjs';

/** The nested message shape of a length-delimited field, by field number; undefined for strings, bytes and packed scalars. */
type Shape = (fieldNumber: number) => Shape | undefined;

/** A field that holds a hole, directly or in a nested message: offsets in the template. */
interface FoundSpan {
  readonly index: number;
  readonly prefixStart: number;
  readonly contentStart: number;
  readonly contentEnd: number;
  readonly hole: number;
  readonly children: readonly FoundSpan[];
}

/** A span as rendering needs it, in post-order (children before parents; the whole message last). */
interface Span {
  /** Content length in the template. */
  readonly length: number;
  /** Bytes of the template's length prefix (0 for the whole message). */
  readonly prefixBytes: number;
  /** The hole this span is, or -1 for an enclosing message. */
  readonly hole: number;
  /** Indexes of the spans directly inside. */
  readonly children: readonly number[];
}

/** What a rendering does, in output order. */
type Step =
  | { readonly kind: 'copy'; readonly start: number; readonly end: number }
  | { readonly kind: 'length'; readonly span: number }
  | { readonly kind: 'hole'; readonly hole: number }
  | { readonly kind: 'stamp' };

export class WireTemplate {
  private constructor(
    private readonly bytes: Buffer,
    private readonly spans: readonly Span[],
    private readonly steps: readonly Step[],
    private readonly stampLength: number,
  ) {}

  /**
   * Builds a template from `bytes`, an encoding of `type` in which hole `i`
   * held `holes[i]` and every occurrence of `stamp` is to be stamped. Throws
   * when a hole is not found as the whole content of a string field.
   *
   * @example
   * const template = WireTemplate.compile(responseType, encoded, [principalMarker], decisionMarker);
   * const bytes = template.render([principal], decisionId);
   */
  static compile(type: protobuf.Type, bytes: Buffer, holes: readonly string[], stamp: string): WireTemplate {
    const markers = holes.map((hole) => Buffer.from(hole, 'utf8'));
    const spans: Span[] = [];
    const found = new Set<number>();

    const walk = (shape: Shape | undefined, start: number, end: number): FoundSpan[] => {
      const inside: FoundSpan[] = [];
      let at = start;
      while (at < end) {
        const tag = readVarint(bytes, at);
        at = tag.next;
        switch (tag.value & 7) {
          case 0:
            at = readVarint(bytes, at).next;
            break;
          case 1:
            at += 8;
            break;
          case 5:
            at += 4;
            break;
          case 2: {
            const length = readVarint(bytes, at);
            const contentStart = length.next;
            const contentEnd = contentStart + length.value;
            const content = bytes.subarray(contentStart, contentEnd);
            const hole = markers.findIndex((marker) => content.equals(marker));
            const nested = hole === -1 ? shape?.(tag.value >>> 3) : undefined;
            const children = nested === undefined ? [] : walk(nested, contentStart, contentEnd);
            if (hole !== -1 || children.length > 0) {
              if (hole !== -1) found.add(hole);
              const prefixBytes = contentStart - at;
              inside.push({ index: spans.length, prefixStart: at, contentStart, contentEnd, hole, children });
              spans.push({ length: length.value, prefixBytes, hole, children: children.map((child) => child.index) });
            }
            at = contentEnd;
            break;
          }
          default:
            throw new Error(`wire type ${tag.value & 7} cannot be templated`);
        }
      }
      return inside;
    };
    const roots = walk(shapeOf(type), 0, bytes.length);
    // Every occurrence of a hole's placeholder must be a whole field, or the placeholder would leak into a rendering.
    const holeSpans = spans.filter((span) => span.hole !== -1).length;
    const occurrences = markers.reduce((sum, marker) => sum + countOccurrences(bytes, marker), 0);
    if (found.size !== markers.length || occurrences !== holeSpans) {
      throw new Error('a template hole is not the whole content of a string field');
    }
    spans.push({ length: bytes.length, prefixBytes: 0, hole: -1, children: roots.map((root) => root.index) });

    // The steps, in byte order: copies (split around stamps), new length prefixes, hole values.
    const steps: Step[] = [];
    const stampBytes = Buffer.from(stamp, 'latin1');
    let cursor = 0;
    const copyTo = (end: number): void => {
      for (let at = bytes.indexOf(stampBytes, cursor); at !== -1 && at + stampBytes.length <= end; at = bytes.indexOf(stampBytes, cursor)) {
        if (at > cursor) steps.push({ kind: 'copy', start: cursor, end: at });
        steps.push({ kind: 'stamp' });
        cursor = at + stampBytes.length;
      }
      if (end > cursor) steps.push({ kind: 'copy', start: cursor, end });
      cursor = end;
    };
    const emit = (span: FoundSpan): void => {
      copyTo(span.prefixStart);
      steps.push({ kind: 'length', span: span.index });
      if (span.hole !== -1) {
        steps.push({ kind: 'hole', hole: span.hole });
        cursor = span.contentEnd;
        return;
      }
      cursor = span.contentStart;
      for (const child of span.children) emit(child);
      copyTo(span.contentEnd);
    };
    for (const root of roots) emit(root);
    copyTo(bytes.length);
    return new WireTemplate(bytes, spans, steps, stampBytes.length);
  }

  /** The message with hole `i` holding `values[i]` and every stamp replaced by `stamp` (as long as the template's). */
  render(values: readonly string[], stamp: string): Buffer {
    const lengths = new Array<number>(this.spans.length);
    for (let i = 0; i < this.spans.length; i++) {
      const span = this.spans[i] as Span;
      if (span.hole !== -1) {
        lengths[i] = Buffer.byteLength(values[span.hole] as string, 'utf8');
        continue;
      }
      let length = span.length;
      for (const child of span.children) {
        const inner = this.spans[child] as Span;
        const rendered = lengths[child] as number;
        length += rendered + varintBytes(rendered) - inner.length - inner.prefixBytes;
      }
      lengths[i] = length;
    }
    const out = Buffer.allocUnsafe(lengths[this.spans.length - 1] as number);
    let at = 0;
    for (const step of this.steps) {
      switch (step.kind) {
        case 'copy':
          at += this.bytes.copy(out, at, step.start, step.end);
          break;
        case 'length':
          at = writeVarint(out, at, lengths[step.span] as number);
          break;
        case 'hole':
          at += out.write(values[step.hole] as string, at, 'utf8');
          break;
        case 'stamp':
          at += out.write(stamp, at, this.stampLength, 'latin1');
          break;
      }
    }
    return out;
  }
}

/** Nested message shapes of a type; map fields are messages of key (1) and value (2). */
function shapeOf(type: protobuf.Type): Shape {
  return (fieldNumber) => {
    const field = type.fieldsById[fieldNumber];
    if (field === undefined) return undefined;
    const value = field.resolvedType !== null && 'fieldsById' in field.resolvedType ? shapeOf(field.resolvedType) : undefined;
    return field.map ? (entryField) => (entryField === 2 ? value : undefined) : value;
  };
}

function countOccurrences(bytes: Buffer, marker: Buffer): number {
  let count = 0;
  for (let at = bytes.indexOf(marker); at !== -1; at = bytes.indexOf(marker, at + marker.length)) count++;
  return count;
}

function readVarint(bytes: Buffer, at: number): { value: number; next: number } {
  let value = 0;
  let shift = 0;
  for (;;) {
    const byte = bytes[at++];
    if (byte === undefined) throw new Error('truncated varint in a response template');
    value += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) return { value, next: at };
    shift += 7;
  }
}

function varintBytes(value: number): number {
  let bytes = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    bytes++;
  }
  return bytes;
}

function writeVarint(out: Buffer, at: number, value: number): number {
  while (value >= 0x80) {
    out[at++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 128);
  }
  out[at++] = value;
  return at;
}
