/**
 * The companion services' `gatehouse <name> serve --config <file>`: load and
 * check the configuration (failing fast), serve, and on SIGTERM/SIGINT stop
 * taking requests, finish those in flight and exit 0. Anything but `serve`,
 * or no configuration, is a usage error (exit 2).
 */
import { createLogger, type Logger } from '../../gateway/log.js';

export interface ServeCommand<Config extends { readonly log: { readonly level: string } }> {
  /** As in `gatehouse <name> serve`; also the logger's component. */
  readonly name: string;
  readonly usage: string;
  load(configPath: string): Promise<Config>;
  start(config: Config, dependencies: { readonly log: Logger; readonly env: NodeJS.ProcessEnv }): Promise<{ close(): Promise<void> }>;
}

/**
 * Runs the command's subcommand; resolves with the exit code (the process
 * keeps serving after `serve` resolves with 0).
 *
 * @example
 * await runServeCommand(tokenExchangeCommand, ['serve'], 'deploy/token-exchange.yaml');
 */
export async function runServeCommand<Config extends { readonly log: { readonly level: string } }>(
  command: ServeCommand<Config>,
  args: readonly string[],
  configPath: string | undefined,
): Promise<number> {
  const [subcommand] = args;
  if (subcommand !== 'serve') {
    process.stderr.write(subcommand === undefined ? command.usage : `unknown ${command.name} command '${subcommand}'\n\n${command.usage}`);
    return 2;
  }
  if (configPath === undefined) {
    process.stderr.write(`${command.name} serve needs --config <file>\n\n${command.usage}`);
    return 2;
  }
  const config = await command.load(configPath);
  const log = createLogger(config.log.level).child({ component: command.name });
  const service = await command.start(config, { log, env: process.env });
  const stop = (signal: string): void => {
    log.info({ signal }, 'shutting down');
    void service.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  return 0;
}
