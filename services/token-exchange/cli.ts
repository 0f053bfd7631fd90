/**
 * `gatehouse token-exchange serve --config <file>`: load and check the
 * configuration (failing fast), serve, and on SIGTERM/SIGINT stop taking
 * exchanges, finish those in flight and exit.
 */
import { createLogger } from '../../gateway/log.js';
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
export async function runTokenExchange(args: readonly string[], configPath: string | undefined): Promise<number> {
  const [subcommand] = args;
  if (subcommand !== 'serve') {
    process.stderr.write(
      subcommand === undefined ? TOKEN_EXCHANGE_USAGE : `unknown token-exchange command '${subcommand}'\n\n${TOKEN_EXCHANGE_USAGE}`,
    );
    return 2;
  }
  if (configPath === undefined) {
    process.stderr.write(`token-exchange serve needs --config <file>\n\n${TOKEN_EXCHANGE_USAGE}`);
    return 2;
  }
  const config = await loadTokenExchangeConfig(configPath);
  const log = createLogger(config.log.level).child({ component: 'token-exchange' });
  const service = await startTokenExchange(config, { log, env: process.env });
  const stop = (signal: string): void => {
    log.info({ signal }, 'shutting down');
    void service.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  return 0;
}
