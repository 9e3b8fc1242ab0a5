import t from 'tap'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { allocAligned, open } from '../lib/index'
import { scratchDir } from './helpers/tmp'

t.test('write then read back with O_DIRECT', async (t) => {
  const dir = scratchDir()
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const f = await open(path.join(dir, 'a.bin'), 'w+')
  t.teardown(() => f.close())
  const w = allocAligned(65536)
  for (let i = 0; i < w.length; i++) w[i] = i * 7
  t.equal((await f.write(w, 0, w.length, 0)).bytesWritten, 65536)
  const r = allocAligned(65536)
  t.equal((await f.read(r, 0, r.length, 0)).bytesRead, 65536)
  t.same(r, w)
})
