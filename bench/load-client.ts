/**
 * Running load-generator.js from a benchmark: writing the request bodies it
 * reads, spawning it (pinned to the load core) and reading its result.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ClosedLoopResult, ClosedLoopSpec, OpenLoopResult, OpenLoopSpec } from './load-generator.js';
import { pinned } from './processes.js';

export const LOAD_GENERATOR = fileURLToPath(new URL('./load-generator.js', import.meta.url));

/** Writes bodies as load-generator.js reads them: uint32 big-endian length, then the bytes, one after another. */
export async function writeBodies(file: string, bodies: readonly Buffer[]): Promise<void> {
  const parts: Buffer[] = [];
  for (const body of bodies) {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(body.length, 0);
    parts.push(length, body);
  }
  await writeFile(file, Buffer.concat(parts));
}

/**
 * Runs the generator with the spec (written next to the bodies file) and
 * resolves with its result. `onStarted` gets the open loop's start time
 * (epoch ms) as soon as the generator reports it.
 */
export function runLoadGenerator(spec: ClosedLoopSpec, core: number | undefined): Promise<ClosedLoopResult>;
export function runLoadGenerator(
  spec: OpenLoopSpec,
  core: number | undefined,
  onStarted?: (startedAt: number) => void,
): Promise<OpenLoopResult>;
export async function runLoadGenerator(
  spec: ClosedLoopSpec | OpenLoopSpec,
  core: number | undefined,
  onStarted?: (startedAt: number) => void,
): Promise<ClosedLoopResult | OpenLoopResult> {
  const specFile = `${spec.bodiesFile}.spec.json`;
  await writeFile(specFile, JSON.stringify(spec));
  const [file, args] = pinned(core, process.execPath, [LOAD_GENERATOR, specFile]);
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let result: ClosedLoopResult | OpenLoopResult | undefined;
  createInterface({ input: child.stdout }).on('line', (line) => {
    const message = JSON.parse(line) as { event?: string; startedAt?: number } & Partial<ClosedLoopResult | OpenLoopResult>;
    if (message.event === 'started') onStarted?.(message.startedAt ?? Date.now());
    else result = message as ClosedLoopResult | OpenLoopResult;
  });
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  if (code !== 0 || !result) throw new Error(`load generator exited with ${code}:\n${stderr}`);
  return result;
}
