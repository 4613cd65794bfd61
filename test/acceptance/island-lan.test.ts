import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createLan, lanUnavailable, lockNamespaces, type Lan } from '../lan/netns.js'
import { stopHome } from '../helpers/cli.js'
import { installedSwarmpad, runCommand, userEnv, type Run } from './installed.js'

// The installed command (npm pack + npm install -g) on an island LAN with
// DEFAULT settings: no --bootstrap (so the public bootstrap nodes, which no
// route reaches from these namespaces), LAN discovery on. And a second case
// whose --bootstrap names a host on the test's own namespace network where a
// UDP socket reads and never replies. Nothing here can leave the namespaces:
// they have no default route.

const reason = lanUnavailable()
if (reason !== null) console.log(`skipping island-LAN acceptance tests: ${reason}`)

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

describe.skipIf(reason !== null)('acceptance: the installed command on an island LAN', () => {
  let lan: Lan | null = null
  let bin = ''
  const homes: string[] = []
  const silent: ChildProcess[] = []

  function run(ns: string, home: string, args: string[], input?: string, timeout = 60_000): Promise<Run> {
    return runCommand('ip', ['netns', 'exec', ns, bin, ...args], userEnv(home), input, timeout)
  }

  async function ok(ns: string, home: string, args: string[], input?: string): Promise<string> {
    const r = await run(ns, home, args, input)
    if (r.code !== 0) throw new Error(`swarmpad ${args.join(' ')} exited ${r.code}: ${r.stderr}`)
    return r.stdout
  }

  async function newHome(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'swarmpad-accept-'))
    homes.push(dir)
    return join(dir, 'home')
  }

  async function waitText(ns: string, home: string, name: string, text: string, ms: number): Promise<string> {
    const end = Date.now() + ms
    let last = ''
    while (Date.now() < end) {
      const r = await run(ns, home, ['cat', name])
      last = r.stdout
      if (r.code === 0 && r.stdout === text) return r.stdout
      await new Promise((r) => setTimeout(r, 100))
    }
    return last
  }

  /// Owner on ns1 creates and invites; a fresh device on ns2 joins; both write; every text byte for byte.
  async function pairOnce(ns1: string, ns2: string, ownerHome: string, name: string, extra: string[]): Promise<number> {
    const { stdout } = { stdout: await ok(ns1, ownerHome, [...extra, 'invite', name]) }
    const code = stdout.trim().split('\n').pop()!.trim()
    const guest = await newHome()
    const t0 = performance.now()
    const joined = await run(ns2, guest, [...extra, 'join', code, name, '--timeout', '30s'])
    expect(joined.code, joined.stderr).toBe(0)
    const owned = await ok(ns1, ownerHome, ['cat', name])
    expect(await waitText(ns2, guest, name, owned, 20_000)).toBe(owned)
    const ms = performance.now() - t0
    const line = `guest ${homes.length}\n`
    await ok(ns2, guest, ['write', name, '-'], owned + line)
    expect(await waitText(ns1, ownerHome, name, owned + line, 20_000)).toBe(owned + line)
    await stopHome(guest)
    return ms
  }

  let unlock: (() => void) | null = null

  beforeAll(async () => {
    bin = installedSwarmpad()
    unlock = await lockNamespaces()
    lan = createLan(3, 79)
  }, 600_000)

  afterAll(async () => {
    for (const home of homes) await stopHome(home).catch(() => {})
    for (const s of silent) s.kill('SIGKILL')
    lan?.destroy()
    unlock?.()
    await Promise.allSettled(homes.map((h) => rm(h, { recursive: true, force: true })))
  }, 60_000)

  it('default settings (no --bootstrap, LAN on): join to text on the other device within 10 s (median of 5)', async () => {
    const [n1, n2] = lan!.namespaces
    const owner = await newHome()
    await ok(n1!, owner, ['new', 'plan.md', '--stdin'], 'island agenda\n')
    const times: number[] = []
    for (let i = 0; i < 5; i++) times.push(await pairOnce(n1!, n2!, owner, 'plan.md', []))
    const status = await ok(n1!, owner, ['status'])
    expect(status).toContain('no answer at start')
    console.log(`island LAN, default settings: join -> text ${times.map((t) => t.toFixed(0)).join(', ')} ms; median ${median(times).toFixed(0)} ms`)
    expect(median(times)).toBeLessThan(10_000)
    await stopHome(owner)
  }, 240_000)

  it('a --bootstrap that never answers does not keep LAN peers apart', async () => {
    const [n1, n2, n3] = lan!.namespaces
    // A UDP socket on the third namespace that reads and never replies.
    const sink = spawn('ip', ['netns', 'exec', n3!, process.execPath, '-e', "const s=require('dgram').createSocket('udp4');s.on('message',()=>{});s.bind(49999,'0.0.0.0',()=>console.log('bound'));setTimeout(()=>process.exit(0),180000)"], { stdio: ['ignore', 'pipe', 'inherit'] })
    silent.push(sink)
    await new Promise<void>((resolve) => sink.stdout!.once('data', () => resolve()))
    const extra = ['--bootstrap', `${lan!.addresses[2]}:49999`]
    const owner = await newHome()
    await ok(n1!, owner, [...extra, 'new', 'notes.md', '--stdin'], 'silent bootstrap\n')
    const ms = await pairOnce(n1!, n2!, owner, 'notes.md', extra)
    console.log(`silent bootstrap: join -> text ${ms.toFixed(0)} ms`)
    expect(ms).toBeLessThan(15_000)
    await stopHome(owner)
  }, 120_000)
})
