// Small statistics helpers: percentiles of samples, medians and ranges of
// per-round figures.

/** Percentile (0..100) of an ascending-sorted array, nearest-rank. */
export function percentileSorted(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length
  if (n === 0) return NaN
  const rank = Math.ceil((p / 100) * n)
  return sorted[Math.min(n - 1, Math.max(0, rank - 1))]
}

export function median(xs: number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b)
  if (v.length === 0) return NaN
  const mid = v.length >> 1
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2
}

export interface Spread {
  median: number
  min: number
  max: number
  n: number
}

export function spread(xs: number[]): Spread {
  const v = xs.filter((x) => Number.isFinite(x))
  if (v.length === 0) return { median: NaN, min: NaN, max: NaN, n: 0 }
  return { median: median(v), min: Math.min(...v), max: Math.max(...v), n: v.length }
}

/** Format a number with a sensible number of significant digits. */
export function fmt(x: number, digits = 3): string {
  if (!Number.isFinite(x)) return '–'
  const a = Math.abs(x)
  if (Number.isInteger(x) && a < 1e4) return String(x)
  if (a >= 1e6) return `${(x / 1e6).toPrecision(digits)}M`
  if (a >= 1e4) return `${(x / 1e3).toPrecision(digits)}k`
  if (a >= 100) return x.toFixed(0)
  if (a >= 10) return x.toFixed(1)
  if (a >= 1) return x.toFixed(2)
  return x.toPrecision(2)
}

export function fmtSpread(s: Spread, digits = 3): string {
  if (s.n === 0) return '–'
  if (s.n === 1) return fmt(s.median, digits)
  return `${fmt(s.median, digits)} (${fmt(s.min, digits)}–${fmt(s.max, digits)})`
}
