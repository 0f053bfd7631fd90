/**
 * `gatehouse token-exchange serve --config <file>`: load and check the
 * configuration (failing fast), serve, and on SIGTERM/SIGINT stop taking
 * exchanges, finish those in flight and exit.
 */
import { runServeCommand } from '../shared/serve-command.js';
import { loadTokenExchangeConfig } from './config.js';
import { startTokenExchange } from './service.js';

export const TOKEN_EXCHANGE_USAGE = `Usage: gatehouse token-exchange serve --config <file>

Serves RFC 8693 token exchange over HTTPS (POST <tokenPath>, JWKS, discovery)
and gRPC (gatehouse.tokenexchange.v1.TokenExchangeService). See docs/token-exchange.md.
`;

/**
 * Runs a `token-exchange` subcommand; resolves with the exit code (the
 * process keeps serving after `serve` resolves with 0).
 *
 * @example
 * await runTokenExchange(['serve'], 'deploy/token-exchange.yaml');
 */
export function runTokenExchange(args: readonly string[], configPath: string | undefined): Promise<number> {
  return runServeCommand(
    { name: 'token-exchange', usage: TOKEN_EXCHANGE_USAGE, load: loadTokenExchangeConfig, start: startTokenExchange },
    args,
    configPath,
  );
}
