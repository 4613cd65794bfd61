// Authorship and membership rules, checked on every peer of real documents.
import { describe, expect, test } from 'vitest'
import * as Y from 'yjs'
import b4a from 'b4a'
import { BLOCK_VERSION, encodeBlock } from '../../src/doc/blocks.js'
import { TEXT_ROOT } from '../../src/doc/yjs-guard.js'
import { isSwarmpadError } from '../../src/errors.js'
import Autobase from 'autobase'
import Corestore from 'corestore'
import { onTestFinished } from 'vitest'
import { closeView, createApply, openView, type DocumentView } from '../../src/sync/view.js'
import { tmpDir } from '../helpers/tmp.js'
import {
  addWriter,
  connect,
  connectAll,
  converge,
  createDoc,
  eventually,
  joinDoc,
  rejectionList,
  trio,
  yText
} from '../helpers/docs.js'

const short = (k: Uint8Array) => b4a.toString(b4a.from(k), 'hex').slice(0, 12)

async function expectCode(p: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  try {
    await p
  } catch (err) {
    if (!isSwarmpadError(err)) throw err
    expect(err.code).toBe(code)
    if (message) expect(err.message).toMatch(message)
    return
  }
  throw new Error(`expected ${code}, but it succeeded`)
}


/// A Yjs update that inserts `text` under `clientID`, as if typed by that writer.
function updateAs(clientID: number, text: string): Uint8Array {
  const doc = new Y.Doc()
  doc.clientID = clientID
  doc.getText(TEXT_ROOT).insert(0, text)
  return Y.encodeStateAsUpdate(doc)
}

describe('authorship and membership on every peer', () => {
  test("a writer's block holding another writer's clientID is rejected everywhere with the same reason", async () => {
    const { a, b, all } = await trio()
    a.doc.edit([{ from: 0, insert: 'honest text. ' }])
    await a.doc.flush()
    await converge(all)
    // b signs a block whose text claims to be a's.
    await b.doc.autobase.append(encodeBlock({ kind: 'update', time: Date.now(), yjs: updateAs(a.doc.clientId, 'FORGED') }))
    // ...and one with a's clientID and its own mixed together.
    const mixed = Y.mergeUpdates([updateAs(b.doc.clientId, 'mine'), updateAs(a.doc.clientId, 'theirs')])
    await b.doc.autobase.append(encodeBlock({ kind: 'update', time: Date.now(), yjs: mixed }))
    await converge(all)
    const expected = [
      `${short(b.doc.writerKey)}#0: update holds text authored by another writer`,
      `${short(b.doc.writerKey)}#1: update holds text authored by another writer`
    ]
    for (const d of all) {
      expect(await rejectionList(d)).toEqual(expected)
      expect(d.text.toString()).toBe('honest text. ')
      expect(yText(d)).toBe('honest text. ')
    }
  })

  test("a block that rewrites a writer's own earlier clocks (a forked history) is rejected everywhere", async () => {
    const { a, b, c, all } = await trio()
    b.doc.edit([{ from: 0, insert: 'b wrote this first. ' }])
    await b.doc.flush()
    await converge(all)
    // Another history under b's clientID, from clock 0: what a copied device
    // directory, or a hostile writer, would write. Folded one by one it would
    // lose to the first; merged into a snapshot it could win: refused instead.
    await b.doc.autobase.append(encodeBlock({ kind: 'update', time: Date.now(), yjs: updateAs(b.doc.clientId, 'SECOND HISTORY') }))
    c.doc.edit([{ from: 0, insert: 'c. ' }])
    await c.doc.flush()
    await converge(all)
    for (const d of all) {
      expect(d.text.toString()).toBe('c. b wrote this first. ')
      expect((await rejectionList(d)).map((r) => r.replace(/^\w+#\d+: /, ''))).toEqual([
        `update does not continue its writer's text (clock 0, expected ${'b wrote this first. '.length})`
      ])
    }
    // b's own edits carry on.
    b.doc.edit([{ from: b.doc.text.length, insert: 'b again.' }])
    await b.doc.flush()
    await converge(all)
    expect(a.doc.text.toString()).toBe('c. b wrote this first. b again.')
  })

  test('a block of a newer format stops the document on every older peer with "upgrade swarmpad"', async () => {
    // A device of a newer swarmpad (its apply() understands the next version;
    // here: skips it) writes a block of that version; the peers of this build must stop.
    const NEWER = BLOCK_VERSION + 1
    const a = await createDoc()
    const c = await joinDoc(a.doc)
    const dir = await tmpDir()
    const store = new Corestore(dir)
    const apply = createApply(() => a.doc.key)
    const newer = new Autobase<DocumentView>(store.namespace('doc'), a.doc.key, {
      open: openView,
      close: closeView,
      apply: (nodes, view, host) => apply(nodes.filter((n) => n.value === null || n.value[0] !== NEWER), view, host),
      encryptionKey: a.doc.encryptionKey,
      encrypted: true,
      ackInterval: 0
    })
    newer.on('error', () => {})
    onTestFinished(async () => {
      await newer.close().catch(() => {})
      await store.close().catch(() => {})
    })
    await newer.ready()
    connectAll([a.doc, c.doc])
    const s1 = a.doc.replicate(true)
    const s2 = store.replicate(false)
    s1.pipe(s2).pipe(s1)
    onTestFinished(() => {
      s1.destroy()
      s2.destroy()
    })
    await a.doc.addMember(newer.local.key, 'writer')
    await addWriter(a.doc, c.doc)
    await eventually(async () => {
      await newer.update()
      return newer.writable
    }, 'the newer device to become writable')
    a.doc.edit([{ from: 0, insert: 'before. ' }])
    await a.doc.flush()
    await converge([a.doc, c.doc])
    const interrupted: string[] = []
    for (const d of [a.doc, c.doc]) d.on('interrupt', (reason: string) => interrupted.push(reason))
    await newer.append(new Uint8Array([NEWER, 1, 0]))
    await eventually(async () => {
      await newer.update()
      return a.doc.state === 'needs-upgrade' && c.doc.state === 'needs-upgrade'
    }, 'every older peer to stop', 20_000)
    for (const d of [a.doc, c.doc]) {
      expect(d.interruptReason).toMatch(new RegExp(`upgrade swarmpad.*version ${NEWER}`))
      expect(() => d.edit([{ from: 0, insert: 'x' }])).toThrow(/upgrade swarmpad/)
      expect(d.text.toString()).toBe('before. ')
    }
    expect(interrupted).toHaveLength(2)
    // Reopened, it stays stopped: the block is still in the log.
    let reopened: Awaited<ReturnType<typeof a.reopen>> | null = null
    const opening = a.reopen().then((r) => (reopened = r))
    const outcome = await Promise.race([opening.then(() => 'opened', (err) => String(err)), new Promise((r) => setTimeout(() => r('timeout'), 15_000))])
    if (outcome === 'opened') {
      const r = reopened! as Awaited<ReturnType<typeof a.reopen>>
      await eventually(async () => {
        await r.doc.update().catch(() => {})
        return r.doc.state === 'needs-upgrade'
      }, 'the reopened document to stop')
      expect(() => r.doc.edit([{ from: 0, insert: 'x' }])).toThrow(/upgrade swarmpad/)
    } else {
      expect(outcome).toMatch(/upgrade swarmpad/)
    }
  })

  test('a non-owner cannot add or remove writers; the last owner cannot be removed', async () => {
    const { a, b, c, all } = await trio()
    const stranger = b4a.alloc(32, 7)
    await expectCode(b.doc.addMember(stranger, 'writer'), 'NOT_OWNER', /only owners add members/)
    await expectCode(b.doc.addMember(stranger, 'owner'), 'NOT_OWNER', /only owners add members/)
    await expectCode(c.doc.removeMember(a.doc.writerKey), 'NOT_OWNER', /only owners remove members/)
    await expectCode(c.doc.removeMember(b.doc.writerKey), 'NOT_OWNER', /only owners remove members/)
    await expectCode(a.doc.removeMember(a.doc.writerKey), 'BAD_ARGUMENT', /last owner cannot be removed/)
    await converge(all)
    // Concurrent blocks of b and c are linearized by writer key: the order is
    // the same on every peer, not necessarily the order they were sent in.
    const expected = await rejectionList(a.doc)
    expect(expected.map((r) => r.replace(/^\w+#\d+: /, '')).sort()).toEqual([
      'only owners add members',
      'only owners add members',
      'only owners remove members',
      'only owners remove members',
      'the last owner cannot be removed'
    ])
    for (const d of all) {
      expect(await rejectionList(d)).toEqual(expected)
      const members = (await d.members()).map((m) => `${short(m.key)}:${m.role}`).sort()
      expect(members).toEqual([`${short(a.doc.writerKey)}:owner`, `${short(b.doc.writerKey)}:writer`, `${short(c.doc.writerKey)}:writer`].sort())
    }
    // With a second owner device, the first owner can go.
    await a.doc.addMember(c.doc.writerKey, 'owner').catch((err) => {
      // c is already a writer: roles do not change in place.
      expect(String(err)).toMatch(/another role/)
    })
  })

  test("a removed writer's later blocks change nothing anywhere; it cannot edit any more", async () => {
    const { a, b, c, all } = await trio()
    b.doc.edit([{ from: 0, insert: 'b before removal. ' }])
    await b.doc.flush()
    await converge(all)
    await a.doc.removeMember(b.doc.writerKey)
    await eventually(async () => {
      await b.doc.update()
      return !b.doc.writable
    }, 'b to learn it was removed')
    expect(() => b.doc.edit([{ from: 0, insert: 'after' }])).toThrow(/not write|writable/i)
    // A raw append is refused by Autobase itself on the removed device.
    await expect(b.doc.autobase.append(encodeBlock({ kind: 'update', time: 1, yjs: updateAs(b.doc.clientId, 'late') }))).rejects.toThrow()
    c.doc.edit([{ from: c.doc.text.length, insert: 'c still writes.' }])
    await c.doc.flush()
    await converge(all)
    for (const d of all) {
      expect(d.text.toString()).toBe('b before removal. c still writes.')
      expect((await d.members()).some((m) => b4a.equals(m.key, b.doc.writerKey))).toBe(false)
    }
  })

  test('text typed next to a removed writer\'s dropped text is refused everywhere, and its author keeps editing', async () => {
    // As above, but c also types right after b's concurrent text: c's Yjs
    // items then point at items that never reach the view. apply() refuses
    // c's update the same way everywhere (instead of Yjs holding it back
    // forever), and c's Yjs clock is not stuck: c edits on.
    // Keys are random: take an owner whose key is in the lower half, so each
    // joiner is above it with odds of at least one half (an owner key near the
    // top made twenty joiners too few in a CI run).
    let a = await createDoc()
    for (let i = 0; i < 30 && a.doc.writerKey[0] >= 0x80; i++) a = await createDoc()
    expect(a.doc.writerKey[0]).toBeLessThan(0x80)
    let b = await joinDoc(a.doc)
    for (let i = 0; i < 30 && Buffer.compare(b.doc.writerKey, a.doc.writerKey) < 0; i++) b = await joinDoc(a.doc)
    const c = await joinDoc(a.doc)
    const stopAB = connect(a.doc, b.doc)
    const stopAC = connect(a.doc, c.doc)
    connect(b.doc, c.doc)
    await addWriter(a.doc, b.doc)
    await addWriter(a.doc, c.doc)
    await a.doc.edit([{ from: 0, insert: 'base. ' }]).durable
    await converge([a.doc, b.doc, c.doc])

    stopAB()
    stopAC()
    await b.doc.edit([{ from: b.doc.text.length, insert: 'BBB' }]).durable
    await eventually(async () => {
      await c.doc.update()
      return c.doc.text.toString().endsWith('BBB')
    }, 'c to fold b’s edit')
    await c.doc.edit([{ from: c.doc.text.length, insert: 'c-next-to-b' }]).durable
    await a.doc.removeMember(b.doc.writerKey)

    connect(a.doc, b.doc)
    connect(a.doc, c.doc)
    await converge([a.doc, b.doc, c.doc])
    for (const d of [a.doc, b.doc, c.doc]) {
      expect(d.text.toString()).toBe('base. ')
      expect(yText(d)).toBe('base. ')
    }
    const reasons = await rejectionList(a.doc)
    expect(await rejectionList(c.doc)).toEqual(reasons)
    expect(reasons.some((r) => r.endsWith('update builds on text that is not in the document'))).toBe(true)

    await c.doc.edit([{ from: 0, insert: 'c: ' }]).durable
    await converge([a.doc, c.doc])
    expect(a.doc.text.toString()).toBe('c: base. ')
    expect((await rejectionList(a.doc)).length).toBe(reasons.length)
  })

  test('rebuild: edits of a writer removed concurrently leave the view, and the text drops them on every peer', async () => {
    // a (owner) removes b while b, cut off from a, keeps writing and c folds
    // b's edits. When a's removal reaches them it is ordered before b's edits
    // (Autobase orders concurrent nodes by writer key, so b's key is chosen
    // above a's): b's edits leave the view; c must rebuild its Y.Doc without them.
    // Keys are random: take an owner whose key is in the lower half, so each
    // joiner is above it with odds of at least one half (an owner key near the
    // top made twenty joiners too few in a CI run).
    let a = await createDoc()
    for (let i = 0; i < 30 && a.doc.writerKey[0] >= 0x80; i++) a = await createDoc()
    expect(a.doc.writerKey[0]).toBeLessThan(0x80)
    let b = await joinDoc(a.doc)
    for (let i = 0; i < 30 && Buffer.compare(b.doc.writerKey, a.doc.writerKey) < 0; i++) b = await joinDoc(a.doc)
    expect(Buffer.compare(b.doc.writerKey, a.doc.writerKey)).toBeGreaterThan(0)
    const c = await joinDoc(a.doc)
    const stopAB = connect(a.doc, b.doc)
    const stopAC = connect(a.doc, c.doc)
    const stopBC = connect(b.doc, c.doc)
    await addWriter(a.doc, b.doc)
    await addWriter(a.doc, c.doc)
    a.doc.edit([{ from: 0, insert: 'base. ' }])
    await a.doc.flush()
    await converge([a.doc, b.doc, c.doc])

    // Partition: a alone; b and c together.
    stopAB()
    stopAC()
    b.doc.edit([{ from: b.doc.text.length, insert: '⟦b-concurrent⟧' }])
    await b.doc.flush()
    await eventually(async () => {
      await c.doc.update()
      return c.doc.text.toString().includes('⟦b-concurrent⟧')
    }, 'c to fold b’s edit')
    await a.doc.removeMember(b.doc.writerKey)

    // Heal.
    const changes: string[] = []
    c.doc.on('change', (ev: { origin: string }) => changes.push(ev.origin))
    connect(a.doc, b.doc)
    connect(a.doc, c.doc)
    await converge([a.doc, c.doc])
    for (const d of [a.doc, c.doc]) {
      expect(d.text.toString()).toBe('base. ')
      expect(yText(d)).toBe('base. ')
    }
    expect(await rejectionList(c.doc)).toEqual(await rejectionList(a.doc))
    // Autobase does not even hand a removed writer's later nodes to apply():
    // they are gone from the view, not recorded as rejections.
    for (const d of [a.doc, c.doc]) {
      for await (const u of d.updates()) expect(u.member === 1 && u.seq >= 0 && b4a.toString(u.yjs).includes('b-concurrent')).toBe(false)
    }
    expect(changes).toContain('remote')

    // The removed device sees the same text as everyone else: its rejected
    // edit is not kept locally either.
    await converge([a.doc, b.doc, c.doc])
    expect(b.doc.text.toString()).toBe('base. ')
    expect(yText(b.doc)).toBe('base. ')
    expect(b.doc.writable).toBe(false)

    // The survivors keep editing and converge.
    c.doc.edit([{ from: 0, insert: 'c: ' }])
    a.doc.edit([{ from: a.doc.text.length, insert: 'a.' }])
    await Promise.all([a.doc.flush(), c.doc.flush()])
    await converge([a.doc, b.doc, c.doc])
    expect(a.doc.text.toString()).toBe('c: base. a.')
    stopBC()
  })
})
