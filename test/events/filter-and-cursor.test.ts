// Pure rules of subscriptions: cursor parsing and event filters (fuzzed with fast-check).
import test from 'ava';
import fc from 'fast-check';
import { parseCursor } from '../../src/events/cursor.js';
import { matches, parseFilter, type EventFilter } from '../../src/events/filter.js';
import { eventRecord } from '../support/event-record.js';

const event = eventRecord;

const filter = (over: Partial<EventFilter> = {}): EventFilter => ({ types: null, backendId: 0, pathPrefix: '', ...over });
const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return `${(err as { code: string }).code} ${(err as { reason: string }).reason}`;
  }
  return 'accepted';
};

test('a cursor is the decimal string of a non-negative 64-bit integer; empty means from now', (t) => {
  t.is(parseCursor(''), null);
  t.is(parseCursor('0'), 0n);
  t.is(parseCursor('9223372036854775807'), 9223372036854775807n);
  for (const bad of ['-1', '1.5', ' 1', '1 ', 'abc', '0x10', '9223372036854775808', '99999999999999999999', '１２']) {
    t.is(code(() => parseCursor(bad)), 'INVALID_ARGUMENT CURSOR_INVALID', bad);
  }
});

test('unknown event types are refused with the list of known ones; heartbeats may be named', (t) => {
  t.is(code(() => parseFilter({ eventTypes: ['filestore.node.exploded'], backendId: 0, pathPrefix: '' })), 'INVALID_ARGUMENT EVENT_TYPE_UNKNOWN');
  t.is(code(() => parseFilter({ eventTypes: ['filestore.heartbeat', 'filestore.node.created'], backendId: 0, pathPrefix: '' })), 'accepted');
  t.is(code(() => parseFilter({ eventTypes: [], backendId: -1, pathPrefix: '' })), 'INVALID_ARGUMENT BACKEND_ID_INVALID');
  t.regex(code(() => parseFilter({ eventTypes: [], backendId: 0, pathPrefix: '../x' })), /^INVALID_ARGUMENT /);
  t.regex(code(() => parseFilter({ eventTypes: [], backendId: 0, pathPrefix: '/abs' })), /^INVALID_ARGUMENT /);
});

test('a path prefix matches the path and what lies below it, never a sibling that shares its letters', (t) => {
  const f = filter({ pathPrefix: 'a/b' });
  t.true(matches(f, event({ path: 'a/b' })));
  t.true(matches(f, event({ path: 'a/b/c' })));
  t.false(matches(f, event({ path: 'a/bc' })));
  t.false(matches(f, event({ path: 'a/bc/d' })));
  t.false(matches(f, event({ path: 'a' })));
  // A move out of the prefix, or into it, concerns the prefix's subscribers.
  t.true(matches(f, event({ type: 'filestore.node.moved', path: 'z', sourcePath: 'a/b/x' })));
  t.false(matches(f, event({ type: 'filestore.node.moved', path: 'z', sourcePath: 'a/bc/x' })));
});

test('type and backend filters', (t) => {
  t.true(matches(filter({ types: new Set(['filestore.node.created']) }), event({})));
  t.false(matches(filter({ types: new Set(['filestore.node.deleted']) }), event({})));
  t.true(matches(filter({ backendId: 1 }), event({})));
  t.false(matches(filter({ backendId: 2 }), event({})));
  t.false(matches(filter({ backendId: 2, pathPrefix: 'a' }), event({ backendId: 1, path: 'a/b' })));
});

const segment = fc.stringMatching(/^[a-c]{1,3}$/);
const path = fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => s.join('/'));

test('property: prefix matching is exactly "equal, or starts with prefix + /"', (t) => {
  fc.assert(
    fc.property(path, path, (p, prefix) => {
      const expected = p === prefix || p.startsWith(`${prefix}/`);
      return matches(filter({ pathPrefix: prefix }), event({ path: p })) === expected;
    }),
    { numRuns: 5000 },
  );
  t.pass();
});
