import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { createInterface } from 'node:readline'
import { mkdirSync, rmSync, statSync } from 'node:fs'

// Network namespaces for the LAN tests: one "hub" namespace holding a bridge,
// and one namespace per device joined to it by a veth pair, with loopback up
// and a route for 224.0.0.0/4 on its interface. Nothing is created in, or
// sent on, the machine's own namespace.

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

/// Why the LAN tests cannot run here, or null when they can.
export function lanUnavailable(): string | null {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'LAN tests need root (network namespaces)'
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' })
  } catch {
    return 'LAN tests need the `ip` command (iproute2)'
  }
  const probe = `swpprobe${process.pid % 100000}`
  try {
    ip('netns', 'add', probe)
  } catch (err) {
    return `LAN tests cannot create a network namespace: ${(err as Error).message.split('\n')[0]}`
  } finally {
    try {
      ip('netns', 'del', probe)
    } catch {
      // was not created
    }
  }
  return null
}

export interface Lan {
  prefix: string
  /// Device namespaces, and each one's address on the bridge.
  namespaces: string[]
  addresses: string[]
  destroy(): void
}

/// The names of this machine's network namespaces.
function namespaceNames(): string[] {
  try {
    return ip('netns', 'list')
      .split('\n')
      .map((line) => line.split(' ')[0] ?? '')
      .filter((name) => name !== '')
  } catch {
    return []
  }
}

function deleteNamespace(name: string): void {
  try {
    ip('netns', 'del', name)
  } catch {
    // already gone
  }
}

/// Delete every namespace whose name starts with `prefix`.
export function deleteNamespaces(prefix: string): void {
  for (const name of namespaceNames()) if (name.startsWith(prefix)) deleteNamespace(name)
}

/// Remove what a killed run left behind: namespaces `swpl<pid>...` whose
/// pid is gone, with every process still running inside them.
export function deleteStaleNamespaces(): void {
  for (const name of namespaceNames()) {
    const m = /^swpl(\d+)/.exec(name)
    if (m === null || Number(m[1]) === process.pid % 100000) continue
    let alive = false
    try {
      process.kill(Number(m[1]), 0)
      alive = true
    } catch {}
    if (alive) continue
    try {
      for (const pid of ip('netns', 'pids', name).split('\n').filter((x) => /^\d+$/.test(x))) process.kill(Number(pid), 'SIGKILL')
    } catch {}
    deleteNamespace(name)
  }
}

/// Build a bridged LAN of `count` namespaces (10.77.N.1..count/24).
export function createLan(count: number, subnet = 77): Lan {
  const prefix = `swpl${process.pid % 100000}`
  deleteStaleNamespaces()
  deleteNamespaces(prefix)
  const hub = `${prefix}hub`
  const namespaces: string[] = []
  const addresses: string[] = []
  const lan: Lan = { prefix, namespaces, addresses, destroy: () => deleteNamespaces(prefix) }
  try {
    ip('netns', 'add', hub)
    ip('-n', hub, 'link', 'set', 'lo', 'up')
    ip('-n', hub, 'link', 'add', 'br0', 'type', 'bridge')
    ip('-n', hub, 'link', 'set', 'br0', 'up')
    for (let i = 1; i <= count; i++) {
      const ns = `${prefix}d${i}`
      const address = `10.${subnet}.0.${i}`
      ip('netns', 'add', ns)
      ip('link', 'add', 'eth0', 'netns', ns, 'type', 'veth', 'peer', 'name', `h${i}`, 'netns', hub)
      ip('-n', ns, 'link', 'set', 'lo', 'up')
      ip('-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0')
      ip('-n', ns, 'link', 'set', 'eth0', 'up')
      ip('-n', ns, 'route', 'add', '224.0.0.0/4', 'dev', 'eth0')
      ip('-n', hub, 'link', 'set', `h${i}`, 'master', 'br0')
      ip('-n', hub, 'link', 'set', `h${i}`, 'up')
      namespaces.push(ns)
      addresses.push(address)
    }
  } catch (err) {
    lan.destroy()
    throw err
  }
  return lan
}

/// A device process in a namespace, driven over stdin/stdout (test/lan/device.mjs).
export class NamespaceDevice {
  readonly child: ChildProcessWithoutNullStreams
  private nextId = 1
  private readonly waiting = new Map<string | number, (msg: Record<string, unknown>) => void>()
  readonly ready: Promise<void>
  stderr = ''

  constructor(ns: string, script: string, dist: string, home: string) {
    this.child = spawn('ip', ['netns', 'exec', ns, process.execPath, script, dist, home], { stdio: ['pipe', 'pipe', 'pipe'] })
    this.child.stderr.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000)
    })
    const lines = createInterface({ input: this.child.stdout })
    lines.on('line', (line) => {
      let msg: Record<string, unknown>
      try {
        msg = JSON.parse(line) as Record<string, unknown>
      } catch {
        return
      }
      const resolve = this.waiting.get(msg.id as string | number)
      if (resolve) {
        this.waiting.delete(msg.id as string | number)
        resolve(msg)
      }
    })
    this.ready = new Promise((resolve, reject) => {
      this.waiting.set('ready', () => resolve())
      this.child.once('exit', (code) => reject(new Error(`device exited (${code}): ${this.stderr}`)))
    })
  }

  /// Send a command and wait for its answer (throws on { ok: false }).
  async call<T = Record<string, unknown>>(cmd: string, args: Record<string, unknown> = {}, ms = 60_000): Promise<T> {
    const id = this.nextId++
    const answer = new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id)
        reject(new Error(`device: ${cmd} timed out; stderr: ${this.stderr}`))
      }, ms)
      this.waiting.set(id, (msg) => {
        clearTimeout(timer)
        resolve(msg)
      })
    })
    this.child.stdin.write(JSON.stringify({ id, cmd, ...args }) + '\n')
    const msg = await answer
    if (msg.ok !== true) throw new Error(`device: ${cmd} failed: ${String(msg.error)}`)
    return msg as T
  }

  /// Close gracefully, then kill if it does not exit in time.
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    const t0 = Date.now()
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()))
    this.call('close', {}, 5000).catch(() => {})
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(timer)
    this.stopMs = Date.now() - t0
  }

  stopMs = 0
}

/// The namespace suites (test/lan, test/acceptance/island-lan) run one at a
/// time: two LANs of devices starting at once on two cores made the LAN suite
/// miss its deadlines. The v1-root joins (v1-roots, acceptance formats) take
/// it too: beside these suites they timed out. Resolves with the function
/// that releases the lock.
export async function lockNamespaces(ms = 280_000): Promise<() => void> {
  const lock = '/tmp/swarmpad-netns-suite.lock'
  const end = Date.now() + ms
  for (;;) {
    try {
      mkdirSync(lock)
      return () => rmSync(lock, { recursive: true, force: true })
    } catch {
      const age = Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now())
      if (Date.now() > end || age > 600_000) rmSync(lock, { recursive: true, force: true })
      await new Promise((r) => setTimeout(r, 250))
    }
  }
}
