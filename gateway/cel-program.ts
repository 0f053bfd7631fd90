/**
 * How Gatehouse turns CEL text into a program, for every place CEL is
 * written: the policies' `gatehouse.cel` conditions (gateway/policy/cel.ts),
 * KubernetesAccessPolicy conditions (gateway/kubernetes/access-cel.ts) and
 * the webhook's claim rules and mappings (gateway/kubernetes/claim-cel.ts),
 * each with an environment of its own variables. An expression is bounded
 * in length, parsed and type-checked once, and must yield the type its use
 * needs; at decision time it only runs.
 */
import { Environment, type ParseResult } from '@marcbachmann/cel-js';

/** Longest expression accepted, in characters. */
export const maxCelExpressionLength = 4096;

/**
 * A new environment with Gatehouse's bounds on an expression's size (and
 * `options`), to register variables on. Build one per kind of expression,
 * once: building it is the expensive part.
 */
export function celEnvironment(options: { enableOptionalTypes?: boolean; homogeneousAggregateLiterals?: boolean } = {}): Environment {
  return new Environment({
    limits: { maxAstNodes: 2000, maxDepth: 64, maxListElements: 256, maxMapEntries: 256, maxCallArguments: 16 },
    ...options,
  });
}

/** The types the checker may give an expression for a use, and how a problem names them. */
export interface CelResultType {
  readonly types: readonly string[];
  /** `a bool`, `a string`, … */
  readonly description: string;
}

/** A condition: map members are `dyn` to the checker, so a non-bool at run time is an evaluation error. */
export const celBool: CelResultType = { types: ['bool', 'dyn'], description: 'a bool' };

/**
 * Parses and type-checks one expression in `environment`: the parsed
 * expression, or the problem as a sentence when it is too long, does not
 * parse, does not type-check, or cannot yield `result`.
 */
export function checkCelExpression(
  environment: Environment,
  expression: string,
  result: CelResultType,
): { ok: true; parsed: ParseResult } | { ok: false; problem: string } {
  if (expression.length > maxCelExpressionLength) {
    return { ok: false, problem: `CEL expression is longer than ${maxCelExpressionLength} characters` };
  }
  try {
    const parsed = environment.parse(expression);
    const checked = parsed.check();
    if (!checked.valid) {
      return { ok: false, problem: `CEL expression does not type-check: ${celErrorLine(checked.error?.message ?? 'unknown error')}` };
    }
    if (!result.types.includes(checked.type ?? '')) {
      return { ok: false, problem: `CEL expression must yield ${result.description}, not ${checked.type ?? 'an unknown type'}` };
    }
    return { ok: true, parsed };
  } catch (error) {
    return { ok: false, problem: `CEL expression does not parse: ${celErrorLine(error instanceof Error ? error.message : String(error))}` };
  }
}

/** A parsed, type-checked condition over activations of type `A`. */
export interface CelBoolProgram<A> {
  readonly expression: string;
  /** The expression's value; throws on a CEL runtime error. */
  run(activation: A): unknown;
}

/**
 * A condition: an expression that must yield a bool.
 *
 * @example
 * const compiled = compileCelBool<Activation>(environment, "request.method == 'GET'");
 * if (compiled.ok) compiled.program.run(activation); // true or false
 */
export function compileCelBool<A extends object>(
  environment: Environment,
  expression: string,
): { ok: true; program: CelBoolProgram<A> } | { ok: false; problem: string } {
  const checked = checkCelExpression(environment, expression, celBool);
  if (!checked.ok) return checked;
  const { parsed } = checked;
  return { ok: true, program: { expression, run: (activation) => parsed(activation) as unknown } };
}

/** The first line of a CEL error message, at most 300 characters: enough to name the problem in a sentence. */
export function celErrorLine(message: string): string {
  const line = message.split('\n', 1)[0] ?? message;
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}
