// flowtest report: draw each flow's coverage graph (Graphviz DOT) as SVG, with @viz-js/viz
// (Graphviz compiled to WebAssembly) from the project's node_modules. Usage: node render.mjs RESULTS
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const results = process.argv[2];
const require = createRequire(join(process.cwd(), "package.json"));
const viz = await require("@viz-js/viz").instance();
let drawn = 0;
for (const name of readdirSync(results)) {
  if (!name.startsWith("flowtest-coverage-") || !name.endsWith("-attachment.dot")) continue;
  const svg = viz.renderString(readFileSync(join(results, name), "utf8"), { format: "svg" });
  writeFileSync(join(results, name.replace(/\.dot$/, ".svg")), svg);
  drawn += 1;
}
console.log(`${drawn}`);
