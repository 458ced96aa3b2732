#!/usr/bin/env node
// `npm start`'s build: rebuilds only the packages whose sources changed since their last build
// (a content hash kept in dist/.build-stamp), JavaScript only (declarations are for publishing:
// `npm run build` makes them). A package is built into a staging folder and copied over dist/
// without deleting anything first, so an instance running from dist/ keeps every file it may load.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

// The repository root; a test passes another workspace as the first argument.
const root = process.argv[2] ?? fileURLToPath(new URL('..', import.meta.url));
const STAMP = '.build-stamp';
const read = (path) => JSON.parse(readFileSync(path, 'utf8'));

/** Every file below `path`, sorted. */
function filesBelow(path) {
  if (!existsSync(path)) return [];
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path)
    .sort()
    .flatMap((name) => filesBelow(join(path, name)));
}

/** The hash of what a package's build reads: its sources, build config, manifest and the root tsconfig. */
function sourceHash(folder) {
  const hash = createHash('sha256');
  const inputs = [
    ...filesBelow(join(folder, 'src')),
    join(folder, 'tsup.config.ts'),
    join(folder, 'package.json'),
    join(root, 'tsconfig.json'),
  ];
  for (const file of inputs) {
    if (!existsSync(file)) continue;
    hash.update(relative(root, file)).update('\0').update(readFileSync(file)).update('\0');
  }
  return hash.digest('hex');
}

/** The workspace packages with a build script, each after the packages it depends on. */
function buildOrder() {
  const packages = readdirSync(join(root, 'packages'))
    .map((name) => join(root, 'packages', name))
    .filter((folder) => existsSync(join(folder, 'package.json')))
    .map((folder) => ({ folder, manifest: read(join(folder, 'package.json')) }))
    .filter(({ manifest }) => manifest.scripts?.build);
  const byName = new Map(packages.map((entry) => [entry.manifest.name, entry]));
  const ordered = [];
  const visit = (entry) => {
    if (ordered.includes(entry)) return;
    for (const dependency of Object.keys(entry.manifest.dependencies ?? {})) {
      const inner = byName.get(dependency);
      if (inner) visit(inner);
    }
    ordered.push(entry);
  };
  for (const entry of packages) visit(entry);
  return ordered;
}

for (const { folder, manifest } of buildOrder()) {
  const dist = join(folder, 'dist');
  const hash = sourceHash(folder);
  const stamp = join(dist, STAMP);
  if (existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === hash) continue;
  const staging = join(folder, 'dist.staging');
  rmSync(staging, { recursive: true, force: true });
  const started = Date.now();
  process.stderr.write(`building ${manifest.name}…`);
  const result = spawnSync(
    process.execPath,
    [join(root, 'node_modules/tsup/dist/cli-default.js'), '--out-dir', staging],
    {
      cwd: folder,
      env: { ...process.env, NCR_UPLOAD_BUILD: 'js' },
      stdio: ['ignore', 'pipe', 'pipe'],
      encoding: 'utf8',
    },
  );
  if (result.status !== 0) {
    rmSync(staging, { recursive: true, force: true });
    process.stderr.write(' failed\n');
    process.stderr.write(`${result.stdout}${result.stderr}`);
    process.exit(result.status ?? 1);
  }
  cpSync(staging, dist, { recursive: true, force: true });
  rmSync(staging, { recursive: true, force: true });
  writeFileSync(stamp, `${hash}\n`);
  process.stderr.write(` ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}
// Silent when nothing changed: `npm run -s cli -- config` output stays clean.
