// lib/backends/registry.ts: one ordered list drives names, validation,
// DIRECT_AIO_BACKEND, the `auto` pick of capabilities() and of new
// IoContext(). A test backend registered here, and no other file changed,
// proves it: it becomes a valid `backend:` and DIRECT_AIO_BACKEND value,
// `auto` picks it when it comes first, and an IoContext runs real file I/O
// on it. The registry itself loads without the addon; only the last test
// (an IoContext on real files) needs it, and skips without it.
import t from 'tap'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import type { Backend, BackendEvents } from '../../lib/backends/backend'
import { fullDeviceQueue } from '../../lib/backends/backend'
import { autoPick, backendNames, BackendEntry, registerBackend, selectBackend } from '../../lib/backends/registry'
import { OP_FDATASYNC, OP_FSYNC, OP_READ, OP_WRITE, EINVAL } from '../../lib/sys-constants'

/** A fourth backend in a dozen lines: synchronous fs calls, completed on the next turn. */
class SyncFsBackend implements Backend {
  readonly name = 'test'
  readonly capacity = 8
  readonly canCancel = false
  private staged: Array<() => [number, number]> = []
  constructor(private readonly events: BackendEvents) {}
  prep(id: number, kind: number, fd: number, position: number, views: ArrayBufferView | ArrayBufferView[] | null, byteOffset: number, byteLength: number): number {
    const pos = position < 0 ? null : position
    const one = (): number => {
      const v = views as ArrayBufferView
      if (kind === OP_READ) return fs.readSync(fd, v, byteOffset, byteLength, pos)
      if (kind === OP_WRITE) return fs.writeSync(fd, v, byteOffset, byteLength, pos)
      if (kind === OP_FSYNC || kind === OP_FDATASYNC) return fs.fsyncSync(fd), 0
      return EINVAL
    }
    this.staged.push(() => [id, Array.isArray(views) ? EINVAL : one()])
    return 0
  }
  cancel(): number {
    return EINVAL
  }
  submit(): number {
    const ops = this.staged
    this.staged = []
    setImmediate(() => {
      for (const op of ops) this.events.complete(...op())
      this.events.batchEnd()
    })
    return ops.length
  }
  close(): void {}
  nativeStats() {
    return { liveOps: 0, liveRings: 0, pending: 0 }
  }
}

function entry(over: Partial<BackendEntry> = {}): BackendEntry {
  return {
    name: 'test',
    probe: () => null,
    create: (_entries, events) => new SyncFsBackend(events),
    deviceCap: fullDeviceQueue,
    capsExplicitDepth: false,
    adaptiveDepth: false,
    inlineUnlessDirect: false,
    waitsForPeers: false,
    pool: false,
    ...over,
  }
}

const noEvents: BackendEvents = { complete() {}, cancelResult() {}, batchEnd() {} }

function withEnv(t: { teardown(fn: () => void): void }, name: string, value: string | undefined): void {
  const old = process.env[name]
  if (value === undefined) delete process.env[name]
  else process.env[name] = value
  t.teardown(() => {
    if (old === undefined) delete process.env[name]
    else process.env[name] = old
  })
}

t.test('the built-in list, in auto order', async (t) => {
  t.same(backendNames(), ['io_uring', 'libaio', 'threadpool'])
})

t.test('a registered backend is a name, and auto picks it when it comes first', async (t) => {
  withEnv(t, 'DIRECT_AIO_BACKEND', undefined)
  const remove = registerBackend(entry(), { before: 'io_uring' })
  t.teardown(remove)
  t.same(backendNames(), ['test', 'io_uring', 'libaio', 'threadpool'])
  const pick = autoPick()
  t.equal(pick.backend, 'test', 'capabilities() would report it')
  t.equal(pick.reason, 'test is available')
  const sel = selectBackend('auto', 16, noEvents)
  t.equal(sel.backend.name, 'test', 'new IoContext() picks the same')
  t.equal(selectBackend('test', 16, noEvents).backend.name, 'test', 'and it can be asked for by name')
  t.throws(() => registerBackend(entry()), /already registered/)
})

t.test('a refusing backend is skipped by both pickers, with its reason', async (t) => {
  withEnv(t, 'DIRECT_AIO_BACKEND', undefined)
  const removeTest = registerBackend(entry(), { before: 'io_uring' })
  t.teardown(removeTest)
  const remove = registerBackend(entry({ name: 'refuser', probe: () => 'not today', create: () => 'not today' }), { before: 'test' })
  t.teardown(remove)
  const pick = autoPick()
  t.equal(pick.backend, 'test')
  t.equal(pick.refusals.refuser as string | undefined, 'not today')
  t.equal(pick.reason, 'refuser refused (not today); test is available')
  const sel = selectBackend('auto', 16, noEvents)
  t.equal(sel.backend.name, 'test', 'new IoContext() falls back the same way')
  t.same(sel.refusals, { refuser: 'not today' })
  t.throws(() => selectBackend('refuser', 16, noEvents), { code: 'ERR_DIRECT_AIO_BACKEND_UNAVAILABLE', message: /refuser backend is not available: not today/ })
})

t.test('DIRECT_AIO_BACKEND is checked against the registry', async (t) => {
  const remove = registerBackend(entry(), { before: 'io_uring' })
  t.teardown(remove)
  withEnv(t, 'DIRECT_AIO_BACKEND', 'test')
  t.equal(autoPick().backend, 'test')
  t.equal(autoPick().reason, 'DIRECT_AIO_BACKEND=test')
  t.equal(selectBackend('auto', 16, noEvents).backend.name, 'test')
  process.env.DIRECT_AIO_BACKEND = 'bogus'
  t.throws(() => selectBackend('auto', 16, noEvents), {
    code: 'ERR_DIRECT_AIO_BACKEND_UNAVAILABLE',
    message: "The 'bogus' backend is not available: DIRECT_AIO_BACKEND must be one of 'auto', 'test', 'io_uring', 'libaio', 'threadpool' (or unset)",
  })
  t.match(autoPick().reason, "DIRECT_AIO_BACKEND='bogus' is not a backend name")
})

t.test('an IoContext runs file I/O on a registered backend', async (t) => {
  let api: typeof import('../../lib/index')
  try {
    api = await import('../../lib/index')
  } catch (e) {
    t.skip(`the native addon does not load here: ${(e as Error).message}`)
    return
  }
  const remove = registerBackend(entry())
  t.teardown(remove)
  const ctx = new api.IoContext({ backend: 'test' as never })
  t.teardown(() => ctx.close())
  t.equal(ctx.backend as string, 'test')
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'direct-aio-unit-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const file = await api.open(path.join(dir, 'f'), 'w+', { direct: false, context: ctx })
  t.teardown(() => file.close())
  const data = Buffer.from('hello from a backend the library never heard of')
  t.equal((await file.write(data, 0, data.length, 0)).bytesWritten, data.length)
  await file.sync()
  const back = Buffer.alloc(data.length)
  t.equal((await file.read(back, 0, back.length, 0)).bytesRead, data.length)
  t.same(back, data)
  t.match(ctx.stats(), { backend: 'test', requests: { completed: 3 } })
})
