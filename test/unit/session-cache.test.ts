// The weight-session cache: at most `limit` live sessions, least recently used idle one released
// first, a session in use never released under its user, failed builds not kept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SessionCache } from '../../src/model/session-cache.js';

class Fake {
  disposed = false;
  constructor(readonly name: string) {}
  async dispose(): Promise<void> {
    this.disposed = true;
  }
}

test('one live session by default: switching releases the idle one', async () => {
  const c = new SessionCache<Fake>(1);
  const a = await c.acquire('a', async () => new Fake('a'));
  a.release();
  const b = await c.acquire('b', async () => new Fake('b'));
  assert.equal(a.value.disposed, true);
  assert.deepEqual(c.keys(), ['b']);
  b.release();
  let builds = 0;
  const b2 = await c.acquire('b', async () => (builds++, new Fake('b again')));
  assert.equal(builds, 0, 'a live session is reused');
  assert.equal(b2.value, b.value);
  b2.release();
  await c.dispose();
  assert.equal(b.value.disposed, true);
});

test('at the limit, the idle session is released before the next one is built (never two copies of the weights)', async () => {
  const c = new SessionCache<Fake>(1);
  const a = await c.acquire('a', async () => new Fake('a'));
  a.release();
  let aliveDuringBuild: boolean | null = null;
  const b = await c.acquire('b', async () => {
    aliveDuringBuild = !a.value.disposed;
    return new Fake('b');
  });
  assert.equal(aliveDuringBuild, false);
  b.release();
  await c.dispose();
});

test('a session in use is not released; the limit holds again once it is idle', async () => {
  const c = new SessionCache<Fake>(1);
  const a = await c.acquire('a', async () => new Fake('a'));
  const b = await c.acquire('b', async () => new Fake('b'));
  assert.equal(a.value.disposed, false, 'in use');
  assert.deepEqual(c.keys().sort(), ['a', 'b']);
  b.release();
  a.release();
  await new Promise((r) => setImmediate(r));
  assert.equal(b.value.disposed, true, 'the least recently used idle session goes');
  assert.deepEqual(c.keys(), ['a']);
  await c.dispose();
});

test('least recently used first, with room for two', async () => {
  const c = new SessionCache<Fake>(2);
  const got: Record<string, Fake> = {};
  for (const k of ['a', 'b', 'a', 'c']) {
    const l = await c.acquire(k, async () => new Fake(k));
    got[k] = l.value;
    l.release();
  }
  assert.equal(got.b.disposed, true);
  assert.equal(got.a.disposed, false);
  assert.deepEqual(c.keys(), ['a', 'c']);
  await c.dispose();
});

test('a failed build is not kept: the next acquire builds again', async () => {
  const c = new SessionCache<Fake>(1);
  await assert.rejects(c.acquire('a', async () => Promise.reject(new Error('no'))), /no/);
  const a = await c.acquire('a', async () => new Fake('a'));
  assert.equal(a.value.name, 'a');
  a.release();
  await c.dispose();
});

test('releaseIdle releases every idle session and keeps the one in use', async () => {
  const c = new SessionCache<Fake>(4);
  const a = await c.acquire('a', async () => new Fake('a'));
  const b = await c.acquire('b', async () => new Fake('b'));
  b.release();
  assert.equal(await c.releaseIdle(), 1);
  assert.equal(b.value.disposed, true);
  assert.equal(a.value.disposed, false, 'a session in use stays');
  assert.deepEqual(c.keys(), ['a']);
  a.release();
  assert.equal(await c.releaseIdle(), 1);
  assert.deepEqual(c.keys(), []);
  let builds = 0;
  (await c.acquire('a', async () => (builds++, new Fake('a again')))).release();
  assert.equal(builds, 1, 'the next use rebuilds');
  await c.dispose();
});
