// The same workloads as instant-admin/benches/encode_decode.rs, through the official SDK's
// builders and JSON: building and encoding a 100,000-step transaction, and decoding a
// 100,000-row query result. Usage: node bench.mjs [iterations]
import { tx, lookup } from '@instantdb/admin';

const N = 100_000;
const iterations = Number(process.argv[2] || 10);

const hex = (n, w) => n.toString(16).padStart(w, '0');
const ids = Array.from({ length: N }, (_, i) => `${hex(i, 8)}-0000-4000-8000-${hex(i * 7919, 12)}`);

function buildChunks() {
  return ids.map((id, i) => {
    switch (i % 4) {
      case 0:
        return tx.todos[id].update({ title: `todo ${i}`, done: i % 3 === 0, rank: i });
      case 1:
        return tx.todos[id].merge({ meta: { tags: ['a', 'b'], score: 0.5 } });
      case 2:
        return tx.todos[id].link({ owner: lookup('email', `u${i}@example.com`) });
      default:
        return tx.profiles[lookup('handle', `h${i}`)].update({ seen: i }, { upsert: true });
    }
  });
}

function encode(chunks) {
  return JSON.stringify({ steps: chunks.flatMap((c) => c.__ops), 'throw-on-missing-attrs?': false });
}

const rows = ids.map((id, i) => ({ id, title: `todo number ${i}`, done: i % 2 === 0, rank: i, note: null }));
const resultBody = JSON.stringify({ todos: rows });

function measure(name, f) {
  f();
  const times = [];
  for (let k = 0; k < iterations; k++) {
    const t0 = process.hrtime.bigint();
    f();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  console.log(`${name}: median ${times[Math.floor(times.length / 2)].toFixed(1)} ms (min ${times[0].toFixed(1)})`);
}

const built = buildChunks();
measure('transact_100k/build_steps', () => buildChunks());
measure('transact_100k/encode_body', () => encode(built));
measure('query_result_100k/decode_value', () => JSON.parse(resultBody));
console.log(`body sizes: transact ${encode(built).length} bytes, result ${resultBody.length} bytes`);
