// Encryption at rest: every raw file of two Swarmpad homes (an owner and a
// paired writer, with their own and each other's cores, the views and a
// snapshot) holds no plaintext of the document or of the profile names.
// A control proves the scan finds plaintext when it is there (RocksDB does
// not hide it by compressing).
import { expect, test } from 'vitest'
import Corestore from 'corestore'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { readFile } from 'node:fs/promises'
import { loopbackTestnet } from '../helpers/testnet.js'
import { createDevice, filesUnder, scanForPlaintext, until, untilText } from '../helpers/pairing.js'
import { tmpDir } from '../helpers/tmp.js'
import { SNAPSHOT_INTERVAL } from '../../src/limits.js'

const tag = randomBytes(4).toString('hex')
const OWNER_TEXT = `owner-wrote-this-plaintext-${tag}-`
const WRITER_TEXT = `writer-typed-this-secret-${tag}-`
const OWNER_NAME = `Owner Profile ${tag}`
const WRITER_NAME = `Writer Profile ${tag}`

test('control: the scan finds plaintext in an unencrypted core', async () => {
  const dir = await tmpDir()
  const store = new Corestore(dir)
  const core = store.get({ name: 'plain' })
  await core.ready()
  const needle = `control-plaintext-${tag}`
  for (let i = 0; i < 50; i++) await core.append(Buffer.from(`${needle} ${i}`))
  await core.close()
  await store.close()
  const hits = await scanForPlaintext(dir, [needle])
  expect(hits.length).toBeGreaterThan(0)
})

test('no plaintext of the document or of profile names in any raw storage file', async () => {
  const net = await loopbackTestnet(3)
  const owner = await createDevice(net, { label: 'owner' })
  const writer = await createDevice(net, { label: 'writer' })
  await owner.swarmpad.create('scan-doc', { text: OWNER_TEXT.repeat(20) })
  await owner.members.rename('scan-doc', { name: OWNER_NAME })
  await writer.invites.join((await owner.invites.create('scan-doc')).code, { name: 'scan-doc', profile: { name: WRITER_NAME } })
  const o = await owner.doc('scan-doc')
  const w = await writer.doc('scan-doc')

  // Enough separate updates for a snapshot (every SNAPSHOT_INTERVAL), typed
  // one character at a time so the merged snapshot holds the text contiguously.
  const typed = WRITER_TEXT.repeat(Math.ceil((SNAPSHOT_INTERVAL + 20) / WRITER_TEXT.length)).slice(0, SNAPSHOT_INTERVAL + 20)
  for (const ch of typed) await w.edit([{ from: w.text.length, insert: ch }]).durable
  const expected = OWNER_TEXT.repeat(20) + typed
  await untilText([o, w], expected, 60_000)
  await until(async () => {
    await o.update()
    await w.update()
    return o.autobase.view.snapshots.length > 0 && w.autobase.view.snapshots.length > 0
  }, 'a snapshot on both devices')
  await until(async () => (await owner.members.list('scan-doc')).some((m) => m.name === WRITER_NAME), 'profiles to sync')

  await writer.close()
  await owner.close()

  // Yjs stores strings as UTF-8; a 40-character slice of the typed text
  // would be contiguous in the merged snapshot.
  const needles = [OWNER_TEXT, WRITER_TEXT, typed.slice(100, 140), OWNER_NAME, WRITER_NAME]
  for (const home of [owner.home, writer.home]) {
    const files = await filesUnder(join(home, 'cores'))
    expect(files.length).toBeGreaterThan(3)
    // Every file of the storage root: RocksDB tables, logs, manifests, library, invites.
    expect(await scanForPlaintext(home, needles)).toEqual([])
    // UTF-16 too, for good measure.
    const utf16 = [OWNER_TEXT, WRITER_NAME].map((s) => Buffer.from(s, 'utf16le'))
    for (const file of await filesUnder(home)) {
      const data = await readFile(file)
      for (const n of utf16) expect(data.includes(n)).toBe(false)
    }
  }
})
