// The page learns when this device's write access changes after it joined
// (`access`): an owner adds the device, or removes it. And `remove-member`
// with a re-key needs src/pairing's Members; without it the page is told so.
import { expect, test } from 'vitest'
import { Swarmpad } from '../../src/swarmpad.js'
import { CollabHub } from '../../src/server/collab.js'
import type { ServerMessage } from '../../src/server/protocol.js'
import { tmpDir } from '../helpers/tmp.js'
import { connect, eventually } from '../helpers/docs.js'

async function swarmpad(): Promise<Swarmpad> {
  const sp = new Swarmpad({ home: await tmpDir(), ackInterval: 0 })
  await sp.ready()
  return sp
}

/// A tab of notes.md on `hub`: its connection and every message it got, once welcomed.
async function joinTab(hub: CollabHub): Promise<{ conn: ReturnType<CollabHub['connect']>; got: ServerMessage[] }> {
  const got: ServerMessage[] = []
  const conn = hub.connect({ send: (d) => got.push(JSON.parse(d) as ServerMessage), close: () => {}, bufferedAmount: 0 })
  conn.receive(JSON.stringify({ type: 'join', doc: 'notes.md', clientID: 'tab1', resume: null }))
  await eventually(() => got.some((m) => m.type === 'welcome'), 'the welcome')
  return { conn, got }
}

test('access: a tab that joined read-only becomes a writer when an owner adds the device, and read-only again when removed', async () => {
  const owner = await swarmpad()
  const guest = await swarmpad()
  const hub = new CollabHub(guest)
  try {
    const { doc } = await owner.create('notes.md', { text: 'hello' })
    await guest.addDocument({ name: 'notes.md', key: doc.key, encryptionKey: doc.encryptionKey, role: 'writer' })
    const { doc: copy } = await guest.open('notes.md')
    connect(doc, copy)

    const { got } = await joinTab(hub)
    expect(got.find((m) => m.type === 'welcome')).toMatchObject({ writable: false })
    const access = () => got.filter((m) => m.type === 'access').map((m) => (m as { writable: boolean }).writable)

    await doc.addMember(copy.writerKey, 'writer')
    await eventually(async () => (await copy.update(), access().includes(true)), 'access: writable')
    expect(got.find((m) => m.type === 'access')).toEqual({ type: 'access', doc: 'notes.md', writable: true })

    await doc.removeMember(copy.writerKey)
    await eventually(async () => (await copy.update(), access().at(-1) === false), 'access: read-only')
    expect(access()).toEqual([true, false])
  } finally {
    await hub.close()
    await guest.close()
    await owner.close()
  }
})

test('remove-member with a re-key, without src/pairing: refused with how to do it, nobody removed', async () => {
  const sp = await swarmpad()
  const other = await swarmpad()
  const hub = new CollabHub(sp)
  try {
    const { doc } = await sp.create('notes.md')
    const { doc: otherDoc } = await other.create('scratch.md')
    await doc.addMember(otherDoc.writerKey, 'writer')
    const { conn, got } = await joinTab(hub)
    conn.receive(JSON.stringify({ type: 'remove-member', doc: 'notes.md', rid: 7, key: otherDoc.writerKey.toString('hex'), rekey: true }))
    await eventually(() => got.some((m) => 'rid' in m && m.rid === 7), 'the reply')
    expect(got.find((m) => 'rid' in m && m.rid === 7)).toMatchObject({ type: 'error', code: 'BAD_ARGUMENT', message: expect.stringMatching(/swarmpad remove NAME MEMBER --rekey/) })
    expect((await doc.members()).map((m) => m.role)).toHaveLength(2)
  } finally {
    await hub.close()
    await other.close()
    await sp.close()
  }
})

test('a push while the document moves to a re-key successor: refused with MOVED and no resync (the tab keeps it for the successor); edit() refused too', async () => {
  const sp = await swarmpad()
  const hub = new CollabHub(sp)
  try {
    const { doc } = await sp.create('notes.md', { text: 'hello' })
    const { conn, got } = await joinTab(hub)
    const welcome = got.find((m) => m.type === 'welcome') as { epoch: string; version: number }
    doc.freeze('moving to fresh keys')
    expect(doc.writable).toBe(false)
    expect(() => doc.edit([{ from: 0, insert: 'x' }])).toThrow(expect.objectContaining({ code: 'MOVED' }))
    conn.receive(JSON.stringify({ type: 'push', doc: 'notes.md', rid: 3, epoch: welcome.epoch, version: welcome.version, updates: [{ seq: 0, changes: [[0, 'typed '], 5] }] }))
    await eventually(() => got.some((m) => 'rid' in m && m.rid === 3), 'the reply')
    expect(got.find((m) => 'rid' in m && m.rid === 3)).toEqual({ type: 'error', rid: 3, doc: 'notes.md', code: 'MOVED', message: 'moving to fresh keys' })
    expect(doc.text.toString()).toBe('hello')
  } finally {
    await hub.close()
    await sp.close()
  }
})
