// capabilities() and alignment() against the kernel they run on. The exact
// figures (features 0x3ffff, opcodes 0-62, all six cancel flags, sync
// cancel) are asserted where the kernel is new enough to have them (6.18 on
// the CI machine, see /work/shared/FACTS.md); older kernels get the
// structural checks only.
import t from 'tap'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { alignment, allocAligned, capabilities } from '../lib/index'
import { CongestedDevice, congestUnsupported } from '../cli/tools/congest'
import { scratchDir } from './helpers/tmp'
import { parseReport, runNode } from './helpers/seccomp'

const caps = capabilities()
const [major, minor] = caps.kernel.version
const atLeast = (a: number, b: number) => major > a || (major === a && minor >= b)

function readNum(file: string): number | null {
  try {
    return Number(fs.readFileSync(file, 'utf8').trim())
  } catch {
    return null
  }
}

const sysctl = readNum('/proc/sys/kernel/io_uring_disabled')
const uringSkip = caps.ioUring.available ? false : `io_uring unavailable here: ${caps.ioUring.reason}`

t.test('kernel release and parsed version', async (t) => {
  t.equal(caps.kernel.release, os.release())
  t.match(caps.kernel.release, new RegExp(`^${caps.kernel.version[0]}\\.${caps.kernel.version[1]}`))
  t.ok(caps.kernel.version.every((n) => Number.isInteger(n) && n >= 0))
  t.ok(major >= 3, `version ${caps.kernel.version.join('.')}`)
})

t.test('io_uring_disabled sysctl is reported as read', async (t) => {
  t.equal(caps.ioUring.disabledSysctl, sysctl === null ? null : sysctl)
})

t.test('io_uring: available, features decoded, opcodes named', { skip: uringSkip }, async (t) => {
  const u = caps.ioUring
  t.equal(u.available, true)
  t.equal(u.reason, null)
  // Every set bit appears once in the names, in bit order.
  let pop = 0
  for (let b = u.featureBits; b; b &= b - 1) pop++
  t.equal(u.features.length, pop, 'one name per feature bit')
  t.equal(u.features[0], 'SINGLE_MMAP', 'bit 0 is SINGLE_MMAP (5.4+)')
  t.ok(u.features.includes('NODROP') && u.features.includes('FAST_POLL'), 'NODROP and FAST_POLL named')
  // Opcode numbers are the kernel's enum io_uring_op.
  const byName = new Map(u.opcodes.map((o) => [o.name, o.op]))
  t.same(
    { READV: byName.get('READV'), WRITEV: byName.get('WRITEV'), FSYNC: byName.get('FSYNC'), ASYNC_CANCEL: byName.get('ASYNC_CANCEL'), READ: byName.get('READ'), WRITE: byName.get('WRITE') },
    { READV: 1, WRITEV: 2, FSYNC: 3, ASYNC_CANCEL: 14, READ: 22, WRITE: 23 },
    'the opcodes direct-aio uses are present under their kernel numbers',
  )
  const ops = u.opcodes.map((o) => o.op)
  t.same(ops, [...ops].sort((a, b) => a - b), 'opcodes in ascending order')
  t.equal(new Set(ops).size, ops.length, 'no duplicates')
})

t.test('io_uring on 6.18+: the measured facts', { skip: uringSkip || (atLeast(6, 18) ? false : `kernel ${major}.${minor} < 6.18: the facts were measured on 6.18`) }, async (t) => {
  const u = caps.ioUring
  t.equal(u.featureBits & 0x3ffff, 0x3ffff, 'features include 0x3ffff')
  t.same(u.features.slice(0, 18), [
    'SINGLE_MMAP', 'NODROP', 'SUBMIT_STABLE', 'RW_CUR_POS', 'CUR_PERSONALITY', 'FAST_POLL', 'POLL_32BITS', 'SQPOLL_NONFIXED', 'EXT_ARG',
    'NATIVE_WORKERS', 'RSRC_TAGS', 'CQE_SKIP', 'LINKED_FILE', 'REG_REG_RING', 'RECVSEND_BUNDLE', 'MIN_TIMEOUT', 'RW_ATTR', 'NO_IOWAIT',
  ])
  const ops = u.opcodes.map((o) => o.op)
  t.same(ops.slice(0, 63), Array.from({ length: 63 }, (_, i) => i), 'opcodes 0-62 all supported')
  t.equal(u.opcodes[62].name, 'PIPE', 'opcode 62 is PIPE')
  t.same(u.cancelFlags, { all: true, fd: true, any: true, fdFixed: true, userdata: true, op: true }, 'all six cancel flags accepted')
  t.equal(u.syncCancel, true, 'IORING_REGISTER_SYNC_CANCEL')
  t.equal(caps.backend, 'io_uring', "'auto' picks io_uring")
  t.equal(caps.backendReason, 'io_uring is available')
})

t.test('libaio: available, limits from /proc/sys/fs', async (t) => {
  t.equal(caps.libaio.available, true, caps.libaio.reason ?? 'available')
  t.equal(caps.libaio.reason, null)
  t.equal(caps.libaio.maxEvents, readNum('/proc/sys/fs/aio-max-nr'), 'maxEvents is fs.aio-max-nr')
  t.type(caps.libaio.inUse, 'number', 'inUse is fs.aio-nr')
  t.ok(caps.libaio.inUse! >= 0 && caps.libaio.inUse! <= caps.libaio.maxEvents!)
})

t.test('threadpool size follows UV_THREADPOOL_SIZE', async (t) => {
  t.same(caps.threadpool, { available: true, size: process.env.UV_THREADPOOL_SIZE ? Number(process.env.UV_THREADPOOL_SIZE) : 4 })
  const script = "const c = require('./dist/index.js').capabilities(); process.stdout.write(JSON.stringify(c.threadpool))"
  const r = await runNode([process.execPath, '-e', script], { env: { UV_THREADPOOL_SIZE: '7' } })
  t.same(parseReport(r), { available: true, size: 7 }, 'UV_THREADPOOL_SIZE=7 in a child')
  const d = await runNode([process.execPath, '-e', script], { env: { UV_THREADPOOL_SIZE: '' } })
  t.same(parseReport(d), { available: true, size: 4 }, 'default 4')
})

t.test('blockLayerCancel is false (no mainline kernel cancels bios)', async (t) => {
  t.equal(caps.blockLayerCancel, false)
})

t.test('cached, refreshable, never throws', async (t) => {
  const again = capabilities()
  // fs.aio-nr moves with every libaio context on the machine: compare the rest.
  const stable = (c: typeof caps) => ({ ...c, libaio: { ...c.libaio, inUse: null } })
  t.same(stable(again), stable(caps), 'same answer')
  const start = performance.now()
  for (let i = 0; i < 100; i++) capabilities()
  t.comment(`100 cached calls: ${(performance.now() - start).toFixed(1)} ms`)
  const fresh = capabilities({ refresh: true })
  t.same(fresh.ioUring, caps.ioUring, 'a refreshed probe agrees')
  const saved = process.env.DIRECT_AIO_BACKEND
  t.teardown(() => {
    if (saved === undefined) delete process.env.DIRECT_AIO_BACKEND
    else process.env.DIRECT_AIO_BACKEND = saved
  })
  process.env.DIRECT_AIO_BACKEND = 'nonsense'
  const c = capabilities()
  t.match(c.backendReason, /DIRECT_AIO_BACKEND='nonsense' is not a backend name/, 'an invalid override is reported, not thrown')
  process.env.DIRECT_AIO_BACKEND = 'threadpool'
  t.equal(capabilities().backend, 'threadpool', 'the override is read on every call')
})

t.test('alignment(path) on a file of this filesystem is the real O_DIRECT alignment', async (t) => {
  const dir = scratchDir()
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const file = path.join(dir, 'align.bin')
  fs.writeFileSync(file, Buffer.alloc(16384, 0x5a))
  const a = alignment(file)
  const isExt4 = fs.statfsSync(dir).type === 0xef53
  if (isExt4) t.same(a, { memory: 512, offset: 512 }, 'ext4 here: 512/512 (statx STATX_DIOALIGN)')
  t.ok(a.memory > 0 && (a.memory & (a.memory - 1)) === 0, `memory alignment ${a.memory} is a power of two`)
  t.ok(a.offset > 0 && (a.offset & (a.offset - 1)) === 0, `offset alignment ${a.offset} is a power of two`)

  // The numbers are the kernel's, not a guess: memory aligned to exactly
  // a.memory (and no more) works for a 4 KiB read; 16 bytes off does not.
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_DIRECT)
  t.teardown(() => fs.closeSync(fd))
  const region = allocAligned(4096 * 3, 4096)
  if (a.memory < 4096) {
    const exact = region.subarray(a.memory, a.memory + 4096) // aligned to a.memory, not to 2 * a.memory
    t.equal(fs.readSync(fd, exact, 0, 4096, 0), 4096, `a 4 KiB read into memory aligned to ${a.memory} succeeds`)
    t.equal(exact[0], 0x5a)
  }
  const off16 = region.subarray(16, 16 + 4096)
  t.throws(() => fs.readSync(fd, off16, 0, 4096, 0), { code: 'EINVAL' }, 'memory 16 bytes past a boundary: EINVAL')
  const aligned = region.subarray(0, 4096)
  if (a.offset < 4096) {
    t.equal(fs.readSync(fd, aligned, 0, 4096, a.offset), 4096, `a read at file offset ${a.offset} succeeds`)
  }
  if (a.offset > 1) t.throws(() => fs.readSync(fd, aligned, 0, 4096, a.offset / 2), { code: 'EINVAL' }, `a read at offset ${a.offset / 2} fails`)
})

t.test('alignment(path) of a loop block device', { skip: congestUnsupported() ?? false }, async (t) => {
  const dev = CongestedDevice.create({ sizeMiB: 4, readIops: 0, writeIops: 0, fill: 'zero' })
  t.teardown(() => dev.destroy())
  const a = alignment(dev.loop)
  const lbs = readNum(`/sys/block/${dev.name}/queue/logical_block_size`)
  t.equal(a.offset, lbs, `offset alignment is the logical block size (${lbs})`)
  t.equal(a.memory, 512, 'memory alignment 512 here')
  t.equal(a.offset, 512, 'offset alignment 512 here (loop default)')
  const fd = fs.openSync(dev.loop, fs.constants.O_RDONLY | fs.constants.O_DIRECT)
  t.teardown(() => fs.closeSync(fd))
  const region = allocAligned(8192, 4096)
  t.equal(fs.readSync(fd, region.subarray(a.memory, a.memory + 4096), 0, 4096, a.offset), 4096, 'a read at the reported alignment succeeds')
  t.throws(() => fs.readSync(fd, region.subarray(16, 16 + 4096), 0, 4096, 0), { code: 'EINVAL' }, 'misaligned memory: EINVAL')
})
