// A storage root copied to another place (a new computer, a backup put
// back) opens none of its logs: every command names `swarmpad recover`,
// which keeps the old root aside unchanged and gives every document back
// under new keys. The built command, on the local testnet.
import { describe, expect, it } from 'vitest'
import { createHash } from 'node:crypto'
import { cp, readFile, readdir, writeFile } from 'node:fs/promises'
import { dirname, join, relative } from 'node:path'
import { cliNet, exists, listFiles, logTail, waitFor, type CliDevice } from '../helpers/cli.js'

/// One hash of every file under `dir`: relative path, mode and bytes.
async function treeHash(dir: string): Promise<string> {
  const h = createHash('sha256')
  for (const file of await listFiles(dir)) {
    h.update(relative(dir, file) + '\0')
    h.update(await readFile(file))
    h.update('\0')
  }
  return h.digest('hex')
}

/// `cp -a`: a copy on another inode, as a move to a new computer or a restore makes.
async function copyRoot(from: string, to: string): Promise<void> {
  await cp(from, to, { recursive: true, preserveTimestamps: true })
}

const MOVED = /swarmpad: .* was copied or restored from a backup \(its device file .*\), so swarmpad will not write to its logs from here: run `swarmpad recover` to get every document back under new keys/

async function expectText(device: CliDevice, name: string, expected: string, what: string): Promise<void> {
  let seen = ''
  await waitFor(async () => (seen = (await device.run(['cat', name])).stdout) === expected, what, 60_000).catch(async (err: Error) => {
    throw new Error(`${err.message}: has ${JSON.stringify(seen)}${await logTail(device.home)}`)
  })
}

describe('swarmpad recover', () => {
  it('a copied root: one clear message, recover gives back every text (an edit no peer had included), the old root unchanged, editing goes on; a shared document takes the unsynced edit at the next join', async () => {
    const net = await cliNet()
    const ann = await net.device()
    const phone = await net.device() // Ann's second (owner) device
    const bob = await net.device() // a collaborator
    await ann.ok(['whoami', '--name', 'Ann'])
    await ann.ok(['new', 'solo.md', '--stdin'], { input: '# solo\nonly on this laptop\n' })
    await ann.ok(['new', 'plan', '--stdin'], { input: 'line 1\nline 2\n' })
    await ann.ok(['new', 'memo', '--stdin'], { input: 'memo for Bob\n' })
    await phone.ok(['join', (await ann.ok(['invite', 'plan', '--role', 'owner'])).trim(), 'plan'])
    await expectText(phone, 'plan', 'line 1\nline 2\n', 'plan on the phone')
    await bob.ok(['join', (await ann.ok(['invite', 'memo'])).trim(), 'memo'])
    await expectText(bob, 'memo', 'memo for Bob\n', 'memo on Bob')
    await phone.stop()
    await bob.stop()
    // Edits that never reach a peer: the others are offline, then the laptop is copied.
    await ann.ok(['write', 'plan'], { input: 'line 1\nline 2\nunsynced line from the laptop\n' })
    await ann.ok(['write', 'memo'], { input: 'memo for Bob\nunsynced memo line\n' })
    await ann.ok(['write', 'solo.md'], { input: '# solo\nonly on this laptop\nlast edit\n' })
    await ann.ok(['stop'])

    const laptop = await net.device({ home: join(dirname(ann.home), 'laptop') })
    await copyRoot(ann.home, laptop.home)
    const coresBefore = await treeHash(join(laptop.home, 'cores'))

    // Every command says the same sentence; nothing starts, no log is opened.
    for (const args of [['ls'], ['cat', 'plan'], ['new', 'other'], ['status']]) {
      const r = await laptop.run(args)
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(1)
      expect(r.stderr).toMatch(MOVED)
      expect(r.stderr.trim().split('\n')).toHaveLength(1)
    }
    expect(await laptop.daemon()).toBeNull()
    expect(await treeHash(join(laptop.home, 'cores'))).toBe(coresBefore)

    // Positive control for the detection: the original root opens normally,
    // and recover there changes nothing.
    const healthy = await ann.run(['recover'])
    expect(healthy.code, healthy.stderr).toBe(0)
    expect(healthy.stdout).toContain('opens normally: nothing to recover')
    expect(await ann.ok(['cat', 'plan'])).toBe('line 1\nline 2\nunsynced line from the laptop\n')
    await ann.ok(['stop'])

    const before = await treeHash(laptop.home)
    // Positive control for the hash: one changed byte in a copy changes it.
    const probe = join(dirname(ann.home), 'probe')
    await copyRoot(laptop.home, probe)
    expect(await treeHash(probe)).toBe(before)
    await writeFile(join(probe, 'library.json'), (await readFile(join(probe, 'library.json'), 'utf8')).replace('"version": 1', '"version":  1'))
    expect(await treeHash(probe)).not.toBe(before)

    const t0 = performance.now()
    const recovered = await laptop.run(['recover', '--json'])
    const recoverMs = performance.now() - t0
    expect(recovered.code, recovered.stderr).toBe(0)
    const result = JSON.parse(recovered.stdout) as {
      aside: string
      documents: Array<{ name: string; status: string; characters: number; file?: string; sharedWith?: number }>
      pending: Array<{ name: string; file: string }>
    }
    const byName = new Map(result.documents.map((d) => [d.name, d]))
    expect(byName.get('solo.md')?.status).toBe('recovered')
    expect(byName.get('memo')).toMatchObject({ status: 'recovered', sharedWith: 1 })
    expect(byName.get('plan')?.status).toBe('needs-invite')
    expect(result.pending.map((p) => p.name)).toEqual(['plan'])

    // The old root is aside, byte for byte as it was; nothing else is left behind.
    expect(result.aside).toMatch(/laptop\.moved-\d{8}T\d{6}Z$/)
    expect(await treeHash(result.aside)).toBe(before)
    expect(await exists(join(laptop.home, 'recovering'))).toBe(false)

    // Solo and only-owner documents: the same names and texts, editable at once.
    expect(await laptop.ok(['cat', 'solo.md'])).toBe('# solo\nonly on this laptop\nlast edit\n')
    expect(await laptop.ok(['cat', 'memo'])).toBe('memo for Bob\nunsynced memo line\n')
    await laptop.ok(['write', 'solo.md'], { input: '# solo\nonly on this laptop\nlast edit\nafter the move\n' })
    expect(await laptop.ok(['cat', 'solo.md'])).toBe('# solo\nonly on this laptop\nlast edit\nafter the move\n')
    expect(await laptop.ok(['whoami'])).toContain('Ann')
    // The shared one: its text, read-only, at once.
    const planFile = result.pending[0]!.file
    expect(await readFile(planFile, 'utf8')).toBe('line 1\nline 2\nunsynced line from the laptop\n')
    expect(await laptop.ok(['recover'])).toMatch(/plan: shared; read its text .* run `swarmpad join CODE plan`/)

    // The phone edits while the laptop is away; then invites the laptop again.
    await phone.ok(['write', 'plan'], { input: 'phone line\nline 1\nline 2\n' })
    const code = (await phone.ok(['invite', 'plan'])).trim()
    const joined = await laptop.run(['join', code, 'plan'])
    expect(joined.code, joined.stderr + (await logTail(laptop.home)) + (await logTail(phone.home))).toBe(0)
    const merged = 'phone line\nline 1\nline 2\nunsynced line from the laptop\n'
    await expectText(laptop, 'plan', merged, 'the unsynced line carried into plan on the laptop')
    await expectText(phone, 'plan', merged, 'the carried line on the phone')
    expect(JSON.parse(await laptop.ok(['recover', '--json'])).pending).toEqual([])
    // Editing goes on, both ways.
    await laptop.ok(['write', 'plan'], { input: merged + 'after the join\n' })
    await expectText(phone, 'plan', merged + 'after the join\n', 'an edit after the join on the phone')
    // The carry happened once: after a restart nothing is written again.
    await laptop.ok(['stop'])
    expect(await laptop.ok(['cat', 'plan'])).toBe(merged + 'after the join\n')
    expect(await readdir(join(laptop.home, 'recovered'))).toEqual(['plan'])
    expect(await treeHash(result.aside)).toBe(before)
    console.log(`recover: ${recoverMs.toFixed(0)} ms for 3 documents`)
  }, 240_000)
})
