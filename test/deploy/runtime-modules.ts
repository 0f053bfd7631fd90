/**
 * Copies the packages the `gatehouse` bundle leaves external (scripts/bundle.ts)
 * and everything they need at run time, and nothing else, into a fresh
 * node_modules folder for the runtime image (Dockerfile), after `npm run build`:
 *   node dist/test/deploy/runtime-modules.js <target node_modules>
 * Dependencies are resolved as Node resolves them (the nearest node_modules
 * upwards), so nested versions stay nested.
 */
import { cpSync, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

interface PackageManifest {
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

/** The bundle's external packages. */
export const EXTERNAL_PACKAGES = ['@grpc/reflection'];

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** The folder of `name` as Node would find it from `fromDir`. */
function locate(name: string, fromDir: string): string {
  for (let dir = fromDir; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', name);
    if (existsSync(path.join(candidate, 'package.json'))) return candidate;
    if (dir === repoRoot || dir === path.dirname(dir)) throw new Error(`cannot find ${name} from ${fromDir}`);
  }
}

/** Every package folder reachable from the external packages through dependencies and peer dependencies. */
export function runtimePackageDirs(): string[] {
  const found = new Set<string>();
  const visit = (dir: string): void => {
    if (found.has(dir)) return;
    found.add(dir);
    const manifest = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as PackageManifest;
    const optionalPeers = new Set(
      Object.entries(manifest.peerDependenciesMeta ?? {})
        .filter(([, meta]) => meta.optional)
        .map(([name]) => name),
    );
    const names = [
      ...Object.keys(manifest.dependencies ?? {}),
      ...Object.keys(manifest.peerDependencies ?? {}).filter((name) => !optionalPeers.has(name)),
    ];
    for (const name of names) visit(locate(name, dir));
  };
  for (const name of EXTERNAL_PACKAGES) visit(locate(name, repoRoot));
  return [...found].sort();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const target = process.argv[2];
  if (!target) {
    console.error('usage: node dist/test/deploy/runtime-modules.js <target node_modules>');
    process.exit(2);
  }
  const source = path.join(repoRoot, 'node_modules');
  const dirs = runtimePackageDirs();
  for (const dir of dirs) {
    // Nested node_modules are copied with their own package, not twice.
    cpSync(dir, path.join(target, path.relative(source, dir)), {
      recursive: true,
      filter: (file) => !path.relative(dir, file).split(path.sep).includes('node_modules'),
    });
  }
  console.log(`runtime modules: ${dirs.length} packages into ${target}`);
}
