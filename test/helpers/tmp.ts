// Scratch files for tests, on a filesystem that supports O_DIRECT (the OS
// temp dir may be tmpfs; /var/tmp is disk-backed on this image).
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

export function scratchDir(): string {
  const candidates = [process.env.DIRECT_AIO_TEST_DIR, '/var/tmp', os.tmpdir(), process.cwd()].filter(Boolean) as string[]
  for (const c of candidates) {
    try {
      const dir = fs.mkdtempSync(path.join(c, 'direct-aio-test-'))
      const probe = path.join(dir, 'probe')
      const fd = fs.openSync(probe, fs.constants.O_CREAT | fs.constants.O_RDWR | fs.constants.O_DIRECT)
      fs.closeSync(fd)
      fs.unlinkSync(probe)
      return dir
    } catch {
      // try the next one
    }
  }
  throw new Error('no directory supports O_DIRECT')
}
