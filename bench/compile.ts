// The children run as plain JavaScript so that each starts in ~0.1 s instead
// of ~0.8 s under tsx: lib/ and the child scripts are transpiled (no type
// check) into a private directory for this run, bench/.build-<pid>/, laid
// out like the repository so that lib/binding.ts finds the addon through
// build/ and prebuilds/ symlinks. Transpiling lib/ rather than using dist/
// means the figures always describe the checked-out sources, and the shared
// dist/ is never written.
import * as fs from 'node:fs'
import * as path from 'node:path'

const ROOT = path.join(__dirname, '..')
const CHILD_SOURCES = ['worker.ts', 'cancel-worker.ts', 'machine.ts', 'pagemem.ts', 'summary.ts', 'types.ts']

function tsFiles(dir: string): string[] {
  const out: string[] = []
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name)
    if (e.isDirectory()) out.push(...tsFiles(p))
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p)
  }
  return out
}

export interface Compiled {
  dir: string
  worker: string
  cancelWorker: string
  cleanup(): void
}

/** `root`: a checkout of the repository (default: this one); `--variant` in bench/app-loop.ts compiles others to compare. */
export function compileChildren(root: string = ROOT): Compiled {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ts = require('typescript') as typeof import('typescript')
  const dir = path.join(root, 'bench', `.build-${process.pid}`)
  fs.rmSync(dir, { recursive: true, force: true })
  const sources = [...tsFiles(path.join(root, 'lib')), ...CHILD_SOURCES.map((f) => path.join(root, 'bench', f))]
  for (const src of sources) {
    const rel = path.relative(root, src)
    const out = path.join(dir, rel.replace(/\.ts$/, '.js'))
    fs.mkdirSync(path.dirname(out), { recursive: true })
    const r = ts.transpileModule(fs.readFileSync(src, 'utf8'), {
      fileName: src,
      compilerOptions: {
        target: ts.ScriptTarget.ES2022,
        module: ts.ModuleKind.CommonJS,
        esModuleInterop: true,
        sourceMap: false,
      },
    })
    fs.writeFileSync(out, r.outputText)
  }
  for (const link of ['build', 'prebuilds', 'package.json']) {
    const target = path.join(root, link)
    if (fs.existsSync(target)) fs.symlinkSync(target, path.join(dir, link))
  }
  const cleanup = () => fs.rmSync(dir, { recursive: true, force: true })
  return { dir, worker: path.join(dir, 'bench', 'worker.js'), cancelWorker: path.join(dir, 'bench', 'cancel-worker.js'), cleanup }
}
