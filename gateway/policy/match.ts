/**
 * The matchers policies compile to. Built once at load time; a request only
 * runs `matches`. Three kinds: Istio string match (exact, `prefix*`,
 * `*suffix`, `*`), IP/CIDR blocks, and path templates (`{*}`, `{**}`).
 */
import { BlockList, isIP } from 'node:net';

/** Something that decides whether one attribute value matches. */
export interface ValueMatcher {
  matches(value: string): boolean;
}

/**
 * Istio string matching over a list of values (any one matching suffices):
 * `"abc"` exact, `"abc*"` prefix (matches `abc` itself), `"*abc"` suffix,
 * `"*"` presence (any non-empty value).
 */
export class StringMatcher implements ValueMatcher {
  private readonly exact = new Set<string>();
  private readonly prefixes: string[] = [];
  private readonly suffixes: string[] = [];
  private presence = false;

  /** `values` must have passed `checkStringPattern`. */
  constructor(values: readonly string[]) {
    for (const value of values) {
      if (value === '*') this.presence = true;
      else if (value.startsWith('*')) this.suffixes.push(value.slice(1));
      else if (value.endsWith('*')) this.prefixes.push(value.slice(0, -1));
      else this.exact.add(value);
    }
  }

  /** Exact values only (no wildcard): what the principal index can key on. */
  get exactValuesOnly(): readonly string[] | undefined {
    if (this.presence || this.prefixes.length > 0 || this.suffixes.length > 0) return undefined;
    return [...this.exact];
  }

  matches(value: string): boolean {
    if (this.presence && value !== '') return true;
    if (this.exact.has(value)) return true;
    for (const prefix of this.prefixes) if (value.startsWith(prefix)) return true;
    for (const suffix of this.suffixes) if (value.endsWith(suffix)) return true;
    return false;
  }
}

/**
 * Why a string match value is not one Istio's four forms can express, or
 * undefined when it is fine. A `*` inside a value (`a*b`) is refused rather
 * than silently compared as a literal.
 */
export function checkStringPattern(value: string): string | undefined {
  if (value === '') return 'must not be empty';
  if (value === '*') return undefined;
  const inner = value.slice(value.startsWith('*') ? 1 : 0, value.endsWith('*') ? -1 : undefined);
  if (inner.includes('*')) return `"${value}": "*" is only allowed alone, as a prefix or as a suffix`;
  return undefined;
}

/** Parses `10.0.0.0/8`, `10.1.2.3`, `2001:db8::/32` or `::1`; undefined when invalid. */
export function parseIpBlock(block: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | undefined {
  const slash = block.indexOf('/');
  const address = slash === -1 ? block : block.slice(0, slash);
  const version = isIP(address);
  if (version === 0) return undefined;
  const max = version === 4 ? 32 : 128;
  let prefix = max;
  if (slash !== -1) {
    const bits = block.slice(slash + 1);
    if (!/^\d{1,3}$/.test(bits)) return undefined;
    prefix = Number(bits);
    if (prefix > max) return undefined;
  }
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

/** Matches an IP address against single IPs and CIDR blocks, IPv4 and IPv6. */
export class IpMatcher implements ValueMatcher {
  private readonly blocks = new BlockList();

  /** `blocks` must have passed `parseIpBlock`. */
  constructor(blocks: readonly string[]) {
    for (const block of blocks) {
      const parsed = parseIpBlock(block);
      if (parsed === undefined) throw new Error(`invalid IP block ${block}`);
      this.blocks.addSubnet(parsed.address, parsed.prefix, parsed.family);
    }
  }

  /** A value that is not an IP address matches nothing. */
  matches(ip: string): boolean {
    const canonical = unmapIpv4(ip);
    const version = isIP(canonical);
    if (version === 0) return false;
    return this.blocks.check(canonical, version === 4 ? 'ipv4' : 'ipv6');
  }
}

/** `::ffff:10.0.0.1` is the IPv4 address 10.0.0.1 as far as policies are concerned. */
function unmapIpv4(ip: string): string {
  const lower = ip.toLowerCase();
  if (lower.startsWith('::ffff:') && isIP(lower.slice(7)) === 4) return lower.slice(7);
  return ip;
}

/** A path template segment: a literal, `{*}` (one non-empty segment) or `{**}` (the rest). */
type TemplateSegment = { readonly kind: 'literal'; readonly text: string } | { readonly kind: 'one' } | { readonly kind: 'rest' };

/** Whether a path value uses template operators and must be matched as a template. */
export function isPathTemplate(path: string): boolean {
  return path.includes('{') || path.includes('}');
}

/**
 * Why a path template is invalid, or undefined. Istio's rules: `{*}` and
 * `{**}` are whole segments, `{**}` only as the last one, no other braces
 * and no `*` globs outside the operators.
 */
export function checkPathTemplate(path: string): string | undefined {
  if (!path.startsWith('/')) return `template "${path}" must start with "/"`;
  const segments = path.slice(1).split('/');
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i] as string;
    if (segment === '{*}') continue;
    if (segment === '{**}') {
      if (i !== segments.length - 1) return `template "${path}": "{**}" is only allowed as the last segment`;
      continue;
    }
    if (/[{}*]/.test(segment)) {
      return `template "${path}": "{*}" and "{**}" must be whole path segments, and no other "{", "}" or "*" is allowed`;
    }
  }
  return undefined;
}

/**
 * Matches paths against compiled templates. `/a/{*}/c` matches `/a/x/c`;
 * `/a/{**}` matches `/a/`, `/a/x` and `/a/x/y` but not `/a`.
 */
export class PathTemplateMatcher implements ValueMatcher {
  private readonly templates: (readonly TemplateSegment[])[];

  /** `templates` must have passed `checkPathTemplate`. */
  constructor(templates: readonly string[]) {
    this.templates = templates.map((template) =>
      template
        .slice(1)
        .split('/')
        .map((segment): TemplateSegment =>
          segment === '{*}' ? { kind: 'one' } : segment === '{**}' ? { kind: 'rest' } : { kind: 'literal', text: segment },
        ),
    );
  }

  matches(path: string): boolean {
    if (!path.startsWith('/')) return false;
    const segments = path.slice(1).split('/');
    return this.templates.some((template) => matchTemplate(template, segments));
  }
}

function matchTemplate(template: readonly TemplateSegment[], segments: readonly string[]): boolean {
  for (let i = 0; i < template.length; i++) {
    const part = template[i] as TemplateSegment;
    if (part.kind === 'rest') return segments.length > i; // the slash before {**} is literal; after it, anything
    const segment = segments[i];
    if (segment === undefined) return false;
    if (part.kind === 'one' ? segment === '' : segment !== part.text) return false;
  }
  return segments.length === template.length;
}

/** Several matchers of which any one may match. */
export class AnyOfMatcher implements ValueMatcher {
  constructor(private readonly matchers: readonly ValueMatcher[]) {}

  matches(value: string): boolean {
    for (const matcher of this.matchers) if (matcher.matches(value)) return true;
    return false;
  }
}

/** A matcher for `paths` values: string patterns and templates together. */
export function pathMatcher(values: readonly string[]): ValueMatcher {
  const templates = values.filter(isPathTemplate);
  const plain = values.filter((value) => !isPathTemplate(value));
  if (templates.length === 0) return new StringMatcher(plain);
  if (plain.length === 0) return new PathTemplateMatcher(templates);
  return new AnyOfMatcher([new StringMatcher(plain), new PathTemplateMatcher(templates)]);
}
