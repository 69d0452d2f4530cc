// The ARCHITECTURE §7 targets that the bench can check, as ratios of ours to the no-op twin
// (higher is better), except peak RSS, an absolute ceiling.
export interface RatioTarget {
  min: number;
  text: string;
}

export const TARGETS: Record<string, RatioTarget> = {
  'CreateDirectory c=16': { min: 0.5, text: '≥ 50%' },
  'WriteFile 4 KiB c=16': { min: 0.4, text: '≥ 40%' },
  'GetNode c=64': { min: 0.7, text: '≥ 70%' },
  'WriteFile upload': { min: 0.8, text: '≥ 80%' },
  'ReadFile download': { min: 1.0, text: '≥ 100%' },
};

export const PEAK_RSS_MAX_MIB = 150;
