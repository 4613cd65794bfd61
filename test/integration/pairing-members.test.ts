// Members: list with presence, rename, remove; membership rules enforced by
// apply() on every peer (owners only, last owner stays, removed writers' later
// edits appear nowhere).
import { expect, test } from 'vitest'
import b4a from 'b4a'
import { randomBytes } from 'node:crypto'
import { loopbackTestnet } from '../helpers/testnet.js'
import { createDevice, until, untilText } from '../helpers/pairing.js'
import { isSwarmpadError, type ErrorCode } from '../../src/errors.js'
import { Swarmpad } from '../../src/swarmpad.js'
import type { SwarmDocument } from '../../src/sync/document.js'

async function expectCode(p: Promise<unknown>, code: ErrorCode): Promise<string> {
  try {
    await p
  } catch (err) {
    if (!isSwarmpadError(err, code)) throw err
    return err.message
  }
  throw new Error(`expected ${code}`)
}

async function reasons(doc: SwarmDocument, writer: Uint8Array): Promise<string[]> {
  return (await doc.rejections()).filter((r) => b4a.equals(r.writer, writer)).map((r) => r.reason)
}

test('list (name, colour, role, short key, online, last seen) and rename', async () => {
  const net = await loopbackTestnet(3)
  const owner = await createDevice(net, { label: 'owner' })
  const guest = await createDevice(net, { label: 'guest' })
  await owner.swarmpad.create('team', { text: 't' })
  await guest.invites.join((await owner.invites.create('team')).code, { name: 'team', profile: { name: 'Ada', color: '#112233' } })
  const me = await owner.members.rename('team', { name: 'Owner' })
  expect(me).toMatchObject({ name: 'Owner', role: 'owner', self: true, online: true })
  expect(me.color).toMatch(/^#[0-9a-f]{6}$/)
  expect(me.shortKey).toBe(me.key.slice(0, 8))
  expect(me.device).not.toBeNull()

  await until(async () => (await owner.members.list('team')).some((m) => m.name === 'Ada'), 'owner to see Ada')
  const list = await owner.members.list('team')
  expect(list.map((m) => [m.name, m.role, m.self])).toEqual([
    ['Owner', 'owner', true],
    ['Ada', 'writer', false]
  ])
  const ada = list[1]!
  expect(ada.color).toBe('#112233')
  expect(ada.online).toBe(true)
  expect(ada.lastSeen).not.toBeNull()
  await until(async () => (await guest.members.list('team')).some((m) => m.name === 'Owner' && m.online), 'guest to see Owner online')

  // Rename: every peer sees the new name; whoami answers.
  await guest.members.rename('team', { name: 'Ada L.' })
  expect((await guest.members.whoami('team'))?.name).toBe('Ada L.')
  await until(async () => (await owner.members.list('team')).some((m) => m.name === 'Ada L.'), 'owner to see the new name')

  // Offline: last seen stays.
  await guest.close()
  await until(async () => (await owner.members.list('team')).some((m) => m.name === 'Ada L.' && !m.online && m.lastSeen !== null), 'Ada offline with a last-seen time')
})

test('only owners add or remove, on every peer; the last owner stays', async () => {
  const net = await loopbackTestnet(3)
  const owner = await createDevice(net, { label: 'owner' })
  const w1 = await createDevice(net, { label: 'w1' })
  const w2 = await createDevice(net, { label: 'w2' })
  await owner.swarmpad.create('rules', { text: 'r' })
  await w1.invites.join((await owner.invites.create('rules')).code, { name: 'rules' })
  await w2.invites.join((await owner.invites.create('rules')).code, { name: 'rules' })
  const o = await owner.doc('rules')
  const d1 = await w1.doc('rules')
  const d2 = await w2.doc('rules')
  await until(async () => (await d2.members()).length === 3 && (await d1.members()).length === 3, 'everyone sees three members')

  // A writer cannot remove another member, nor add one, nor invite.
  expect(await expectCode(w2.members.remove('rules', d1.writerKey), 'NOT_OWNER')).toMatch(/only owners remove/)
  expect(await expectCode(d2.addMember(randomBytes(32), 'writer'), 'NOT_OWNER')).toMatch(/only owners add/)
  expect(await expectCode(d2.addMember(d2.writerKey, 'owner'), 'NOT_OWNER')).toMatch(/only owners add/)
  await expectCode(w2.invites.create('rules'), 'NOT_OWNER')
  // ... and every peer refused the same blocks for the same reasons.
  const expected = ['only owners remove members', 'only owners add members', 'only owners add members']
  for (const d of [o, d1, d2]) {
    await until(async () => {
      await d.update()
      return (await reasons(d, d2.writerKey)).length === 3
    }, 'the refusals to reach every peer')
    expect(await reasons(d, d2.writerKey)).toEqual(expected)
    expect((await d.members()).map((m) => m.role).sort()).toEqual(['owner', 'writer', 'writer'])
  }

  // The last owner cannot be removed, not even by itself.
  expect(await expectCode(owner.members.remove('rules', o.writerKey), 'BAD_ARGUMENT')).toMatch(/last owner/)
  expect((await o.members()).filter((m) => m.role === 'owner')).toHaveLength(1)

  // An owner removes a writer: on every peer.
  const result = await owner.members.remove('rules', d1.writerKey)
  expect(result.rekey).toBeNull()
  for (const d of [o, d2, d1]) {
    await until(async () => {
      await d.update()
      return !(await d.members()).some((m) => b4a.equals(m.key, d1.writerKey))
    }, 'every peer to see the removal')
  }
  await until(() => !d1.writable, 'the removed writer to become read-only')
  await expectCode(Promise.resolve().then(() => d1.edit([{ from: 0, insert: 'x' }])), 'NOT_WRITABLE')
})

test("a removed writer's later edits appear on no peer", async () => {
  const net = await loopbackTestnet(3)
  const owner = await createDevice(net, { label: 'owner' })
  const gone = await createDevice(net, { label: 'gone' })
  const stay = await createDevice(net, { label: 'stay' })
  await owner.swarmpad.create('memo', { text: 'base' })
  await gone.invites.join((await owner.invites.create('memo')).code, { name: 'memo' })
  await stay.invites.join((await owner.invites.create('memo')).code, { name: 'memo' })
  const o = await owner.doc('memo')
  const s = await stay.doc('memo')
  const goneKey = b4a.from((await gone.doc('memo')).writerKey)
  const stayKey = b4a.from(s.writerKey)
  await untilText([o, s, await gone.doc('memo')], 'base')

  // Both writers go offline; while they are, the owner removes one of them
  // and the removal is signed (the owner is the only indexer).
  await gone.close()
  await stay.close()
  await owner.members.remove('memo', goneKey)
  await until(async () => {
    await o.update()
    return o.autobase.signedLength === o.autobase.length
  }, 'the removal to be signed')

  // Offline, each still believes it may write, and edits.
  for (const [dev, token] of [[gone, 'GONE-EDIT'], [stay, 'STAY-EDIT']] as const) {
    const pad = new Swarmpad({ home: dev.home })
    await pad.ready()
    const { doc } = await pad.open('memo')
    expect(doc.writable).toBe(true)
    await doc.replaceText(`base ${token}`).durable
    await pad.close()
  }

  // Back online: the kept writer's edit arrives everywhere; the removed one's nowhere.
  const gone2 = await createDevice(net, { label: 'gone-again', home: gone.home })
  const stay2 = await createDevice(net, { label: 'stay-again', home: stay.home })
  const s2 = await stay2.doc('memo')
  const g2 = await gone2.doc('memo')
  await untilText([o, s2], 'base STAY-EDIT')
  await until(async () => {
    await g2.update()
    return !g2.writable
  }, 'the removed device to learn it was removed')
  await new Promise((r) => setTimeout(r, 1000))
  for (const d of [o, s2]) {
    await d.update()
    expect(d.text.toString()).toBe('base STAY-EDIT')
    expect(d.text.toString()).not.toContain('GONE')
  }
  expect((await o.members()).map((m) => b4a.toString(m.key, 'hex'))).toContain(b4a.toString(stayKey, 'hex'))
})
