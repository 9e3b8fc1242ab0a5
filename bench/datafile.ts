// The benchmark's own data files: 1 GiB of random bytes, fully allocated
// (not sparse), written with O_DIRECT so they do not sit in the page cache.
// Reused across runs when present with the right size and allocation.
import { randomFillSync } from 'node:crypto'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { pageAlignedBuffers } from './pagemem'

const { O_CREAT, O_DIRECT, O_RDWR, O_TRUNC, O_WRONLY } = fs.constants

/** Whether `dir` accepts O_DIRECT opens (tmpfs refuses with EINVAL). */
export function supportsDirect(dir: string): { ok: boolean; reason?: string } {
  const probe = path.join(dir, `.direct-aio-bench-probe-${process.pid}`)
  try {
    const fd = fs.openSync(probe, O_CREAT | O_RDWR | O_DIRECT, 0o600)
    fs.closeSync(fd)
    return { ok: true }
  } catch (e) {
    return { ok: false, reason: (e as NodeJS.ErrnoException).code ?? String(e) }
  } finally {
    fs.rmSync(probe, { force: true })
  }
}

/** The directory to use, and a note if it is not the one asked for. */
export function chooseDir(requested: string | undefined): { dir: string; note: string | null } {
  const dir = path.resolve(requested ?? os.tmpdir())
  fs.mkdirSync(dir, { recursive: true })
  const r = supportsDirect(dir)
  if (r.ok) return { dir, note: null }
  const fallback = '/var/tmp'
  const f = supportsDirect(fallback)
  if (!f.ok) throw new Error(`${dir} refuses O_DIRECT (${r.reason}), and so does ${fallback} (${f.reason}); pass --dir on a disk-backed filesystem`)
  return { dir: fallback, note: `${dir} refuses O_DIRECT (${r.reason}, e.g. tmpfs); using ${fallback} instead` }
}

export interface DataFile {
  path: string
  size: number
  created: boolean
  seconds: number
}

/** Make sure `name` in `dir` is a fully allocated file of `size` random bytes. */
export function ensureDataFile(dir: string, name: string, size: number, log: (s: string) => void): DataFile {
  const file = path.join(dir, name)
  try {
    const st = fs.statSync(file)
    if (st.isFile() && st.size === size && st.blocks * 512 >= size) return { path: file, size, created: false, seconds: 0 }
  } catch {
    // absent
  }
  const t0 = performance.now()
  log(`creating ${file} (${size / 2 ** 20} MiB of random data, O_DIRECT writes)`)
  const tmp = `${file}.tmp-${process.pid}`
  const chunk = 4 << 20
  const [buf] = pageAlignedBuffers(1, chunk)
  const fd = fs.openSync(tmp, O_CREAT | O_TRUNC | O_WRONLY | O_DIRECT, 0o644)
  try {
    for (let off = 0; off < size; off += chunk) {
      const n = Math.min(chunk, size - off)
      randomFillSync(buf, 0, n)
      let done = 0
      while (done < n) done += fs.writeSync(fd, buf, done, n - done, off + done)
    }
    fs.fsyncSync(fd)
  } catch (e) {
    fs.closeSync(fd)
    fs.rmSync(tmp, { force: true })
    throw e
  }
  fs.closeSync(fd)
  fs.renameSync(tmp, file)
  return { path: file, size, created: true, seconds: (performance.now() - t0) / 1000 }
}
