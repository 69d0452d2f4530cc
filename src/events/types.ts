// What an event is, independent of how it is stored or sent.
export type { EventRecord } from '../db/records.js';

export const EVENT_TYPES = [
  'filestore.node.created',
  'filestore.node.updated',
  'filestore.node.moved',
  'filestore.node.copied',
  'filestore.node.deleted',
  'filestore.command.completed',
  'filestore.drift.detected',
  'filestore.node.reconciled',
  'filestore.node.missing',
  'filestore.rollup.updated',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** Sent on idle streams with the subscriber's current cursor; never stored. */
export const HEARTBEAT = 'filestore.heartbeat';
