// Facts about the block device behind a dev_t, read from sysfs, for the
// scheduler (nr_requests, max_sectors_kb) and for O_DIRECT alignment.
import * as fs from 'node:fs'

/** fstat(2) as a promise. */
export function fstatDev(fd: number): Promise<fs.Stats> {
  return new Promise((resolve, reject) => fs.fstat(fd, (err, st) => (err ? reject(err) : resolve(st))))
}

/** fstat(2) with bigint fields. */
export function fstatBigint(fd: number): Promise<fs.BigIntStats> {
  return new Promise((resolve, reject) => fs.fstat(fd, { bigint: true }, (err, st) => (err ? reject(err) : resolve(st))))
}

/** A number from a sysfs or procfs file, or null. */
export function readNumber(file: string): number | null {
  try {
    const n = Number(fs.readFileSync(file, 'utf8').trim())
    return Number.isFinite(n) ? n : null
  } catch {
    return null
  }
}

/** major/minor from a Linux dev_t as Node reports it. */
export function devParts(dev: number): [number, number] {
  const hi = Math.floor(dev / 0x100000000)
  const lo = dev >>> 0
  const major = ((lo >>> 8) & 0xfff) | ((hi & 0xfffff000) >>> 0)
  const minor = (lo & 0xff) | ((lo >>> 12) & 0xfff00)
  return [major, minor]
}

/** Facts about the block device behind a dev_t, for the scheduler. */
export interface DeviceInfo {
  key: string
  nrRequests: number | null
  maxSectorsKb: number | null
  logicalBlockSize: number | null
}

function queueDir(major: number, minor: number): string | null {
  const base = `/sys/dev/block/${major}:${minor}`
  try {
    if (fs.existsSync(`${base}/queue`)) return `${base}/queue`
    if (fs.existsSync(`${base}/partition`)) return `${base}/../queue`
  } catch {
    // no sysfs
  }
  return null
}

export function deviceInfo(dev: number): DeviceInfo {
  const [major, minor] = devParts(dev)
  const q = queueDir(major, minor)
  return {
    key: `${major}:${minor}`,
    nrRequests: q ? readNumber(`${q}/nr_requests`) : null,
    maxSectorsKb: q ? readNumber(`${q}/max_sectors_kb`) : null,
    logicalBlockSize: q ? readNumber(`${q}/logical_block_size`) : null,
  }
}

