// RSS of a process sampled on a timer (VmRSS from /proc), with VmHWM reset at the start as a cross-check
// of the peak between samples.
import { memoryOf, resetPeak } from './proc.js';

export interface RssWindow {
  /** RSS when the window opened. */
  startMiB: number;
  /** Highest sampled RSS. */
  peakMiB: number;
  /** VmHWM at the end: the kernel's peak since the reset (since the process started when `reset` is false). */
  hwmMiB: number;
  reset: boolean;
  samples: number;
  everyMs: number;
}

/** Starts sampling `pid` every `everyMs`; the returned function stops and reports. */
export function sampleRss(pid: number, everyMs = 50): () => RssWindow {
  const reset = resetPeak(pid);
  const startMiB = memoryOf(pid).rssMiB;
  let peakMiB = startMiB;
  let samples = 1;
  const timer = setInterval(() => {
    try {
      peakMiB = Math.max(peakMiB, memoryOf(pid).rssMiB);
      samples++;
    } catch {
      // the process is gone; the window ends with what it has
    }
  }, everyMs);
  return () => {
    clearInterval(timer);
    const last = memoryOf(pid);
    return { startMiB, peakMiB: Math.max(peakMiB, last.rssMiB), hwmMiB: last.hwmMiB, reset, samples: samples + 1, everyMs };
  };
}
