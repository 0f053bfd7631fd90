/**
 * Build step: bundles the `gatehouse` command into a few ES modules, because
 * a replica that scales from zero pays for every module file it loads (the
 * measured start-up is in bench/RESULTS.md): an entry, and one chunk per
 * part loaded on demand (each command, ioredis), so `serve` compiles no
 * other command's code.
 *
 * The bundle sits beside the unbundled entry (dist/gateway/cli/), so paths
 * that modules compute from `import.meta.url` (the demo configuration, the
 * descriptor files) resolve the same in both. `@grpc/reflection` stays
 * external: it reads its own .proto files next to itself, and it is loaded
 * only after the first Check.
 */
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { build } from 'esbuild';

const distRoot = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

/** CommonJS dependencies expect these; an ES module bundle has to provide them. */
const banner = [
  "import { createRequire as __gatehouseCreateRequire } from 'node:module';",
  "import { fileURLToPath as __gatehouseFileURLToPath } from 'node:url';",
  'const require = __gatehouseCreateRequire(import.meta.url);',
  'const __filename = __gatehouseFileURLToPath(import.meta.url);',
  "const __dirname = __gatehouseFileURLToPath(new URL('.', import.meta.url));",
].join('\n');

// Chunk names carry content hashes: drop the previous build's chunks so they cannot pile up.
const cliDir = path.join(distRoot, 'gateway/cli');
for (const file of await readdir(cliDir)) if (/^gatehouse-.*\.mjs$/.test(file)) await rm(path.join(cliDir, file));

const result = await build({
  entryPoints: [path.join(distRoot, 'gateway/cli/main.js')],
  outdir: cliDir,
  entryNames: 'gatehouse',
  // Each command (and each part loaded on demand) is its own chunk, so `serve` does not compile the others.
  splitting: true,
  chunkNames: 'gatehouse-[hash]',
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['@grpc/reflection'],
  banner: { js: banner },
  logLevel: 'warning',
  metafile: true,
});
const bytes = Object.values(result.metafile.outputs).reduce((sum, output) => sum + output.bytes, 0);
console.log(`bundle: dist/gateway/cli/gatehouse.mjs, ${Math.round(bytes / 1024)} KiB`);
