// Small formatting and timing helpers shared by the demo's parts.

export const KiB = 1024
export const MiB = 1024 * KiB
/** The demo's scratch file. */
export const FILE_SIZE = 64 * MiB
/** The demo's read size. */
export const BLOCK = 4096

export const now = (): number => performance.now()
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

export function fmtBytes(n: number): string {
  if (n >= MiB) return `${(n / MiB).toFixed(1)} MiB`
  if (n >= KiB) return `${(n / KiB).toFixed(0)} KiB`
  return `${n} B`
}

export function pct(values: number[], p: number): number {
  if (values.length === 0) return 0
  const s = values.slice().sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((s.length - 1) * p))]
}

export function pad(s: string | number, n: number, left = true): string {
  const t = String(s)
  return left ? t.padStart(n) : t.padEnd(n)
}
