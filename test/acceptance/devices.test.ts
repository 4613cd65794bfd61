import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import createTestnet, { type Testnet } from 'hyperdht/testnet'
import { alive, stopHome, waitFor } from '../helpers/cli.js'
import { installedSwarmpad, userEnv } from './installed.js'

// The installed command (npm pack + npm install -g) on three devices of one
// machine. Default settings except what keeps traffic here: a loopback
// testnet as SWARMPAD_BOOTSTRAP and SWARMPAD_LAN=0.

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

describe('acceptance: the installed command on three devices', () => {
  let bin = ''
  let testnet: Testnet | null = null
  const dirs: string[] = []
  const homes: string[] = []

  function run(home: string, args: string[], input?: string): Promise<Run> {
    const bootstrap = testnet!.bootstrap.map((b) => `${b.host}:${b.port}`).join(',')
    return new Promise((resolve, reject) => {
      const child = spawn(bin, args, { env: userEnv(home, { SWARMPAD_BOOTSTRAP: bootstrap, SWARMPAD_LAN: '0' }), stdio: ['pipe', 'pipe', 'pipe'] })
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
      child.on('error', reject)
      child.on('close', (code) => {
        clearTimeout(timer)
        resolve({ code, stdout, stderr })
      })
      child.stdin.on('error', () => {})
      child.stdin.end(input)
    })
  }

  async function ok(home: string, args: string[], input?: string): Promise<string> {
    const r = await run(home, args, input)
    if (r.code !== 0) throw new Error(`swarmpad ${args.join(' ')} exited ${r.code}: ${r.stderr}`)
    return r.stdout
  }

  async function device(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'swarmpad-accept-'))
    dirs.push(dir)
    const home = join(dir, 'home')
    homes.push(home)
    return home
  }

  async function converge(devices: string[], name: string, ms = 30_000): Promise<string> {
    let texts: string[] = []
    await waitFor(async () => {
      texts = await Promise.all(devices.map((h) => ok(h, ['cat', name])))
      return texts.every((t) => t === texts[0])
    }, `the devices to show the same text of ${name}`, ms).catch(() => {
      throw new Error(`texts differ: ${JSON.stringify(texts)}`)
    })
    return texts[0]!
  }

  beforeAll(async () => {
    bin = installedSwarmpad()
    testnet = await createTestnet(3, { host: '127.0.0.1' })
    for (const b of testnet.bootstrap) if (b.host !== '127.0.0.1') throw new Error('testnet is not on loopback')
  }, 300_000)

  afterAll(async () => {
    for (const h of homes) await stopHome(h).catch(() => {})
    await testnet?.destroy()
    for (const d of dirs) await rm(d, { recursive: true, force: true }).catch(() => {})
  }, 60_000)

  it('new, invite, join twice, a write on each, remove, stop and restart, SIGKILL: every text byte for byte, nothing confirmed lost', async () => {
    const [ann, bob, cid] = [await device(), await device(), await device()]
    await ok(ann, ['whoami', '--name', 'Ann'])
    await ok(ann, ['new', 'plan.md', '--stdin'], 'agenda\n')
    for (const guest of [bob, cid]) {
      const code = (await ok(ann, ['invite', 'plan.md'])).trim().split('\n').pop()!.trim()
      await ok(guest, ['join', code, 'plan.md'])
    }
    expect(await converge([ann, bob, cid], 'plan.md')).toBe('agenda\n')

    // Each device in turn adds its line to the text it has (`write` replaces the text with the
    // file as a minimal diff, so whole-file writes from the same start would override each other).
    let expected = 'agenda\n'
    for (const [h, line] of [[ann, 'ann line\n'], [bob, 'bob line\n'], [cid, 'cid line\n']] as const) {
      expect(await ok(h, ['cat', 'plan.md'])).toBe(expected)
      expected += line
      await ok(h, ['write', 'plan.md', '-'], expected)
      expect(await converge([ann, bob, cid], 'plan.md')).toBe(expected)
    }
    const merged = expected

    // Remove Cid; Ann and Bob go on, Cid's device gets nothing new.
    type Members = { members: Array<{ key: string; self: boolean }> }
    const members = (JSON.parse(await ok(ann, ['members', 'plan.md', '--json'])) as Members).members
    expect(members).toHaveLength(3)
    const cidKey = (JSON.parse(await ok(cid, ['members', 'plan.md', '--json'])) as Members).members.find((m) => m.self)?.key
    expect(cidKey).toBeTruthy()
    await ok(ann, ['remove', 'plan.md', cidKey!])
    await ok(bob, ['write', 'plan.md', '-'], merged + 'after removal\n')
    const afterRemoval = await converge([ann, bob], 'plan.md')
    expect(afterRemoval).toBe(merged + 'after removal\n')

    // stop and restart: the text is what it was.
    await ok(bob, ['stop'])
    expect(await ok(bob, ['cat', 'plan.md'])).toBe(afterRemoval)

    // SIGKILL of the daemon right after a confirmed write: the next command starts a new one, the write is there.
    await ok(ann, ['write', 'plan.md', '-'], afterRemoval + 'before kill\n')
    const info = JSON.parse(await readFile(join(ann, 'daemon.json'), 'utf8')) as { pid: number }
    process.kill(info.pid, 'SIGKILL')
    await waitFor(() => !alive(info.pid), 'the killed daemon to be gone', 10_000)
    expect(await ok(ann, ['cat', 'plan.md'])).toBe(afterRemoval + 'before kill\n')
    expect(await converge([ann, bob], 'plan.md')).toBe(afterRemoval + 'before kill\n')
  }, 240_000)
})
