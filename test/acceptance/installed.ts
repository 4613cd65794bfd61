// The swarmpad a user installs: `npm pack` of this checkout, installed with
// `npm install -g --prefix DIR ./swarmpad-*.tgz`. Made once per source state
// (a stamp of the newest source file) and shared by the acceptance tests.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'

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
  const bin = join(DIR, 'prefix', 'bin', 'swarmpad')
  const stamp = String(Math.max(newest(join(ROOT, 'src')), newest(join(ROOT, 'bin')), statSync(join(ROOT, 'package.json')).mtimeMs))
  const stampFile = join(DIR, 'stamp')
  if (existsSync(bin) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) return bin
  rmSync(DIR, { recursive: true, force: true })
  mkdirSync(DIR, { recursive: true })
  execFileSync('npm', ['pack', '--pack-destination', DIR], { cwd: ROOT, stdio: 'pipe' })
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
