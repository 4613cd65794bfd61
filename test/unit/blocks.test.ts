import { describe, expect, test } from 'vitest'
import b4a from 'b4a'
import c from 'compact-encoding'
import { BLOCK_VERSION, checkBlock, decodeBlock, encodeBlock, type Block, type DecodeResult } from '../../src/doc/blocks.js'
import { MAX_BLOCK_BYTES, MAX_NAME_LENGTH } from '../../src/limits.js'
import { iterations, Prng, seeded } from '../helpers/prng.js'

const key = (fill: number) => b4a.alloc(32, fill)

/// One well-formed block of every kind (and the variants of each).
const SAMPLES: Block[] = [
  { kind: 'update', time: 0, yjs: b4a.from([1, 2, 3]) },
  { kind: 'update', time: 1_700_000_000_000, yjs: b4a.alloc(300, 7) },
  { kind: 'update', time: Number.MAX_SAFE_INTEGER, yjs: b4a.from([0]) },
  { kind: 'add-writer', key: key(1), role: 'owner' },
  { kind: 'add-writer', key: key(2), role: 'writer' },
  { kind: 'remove-writer', key: key(3) },
  { kind: 'profile', name: 'Ada', color: '#ff00aa', device: null },
  { kind: 'profile', name: '', color: '', device: key(4) },
  { kind: 'profile', name: 'Zoë → 😀', color: '#000000', device: key(5) },
  { kind: 'meta', title: '' },
  { kind: 'meta', title: 'Notes ✎' },
  { kind: 'moved', key: key(6), sealed: [] },
  { kind: 'moved', key: key(7), sealed: [{ writer: key(8), box: b4a.from([9, 9]) }, { writer: key(10), box: b4a.alloc(0) }] },
  // format v2 only
  { kind: 'update', time: 2, yjs: b4a.from([4]), file: 300 },
  { kind: 'add-writer', key: key(11), role: 'writer', continues: 0xffffffff },
  { kind: 'genesis', type: 0 },
  { kind: 'genesis', type: 70000 },
  { kind: 'seed', yjs: b4a.from([1, 2]) },
  { kind: 'seed', yjs: b4a.alloc(300, 5), compressed: true }
]

function expectRejected(result: DecodeResult, what: string): string {
  if (result.ok) throw new Error(`${what}: accepted as ${JSON.stringify(result.block)}`)
  if (result.newerVersion !== null) throw new Error(`${what}: reported as newer version ${result.newerVersion}`)
  expect(typeof result.reason, what).toBe('string')
  expect(result.reason.length, what).toBeGreaterThan(0)
  return result.reason
}

/// decodeBlock must be total: it returns, never throws.
function safeDecode(bytes: Uint8Array): DecodeResult {
  try {
    return decodeBlock(bytes)
  } catch (err) {
    throw new Error(`decodeBlock threw on ${b4a.toString(b4a.from(bytes.subarray(0, 64)), 'hex')}: ${String(err)}`)
  }
}

function normalize(value: unknown): unknown {
  if (value instanceof Uint8Array) return 'hex:' + b4a.toString(b4a.from(value), 'hex')
  if (Array.isArray(value)) return value.map(normalize)
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalize(v)]))
  }
  return value
}

describe('block codec', () => {
  test('every block kind round-trips', () => {
    const kinds = new Set<string>()
    for (const block of SAMPLES) {
      const bytes = encodeBlock(block)
      expect(bytes[0]).toBe(BLOCK_VERSION)
      const back = safeDecode(bytes)
      if (!back.ok) throw new Error(`${block.kind} did not decode: ${JSON.stringify(back)}`)
      expect(normalize(back.block)).toEqual(normalize(block))
      expect(b4a.equals(encodeBlock(back.block), bytes)).toBe(true)
      kinds.add(block.kind)
    }
    expect([...kinds].sort()).toEqual(['add-writer', 'genesis', 'meta', 'moved', 'profile', 'remove-writer', 'seed', 'update'])
  })

  test('format v1 blocks round-trip too, and decode as version 1', () => {
    for (const block of SAMPLES.slice(0, 13)) {
      const bytes = encodeBlock(block, 1)
      expect(bytes[0]).toBe(1)
      const back = safeDecode(bytes)
      if (!back.ok) throw new Error(`${block.kind} did not decode: ${JSON.stringify(back)}`)
      expect(back.version).toBe(1)
      expect(normalize(back.block)).toEqual(normalize(block))
      expect(b4a.equals(encodeBlock(back.block, 1), bytes)).toBe(true)
    }
  })

  test('the byte layout is the one PROTOCOL.md gives (format v1)', () => {
    const v1 = (b: Block) => b4a.toString(encodeBlock(b, 1), 'hex')
    // version 1, kind 1 (update), time uint, flags uint8, yjs buffer
    expect(v1({ kind: 'update', time: 5, yjs: b4a.from([0xaa, 0xbb]) })).toBe('010105' + '00' + '02aabb')
    expect(v1({ kind: 'update', time: 5, yjs: b4a.from([0xaa, 0xbb]), compressed: true })).toBe('010105' + '01' + '02aabb')
    // time 300 -> 0xfd + uint16 LE
    expect(v1({ kind: 'update', time: 300, yjs: b4a.from([1]) })).toBe('0101fd2c01' + '00' + '0101')
    expect(v1({ kind: 'add-writer', key: key(0x11), role: 'writer' })).toBe('0102' + '11'.repeat(32) + '02')
    expect(v1({ kind: 'remove-writer', key: key(0x22) })).toBe('0103' + '22'.repeat(32))
    expect(v1({ kind: 'profile', name: 'A', color: '', device: null })).toBe('0104' + '0141' + '00' + '00')
    expect(v1({ kind: 'meta', title: 'T' })).toBe('0105' + '0154')
    expect(v1({ kind: 'moved', key: key(0x33), sealed: [{ writer: key(0x44), box: b4a.from([1]) }] })).toBe('0106' + '33'.repeat(32) + '01' + '44'.repeat(32) + '0101')
    // v2-only kinds and fields do not exist in v1
    expect(() => encodeBlock({ kind: 'genesis', type: 0 }, 1)).toThrow(RangeError)
    expect(() => encodeBlock({ kind: 'seed', yjs: b4a.from([1]) }, 1)).toThrow(RangeError)
    expect(() => encodeBlock({ kind: 'update', time: 1, yjs: b4a.from([1]), file: 3 }, 1)).toThrow(RangeError)
    expect(() => encodeBlock({ kind: 'add-writer', key: key(1), role: 'writer', continues: 7 }, 1)).toThrow(RangeError)
    expect(safeDecode(b4a.from('0107' + '00', 'hex'))).toEqual({ ok: false, newerVersion: null, reason: 'unknown block kind 7' })
  })

  test('the byte layout is the one PROTOCOL.md gives (format v2)', () => {
    const v2 = (b: Block) => b4a.toString(encodeBlock(b, 2), 'hex')
    // version 2, kind 1 (update), time, flags, file uint, yjs buffer
    expect(v2({ kind: 'update', time: 5, yjs: b4a.from([0xaa, 0xbb]) })).toBe('020105' + '00' + '00' + '02aabb')
    expect(v2({ kind: 'update', time: 5, yjs: b4a.from([0xaa, 0xbb]), compressed: true, file: 3 })).toBe('020105' + '01' + '03' + '02aabb')
    // add-writer: key, role, flags (bit 0: a continued clientID, uint32 LE, follows)
    expect(v2({ kind: 'add-writer', key: key(0x11), role: 'writer' })).toBe('0202' + '11'.repeat(32) + '02' + '00')
    expect(v2({ kind: 'add-writer', key: key(0x11), role: 'owner', continues: 0x01020304 })).toBe('0202' + '11'.repeat(32) + '01' + '01' + '04030201')
    expect(v2({ kind: 'remove-writer', key: key(0x22) })).toBe('0203' + '22'.repeat(32))
    expect(v2({ kind: 'meta', title: 'T' })).toBe('0205' + '0154')
    expect(v2({ kind: 'genesis', type: 0 })).toBe('0207' + '00')
    expect(v2({ kind: 'seed', yjs: b4a.from([0xcc]) })).toBe('0208' + '00' + '01cc')
    expect(v2({ kind: 'seed', yjs: b4a.from([0xcc]), compressed: true })).toBe('0208' + '01' + '01cc')
    for (const hex of ['020105000002aabb', '0202' + '11'.repeat(32) + '0201' + '04030201', '020700', '02080001cc']) {
      const r = safeDecode(b4a.from(hex, 'hex'))
      expect(r.ok && r.version, hex).toBe(2)
    }
    // unknown flags of the v2 fields
    expect(safeDecode(b4a.from('0202' + '11'.repeat(32) + '02' + '02', 'hex'))).toMatchObject({ ok: false, reason: 'unknown add-writer flags 2' })
    expect(safeDecode(b4a.from('02080201cc', 'hex'))).toMatchObject({ ok: false, reason: 'unknown seed flags 2' })
  })

  test('truncation at every byte is rejected with a reason', () => {
    for (const block of SAMPLES) {
      const bytes = encodeBlock(block)
      for (let len = 0; len < bytes.length; len++) {
        const cut = bytes.subarray(0, len)
        const result = safeDecode(cut)
        // A prefix of a valid block may itself be a valid block only when the
        // cut lands exactly after a complete one, which our layouts never allow
        // (every kind ends in a field whose length is fixed or declared).
        expectRejected(result, `${block.kind} cut at ${len}/${bytes.length}`)
      }
    }
  })

  test('trailing bytes are rejected', () => {
    for (const block of SAMPLES) {
      const bytes = encodeBlock(block)
      for (const extra of [[0], [1], [0xff], [1, 2, 3]]) {
        const reason = expectRejected(safeDecode(b4a.concat([bytes, b4a.from(extra)])), `${block.kind} + ${extra}`)
        expect(reason).toBe('trailing bytes')
      }
    }
  })

  test('every single bit flip is rejected or decodes to a block that re-encodes to exactly those bytes', () => {
    let rejected = 0
    let total = 0
    for (const block of SAMPLES) {
      const bytes = encodeBlock(block)
      for (let i = 0; i < bytes.length; i++) {
        for (let bit = 0; bit < 8; bit++) {
          const flipped = b4a.from(bytes)
          flipped[i]! ^= 1 << bit
          total++
          const result = safeDecode(flipped)
          if (result.ok) {
            // Only a change of content (a byte of a string, key or update) can
            // stay valid, and then it is that other block, canonically.
            expect(b4a.equals(encodeBlock(result.block), flipped), `flip ${i}.${bit} of ${block.kind}`).toBe(true)
            expect(i, 'a flip of the version byte cannot give a valid block').toBeGreaterThan(0)
          } else if (result.newerVersion !== null) {
            expect(i, 'only the version byte can claim a newer version').toBe(0)
          } else {
            rejected++
            expect(result.reason.length).toBeGreaterThan(0)
          }
        }
      }
    }
    expect(rejected).toBeGreaterThan(0)
    expect(total).toBeGreaterThan(rejected)
  })

  test('overlong varints are rejected as non-canonical', () => {
    // version 1 written as 0xfd 0x01 0x00
    const overlongVersion = b4a.from('fd0100' + '0105' + '0154', 'hex')
    expect(expectRejected(safeDecode(b4a.from('fd0100' + '05' + '0154', 'hex')), 'overlong version')).toBe('non-canonical encoding')
    expectRejected(safeDecode(overlongVersion), 'overlong version + junk')
    // time 5 written as 0xfe + uint32
    const overlongTime = b4a.from('0101' + 'fe05000000' + '00' + '0101', 'hex')
    expect(expectRejected(safeDecode(overlongTime), 'overlong time')).toBe('non-canonical encoding')
    // time 5 written as 0xff + uint64
    expect(expectRejected(safeDecode(b4a.from('0101' + 'ff0500000000000000' + '00' + '0101', 'hex')), 'overlong time 64')).toBe('non-canonical encoding')
    // update length 1 written as 0xfd 0x01 0x00
    expect(expectRejected(safeDecode(b4a.from('010105' + '00' + 'fd0100' + 'aa', 'hex')), 'overlong length')).toBe('non-canonical encoding')
    // string length written long
    expect(expectRejected(safeDecode(b4a.from('0105' + 'fd0100' + '54', 'hex')), 'overlong string length')).toBe('non-canonical encoding')
    // a 64-bit time above 2^53 is not a safe integer
    expectRejected(safeDecode(b4a.from('0101' + 'ffffffffffffffff7f' + '00' + '0101', 'hex')), 'huge time')
  })

  test('length fields past the end are rejected', () => {
    expectRejected(safeDecode(b4a.from('010105' + '00' + 'fe00001000' + 'aa', 'hex')), 'update length 1 MiB, 1 byte given')
    expectRejected(safeDecode(b4a.from('010105' + '00' + 'ffffffffffffffff7f' + 'aa', 'hex')), 'update length 2^63')
    expectRejected(safeDecode(b4a.from('0105' + 'fe00000001', 'hex')), 'title length 16 MiB')
    expectRejected(safeDecode(b4a.from('0106' + '33'.repeat(32) + 'feffffff00', 'hex')), 'sealed count huge')
    expectRejected(safeDecode(b4a.from('0106' + '33'.repeat(32) + 'fde803', 'hex')), 'sealed count 1000, none given')
  })

  test('unknown kinds, bad roles, bad flags and bad values are rejected with a reason', () => {
    for (const tag of [0, 7, 8, 100, 0xff]) {
      expect(expectRejected(safeDecode(b4a.from([1, tag, 0, 0, 0])), `kind ${tag}`)).toMatch(/unknown block kind/)
    }
    for (const role of [0, 3, 0xff]) {
      const bytes = b4a.concat([b4a.from([1, 2]), key(1), b4a.from([role])])
      expect(expectRejected(safeDecode(bytes), `role ${role}`)).toMatch(/unknown role/)
    }
    expect(expectRejected(safeDecode(b4a.from('0104' + '00' + '00' + '02', 'hex')), 'profile flags 2')).toMatch(/flags/)
    expect(expectRejected(safeDecode(b4a.from('0101' + '05' + '00' + '00', 'hex')), 'empty update')).toBe('empty update')
    expect(expectRejected(safeDecode(b4a.from('0101' + '05' + '02' + '01aa', 'hex')), 'update flags 2')).toMatch(/flags/)
    expect(expectRejected(safeDecode(b4a.from('0104' + '0107' + '00' + '00', 'hex')), 'control char in name')).toMatch(/control/)
    expect(expectRejected(safeDecode(b4a.from('0104' + '00' + '03726564' + '00', 'hex')), 'colour "red"')).toMatch(/color/)
    const longName = b4a.concat([b4a.from([1, 4, MAX_NAME_LENGTH + 1]), b4a.alloc(MAX_NAME_LENGTH + 1, 0x61), b4a.from([0, 0])])
    expect(expectRejected(safeDecode(longName), 'long name')).toMatch(/name longer/)
    expect(expectRejected(safeDecode(b4a.from([0])), 'version 0')).toMatch(/version 0/)
    expect(expectRejected(safeDecode(new Uint8Array(0)), 'empty')).toBe('empty block')
    expect(expectRejected(safeDecode(b4a.alloc(MAX_BLOCK_BYTES + 1, 1)), 'over the cap')).toMatch(/exceeds/)
    expectRejected(safeDecode('not bytes' as unknown as Uint8Array), 'a string')
    expectRejected(safeDecode(null as unknown as Uint8Array), 'null')
  })

  test('invalid UTF-8 in strings is rejected', () => {
    for (const bad of ['ff', 'c0af', 'e282', 'eda080' /* a UTF-8 encoded surrogate */, 'f4908080' /* above U+10FFFF */, '80']) {
      const name = b4a.from(bad, 'hex')
      const profile = b4a.concat([b4a.from([1, 4, name.length]), name, b4a.from([0, 0])])
      expect(expectRejected(safeDecode(profile), `name ${bad}`)).toBe('non-canonical encoding')
      const meta = b4a.concat([b4a.from([1, 5, name.length]), name])
      expect(expectRejected(safeDecode(meta), `title ${bad}`)).toBe('non-canonical encoding')
    }
  })

  test('strings that UTF-8 cannot carry (lone surrogates) are refused by the encoder', () => {
    // Otherwise a local profile would be saved as U+FFFD, silently different
    // from what was asked for.
    for (const name of ['\ud800', 'a\udc00b', 'x\ud83d']) {
      expect(checkBlock({ kind: 'profile', name, color: '', device: null })).toMatch(/UTF-16|surrogate/)
      expect(() => encodeBlock({ kind: 'profile', name, color: '', device: null })).toThrow(RangeError)
      expect(() => encodeBlock({ kind: 'meta', title: name })).toThrow(RangeError)
    }
    expect(checkBlock({ kind: 'profile', name: '😀', color: '', device: null })).toBe(null)
  })

  test('a newer version is reported as newerVersion, whatever follows', () => {
    for (const v of [3, 4, 0xfc]) {
      const r = safeDecode(b4a.from([v, 1, 2, 3]))
      expect(r).toEqual({ ok: false, newerVersion: v })
      expect(safeDecode(b4a.from([v]))).toEqual({ ok: false, newerVersion: v })
    }
    expect(safeDecode(b4a.from('fd0001', 'hex'))).toEqual({ ok: false, newerVersion: 256 })
    expect(safeDecode(b4a.from('fe00000001', 'hex'))).toEqual({ ok: false, newerVersion: 2 ** 24 })
  })

  test('the encoder refuses what the decoder would refuse', () => {
    expect(() => encodeBlock({ kind: 'update', time: -1, yjs: b4a.from([1]) })).toThrow(RangeError)
    expect(() => encodeBlock({ kind: 'update', time: 1.5, yjs: b4a.from([1]) })).toThrow(RangeError)
    expect(() => encodeBlock({ kind: 'update', time: 0, yjs: b4a.alloc(0) })).toThrow(RangeError)
    expect(() => encodeBlock({ kind: 'update', time: 0, yjs: b4a.alloc(MAX_BLOCK_BYTES) })).toThrow(RangeError)
    expect(() => encodeBlock({ kind: 'add-writer', key: b4a.alloc(31), role: 'owner' })).toThrow(RangeError)
    expect(() => encodeBlock({ kind: 'profile', name: 'x', color: 'red', device: null })).toThrow(RangeError)
    expect(() => encodeBlock({ kind: 'profile', name: 'a\nb', color: '', device: null })).toThrow(RangeError)
  })

  test('random blocks round-trip; random mutations never throw', (ctx) => {
    const rng = seeded(ctx)
    const n = iterations(2000)
    for (let i = 0; i < n; i++) {
      const block = randomBlock(rng)
      const bytes = encodeBlock(block)
      const back = safeDecode(bytes)
      if (!back.ok) throw new Error(`#${i} ${block.kind} did not round-trip: ${JSON.stringify(back)}`)
      expect(normalize(back.block)).toEqual(normalize(block))

      const mutated = mutate(rng, bytes)
      const r = safeDecode(mutated)
      if (r.ok) expect(b4a.equals(encodeBlock(r.block), mutated)).toBe(true)
      else if (r.newerVersion === null) expect(r.reason.length).toBeGreaterThan(0)
    }
    for (let i = 0; i < n; i++) {
      const r = safeDecode(rng.bytes(rng.int(1, 80)))
      if (r.ok) expect(checkBlock(r.block)).toBe(null)
    }
  })
})

const NAME_CHARS = [...'abcxyz ABC019-_.', 'é', 'ß', '→', '😀', '\u2028']

function randomKey(rng: Prng): Uint8Array {
  return rng.bytes(32)
}

function randomBlock(rng: Prng): Block {
  switch (rng.int(0, 5)) {
    case 0:
      return {
        kind: 'update',
        time: rng.pick([0, rng.int(0, 0xfc), rng.int(0xfd, 0xffff), rng.int(0x10000, 0xffffffff), Date.now(), Number.MAX_SAFE_INTEGER]),
        yjs: rng.bytes(rng.pick([1, rng.int(1, 300), rng.int(250, 70_000)]))
      }
    case 1:
      return { kind: 'add-writer', key: randomKey(rng), role: rng.pick(['owner', 'writer'] as const) }
    case 2:
      return { kind: 'remove-writer', key: randomKey(rng) }
    case 3: {
      let name = rng.string(rng.int(0, 40), NAME_CHARS)
      while (name.length > MAX_NAME_LENGTH) name = name.slice(0, -1)
      if (/[\ud800-\udbff]$/.test(name)) name = name.slice(0, -1)
      const color = rng.bool(0.2) ? '' : '#' + Array.from(rng.bytes(3), (b) => b.toString(16).padStart(2, '0')).join('')
      return { kind: 'profile', name, color, device: rng.bool() ? randomKey(rng) : null }
    }
    case 4: {
      let title = rng.string(rng.int(0, 120), NAME_CHARS)
      if (/[\ud800-\udbff]$/.test(title)) title = title.slice(0, -1)
      return { kind: 'meta', title }
    }
    default: {
      const sealed = Array.from({ length: rng.int(0, 5) }, () => ({ writer: randomKey(rng), box: rng.bytes(rng.int(0, 256)) }))
      return { kind: 'moved', key: randomKey(rng), sealed }
    }
  }
}

function mutate(rng: Prng, bytes: Uint8Array): Uint8Array {
  const out = b4a.from(bytes)
  switch (rng.int(0, 4)) {
    case 0:
      return out.subarray(0, rng.int(0, out.length - 1))
    case 1: {
      const i = rng.int(0, out.length - 1)
      out[i]! ^= 1 << rng.int(0, 7)
      return out
    }
    case 2:
      return b4a.concat([out, rng.bytes(rng.int(1, 4))])
    case 3: {
      // Overwrite a byte with a varint prefix: lengths that lie.
      out[rng.int(0, out.length - 1)] = rng.pick([0xfc, 0xfd, 0xfe, 0xff, 0])
      return out
    }
    default: {
      // Re-encode the first uint overlong.
      const state = c.state(0, out.length, out)
      const v = c.uint.decode(state)
      return b4a.concat([b4a.from([0xfd, v & 0xff, v >> 8]), out.subarray(state.start)])
    }
  }
}
