// Evaluates schema/perms files with the official @instantdb/core package, as the Instant CLI does:
// bundle each file with esbuild (every `@instantdb/*` import aliased to @instantdb/core), import the
// bundle and print JSON.stringify of its default export. One process for all files.
// A file given as `json:<path>` is a JSON schema (defs form, or a backup config with a `schema` key)
// rebuilt with the package's parseSchemaFromJSON instead.
// Usage: node evaluate.mjs <node_modules dir> <file>...   Output: one JSON object, file -> result.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [nodeModules, ...files] = process.argv.slice(2);
const require = createRequire(path.join(nodeModules, 'noop.js'));
const esbuild = require('esbuild');
// The ESM entry of @instantdb/core, imported natively (kept out of the bundle).
const coreUrl = pathToFileURL(
  path.join(nodeModules, '@instantdb', 'core', 'dist', 'esm', 'index.js'),
).href;

const aliasPlugin = {
  name: 'instantdb-alias',
  setup(build) {
    build.onResolve({ filter: /^@instantdb\// }, () => ({ path: coreUrl, external: true }));
  },
};

const out = {};
const core = await import(coreUrl);
for (const file of files) {
  try {
    if (file.startsWith('json:')) {
      let obj = JSON.parse(fs.readFileSync(file.slice(5), 'utf8'));
      if (!obj.entities && obj.schema) obj = obj.schema;
      out[file] = { ok: JSON.parse(JSON.stringify(core.parseSchemaFromJSON(obj))) };
      continue;
    }
    const result = await esbuild.build({
      entryPoints: [file],
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'node',
      logLevel: 'silent',
      nodePaths: [nodeModules],
      plugins: [aliasPlugin],
    });
    const code = result.outputFiles[0].text;
    const mod = await import('data:text/javascript;base64,' + Buffer.from(code).toString('base64'));
    out[file] = { ok: JSON.parse(JSON.stringify(mod.default)) };
  } catch (e) {
    out[file] = { error: String(e && e.message ? e.message : e) };
  }
}
process.stdout.write(JSON.stringify(out));
