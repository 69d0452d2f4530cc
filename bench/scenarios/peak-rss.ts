// Peak RSS of a target process over the streaming scenarios: VmHWM is reset (Linux
// clear_refs) before them when the kernel allows it, and read after them.
import { memoryOf, resetPeak } from '../lib/proc.js';

export interface PeakRss {
  /** VmHWM before the reset: the peak over everything that ran before streaming. */
  peakBeforeMiB: number;
  /** RSS when streaming started. */
  rssAtStartMiB: number;
  /** VmHWM after streaming. */
  peakMiB: number;
  /** True when VmHWM was reset, so that peakMiB covers only the streaming; false: since the process started. */
  reset: boolean;
}

export function startPeakWindow(pid: number): () => PeakRss {
  const before = memoryOf(pid);
  const reset = resetPeak(pid);
  const atStart = memoryOf(pid);
  return () => ({ peakBeforeMiB: before.hwmMiB, rssAtStartMiB: atStart.rssMiB, peakMiB: memoryOf(pid).hwmMiB, reset });
}
