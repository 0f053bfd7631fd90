/**
 * How Gatehouse turns CEL text into a program, for every place CEL is
 * written: the policies' `gatehouse.cel` conditions (gateway/policy/cel.ts)
 * and KubernetesAccessPolicy conditions (gateway/kubernetes/access-cel.ts),
 * each with an environment of its own variables. An expression is bounded
 * in length, parsed and type-checked once, and must yield a bool; at
 * decision time it only runs.
 */
import { Environment } from '@marcbachmann/cel-js';

/** Longest expression accepted, in characters. */
export const maxCelExpressionLength = 4096;

/**
 * A new environment with Gatehouse's bounds on an expression's size, to
 * register variables on. Build one per kind of expression, once: building
 * it is the expensive part.
 */
export function celEnvironment(): Environment {
  return new Environment({
    limits: { maxAstNodes: 2000, maxDepth: 64, maxListElements: 256, maxMapEntries: 256, maxCallArguments: 16 },
  });
}

/** A parsed, type-checked expression over activations of type `A`. */
export interface CelBoolProgram<A> {
  readonly expression: string;
  /** The expression's value; throws on a CEL runtime error. */
  run(activation: A): unknown;
}

/**
 * Parses and type-checks one expression in `environment`. Returns the
 * problem as a sentence when it is too long, does not parse, does not
 * type-check, or cannot yield a bool.
 *
 * @example
 * const compiled = compileCelBool<Activation>(environment, "request.method == 'GET'");
 * if (compiled.ok) compiled.program.run(activation); // true or false
 */
export function compileCelBool<A extends object>(
  environment: Environment,
  expression: string,
): { ok: true; program: CelBoolProgram<A> } | { ok: false; problem: string } {
  if (expression.length > maxCelExpressionLength) {
    return { ok: false, problem: `CEL expression is longer than ${maxCelExpressionLength} characters` };
  }
  try {
    const parsed = environment.parse(expression);
    const checked = parsed.check();
    if (!checked.valid) {
      return { ok: false, problem: `CEL expression does not type-check: ${firstLine(checked.error?.message ?? 'unknown error')}` };
    }
    // Map members are `dyn` to the checker; a non-bool at run time is an evaluation error.
    if (checked.type !== 'bool' && checked.type !== 'dyn') {
      return { ok: false, problem: `CEL expression must yield a bool, not ${checked.type ?? 'an unknown type'}` };
    }
    return { ok: true, program: { expression, run: (activation) => parsed(activation) as unknown } };
  } catch (error) {
    return { ok: false, problem: `CEL expression does not parse: ${firstLine(error instanceof Error ? error.message : String(error))}` };
  }
}

function firstLine(message: string): string {
  return message.split('\n', 1)[0] ?? message;
}
