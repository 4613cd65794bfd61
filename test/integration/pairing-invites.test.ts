import { expect, test } from 'vitest'
import { loopbackTestnet } from '../helpers/testnet.js'
import { createDevice, until, untilText } from '../helpers/pairing.js'

test('writer invite: a collaborator joins, edits, and is a non-indexer writer', async () => {
  const net = await loopbackTestnet(3)
  const owner = await createDevice(net, { label: 'owner' })
  const guest = await createDevice(net, { label: 'guest' })
  await owner.swarmpad.create('notes', { text: 'hello' })
  const invite = await owner.invites.create('notes', { role: 'writer' })
  expect(invite.role).toBe('writer')
  expect(owner.invites.list('notes').map((i) => i.state)).toEqual(['pending'])

  const stages: string[] = []
  const t0 = Date.now()
  const entry = await guest.invites.join(invite.code, { name: 'shared', onProgress: (p) => stages.push(p.stage) })
  console.log(`writer pairing took ${Date.now() - t0} ms`)
  expect(entry.name).toBe('shared')
  expect(entry.role).toBe('writer')
  expect(stages[0]).toBe('checking')
  expect(stages).toContain('accepted')
  expect(stages.at(-1)).toBe('done')

  const g = await guest.doc('shared')
  const o = await owner.doc('notes')
  expect(g.writable).toBe(true)
  expect(g.autobase.isIndexer).toBe(false)
  await untilText([g], 'hello')
  g.edit([{ from: 5, insert: ' world' }])
  await untilText([o, g], 'hello world')
  const role = (await o.members()).find((m) => m.key.equals(g.writerKey))?.role
  expect(role).toBe('writer')
  expect(owner.invites.list('notes')[0]!.state).toBe('used')
})
