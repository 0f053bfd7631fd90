/**
 * The runtime image without Docker: the files the Dockerfile's runtime stage
 * copies from the build stage, laid out in a temporary folder as in /app, must
 * be enough to run the command (bundle, descriptor files, demo configuration,
 * and the external modules test/deploy/runtime-modules.ts collects).
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import test from 'ava';

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const dockerfile = readFileSync(path.join(repoRoot, 'Dockerfile'), 'utf8');

/** `COPY --from=build <sources…> <destination>` lines of the runtime stage. */
function runtimeCopies(): { sources: string[]; destination: string }[] {
  return dockerfile
    .split('\n')
    .filter((line) => line.startsWith('COPY --from=build '))
    .map((line) => {
      const parts = line.slice('COPY --from=build '.length).trim().split(/\s+/);
      return { sources: parts.slice(0, -1), destination: parts.at(-1)! };
    });
}

/** Copies a build-stage path (`/src/...` is the repository, `/runtime/node_modules` the script's output) into `root`. */
function copyInto(root: string, source: string, destination: string, runtimeModules: string): void {
  const from = source.startsWith('/src/')
    ? path.join(repoRoot, source.slice('/src/'.length))
    : source.replace('/runtime/node_modules', runtimeModules);
  const target = path.join(root, destination);
  const base = path.basename(from);
  if (!base.includes('*')) {
    cpSync(from, destination.endsWith('/') ? path.join(target, base) : target, { recursive: true });
    return;
  }
  const pattern = new RegExp(`^${base.replace(/[.]/g, '\\.').replace(/\*/g, '.*')}$`);
  mkdirSync(target, { recursive: true });
  for (const name of readdirSync(path.dirname(from)).filter((entry) => pattern.test(entry))) {
    cpSync(path.join(path.dirname(from), name), path.join(target, name));
  }
}

test('the runtime stage copies the bundle, the descriptors, the demo and the external modules', (t) => {
  const sources = runtimeCopies().flatMap((copy) => copy.sources);
  t.deepEqual(sources, [
    '/src/dist/gateway/cli/gatehouse*.mjs',
    '/src/dist/gatehouse.json',
    '/src/dist/gatehouse.binpb',
    '/src/deploy/examples/todo',
    '/runtime/node_modules',
  ]);
  t.regex(dockerfile, /^FROM node:20\S* AS build$/m);
  t.regex(dockerfile, /^RUN npm ci$/m);
  t.regex(dockerfile, /^USER 65532:65532$/m, 'runs as a non-root user');
});

test('the files of the runtime stage are enough to decide a request and to load reflection', async (t) => {
  const work = mkdtempSync(path.join(tmpdir(), 'gatehouse-image-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  const runtimeModules = path.join(work, 'runtime-modules');
  await run(process.execPath, [path.join(repoRoot, 'dist/test/deploy/runtime-modules.js'), runtimeModules]);
  const app = path.join(work, 'app');
  for (const copy of runtimeCopies()) for (const source of copy.sources) copyInto(app, source, copy.destination, runtimeModules);

  const entry = path.join(app, 'dist/gateway/cli/gatehouse.mjs');
  // No --config: the demo configuration is read from beside the bundle.
  const request = path.join(app, 'deploy/examples/todo/requests/reminder-get-todos.yaml');
  const { stdout } = await run(process.execPath, [entry, 'check', request], { cwd: work });
  t.regex(stdout, /^ALLOW/);

  // Loaded after the first Check by `serve`: it must resolve from the bundle's folder.
  const requireFromBundle = createRequire(entry);
  const reflection = requireFromBundle('@grpc/reflection') as { ReflectionService?: unknown };
  t.is(typeof reflection.ReflectionService, 'function');
  t.true(requireFromBundle.resolve('@grpc/reflection').startsWith(path.join(app, 'node_modules')));
});
