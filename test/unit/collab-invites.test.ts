// The page's share messages: through src/pairing's Invites when the daemon
// passes it (`new CollabHub(swarmpad, { invites: pageInvites(invites) })`), else "not available".
import { describe, expect, test } from 'vitest'
import { Swarmpad } from '../../src/swarmpad.js'
import { CollabHub } from '../../src/server/collab.js'
import { pageInvites } from '../../src/daemon/page-services.js'
import type { Invites } from '../../src/pairing/invites.js'
import type { ServerMessage } from '../../src/server/protocol.js'
import { tmpDir } from '../helpers/tmp.js'
import { eventually } from '../helpers/docs.js'

/// A stand-in with the shape of src/pairing's Invites (create/list/cancel by document key).
function fakeInvites() {
  const calls: string[] = []
  const records = [
    { id: 'a1b2', code: 'code-pending', role: 'writer' as const, created: 1, expires: 2, state: 'pending', purpose: 'invite' },
    { id: 'c3d4', code: 'code-used', role: 'owner' as const, created: 1, expires: 2, state: 'used', purpose: 'invite' },
    { id: 'e5f6', code: 'code-rekey', role: 'writer' as const, created: 1, expires: 2, state: 'pending', purpose: 'rekey' }
  ]
  return {
    calls,
    async create(doc: string, opts: { role?: string }) {
      calls.push(`create ${doc} ${opts.role}`)
      return { id: 'n3w1', code: 'new-code', role: opts.role as 'writer', expires: 99, doc }
    },
    list(doc?: string) {
      calls.push(`list ${doc}`)
      return records
    },
    async cancel(doc: string, id: string) {
      calls.push(`cancel ${doc} ${id}`)
      return records[0]
    }
  }
}

async function setup(invites: ReturnType<typeof fakeInvites> | undefined) {
  const sp = new Swarmpad({ home: await tmpDir(), ackInterval: 0 })
  await sp.ready()
  const { entry } = await sp.create('notes.md')
  // The stand-in has the methods' shapes; the cast is only for the classes' other members.
  const hub = new CollabHub(sp, invites === undefined ? {} : { invites: pageInvites(invites as unknown as Pick<Invites, 'create' | 'list' | 'cancel'>) })
  const got: ServerMessage[] = []
  const conn = hub.connect({ send: (d) => got.push(JSON.parse(d) as ServerMessage), close: () => {}, bufferedAmount: 0 })
  conn.receive(JSON.stringify({ type: 'join', doc: 'notes.md', clientID: 'tab1', resume: null }))
  await eventually(() => got.some((m) => m.type === 'welcome'), 'the welcome')
  let rid = 0
  const request = async (msg: Record<string, unknown>): Promise<ServerMessage> => {
    const r = ++rid
    conn.receive(JSON.stringify({ ...msg, doc: 'notes.md', rid: r }))
    let reply: ServerMessage | undefined
    await eventually(() => (reply = got.find((m) => 'rid' in m && m.rid === r)) !== undefined, `a reply to ${String(msg.type)}`)
    return reply!
  }
  return { sp, hub, key: entry.key, request, close: async () => (await hub.close(), await sp.close()) }
}

describe('share', () => {
  test('with src/pairing Invites: create, list pending invites only, cancel', async () => {
    const inv = fakeInvites()
    const s = await setup(inv)
    try {
      const created = await s.request({ type: 'invite-create', kind: 'writer' })
      expect(created).toMatchObject({ type: 'result', value: { id: 'n3w1', code: 'new-code', kind: 'writer', expires: 99 } })
      const list = await s.request({ type: 'invite-list' })
      expect(list).toMatchObject({ type: 'invites', available: true, invites: [{ id: 'a1b2', kind: 'writer', code: 'code-pending' }] })
      expect((await s.request({ type: 'invite-cancel', id: 'a1b2' })).type).toBe('result')
      expect(inv.calls).toEqual([`create ${s.key} writer`, `list ${s.key}`, `cancel ${s.key} a1b2`])
    } finally {
      await s.close()
    }
  })

  test('without: "not available yet"', async () => {
    const s = await setup(undefined)
    try {
      expect(await s.request({ type: 'invite-list' })).toMatchObject({ type: 'invites', available: false, invites: [] })
      expect(await s.request({ type: 'invite-create', kind: 'reader' })).toMatchObject({ type: 'error', code: 'UNAVAILABLE' })
      expect(await s.request({ type: 'invite-cancel', id: 'x' })).toMatchObject({ type: 'error', code: 'UNAVAILABLE' })
    } finally {
      await s.close()
    }
  })
})
