// Hand-written SVG charts (no browser, no dependency): a line chart with
// min–max whiskers, and a horizontal stacked bar chart. Plain SVG 1.1 with
// inline attributes only, so GitHub renders it and it diffs readably.

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#17becf', '#7f7f7f', '#bcbd22', '#e377c2']
const FONT = 'font-family="Helvetica, Arial, sans-serif"'

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

function n(x: number): string {
  return (Math.round(x * 10) / 10).toString()
}

/** A "nice" axis maximum and tick step for data up to `max`. */
function niceScale(max: number, ticks = 5): { top: number; step: number } {
  if (!(max > 0)) return { top: 1, step: 0.2 }
  const raw = max / ticks
  const mag = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag
  return { top: Math.ceil(max / step) * step, step }
}

function shortNum(x: number): string {
  if (x >= 1e6) return `${n(x / 1e6)}M`
  if (x >= 1e3) return `${n(x / 1e3)}k`
  return n(x)
}

export interface Series {
  label: string
  /** Stroke colour; default from a palette by position. */
  color?: string
  /** One point per x category; NaN leaves a gap. */
  values: Array<{ median: number; min: number; max: number }>
  dashed?: boolean
}

/** Line chart over categorical x values (e.g. queue depths). */
export function lineChart(opts: { title: string; subtitle?: string; xLabel: string; yLabel: string; categories: string[]; series: Series[] }): string {
  const W = 900
  const H = 480
  const L = 80
  const R = 290
  const T = 60
  const B = 60
  const pw = W - L - R
  const ph = H - T - B
  const all = opts.series.flatMap((s) => s.values.map((v) => v.max)).filter((x) => Number.isFinite(x))
  const { top, step } = niceScale(Math.max(0, ...all))
  const nx = opts.categories.length
  const x = (i: number) => L + (nx === 1 ? pw / 2 : (i * pw) / (nx - 1) * 0.9 + pw * 0.05)
  const y = (v: number) => T + ph - (v / top) * ph
  const out: string[] = []
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ${FONT} font-size="12">`)
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`)
  out.push(`<text x="${L}" y="24" font-size="16" font-weight="bold">${esc(opts.title)}</text>`)
  if (opts.subtitle) out.push(`<text x="${L}" y="42" fill="#555">${esc(opts.subtitle)}</text>`)
  for (let v = 0; v <= top + step / 2; v += step) {
    out.push(`<line x1="${L}" x2="${L + pw}" y1="${n(y(v))}" y2="${n(y(v))}" stroke="#e5e5e5"/>`)
    out.push(`<text x="${L - 8}" y="${n(y(v) + 4)}" text-anchor="end" fill="#333">${shortNum(v)}</text>`)
  }
  out.push(`<line x1="${L}" x2="${L}" y1="${T}" y2="${T + ph}" stroke="#333"/>`)
  out.push(`<line x1="${L}" x2="${L + pw}" y1="${T + ph}" y2="${T + ph}" stroke="#333"/>`)
  opts.categories.forEach((c, i) => {
    out.push(`<text x="${n(x(i))}" y="${T + ph + 20}" text-anchor="middle" fill="#333">${esc(c)}</text>`)
  })
  out.push(`<text x="${L + pw / 2}" y="${H - 14}" text-anchor="middle" fill="#333">${esc(opts.xLabel)}</text>`)
  out.push(`<text transform="translate(20 ${T + ph / 2}) rotate(-90)" text-anchor="middle" fill="#333">${esc(opts.yLabel)}</text>`)
  opts.series.forEach((s, si) => {
    const color = s.color ?? PALETTE[si % PALETTE.length]
    const pts = s.values.map((v, i) => (Number.isFinite(v.median) ? [x(i), y(v.median)] : null))
    let d = ''
    let pen = false
    for (const p of pts) {
      if (!p) {
        pen = false
        continue
      }
      d += `${pen ? 'L' : 'M'}${n(p[0])} ${n(p[1])} `
      pen = true
    }
    if (d) out.push(`<path d="${d.trim()}" fill="none" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`)
    s.values.forEach((v, i) => {
      if (!Number.isFinite(v.median)) return
      const cx = x(i) + (si - opts.series.length / 2) * 2 // spread overlapping whiskers a little
      if (Number.isFinite(v.min) && Number.isFinite(v.max) && v.max > v.min) {
        out.push(`<line x1="${n(cx)}" x2="${n(cx)}" y1="${n(y(v.min))}" y2="${n(y(v.max))}" stroke="${color}" stroke-width="1.5" opacity="0.7"/>`)
      }
      out.push(`<circle cx="${n(x(i))}" cy="${n(y(v.median))}" r="3.5" fill="${color}"/>`)
    })
    const ly = T + 10 + si * 20
    out.push(`<line x1="${L + pw + 20}" x2="${L + pw + 44}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`)
    out.push(`<text x="${L + pw + 50}" y="${ly + 4}" fill="#222">${esc(s.label)}</text>`)
  })
  out.push(`<text x="${L + pw + 20}" y="${T + 10 + opts.series.length * 20 + 8}" fill="#777" font-size="11">dot: median; bar: min–max</text>`)
  out.push('</svg>')
  return out.join('\n') + '\n'
}

export interface BarRow {
  label: string
  /** Stacked segments, left to right. */
  parts: number[]
  /** Text shown after the bar. */
  note?: string
}

/** Horizontal stacked bars, one row per item. */
export function stackedBars(opts: { title: string; subtitle?: string; segments: Array<{ label: string; color: string }>; rows: BarRow[]; xLabel: string }): string {
  const W = 820
  const L = 230
  const R = 150
  const T = 78
  const rowH = 30
  const H = T + opts.rows.length * rowH + 50
  const pw = W - L - R
  const maxTotal = Math.max(1, ...opts.rows.map((r) => r.parts.reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0)))
  const { top, step } = niceScale(maxTotal)
  const x = (v: number) => L + (v / top) * pw
  const out: string[] = []
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ${FONT} font-size="12">`)
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`)
  out.push(`<text x="20" y="24" font-size="16" font-weight="bold">${esc(opts.title)}</text>`)
  if (opts.subtitle) out.push(`<text x="20" y="42" fill="#555">${esc(opts.subtitle)}</text>`)
  let lx = 20
  for (const s of opts.segments) {
    out.push(`<rect x="${lx}" y="52" width="12" height="12" fill="${s.color}"/>`)
    out.push(`<text x="${lx + 16}" y="62" fill="#222">${esc(s.label)}</text>`)
    lx += 34 + s.label.length * 6.2
  }
  const bottom = T + opts.rows.length * rowH
  for (let v = 0; v <= top + step / 2; v += step) {
    out.push(`<line x1="${n(x(v))}" x2="${n(x(v))}" y1="${T - 4}" y2="${bottom}" stroke="#e5e5e5"/>`)
    out.push(`<text x="${n(x(v))}" y="${bottom + 16}" text-anchor="middle" fill="#333">${shortNum(v)}</text>`)
  }
  out.push(`<text x="${L + pw / 2}" y="${bottom + 36}" text-anchor="middle" fill="#333">${esc(opts.xLabel)}</text>`)
  opts.rows.forEach((r, i) => {
    const yy = T + i * rowH
    out.push(`<text x="${L - 8}" y="${yy + rowH / 2 + 4}" text-anchor="end" fill="#222">${esc(r.label)}</text>`)
    let acc = 0
    r.parts.forEach((p, k) => {
      if (!(p > 0)) return
      out.push(`<rect x="${n(x(acc))}" y="${yy + 4}" width="${n(x(acc + p) - x(acc))}" height="${rowH - 8}" fill="${opts.segments[k].color}"/>`)
      acc += p
    })
    if (r.note) out.push(`<text x="${n(x(acc) + 6)}" y="${yy + rowH / 2 + 4}" fill="#333">${esc(r.note)}</text>`)
  })
  out.push('</svg>')
  return out.join('\n') + '\n'
}
