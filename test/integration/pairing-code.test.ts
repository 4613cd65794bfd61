// Invite codes and the crypto under pairing and re-keying (no network).
import { describe, expect, test } from 'vitest'
import { randomBytes } from 'node:crypto'
import z32 from 'z32'
import b4a from 'b4a'
import Corestore from 'corestore'
import { decodeInvite, encodeInvite, INVITE_CODE_LENGTH, looksLikeInvite, type ParsedInvite } from '../../src/pairing/code.js'
import { deriveWriterKey, openSealed, sealTo, writerPublicKey } from '../../src/pairing/crypto.js'
import { isSwarmpadError } from '../../src/errors.js'
import { SwarmDocument } from '../../src/sync/document.js'
import { tmpDir } from '../helpers/tmp.js'
import { seeded } from '../helpers/prng.js'

const ALPHABET = 'ybndrfg8ejkmcpqxot1uwisza345h769'

function invalid(code: string): string {
  try {
    decodeInvite(code)
  } catch (err) {
    if (isSwarmpadError(err, 'INVALID_INVITE')) return err.message
    throw err
  }
  throw new Error(`accepted ${code}`)
}

const samples: ParsedInvite[] = [
  { role: 'writer', seed: randomBytes(32), discoveryKey: randomBytes(32), expires: 1_900_000_000_000 },
  { role: 'owner', seed: randomBytes(32), discoveryKey: randomBytes(32), expires: 1_800_000_000_000 },
  { role: 'reader', key: randomBytes(32), encryptionKey: randomBytes(32), expires: 1_700_000_000_000 }
]

describe('invite codes', () => {
  test('round-trip every kind; one printable z32 string of fixed length', () => {
    for (const s of samples) {
      const code = encodeInvite(s)
      expect(code).toMatch(/^[ybndrfg8ejkmcpqxot1uwisza345h769]+$/)
      expect(code).toHaveLength(INVITE_CODE_LENGTH)
      expect(looksLikeInvite(code)).toBe(true)
      expect(decodeInvite(code)).toEqual(s)
      // Copy-paste damage that is not a typo: case, spaces, line breaks, dashes.
      expect(decodeInvite(`  ${code.toUpperCase().replace(/(.{30})/g, '$1\n- ')}  `)).toEqual(s)
    }
  })

  test('every single-character typo is caught by the checksum (all positions, all substitutions)', () => {
    const code = encodeInvite(samples[0]!)
    let caught = 0
    for (let i = 0; i < code.length; i++) {
      for (const ch of ALPHABET) {
        if (ch === code[i]) continue
        const typo = code.slice(0, i) + ch + code.slice(i + 1)
        expect(invalid(typo)).toMatch(/checksum|typo/)
        caught++
      }
    }
    expect(caught).toBe(code.length * 31)
  })

  test('swapped neighbours, truncation, extra characters, foreign characters', () => {
    const code = encodeInvite(samples[1]!)
    for (let i = 0; i + 1 < code.length; i++) {
      if (code[i] === code[i + 1]) continue
      const swapped = code.slice(0, i) + code[i + 1] + code[i] + code.slice(i + 2)
      invalid(swapped)
    }
    for (let n = 0; n < code.length; n++) expect(invalid(code.slice(0, n))).toMatch(/empty|too short/)
    expect(invalid(code + 'y')).toMatch(/too long/)
    expect(invalid(code.slice(0, 50) + 'l' + code.slice(51))).toMatch(/"l" is not a character/)
    expect(invalid(code.slice(0, 50) + '0' + code.slice(51))).toMatch(/"0" is not a character/)
    expect(invalid('x'.repeat(10_000))).toMatch(/far longer/)
    expect(looksLikeInvite('a'.repeat(52))).toBe(false)
  })

  test('a valid checksum over an unknown version or kind is refused with its reason', () => {
    const craft = (version: number, kind: number) => {
      const bytes = b4a.from(z32.decode(encodeInvite(samples[0]!)))
      bytes[0] = version
      bytes[1] = kind
      const { createHash } = require('node:crypto') as typeof import('node:crypto')
      const sum = createHash('sha256').update('swarmpad invite\0').update(bytes.subarray(0, 70)).digest()
      bytes.set(sum.subarray(0, 4), 70)
      return z32.encode(bytes)
    }
    expect(invalid(craft(2, 1))).toMatch(/newer swarmpad/)
    expect(invalid(craft(0, 1))).toMatch(/unknown invite format/)
    expect(invalid(craft(1, 9))).toMatch(/unknown kind/)
  })

  test('random input never throws anything but INVALID_INVITE', (ctx) => {
    const rng = seeded(ctx)
    for (let i = 0; i < 2000; i++) {
      const len = rng.int(0, 200)
      const text = rng.bool(0.5) ? rng.string(len, [...ALPHABET]) : rng.string(len)
      try {
        decodeInvite(text)
      } catch (err) {
        expect(isSwarmpadError(err, 'INVALID_INVITE')).toBe(true)
      }
    }
  })

  test('encoding refuses values it could not decode', () => {
    expect(() => encodeInvite({ ...samples[0]!, expires: 0 })).toThrow(RangeError)
    expect(() => encodeInvite({ role: 'writer', seed: randomBytes(31), discoveryKey: randomBytes(32), expires: Date.now() })).toThrow(RangeError)
  })
})

describe('pairing crypto', () => {
  test('the writer key derived before pairing is the key the document writes with (and nothing is stored)', async () => {
    const dir = await tmpDir()
    const store = new Corestore(dir)
    await store.ready()
    try {
      const namespace = randomBytes(16).toString('hex')
      const derived = await deriveWriterKey(store, namespace)
      let cores = 0
      for await (const _ of store.list()) cores++
      expect(cores).toBe(0)
      const doc = new SwarmDocument(store.namespace(namespace), { key: null, encryptionKey: randomBytes(32) })
      await doc.ready()
      expect(b4a.equals(doc.writerKey, derived)).toBe(true)
      expect(b4a.equals((await writerPublicKey(doc, doc.writerKey))!, doc.autobase.local.keyPair!.publicKey)).toBe(true)
      await doc.close()
    } finally {
      await store.close()
    }
  })

  test('a sealed box opens with the writer key pair it was sealed to, and no other', async () => {
    const dir = await tmpDir()
    const store = new Corestore(dir)
    const doc = new SwarmDocument(store.namespace('a'), { key: null, encryptionKey: randomBytes(32) })
    const other = new SwarmDocument(store.namespace('b'), { key: null, encryptionKey: randomBytes(32) })
    try {
      await doc.ready()
      await other.ready()
      const kp = doc.autobase.local.keyPair!
      const message = randomBytes(74)
      const box = sealTo(kp.publicKey, message)
      expect(b4a.equals(openSealed(box, { publicKey: kp.publicKey, secretKey: kp.secretKey! })!, message)).toBe(true)
      const okp = other.autobase.local.keyPair!
      expect(openSealed(box, { publicKey: okp.publicKey, secretKey: okp.secretKey! })).toBeNull()
      const flipped = b4a.from(box)
      flipped[60]! ^= 1
      expect(openSealed(flipped, { publicKey: kp.publicKey, secretKey: kp.secretKey! })).toBeNull()
      expect(openSealed(box.subarray(0, 40), { publicKey: kp.publicKey, secretKey: kp.secretKey! })).toBeNull()
      // Fits the moved block's per-member cap (256 bytes) with room to spare.
      expect(box.length).toBeLessThan(256)
    } finally {
      await doc.close()
      await other.close()
      await store.close()
    }
  })
})
