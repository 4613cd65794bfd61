// The real `swarmpad` binary in child processes, for test/cli.
//
// Every device has its own storage root (a temporary directory) and talks to
// a loopback testnet (127.0.0.1 only) through SWARMPAD_BOOTSTRAP, with LAN
// discovery off: no daemon a test starts ever reaches the public DHT or
// multicasts on a real interface. Daemons are stopped when the test ends
// (SIGTERM, then SIGKILL), before the testnet is destroyed, even on failure.
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises'
import { readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { request } from 'node:http'
import { onTestFinished } from 'vitest'
import { ensureBuilt } from './build.js'
import createTestnet from 'hyperdht/testnet'

export const ROOT = resolve(import.meta.dirname, '..', '..')
export const BIN = join(ROOT, 'bin', 'swarmpad.js')
export { ensureBuilt }

export interface RunResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  ms: number
}

export interface RunOptions {
  input?: string | Buffer
  env?: NodeJS.ProcessEnv
  timeout?: number
  cwd?: string
}

export interface DaemonFile {
  pid: number
  port: number
  token: string
  version: string
}

export interface CliDevice {
  home: string
  env: NodeJS.ProcessEnv
  /// Run `swarmpad ARGS` for this device and collect its output.
  run(args: string[], opts?: RunOptions): Promise<RunResult>
  /// Like run(), but fails the test unless the exit status is 0; returns stdout.
  ok(args: string[], opts?: RunOptions): Promise<string>
  /// The daemon file, or null when there is none.
  daemon(): Promise<DaemonFile | null>
  /// Call the daemon's API directly.
  api<T>(method: string, path: string, body?: unknown): Promise<T>
  /// Stop this device's daemon (SIGTERM, then SIGKILL) and wait until it is gone.
  stop(): Promise<void>
}

export interface CliNet {
  bootstrap: string
  device(opts?: { home?: string }): Promise<CliDevice>
}

/// A loopback testnet and devices on it; everything is torn down when the test ends.
export async function cliNet(): Promise<CliNet> {
  ensureBuilt()
  const testnet = await createTestnet(3, { host: '127.0.0.1' })
  for (const b of testnet.bootstrap) if (b.host !== '127.0.0.1') throw new Error(`testnet node ${b.host} is not loopback`)
  const bootstrap = testnet.bootstrap.map((b) => `${b.host}:${b.port}`).join(',')
  const devices: CliDevice[] = []
  const dirs: string[] = []
  onTestFinished(async () => {
    // Daemons first (they close their swarms), then the testnet, then the files.
    await Promise.all(devices.map((d) => d.stop().catch(() => {})))
    await testnet.destroy().catch(() => {})
    for (const dir of dirs) await rm(dir, { recursive: true, force: true }).catch(() => {})
  })
  return {
    bootstrap,
    async device(opts = {}) {
      let home = opts.home
      if (home === undefined) {
        const dir = await mkdtemp(join(tmpdir(), 'swarmpad-cli-'))
        dirs.push(dir)
        home = join(dir, 'home')
      }
      const device = makeDevice(home, bootstrap)
      devices.push(device)
      return device
    }
  }
}

/// An environment without the caller's editor and swarmpad settings.
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('SWARMPAD_') || k === 'EDITOR' || k === 'VISUAL' || k.startsWith('VITEST') || k === 'NODE_OPTIONS') continue
    env[k] = v
  }
  return env
}

function makeDevice(home: string, bootstrap: string): CliDevice {
  const env: NodeJS.ProcessEnv = { ...cleanEnv(), SWARMPAD_HOME: home, SWARMPAD_BOOTSTRAP: bootstrap, SWARMPAD_LAN: '0', NO_COLOR: '1' }
  const device: CliDevice = {
    home,
    env,
    run: (args, opts = {}) => runCli(args, { ...opts, env: { ...env, ...opts.env } }),
    async ok(args, opts = {}) {
      const r = await device.run(args, opts)
      if (r.code !== 0) throw new Error(`swarmpad ${args.join(' ')} exited ${r.code}:\n${r.stderr}${await logTail(home)}`)
      return r.stdout
    },
    async daemon() {
      try {
        return JSON.parse(await readFile(join(home, 'daemon.json'), 'utf8')) as DaemonFile
      } catch {
        return null
      }
    },
    async api<T>(method: string, path: string, body?: unknown): Promise<T> {
      const info = await device.daemon()
      if (info === null) throw new Error('no daemon running')
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
      return new Promise<T>((resolvePromise, reject) => {
        const req = request(
          { host: '127.0.0.1', port: info.port, path, method, headers: { Authorization: `Bearer ${info.token}`, ...(payload ? { 'Content-Type': 'application/json' } : {}) } },
          (res) => {
            const chunks: Buffer[] = []
            res.on('data', (c: Buffer) => chunks.push(c))
            res.on('end', () => {
              const text = Buffer.concat(chunks).toString('utf8')
              if (res.statusCode !== 200) return reject(new Error(`${method} ${path}: ${res.statusCode} ${text}`))
              resolvePromise(JSON.parse(text) as T)
            })
          }
        )
        req.on('error', reject)
        req.end(payload)
      })
    },
    async stop() {
      await stopHome(home)
    }
  }
  return device
}

/// Spawn the binary and collect its output (stdin closed unless `input`).
export function runCli(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const started = performance.now()
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: opts.env ?? cleanEnv(), cwd: opts.cwd ?? ROOT, stdio: ['pipe', 'pipe', 'pipe'] })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (c: Buffer) => out.push(c))
    child.stderr.on('data', (c: Buffer) => err.push(c))
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeout ?? 45_000)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolvePromise({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), ms: performance.now() - started })
    })
    child.stdin.on('error', () => {})
    child.stdin.end(opts.input)
  })
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
  // A zombie (exited; in a container whose pid 1 does not reap, it stays) is gone.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1')
    return !/^[ZX]$/.test(stat.charAt(stat.lastIndexOf(')') + 2))
  } catch {
    return true
  }
}

export async function waitFor(check: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/// Stop whatever daemon holds `home`: SIGTERM (a clean close), SIGKILL after 15 s.
export async function stopHome(home: string): Promise<void> {
  const pids = new Set<number>()
  for (const file of ['daemon.json', 'swarmpad.pid']) {
    try {
      const text = await readFile(join(home, file), 'utf8')
      const pid = file === 'daemon.json' ? (JSON.parse(text) as DaemonFile).pid : Number.parseInt(text, 10)
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid) pids.add(pid)
    } catch {}
  }
  for (const pid of pids) {
    if (!alive(pid)) continue
    try {
      process.kill(pid, 'SIGTERM')
    } catch {}
    try {
      await waitFor(() => !alive(pid), `daemon ${pid} to stop`, 15_000)
    } catch {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {}
    }
  }
}

/// The end of daemon.log, for failure messages.
export async function logTail(home: string, lines = 20): Promise<string> {
  try {
    const text = await readFile(join(home, 'daemon.log'), 'utf8')
    return `\n--- daemon.log ---\n${text.split('\n').slice(-lines).join('\n')}`
  } catch {
    return ''
  }
}

/// Every file under a directory (for "nothing was left behind" checks).
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = []
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = join(d, e.name)
      if (e.isDirectory()) await walk(p)
      else out.push(p)
    }
  }
  await walk(dir)
  return out.sort()
}

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch {
    return false
  }
}
