// Sends the scripted operations of ops.json through the official @instantdb/admin SDK to a
// capture server, one after the other. Usage: node run.mjs <api-uri> [ops.json]
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { init, tx, lookup, i } from '@instantdb/admin';

const here = dirname(fileURLToPath(import.meta.url));
const apiURI = process.argv[2];
const script = JSON.parse(readFileSync(process.argv[3] || join(here, 'ops.json'), 'utf8'));

const db = init({ appId: script.appId, adminToken: script.adminToken, apiURI });
// Operations marked `"schema": true` go through a client that has a schema.
const schema = i.schema({
  entities: {
    goals: i.entity({ title: i.string() }),
    todos: i.entity({ title: i.string() }),
  },
  links: {
    goalTodos: {
      forward: { on: 'goals', has: 'many', label: 'todos' },
      reverse: { on: 'todos', has: 'one', label: 'goal' },
    },
  },
});
const typedDb = init({ appId: script.appId, adminToken: script.adminToken, apiURI, schema });

function scoped(as, withSchema) {
  const base = withSchema ? typedDb : db;
  return as ? base.asUser(as) : base;
}

// {"$lookup": [attr, value]} inside link args becomes lookup(attr, value).
function withLookups(v) {
  if (Array.isArray(v)) return v.map(withLookups);
  if (v && typeof v === 'object') {
    if (Array.isArray(v.$lookup)) return lookup(v.$lookup[0], v.$lookup[1]);
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, withLookups(x)]));
  }
  return v;
}

function chunks(steps) {
  return steps.map((s) => {
    const ns = tx[s.etype];
    const target = s.lookup ? ns[lookup(s.lookup[0], s.lookup[1])] : ns[s.id];
    if (s.action === 'delete') return target.delete();
    const args = withLookups(s.args);
    return s.opts ? target[s.action](args, s.opts) : target[s.action](args);
  });
}

async function firstResult(client, q, opts) {
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no subscription result')), 10000);
    const sub = client.subscribeQuery(q, (payload) => {
      if (payload.type === 'ok') {
        clearTimeout(timer);
        sub.close();
        resolve();
      } else {
        clearTimeout(timer);
        sub.close();
        reject(payload.error);
      }
    }, opts);
  });
}

for (const o of script.ops) {
  const c = scoped(o.as, o.schema);
  switch (o.op) {
    case 'query':
      await (o.ruleParams ? c.query(o.q, { ruleParams: o.ruleParams }) : c.query(o.q));
      break;
    case 'transact':
      await c.transact(chunks(o.steps));
      break;
    case 'debugQuery':
      await c.debugQuery(o.q, o.opts);
      break;
    case 'debugTransact':
      await c.debugTransact(chunks(o.steps), o.opts);
      break;
    case 'createToken':
      await c.auth.createToken(o.email ? { email: o.email } : { id: o.id });
      break;
    case 'verifyToken':
      await c.auth.verifyToken(o.token);
      break;
    case 'getUser':
      await c.auth.getUser(o.params);
      break;
    case 'deleteUser':
      await c.auth.deleteUser(o.params);
      break;
    case 'signOut':
      await c.auth.signOut(o.params);
      break;
    case 'generateMagicCode':
      await c.auth.generateMagicCode(o.email);
      break;
    case 'sendMagicCode':
      await c.auth.sendMagicCode(o.email);
      break;
    case 'checkMagicCode':
      await c.auth.checkMagicCode(o.email, o.code, o.extraFields ? { extraFields: o.extraFields } : undefined);
      break;
    case 'verifyMagicCode':
      await c.auth.verifyMagicCode(o.email, o.code);
      break;
    case 'userFromCookie': {
      const user = await c.auth.getUserFromRequest(
        new Request('http://localhost/', { headers: { cookie: o.cookie } }),
      );
      if (!user) throw new Error('no user from cookie');
      break;
    }
    case 'auth-on-scoped':
      await c.auth.createToken({ email: o.email });
      break;
    case 'uploadFile': {
      const meta = {};
      if (o.contentType) meta.contentType = o.contentType;
      if (o.contentDisposition) meta.contentDisposition = o.contentDisposition;
      await c.storage.uploadFile(o.path, Buffer.from(o.bytes), meta);
      break;
    }
    case 'uploadFileStream': {
      const meta = { fileSize: o.bytes.length };
      if (o.contentType) meta.contentType = o.contentType;
      await c.storage.uploadFile(o.path, Readable.from([Buffer.from(o.bytes)]), meta);
      break;
    }
    case 'deleteFile':
      await c.storage.delete(o.path);
      break;
    case 'deleteMany':
      await c.storage.deleteMany(o.paths);
      break;
    case 'uploadSigned': {
      const ok = await c.storage.upload(
        o.path,
        Buffer.from(o.bytes),
        o.contentType ? { contentType: o.contentType } : {},
      );
      if (!ok) throw new Error('signed upload failed');
      break;
    }
    case 'listFiles':
      await c.storage.list();
      break;
    case 'downloadUrl':
      await c.storage.getDownloadUrl(o.path);
      break;
    case 'getPresence':
      await c.rooms.getPresence(o.roomType, o.roomId);
      break;
    case 'webhooks.list':
      await c.webhooks.manager.list();
      break;
    case 'webhooks.create':
      await c.webhooks.manager.create({ url: o.url, namespaces: o.namespaces, actions: o.actions });
      break;
    case 'webhooks.update': {
      const params = {};
      for (const k of ['url', 'namespaces', 'actions']) if (o[k]) params[k] = o[k];
      await c.webhooks.manager.update(o.id, params);
      break;
    }
    case 'webhooks.delete':
      await c.webhooks.manager.delete(o.id);
      break;
    case 'webhooks.enable':
      await c.webhooks.manager.enable(o.id);
      break;
    case 'webhooks.disable':
      await c.webhooks.manager.disable(o.id, o.reason ? { reason: o.reason } : undefined);
      break;
    case 'webhooks.listEvents':
      await c.webhooks.manager.listEvents(o.id, o.after ? { after: o.after } : undefined);
      break;
    case 'webhooks.getEvent':
      await c.webhooks.manager.getEvent(o.id, o.isn);
      break;
    case 'webhooks.resendEvent':
      await c.webhooks.manager.resendEvent(o.id, o.isn);
      break;
    case 'webhooks.getPayload':
      await c.webhooks.manager.getPayload(o.id, o.isn);
      break;
    case 'webhooks.fetchJwks':
      await c.webhooks.fetchJwks();
      break;
    case 'webhooks.fetchPayloads':
      await c.webhooks.fetchPayloads({ payloadUrl: apiURI + o.path, token: o.token });
      break;
    case 'stream.write': {
      let complete;
      const stream = c.streams.createWriteStream({
        clientId: o.clientId,
        waitUntil: (p) => {
          complete = p;
        },
      });
      const writer = stream.getWriter();
      for (const chunk of o.chunks) await writer.write(chunk);
      await writer.close();
      await complete;
      break;
    }
    case 'stream.read': {
      let text = '';
      for await (const chunk of c.streams.createReadStream({ clientId: o.clientId })) text += chunk;
      if (text !== 'hello wörld') throw new Error('read ' + text);
      break;
    }
    case 'subscribe':
      await firstResult(c, o.q, o.ruleParams ? { ruleParams: o.ruleParams } : {});
      break;
    default:
      throw new Error('unknown op ' + o.op);
  }
}

// Live connections the SDK keeps (stream sessions) would hold the process open.
process.exit(0);
