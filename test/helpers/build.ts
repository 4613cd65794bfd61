// Tests run the real binary (bin/swarmpad.js), which runs dist/bundle when it
// exists and dist/cli otherwise: bring all of dist/ up to date with src/
// before spawning it. `npm install` builds everything; this keeps a working
// tree's tests honest after an edit (a stale bundle would run the old code).
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'

const ROOT = resolve(import.meta.dirname, '..', '..')

let checked = false

/// Rebuild what is older than its sources: tsc (dist/), then the bundle
/// (dist/bundle) and the page (dist/web). Checked once per test process.
export function ensureBuilt(): void {
  if (checked) return
  checked = true
  // Test files run in two worker processes: one builds, the other waits.
  const lock = join(ROOT, 'dist', '.test-build-lock')
  mkdirSync(join(ROOT, 'dist'), { recursive: true })
  const end = Date.now() + 120_000
  for (;;) {
    try {
      mkdirSync(lock)
      break
    } catch {
      // A lock older than two minutes was left by a killed run.
      if (Date.now() > end || Date.now() - mtime(lock) > 120_000) {
        rmSync(lock, { recursive: true, force: true })
        continue
      }
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100)
    }
  }
  try {
    build()
  } finally {
    rmSync(lock, { recursive: true, force: true })
  }
}

function build(): void {
  const src = join(ROOT, 'src')
  const cli = join(ROOT, 'dist', 'cli', 'main.js')
  const hub = join(ROOT, 'dist', 'server', 'collab.js')
  if (Math.min(mtime(cli), mtime(hub)) < newest(src, (p) => p.endsWith('.ts') && !p.includes('/web/'))) {
    // tsc emits even when another part of the tree has type errors; only a
    // missing output is fatal.
    spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', ROOT], { cwd: ROOT, stdio: 'ignore' })
  }
  const bundle = join(ROOT, 'dist', 'bundle', 'main.js')
  if (existsSync(join(ROOT, 'node_modules', 'esbuild')) && mtime(bundle) < newest(join(ROOT, 'dist'), (p) => p.endsWith('.js') && !p.includes('/bundle/') && !p.includes('/web/'))) {
    run('scripts/build-bundle.mjs')
  }
  const web = join(ROOT, 'dist', 'web', 'app.js')
  if (mtime(web) < Math.max(newest(join(src, 'web'), () => true), mtime(join(src, 'server', 'protocol.ts')))) run('scripts/build-web.mjs')
  for (const f of [cli, hub, web]) if (!existsSync(f)) throw new Error(`${f} is missing after the build`)
}

function run(script: string): void {
  try {
    execFileSync(process.execPath, [script], { cwd: ROOT, stdio: 'pipe' })
  } catch (err) {
    throw new Error(`${script} failed: ${String((err as { stderr?: Buffer }).stderr ?? err)}`)
  }
}

function mtime(path: string): number {
  return existsSync(path) ? statSync(path).mtimeMs : 0
}

function newest(dir: string, wanted: (path: string) => boolean): number {
  let t = 0
  if (!existsSync(dir)) return t
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) t = Math.max(t, newest(p, wanted))
    else if (wanted(p)) t = Math.max(t, statSync(p).mtimeMs)
  }
  return t
}
