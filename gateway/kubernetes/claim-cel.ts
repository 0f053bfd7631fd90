/**
 * The CEL expressions of a JWT authenticator, as Kubernetes' structured
 * authentication configuration has them: claim validation rules and claim
 * mappings see `claims` (the verified token's claims), user validation rules
 * see `user` (the mapped `user.Info`). Parsed and type-checked once when the
 * configuration is read; at review time they only run.
 */
import type { ASTNode, Environment } from '@marcbachmann/cel-js';
import { celBool, celEnvironment, celErrorLine, checkCelExpression, type CelResultType } from '../cel-program.js';

// Kubernetes' CEL environment has optional types (`claims.?email_verified.orValue(true)`) and mixed list literals.
const options = { enableOptionalTypes: true, homogeneousAggregateLiterals: false };
const claimsEnvironment = celEnvironment(options).registerVariable('claims', 'map');
const userEnvironment = celEnvironment(options).registerVariable('user', 'map');

/** What an expression must yield: a bool (validation rules), a string (username, uid), or a string or list of strings (groups, extra). */
export type ClaimExpressionResult = 'bool' | 'string' | 'strings';

const resultTypes: Record<ClaimExpressionResult, CelResultType> = {
  bool: celBool,
  string: { types: ['string', 'dyn'], description: 'a string' },
  // `null` and `[]` (list<T>) are accepted: they mean "no value" for groups and extra.
  strings: {
    types: ['string', 'dyn', 'null', 'list', 'list<string>', 'list<dyn>', 'list<T>'],
    description: 'a string or a list of strings',
  },
};

/** The outcome of running an expression: its value, or why it has none. */
export type CelOutcome = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly problem: string };

/** A parsed, type-checked expression over one variable (`claims` or `user`). */
export interface ClaimProgram {
  readonly expression: string;
  /** The claims the expression reads by name (`claims.x`, `claims.?x`, `claims['x']`); empty for `user` expressions. */
  readonly claimsRead: ReadonlySet<string>;
  /** Runs the expression; a CEL runtime error is an outcome, never an exception. */
  run(variable: unknown): CelOutcome;
}

/**
 * Compiles an expression over `claims`.
 *
 * @example
 * const compiled = compileClaimExpression("'oidc:' + claims.sub", 'string');
 * if (compiled.ok) compiled.program.run(token.claims); // { ok: true, value: 'oidc:alice' }
 */
export function compileClaimExpression(
  expression: string,
  result: ClaimExpressionResult,
): { ok: true; program: ClaimProgram } | { ok: false; problem: string } {
  return compile(claimsEnvironment, 'claims', expression, result);
}

/**
 * Compiles a user validation rule: an expression over `user` (`user.username`,
 * `user.uid`, `user.groups`, `user.extra`) that yields a bool.
 */
export function compileUserExpression(expression: string): { ok: true; program: ClaimProgram } | { ok: false; problem: string } {
  return compile(userEnvironment, 'user', expression, 'bool');
}

function compile(
  environment: Environment,
  variable: 'claims' | 'user',
  expression: string,
  result: ClaimExpressionResult,
): { ok: true; program: ClaimProgram } | { ok: false; problem: string } {
  const checked = checkCelExpression(environment, expression, resultTypes[result]);
  if (!checked.ok) return checked;
  const { parsed } = checked;
  const claimsRead = new Set<string>();
  if (variable === 'claims') collectClaimsRead(parsed.ast, claimsRead);
  return {
    ok: true,
    program: {
      expression,
      claimsRead,
      run: (value) => {
        try {
          return { ok: true, value: parsed({ [variable]: value }) as unknown };
        } catch (error) {
          return { ok: false, problem: celErrorLine(error instanceof Error ? error.message : String(error)) };
        }
      },
    },
  };
}

/** Adds the names of the claims `node` reads by field selection or a constant index. */
function collectClaimsRead(node: ASTNode, into: Set<string>): void {
  if ((node.op === '.' || node.op === '.?') && isClaims(node.args[0])) into.add(node.args[1]);
  if (node.op === '[]' || node.op === '[?]') {
    const [target, index] = node.args;
    if (isClaims(target) && index.op === 'value' && typeof index.args === 'string') into.add(index.args);
  }
  const args: unknown = node.args;
  if (Array.isArray(args)) for (const arg of args.flat(2)) if (isNode(arg)) collectClaimsRead(arg, into);
}

function isClaims(node: ASTNode): boolean {
  return node.op === 'id' && node.args === 'claims';
}

function isNode(value: unknown): value is ASTNode {
  return typeof value === 'object' && value !== null && 'op' in value && 'args' in value;
}
