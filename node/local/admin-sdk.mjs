// Drives instant-local with the official @instantdb/admin package and asserts every answer.
// Run by instant-local/tests/js_sdk.rs with INSTANT_API_URI, INSTANT_APP_ID and
// INSTANT_APP_ADMIN_TOKEN pointing at a server whose default app has schema.json and rules.json
// of this folder.
import assert from 'node:assert/strict';
import { init, i, id, lookup } from '@instantdb/admin';

const apiURI = process.env.INSTANT_API_URI;
const appId = process.env.INSTANT_APP_ID;
const adminToken = process.env.INSTANT_APP_ADMIN_TOKEN;
assert.ok(apiURI && appId && adminToken, 'INSTANT_* env vars are required');

const schema = i.schema({
  entities: {
    $files: i.entity({ path: i.string().unique().indexed(), url: i.string() }),
    $users: i.entity({ email: i.string().unique().indexed().optional() }),
    goals: i.entity({ title: i.string(), priority: i.number().indexed() }),
    todos: i.entity({ title: i.string(), slug: i.string().unique().indexed() }),
    profiles: i.entity({ handle: i.string().unique().indexed() }),
  },
  links: {
    goalsTodos: {
      forward: { on: 'goals', has: 'many', label: 'todos' },
      reverse: { on: 'todos', has: 'many', label: 'goals' },
    },
    goalsOwner: {
      forward: { on: 'goals', has: 'one', label: 'owner' },
      reverse: { on: 'profiles', has: 'many', label: 'goals' },
    },
  },
});

const db = init({ appId, adminToken, apiURI, schema });
const step = (name) => console.log(`- ${name}`);

// transact with links and lookups
step('transact');
const g1 = id();
const g2 = id();
await db.transact([
  db.tx.profiles[lookup('handle', 'alice')].update({}),
  db.tx.todos[id()].update({ title: 'Run', slug: 'run' }),
  db.tx.todos[id()].update({ title: 'Swim', slug: 'swim' }),
]);
const res = await db.transact([
  db.tx.goals[g1].update({ title: 'Get fit', priority: 1 }),
  db.tx.goals[g2].update({ title: 'Ship', priority: 2 }),
  db.tx.goals[g1].link({ todos: lookup('slug', 'run'), owner: lookup('handle', 'alice') }),
  db.tx.goals[g1].link({ todos: lookup('slug', 'swim') }),
]);
assert.equal(typeof res['tx-id'], 'number');

// nested queries with where / order / limit / fields
step('query');
const q1 = await db.query({
  goals: {
    $: { where: { priority: { $gte: 1 } }, order: { priority: 'desc' }, limit: 1, fields: ['title', 'priority'] },
    todos: {},
  },
});
assert.deepEqual(q1.goals.map((g) => g.title), ['Ship']);
assert.deepEqual(q1.goals[0].todos, []);
const q2 = await db.query({
  goals: {
    $: { where: { 'todos.slug': 'run' } },
    todos: { $: { order: { slug: 'asc' }, fields: ['slug'] } },
    owner: {},
  },
});
assert.equal(q2.goals.length, 1);
assert.equal(q2.goals[0].id, g1);
assert.deepEqual(q2.goals[0].todos.map((t) => t.slug), ['run', 'swim']);
assert.equal(q2.goals[0].owner.handle, 'alice', 'has-one link is an object with a schema');
const q3 = await db.query({ goals: { $: { where: { or: [{ title: 'Ship' }, { 'owner.handle': 'alice' }] } } } });
assert.equal(q3.goals.length, 2);

// auth: tokens and users
step('auth');
const email = 'alyssa@example.com';
const token = await db.auth.createToken({ email });
assert.match(token, /^[0-9a-f-]{36}$/);
const verified = await db.auth.verifyToken(token);
assert.equal(verified.email, email);
const got = await db.auth.getUser({ email });
assert.equal(got.id, verified.id);
const byToken = await db.auth.getUser({ refresh_token: token });
assert.equal(byToken.email, email);

// asUser by email, token and guest (rules: goals are visible to signed-in users only)
step('asUser');
const asEmail = await db.asUser({ email }).query({ goals: {} });
assert.equal(asEmail.goals.length, 2);
const asToken = await db.asUser({ token }).query({ goals: {} });
assert.equal(asToken.goals.length, 2);
const asGuest = await db.asUser({ guest: true }).query({ goals: {} });
assert.deepEqual(asGuest.goals, []);
await assert.rejects(
  db.asUser({ guest: true }).transact(db.tx.goals[id()].update({ title: 'nope', priority: 3 })),
  (e) => e.body?.type === 'permission-denied',
);
const dbg = await db.asUser({ guest: true }).debugQuery({ goals: {} });
assert.equal(dbg.checkResults.length, 2);
assert.equal(dbg.checkResults[0].check, false);

// signOut invalidates the token
step('signOut');
await db.auth.signOut({ email });
await assert.rejects(db.auth.verifyToken(token), (e) => e.body?.type === 'record-not-found');

// magic codes
step('magic codes');
const email2 = 'ben@example.com';
const { code } = await db.auth.generateMagicCode(email2);
assert.match(code, /^\d{6}$/);
await assert.rejects(db.auth.checkMagicCode(email2, code === '000000' ? '111111' : '000000'));
const checked = await db.auth.checkMagicCode(email2, code);
assert.equal(checked.user.email, email2);
assert.equal(checked.created, true);
assert.ok(checked.user.refresh_token);

// deleteUser
step('deleteUser');
const deleted = await db.auth.deleteUser({ email: email2 });
assert.equal(deleted.email, email2);
assert.equal(await db.auth.getUser({ email: email2 }), null);

// storage
step('storage');
const up = await db.storage.uploadFile('docs/hello.txt', Buffer.from('hello world'), { contentType: 'text/plain' });
assert.ok(up.data.id);
const files = await db.query({ $files: { $: { where: { path: 'docs/hello.txt' } } } });
assert.equal(files.$files.length, 1);
assert.equal(files.$files[0].size, 11);
const body = await (await fetch(files.$files[0].url)).text();
assert.equal(body, 'hello world');
await db.storage.delete('docs/hello.txt');
const after = await db.query({ $files: {} });
assert.deepEqual(after.$files, []);

// subscribeQuery receives an update after a transact
step('subscribeQuery');
const seen = [];
let resolveUpdate;
const gotUpdate = new Promise((r) => (resolveUpdate = r));
const sub = db.subscribeQuery({ goals: { $: { order: { priority: 'asc' } } } }, (payload) => {
  if (payload.type !== 'ok') return;
  seen.push(payload.data.goals.map((g) => g.title));
  if (seen.length === 2) resolveUpdate();
});
while (seen.length < 1) await new Promise((r) => setTimeout(r, 20));
assert.deepEqual(seen[0], ['Get fit', 'Ship']);
await db.transact(db.tx.goals[id()].update({ title: 'Read', priority: 3 }));
await Promise.race([gotUpdate, new Promise((_, rej) => setTimeout(() => rej(new Error('no update')), 10000))]);
assert.deepEqual(seen[1], ['Get fit', 'Ship', 'Read']);
sub.close();

// streams: write chunks (multi-byte UTF-8 included), close, read everything back
step('streams');
const withTimeout = (p, what) =>
  Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(`timeout: ${what}`)), 10000))]);
const readAll = async (stream) => {
  const reader = stream.getReader();
  let text = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return text;
    text += value;
  }
};
const streamClientId = `js-stream-${id()}`;
let flushed;
const ws = db.streams.createWriteStream({ clientId: streamClientId, waitUntil: (p) => (flushed = p) });
const writer = ws.getWriter();
const streamParts = ['hello ', 'wörld ', '✓ ', '🎉 ', 'done'];
for (const p of streamParts) await writer.write(p);
const streamId = await withTimeout(ws.streamId(), 'streamId');
await writer.close();
await withTimeout(flushed, 'flush');
const readBack = await withTimeout(readAll(db.streams.createReadStream({ clientId: streamClientId })), 'read');
assert.equal(readBack, streamParts.join(''));
const fromOffset = await withTimeout(
  readAll(db.streams.createReadStream({ streamId, byteOffset: 'hello '.length })),
  'read from offset',
);
assert.equal(fromOffset, streamParts.slice(1).join(''));

// webhooks: management through db.webhooks.manager, and one delivery to a local receiver that the
// SDK's own verifier checks (signature, JWKS) before fetching the payload with the token
step('webhooks');
const http = await import('node:http');
const deliveries = [];
let onDelivery = () => {};
const receiver = http.createServer((req, res) => {
  let raw = '';
  req.on('data', (c) => (raw += c));
  req.on('end', () => {
    deliveries.push({ signature: req.headers['instant-signature'], body: raw });
    res.end('ok');
    onDelivery();
  });
});
await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
const sinkUrl = `http://127.0.0.1:${receiver.address().port}/hook`;
const hooks = db.webhooks.manager;
const created = await hooks.create({ url: sinkUrl, namespaces: ['goals'], actions: ['create', 'update'] });
assert.equal(created.status, 'active');
assert.equal(created.sink.url, sinkUrl);
assert.deepEqual(created.namespaces, ['goals']);
assert.ok(created.createdAt instanceof Date && !isNaN(created.createdAt));
assert.deepEqual((await hooks.list()).map((w) => w.id), [created.id]);
await assert.rejects(
  hooks.create({ url: sinkUrl, namespaces: ['nope'], actions: ['create'] }),
  (e) => /Could not find matching table for nope/.test(JSON.stringify(e.body ?? e.message)),
);
const delivered = new Promise((r) => (onDelivery = r));
const hookGoal = id();
await db.transact(db.tx.goals[hookGoal].update({ title: 'Hooked', priority: 9 }));
await withTimeout(delivered, 'webhook delivery');
const hookBody = await db.webhooks.validate(deliveries[0].signature, deliveries[0].body);
const hookPayload = await db.webhooks.fetchPayloads(hookBody);
assert.equal(hookPayload.data.length, 1);
assert.equal(hookPayload.data[0].action, 'create');
assert.equal(hookPayload.data[0].namespace, 'goals');
assert.equal(hookPayload.data[0].id, hookGoal);
assert.equal(hookPayload.data[0].after.title, 'Hooked');
assert.equal(hookPayload.data[0].before, null);
const hookIsn = hookBody.payloadUrl.split('/').slice(-3).join('/');
const viaAdmin = await hooks.getPayload(created.id, hookIsn);
assert.deepEqual(viaAdmin, hookPayload);
let hookEvent;
for (const start = Date.now(); Date.now() - start < 10000; ) {
  hookEvent = await hooks.getEvent(created.id, hookIsn);
  if (hookEvent.status === 'success') break;
  await new Promise((r) => setTimeout(r, 20));
}
assert.equal(hookEvent.status, 'success');
assert.equal(hookEvent.attempts.length, 1);
assert.equal(hookEvent.attempts[0].statusCode, 200);
assert.equal(hookEvent.attempts[0].success, true);
assert.ok(hookEvent.attempts[0].attemptAt instanceof Date);
const eventsPage = await hooks.listEvents(created.id);
assert.deepEqual(eventsPage.events.map((e) => e.isn), [hookIsn]);
assert.equal(eventsPage.pageInfo.hasNextPage, false);
const resent = await hooks.resendEvent(created.id, hookIsn);
assert.equal(resent.isn, hookIsn);
const disabled = await hooks.disable(created.id, { reason: 'paused' });
assert.equal(disabled.status, 'disabled');
assert.equal(disabled.disabledReason, 'paused');
const enabled = await hooks.enable(created.id);
assert.equal(enabled.status, 'active');
assert.equal(enabled.disabledReason, null);
const updated = await hooks.update(created.id, { actions: ['delete'] });
assert.deepEqual(updated.actions, ['delete']);
const jwks = await db.webhooks.fetchJwks();
assert.equal(jwks.keys[0].kty, 'OKP');
assert.equal(jwks.keys[0].crv, 'Ed25519');
const removed = await hooks.delete(created.id);
assert.equal(removed.id, created.id);
assert.deepEqual(await hooks.list(), []);
receiver.close();

console.log('ALL OK');
// The SDK's closed EventSource leaves timers behind; everything is asserted, so end now.
process.exit(0);
