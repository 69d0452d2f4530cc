// The targets of docs/architecture.md#performance-targets that the bench can check, as ratios of ours to
// the no-op twin (higher is better), except peak RSS and event delivery latency, absolute ceilings, and
// the writers' rate with subscribers attached, a ratio to the same server without them.
export interface RatioTarget {
  min: number;
  text: string;
}

export const TARGETS: Record<string, RatioTarget> = {
  'CreateDirectory c=16': { min: 0.5, text: '≥ 50%' },
  'WriteFile 4 KiB c=16': { min: 0.4, text: '≥ 40%' },
  'GetNode c=64': { min: 0.7, text: '≥ 70%' },
  'GetNode directory c=64': { min: 0.7, text: '≥ 70%' },
  'WriteFile upload': { min: 0.8, text: '≥ 80%' },
  'ReadFile download': { min: 1.0, text: '≥ 100%' },
};

export const PEAK_RSS_MAX_MIB = 150;

/** Event delivery, commit → subscriber, at 1,000 events/s with 10 subscribers: p99 at most this. */
export const EVENT_DELIVERY_P99_MAX_MS = 20;
/** CreateDirectory c=16 with 10 subscribers attached keeps at least this share of its rate without them. */
export const EVENT_WRITERS_KEEP: RatioTarget = { min: 0.9, text: '≥ 90%' };

/** WriteFile 4 KiB, 16 writers in 16 subtrees: with rollups on, at least this share of the rate with them off. */
export const ROLLUP_WRITERS_KEEP: RatioTarget = { min: 0.8, text: '≥ 80%' };

/** ListChildren of a 10,000-entry directory, every page at the largest page size: at most this, in total. */
export const LIST_CHILDREN_10K_MAX_MS = 200;
/** WalkTree of a ~1,000,000-node backend: at least this many nodes per second, with flat server memory. */
export const WALK_TREE_MIN_PER_SEC = 100_000;

/** S3 upload and download through the server on an S3 backend: at least this share of the raw SDK's rate to the same S3 API. */
export const S3_VS_RAW_SDK: RatioTarget = { min: 0.9, text: '≥ 90%' };
