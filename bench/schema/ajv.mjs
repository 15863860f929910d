// Schema validations per second in-process with ajv (npm), the reference
// point of bench/schema/schema.c: the same schema compiled once (Ajv2020,
// draft 2020-12), each validation JSON.parse of the instance's text and the
// compiled function. The same three loops as schema.c: parse and validate,
// parse only, validate only; batches of 1,000 until SECONDS have passed,
// after WARMUP seconds of the first loop. Prints one JSON line.
//
//   node bench/schema/ajv.mjs [-d SECONDS] [-w WARMUP_SECONDS] [-x INVALID] SCHEMA INSTANCE
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const Ajv2020 = require("ajv/dist/2020").default;
const ajvVersion = require("ajv/package.json").version;

let seconds = 3, warmup = 1, invalidPath = null;
const args = process.argv.slice(2);
const files = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "-d") seconds = Number(args[++i]);
  else if (args[i] === "-w") warmup = Number(args[++i]);
  else if (args[i] === "-x") invalidPath = args[++i];
  else files.push(args[i]);
}
if (files.length !== 2 || !(seconds > 0) || !(warmup >= 0)) {
  console.error("usage: ajv.mjs [-d SECONDS] [-w WARMUP_SECONDS] [-x INVALID] SCHEMA INSTANCE");
  process.exit(2);
}
const text = (p) => readFileSync(p, "utf8").replace(/[\r\n]+$/, "");
const schema = JSON.parse(text(files[0]));
const instance = text(files[1]);

// ajv's defaults (strict mode on, first error only): the schema prepared once
const ajv = new Ajv2020();
const validate = ajv.compile(schema);
if (!validate(JSON.parse(instance))) {
  console.error("ajv: the instance is not valid:", ajv.errorsText(validate.errors));
  process.exit(1);
}
let invalidError = null;
if (invalidPath) {
  if (validate(JSON.parse(text(invalidPath)))) {
    console.error(`ajv: ${invalidPath} was not found invalid`);
    process.exit(1);
  }
  invalidError = ajv.errorsText(validate.errors);
}

const BATCH = 1000;
const parsed = JSON.parse(instance);
let sink = 0;
function run(kind, secs) {
  const c0 = process.cpuUsage();
  const w0 = process.hrtime.bigint();
  let n = 0, w = 0;
  while (w < secs) {
    if (kind === "both") {
      for (let i = 0; i < BATCH; i++) {
        if (!validate(JSON.parse(instance))) throw new Error("invalid");
      }
    } else if (kind === "parse") {
      for (let i = 0; i < BATCH; i++) sink += JSON.parse(instance).pages;
    } else {
      for (let i = 0; i < BATCH; i++) {
        if (!validate(parsed)) throw new Error("invalid");
      }
    }
    n += BATCH;
    w = Number(process.hrtime.bigint() - w0) / 1e9;
  }
  const c = process.cpuUsage(c0);
  const cpu = (c.user + c.system) / 1e6;
  return { n, wall_s: +w.toFixed(3), cpu_s: +cpu.toFixed(3), per_s: Math.round(n / w),
           per_cpu_s: Math.round(n / cpu), us_each: +(1e6 * cpu / n).toFixed(3) };
}

if (warmup > 0) run("both", warmup);
const out = { validator: "ajv", ajv_version: ajvVersion, node_version: process.versions.node,
              instance_bytes: Buffer.byteLength(instance) };
if (invalidPath) out.invalid_error = invalidError;
out.parse_and_validate = run("both", seconds);
out.parse_only = run("parse", seconds);
out.validate_only = run("validate", seconds);
if (sink < 0) console.error(sink);
console.log(JSON.stringify(out));
