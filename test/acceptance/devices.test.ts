import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { alive, waitFor } from '../helpers/cli.js'
import { InstalledNet, type Device } from './harness.js'

// The installed command (npm pack + npm install -g) on two and three devices
// of one machine. Default settings except what keeps traffic here: a
// loopback testnet as SWARMPAD_BOOTSTRAP and SWARMPAD_LAN=0.

type Members = { members: Array<{ key: string; self: boolean }> }

async function selfKey(d: Device, doc: string): Promise<string> {
  const key = (JSON.parse(await d.ok(['members', doc, '--json'])) as Members).members.find((m) => m.self)?.key
  if (!key) throw new Error('no member key for this device')
  return key
}

describe('acceptance: the installed command on several devices', () => {
  const net = new InstalledNet()

  beforeAll(() => net.ready(), 300_000)
  afterAll(() => net.close(), 60_000)

  it('new, invite, join twice, a write on each, remove, stop and restart, SIGKILL: every text byte for byte, nothing confirmed lost', async () => {
    const [ann, bob, cid] = [await net.device(), await net.device(), await net.device()]
    await ann.ok(['whoami', '--name', 'Ann'])
    await net.share(ann, [bob, cid], 'plan.md', 'agenda\n')
    expect(await net.converge([ann, bob, cid], 'plan.md')).toBe('agenda\n')

    // Each device in turn adds its line to the text it has (`write` replaces the text with the
    // file as a minimal diff, so whole-file writes from the same start would override each other).
    let expected = 'agenda\n'
    for (const [d, line] of [[ann, 'ann line\n'], [bob, 'bob line\n'], [cid, 'cid line\n']] as const) {
      expect(await d.ok(['cat', 'plan.md'])).toBe(expected)
      expected += line
      await d.ok(['write', 'plan.md', '-'], expected)
      expect(await net.converge([ann, bob, cid], 'plan.md')).toBe(expected)
    }
    const merged = expected

    // Remove Cid; Ann and Bob go on, Cid's device gets nothing new.
    expect((JSON.parse(await ann.ok(['members', 'plan.md', '--json'])) as Members).members).toHaveLength(3)
    await ann.ok(['remove', 'plan.md', await selfKey(cid, 'plan.md')])
    await bob.ok(['write', 'plan.md', '-'], merged + 'after removal\n')
    const afterRemoval = await net.converge([ann, bob], 'plan.md')
    expect(afterRemoval).toBe(merged + 'after removal\n')

    // stop and restart: the text is what it was.
    await bob.ok(['stop'])
    expect(await bob.ok(['cat', 'plan.md'])).toBe(afterRemoval)

    // SIGKILL of the daemon right after a confirmed write: the next command starts a new one, the write is there.
    await ann.ok(['write', 'plan.md', '-'], afterRemoval + 'before kill\n')
    const info = JSON.parse(await readFile(join(ann.home, 'daemon.json'), 'utf8')) as { pid: number }
    process.kill(info.pid, 'SIGKILL')
    await waitFor(() => !alive(info.pid), 'the killed daemon to be gone', 10_000)
    expect(await ann.ok(['cat', 'plan.md'])).toBe(afterRemoval + 'before kill\n')
    expect(await net.converge([ann, bob], 'plan.md')).toBe(afterRemoval + 'before kill\n')
    // Cid, removed (without a re-key it may still read), can no longer change the text of the others.
    const cidWrite = await cid.run(['write', 'plan.md', '-'], 'cid after removal\n')
    await new Promise((r) => setTimeout(r, 2000))
    expect(await ann.ok(['cat', 'plan.md'])).toBe(afterRemoval + 'before kill\n')
    expect(cidWrite.code === 0 ? '' : cidWrite.stderr).toMatch(/^$|^swarmpad: this device may read this document but not write to it/)
  }, 240_000)

  it('concurrent edits on two devices merge; remove --rekey moves the others to fresh keys and the removed device reads nothing new', async () => {
    const [ann, bob, cid] = [await net.device(), await net.device(), await net.device()]
    const start = 'one\ntwo\nthree\n'
    await net.share(ann, [bob, cid], 'notes', start)
    expect(await net.converge([ann, bob, cid], 'notes')).toBe(start)

    // Ann and Bob save their synced copies at the same moment, each changing another line of
    // the text both started from. (`write` replaces the text with the file as it is, so two
    // concurrent writes of whole texts would undo each other; a save of a synced file merges.)
    const files = [join(ann.dir, 'notes.txt'), join(bob.dir, 'notes.txt')] as const
    await ann.ok(['sync', 'notes', files[0]])
    await bob.ok(['sync', 'notes', files[1]])
    await Promise.all([writeFile(files[0], 'ONE (ann)\ntwo\nthree\n'), writeFile(files[1], 'one\ntwo\nTHREE (bob)\n')])
    const both = 'ONE (ann)\ntwo\nTHREE (bob)\n'
    expect(await net.converge([ann, bob, cid], 'notes')).toBe(both)
    await waitFor(async () => (await readFile(files[0], 'utf8')) === both && (await readFile(files[1], 'utf8')) === both, 'both synced files to hold both edits')
    for (const [d, f] of [[ann, files[0]], [bob, files[1]]] as const) await d.ok(['unsync', 'notes', f])

    // Re-key: Cid is removed, Ann and Bob move to a successor under the same name.
    const oldKey = (JSON.parse(await ann.ok(['ls', '--json'])) as { documents: Array<{ name: string; key: string }> }).documents.find((d) => d.name === 'notes')!.key
    const removed = await ann.ok(['remove', 'notes', await selfKey(cid, 'notes'), '--rekey'])
    expect(removed).toMatch(/^notes moved to fresh keys \(new key [a-z0-9]+\); 1 member will follow/m)
    const keyOf = async (d: Device) => (JSON.parse(await d.ok(['ls', '--json'])) as { documents: Array<{ name: string; key: string }> }).documents.find((x) => x.name === 'notes')?.key
    await waitFor(async () => (await keyOf(bob)) !== oldKey, 'Bob to follow the re-key', 60_000)
    expect(await keyOf(bob)).toBe(await keyOf(ann))
    expect(await net.converge([ann, bob], 'notes')).toBe(both)
    // Both go on writing in the successor; Cid's copy stays where it was.
    await bob.ok(['write', 'notes', '-'], both + 'after rekey (bob)\n')
    expect(await net.converge([ann, bob], 'notes')).toBe(both + 'after rekey (bob)\n')
    await ann.ok(['write', 'notes', '-'], both + 'after rekey (bob)\nafter rekey (ann)\n')
    expect(await net.converge([ann, bob], 'notes')).toBe(both + 'after rekey (bob)\nafter rekey (ann)\n')
    await new Promise((r) => setTimeout(r, 1000))
    expect(await cid.ok(['cat', 'notes'])).toBe(both)
  }, 240_000)
})
