// The swarmpad a user installs: `npm pack` of this checkout, installed with
// `npm install -g --prefix DIR ./swarmpad-*.tgz`. Made once per source state
// (a stamp of the newest source file) and shared by the acceptance tests.
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { ensureBuilt } from '../helpers/build.js'

const ROOT = resolve(import.meta.dirname, '..', '..')
const DIR = join(ROOT, '.swarmpad-test-install')

function newest(dir: string): number {
  let t = 0
  if (!existsSync(dir)) return t
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs)
  }
  return t
}

/// The path of the installed `swarmpad` command (packing and installing first when needed).
export function installedSwarmpad(): string {
  // Test files run in two worker processes: one installs, the other waits.
  const lock = `${DIR}.lock`
  const end = Date.now() + 240_000
  for (;;) {
    try {
      mkdirSync(lock)
      break
    } catch {
      if (Date.now() > end || Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now()) > 240_000) {
        rmSync(lock, { recursive: true, force: true })
        continue
      }
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200)
    }
  }
  try {
    return install()
  } finally {
    rmSync(lock, { recursive: true, force: true })
  }
}

function install(): string {
  const bin = join(DIR, 'prefix', 'bin', 'swarmpad')
  const stamp = String(Math.max(newest(join(ROOT, 'src')), newest(join(ROOT, 'bin')), statSync(join(ROOT, 'package.json')).mtimeMs))
  const stampFile = join(DIR, 'stamp')
  if (existsSync(bin) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) return bin
  rmSync(DIR, { recursive: true, force: true })
  mkdirSync(DIR, { recursive: true })
  // dist/ is brought up to date the way every CLI test does it; `npm pack`'s own
  // prepare (a full rebuild) would rewrite dist/ under the feet of the tests
  // running in the other worker.
  ensureBuilt()
  execFileSync('npm', ['pack', '--ignore-scripts', '--pack-destination', DIR], { cwd: ROOT, stdio: 'pipe' })
  const tarball = readdirSync(DIR).find((f) => /^swarmpad-.*\.tgz$/.test(f))
  if (tarball === undefined) throw new Error('npm pack made no tarball')
  execFileSync('npm', ['install', '-g', '--prefix', join(DIR, 'prefix'), '--no-audit', '--no-fund', '--prefer-offline', join(DIR, tarball)], { cwd: DIR, stdio: 'pipe' })
  if (!existsSync(bin)) throw new Error(`npm install -g of ${tarball} left no ${bin}`)
  writeFileSync(stampFile, stamp)
  return bin
}

/// The environment a user has: no swarmpad settings, no editor, nothing of the test runner.
export function userEnv(home: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('SWARMPAD_') || k === 'EDITOR' || k === 'VISUAL' || k.startsWith('VITEST') || k === 'NODE_OPTIONS') continue
    env[k] = v
  }
  return { ...env, SWARMPAD_HOME: home, NO_COLOR: '1', ...extra }
}

export interface Run {
  code: number | null
  stdout: string
  stderr: string
}

/// Run `command args` with `env` and `input` on stdin; killed after `timeout` ms.
export function runCommand(command: string, args: string[], env: NodeJS.ProcessEnv, input?: string, timeout = 60_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeout)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
    child.stdin.on('error', () => {})
    child.stdin.end(input)
  })
}
