// The node side of scripts/compare-client-cpu.sh: the same import (N entities of 5 attributes, chunks
// of 500) and queries through the official @instantdb/admin, reporting this process's CPU time.
// Usage: node import_query.mjs <entities> <namespace>   (reads INSTANT_APP_ID, INSTANT_APP_ADMIN_TOKEN,
// INSTANT_API_URI)
import { init, id } from '@instantdb/admin';

const n = Number(process.argv[2] || 100000);
const ns = process.argv[3] || 'node_items';
const db = init({
  appId: process.env.INSTANT_APP_ID,
  adminToken: process.env.INSTANT_APP_ADMIN_TOKEN,
  apiURI: process.env.INSTANT_API_URI,
});
const ms = (u) => (u.user + u.system) / 1000;

const start = process.cpuUsage();
let chunk = [];
for (let i = 0; i < n; i++) {
  chunk.push(
    db.tx[ns][id()].update({ name: `item ${i}`, rank: i, group: i % 100, active: i % 2 === 0, note: 'imported' }),
  );
  if (chunk.length === 500 || i + 1 === n) {
    await db.transact(chunk);
    chunk = [];
  }
}
const imported = process.cpuUsage(start);
const median = (runs) => runs.sort((a, b) => a - b)[Math.floor(runs.length / 2)];
// The indexed query of one group, 20 times (groups 0 to 19); the median.
const indexed = [];
let someRows = 0;
for (let g = 0; g < 20; g++) {
  const before = process.cpuUsage();
  const some = await db.query({ [ns]: { $: { where: { group: g } } } });
  someRows = some[ns].length;
  indexed.push(ms(process.cpuUsage(before)));
}
const queried = process.cpuUsage(start);
const all = await db.query({ [ns]: {} });
const queriedAll = process.cpuUsage(start);
// Steady state: the same full query again (earlier answers are collected in later runs). Median of 5.
const warm = [];
for (let r = 0; r < 5; r++) {
  const before = process.cpuUsage();
  const again = await db.query({ [ns]: {} });
  if (again[ns].length !== all[ns].length) throw new Error('the full query changed between runs');
  warm.push(ms(process.cpuUsage(before)));
}
console.log(
  JSON.stringify({
    client: 'node',
    entities: n,
    import_cpu_ms: ms(imported),
    query_rows: someRows,
    query_cpu_ms: median(indexed),
    query_all_rows: all[ns].length,
    query_all_cpu_ms: ms(queriedAll) - ms(queried),
    query_all_warm_cpu_ms: median(warm),
  }),
);
