// The local backend's intent log, seen the way crash recovery sees it: from another process's
// backend on the same root (owners are instance ids), on a real filesystem.
import test from 'ava';
import { mkdtemp, open, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalBackend } from '../../src/backends/local.js';

async function twoOwners(t: { teardown(fn: () => Promise<void>): void }) {
  const dir = await mkdtemp(join(tmpdir(), 'filestore-intents-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const root = join(dir, 'root');
  const writer = new LocalBackend({ id: 1, root, instanceId: 'writer', create: true });
  await writer.open();
  const reader = new LocalBackend({ id: 1, root, instanceId: 'reader', create: false });
  await reader.open();
  return { writer, reader, area: join(root, '.filestore', 'intents', 'writer') };
}

const body = (id: number) => JSON.stringify({ id, instanceId: 'writer', pad: 'x'.repeat(id % 97) });

test('intents appended concurrently are each read back whole by another process', async (t) => {
  const { writer, reader } = await twoOwners(t);
  await Promise.all(Array.from({ length: 500 }, (_, i) => writer.writeIntent(i + 1, body(i + 1))));
  const listing = await reader.listIntents('writer');
  t.is(listing.unreadable, 0);
  t.deepEqual(listing.intents.map((i) => i.id), Array.from({ length: 500 }, (_, i) => i + 1));
  t.true(listing.intents.every((i) => i.body === body(i.id)));
});

test('an intent appended after another process claimed the segment is written again, where that process finds it', async (t) => {
  const { writer, reader, area } = await twoOwners(t);
  await writer.writeIntent(1, body(1));
  const first = await reader.listIntents('writer'); // takes the writer for dead: claims its segment
  t.deepEqual(first.intents.map((i) => i.id), [1]);
  await writer.writeIntent(2, body(2)); // the writer was alive after all
  await reader.removeIntents('writer', first);
  const second = await reader.listIntents('writer');
  t.deepEqual(second.intents.map((i) => i.id), [2], `left in ${JSON.stringify(await readdir(area))}`);
});

test('removing a listing leaves what was written since, and the area goes once empty', async (t) => {
  const { writer, reader, area } = await twoOwners(t);
  await writer.writeIntent(1, body(1));
  const listing = await reader.listIntents('writer');
  await reader.removeIntents('writer', listing);
  t.false((await reader.intentOwners()).includes('writer'), 'the area of an owner with nothing left is removed');
  await writer.writeIntent(3, body(3)); // remade on demand
  t.deepEqual((await reader.listIntents('writer')).intents.map((i) => i.id), [3]);
  t.true((await readdir(area)).length > 0);
});

/** Writes where the log's next append goes: after its lines, in the zeros of the preallocated segment. */
async function appendAfterLines(file: string, text: string): Promise<void> {
  const content = await readFile(file);
  const end = content.indexOf(0);
  const fh = await open(file, 'r+');
  await fh.write(Buffer.from(text), 0, Buffer.byteLength(text), end < 0 ? content.length : end);
  await fh.close();
}

test('a torn last line (a crash inside the append) is not an intent; a damaged line before it is counted unreadable', async (t) => {
  const { writer, reader, area } = await twoOwners(t);
  await writer.writeIntent(1, body(1));
  const [segment] = await readdir(area);
  await appendAfterLines(join(area, segment!), '{"id":2,"instanceId":"wri');
  let listing = await reader.listIntents('writer');
  t.deepEqual(listing.intents.map((i) => i.id), [1]);
  t.is(listing.unreadable, 0);
  const [claimed] = await readdir(area);
  await appendAfterLines(join(area, claimed!), `\n${body(4)}\n`);
  listing = await reader.listIntents('writer');
  t.deepEqual(listing.intents.map((i) => i.id), [1, 4]);
  t.is(listing.unreadable, 1);
});

test('two recoverers reading the same owner at once both find its intents', async (t) => {
  const { writer, reader, area } = await twoOwners(t);
  const other = new LocalBackend({ id: 1, root: join(area, '..', '..', '..'), instanceId: 'other', create: false });
  await other.open();
  for (let round = 0; round < 20; round++) {
    await writer.writeIntent(round + 1, body(round + 1));
    const [a, b] = await Promise.all([reader.listIntents('writer'), other.listIntents('writer')]);
    t.true(a.intents.some((i) => i.id === round + 1) && b.intents.some((i) => i.id === round + 1), `round ${round}: ${a.intents.length} and ${b.intents.length} intents`);
    await Promise.all([reader.removeIntents('writer', a), other.removeIntents('writer', b)]);
  }
});

test.serial('segments claimed from a live writer are let go: no file descriptor is kept for them', async (t) => {
  const { writer, reader } = await twoOwners(t);
  const fds = async () => (await readdir('/proc/self/fd')).length;
  await writer.writeIntent(1, body(1));
  await writer.intentDone(1);
  const before = await fds();
  for (let id = 2; id < 42; id++) {
    await reader.removeIntents('writer', await reader.listIntents('writer'));
    await writer.writeIntent(id, body(id)); // finds its segment claimed, writes to a new one
    await writer.intentDone(id); // its command committed
  }
  await new Promise((r) => setTimeout(r, 50));
  t.true((await fds()) - before <= 2, `${(await fds()) - before} more descriptors open after 40 claimed segments`);
});

test('a graceful close removes the log once every intent is done, and keeps it while one is not', async (t) => {
  const { writer, reader } = await twoOwners(t);
  await writer.writeIntent(1, body(1));
  await writer.writeIntent(2, body(2));
  await writer.intentDone(1);
  t.false(await writer.closeIntents(), 'intent 2 is not done');
  t.deepEqual((await reader.listIntents('writer')).intents.map((i) => i.id), [1, 2]);

  const second = await twoOwners(t);
  await second.writer.writeIntent(1, body(1));
  await second.writer.intentDone(1);
  t.true(await second.writer.closeIntents());
  t.false((await second.reader.intentOwners()).includes('writer'));
});
