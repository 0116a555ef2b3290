// The JSON commands as a Node.js application uses them: ioredis (RESP2, its
// default), no msgpack code. Run by tests/node_client.rs against a server it
// started: `node check.mjs <port> <folder holding node_modules/ioredis>`.
// Prints one line per check and a closing "N passed, N failed".

import assert from "node:assert/strict";
import { createRequire } from "node:module";
import path from "node:path";

const [port, modulesDir] = process.argv.slice(2);
const require = createRequire(path.join(path.resolve(modulesDir), "package.json"));
const Redis = require("ioredis");

const redis = new Redis({ host: "127.0.0.1", port: Number(port), maxRetriesPerRequest: 1 });
const checks = [];
const check = (name, run) => checks.push([name, run]);

const TEMPLATE = ["a", "bb", "ccc", ["meta", ["x", "y"]]];
const PERMS = { a: true, bb: false, ccc: null, meta: { x: "hi", y: 3.9 } };

check("register a template", async () => {
  assert.equal(await redis.call("CALC.TEMPLATE.SET", "perms", JSON.stringify(TEMPLATE)), "OK");
});

check("write with SETDICT from a plain object", async () => {
  // Names in any order: the server packs them in template order.
  const shuffled = { meta: { y: 3.9, x: "hi" }, ccc: null, a: true, bb: false };
  const added = await redis.call(
    "CALC.SETDICT", "calculated-a|1", "perms",
    "42", JSON.stringify(PERMS), "43", JSON.stringify(shuffled), 3600,
  );
  assert.equal(added, 2);
  const ttl = await redis.ttl("calculated-a|1");
  assert.ok(ttl > 3590 && ttl <= 3600, `ttl ${ttl}`);
});

check("read with GETJSON: typed and nested", async () => {
  const text = await redis.call("CALC.GETJSON", "calculated-a|1", "42", "perms");
  assert.equal(typeof text, "string");
  const dict = JSON.parse(text);
  assert.deepEqual(dict, PERMS);
  assert.equal(typeof dict.a, "boolean");
  assert.equal(typeof dict.meta.y, "number");
  assert.equal(dict.meta.y, 3.9);
  // Names in template order.
  assert.deepEqual(Object.keys(dict), ["a", "bb", "ccc", "meta"]);
});

check("read several with MGETJSON", async () => {
  const texts = await redis.call("CALC.MGETJSON", "calculated-a|1", "perms", "43", "404", "42");
  assert.equal(texts.length, 3);
  assert.deepEqual(JSON.parse(texts[0]), PERMS);
  assert.equal(texts[1], null);
  assert.equal(texts[0], texts[2]);
});

check("read single values with GETVALUES", async () => {
  // The permission check: one name. RESP2 gives a boolean as the integer 1/0.
  const [canA] = await redis.call("CALC.GETVALUES", "calculated-a|1", "42", "perms", "a");
  assert.equal(canA, 1);
  const [bb, meta, again] = await redis.call(
    "CALC.GETVALUES", "calculated-a|1", "42", "perms", "bb", "meta", "bb",
  );
  assert.equal(bb, 0);
  assert.equal(again, 0);
  assert.deepEqual(meta.slice(0, 3), ["x", "hi", "y"]);
  assert.equal(Number(meta[3]), 3.9);
  assert.equal(await redis.call("CALC.GETVALUES", "calculated-a|1", "404", "perms", "a"), null);
});

check("exact numbers survive the round trip", async () => {
  await redis.call("CALC.TEMPLATE.SET", "nums", JSON.stringify(["sum", "max", "min", "two"]));
  // Written as text: JavaScript numbers cannot hold 2^64-1.
  const sent = '{"sum":0.30000000000000004,"max":18446744073709551615,"min":-9223372036854775808,"two":2.0}';
  await redis.call("CALC.SETDICT", "numbers", "nums", "f", sent, 60);
  const text = await redis.call("CALC.GETJSON", "numbers", "f", "nums");
  assert.equal(text, sent);
  assert.equal(JSON.parse(text).sum, 0.1 + 0.2);
  assert.equal(BigInt(text.match(/"max":(\d+)/)[1]), 2n ** 64n - 1n);
});

check("a bad value is refused, naming the field and the name", async () => {
  await assert.rejects(
    redis.call("CALC.SETDICT", "calculated-a|1", "perms", "44", JSON.stringify({ a: true }), 3600),
    (err) => err.message.startsWith("ERR field '44': missing name 'bb'"),
  );
  assert.equal(await redis.hexists("calculated-a|1", "44"), 0);
  await assert.rejects(
    redis.call("CALC.GETJSON", "calculated-a|1", "42", "nope"),
    (err) => err.message.startsWith("NOTEMPLATE"),
  );
});

let failed = 0;
for (const [name, run] of checks) {
  try {
    await run();
    console.log(`ok - ${name}`);
  } catch (err) {
    failed += 1;
    console.log(`not ok - ${name}: ${err.stack}`);
  }
}
redis.disconnect();
console.log(`${checks.length - failed} passed, ${failed} failed`);
process.exitCode = failed === 0 ? 0 : 1;
