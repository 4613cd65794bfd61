import { describe, expect, test } from 'vitest'
import * as Y from 'yjs'
import b4a from 'b4a'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { guardUpdate, TEXT_ROOT, type GuardResult } from '../../src/doc/yjs-guard.js'
import { MAX_UPDATE_BYTES, MAX_UPDATE_STRUCTS, MAX_YJS_CLOCK } from '../../src/limits.js'
import { iterations, Prng, seeded } from '../helpers/prng.js'

const CRASHERS = join(import.meta.dirname, '../fixtures/crashers')

/// guardUpdate is total and fast: it returns within `ms` (linear in the input:
/// a generous 250 ms plus 1 µs a byte, on a loaded 2-core machine), never throws.
function guard(update: Uint8Array, ms = 250 + (update?.length ?? 0) / 1000): GuardResult {
  const start = performance.now()
  let result: GuardResult
  try {
    result = guardUpdate(update)
  } catch (err) {
    throw new Error(`guardUpdate threw on ${hex(update)}: ${String(err)}`)
  }
  const took = performance.now() - start
  if (took > ms) throw new Error(`guardUpdate took ${took.toFixed(0)} ms on ${update.length} bytes`)
  return result
}

function hex(u: Uint8Array): string {
  const h = b4a.toString(b4a.from(u.subarray(0, 48)), 'hex')
  return u.length > 48 ? `${h}... (${u.length} bytes)` : h
}

function refused(update: Uint8Array, what: string): string {
  const r = guard(update)
  if (r.ok) throw new Error(`${what}: accepted ${hex(update)} as ${JSON.stringify(r.shape)}`)
  expect(r.reason.length).toBeGreaterThan(0)
  return r.reason
}

function accepted(update: Uint8Array, what: string) {
  const r = guard(update)
  if (!r.ok) throw new Error(`${what}: refused (${r.reason}) ${hex(update)}`)
  return r.shape
}

/// A Y.Doc whose updates are collected, with a fixed clientID.
function recorder(clientID: number) {
  const doc = new Y.Doc({ gc: true })
  doc.clientID = clientID
  const updates: Uint8Array[] = []
  doc.on('update', (u: Uint8Array) => updates.push(u))
  return { doc, text: doc.getText(TEXT_ROOT), updates }
}

/// Yjs must take what the guard accepted without throwing, on an empty doc
/// and on one with content, alone and merged with other updates (apply()
/// merges accepted updates into snapshots: a throw there would stop every peer).
function yjsTakes(update: Uint8Array, context: Uint8Array[], what: string): void {
  try {
    const empty = new Y.Doc()
    empty.getText(TEXT_ROOT)
    Y.applyUpdate(empty, update)
    empty.getText(TEXT_ROOT).toString()
    Y.encodeStateAsUpdate(empty)
    const full = new Y.Doc()
    for (const u of context) Y.applyUpdate(full, u)
    Y.applyUpdate(full, update)
    full.getText(TEXT_ROOT).toString()
    Y.encodeStateAsUpdate(full)
    const merged = Y.mergeUpdates([...context, update])
    Y.mergeUpdates([update, ...context])
    const fromMerged = new Y.Doc()
    Y.applyUpdate(fromMerged, merged)
    fromMerged.getText(TEXT_ROOT).toString()
  } catch (err) {
    const stack = err instanceof Error ? (err.stack ?? '').split('\n').slice(1, 6).join(' | ') : ''
    throw new Error(`${what}: guard accepted ${hex(update)} but Yjs threw: ${String(err)} at ${stack}`)
  }
}

// --- a minimal Yjs V1 writer, to craft updates byte by byte ---

class V1 {
  bytes: number[] = []
  uint(n: number): this {
    while (n >= 0x80) {
      this.bytes.push((n % 0x80) | 0x80)
      n = Math.floor(n / 0x80)
    }
    this.bytes.push(n)
    return this
  }
  u8(n: number): this {
    this.bytes.push(n)
    return this
  }
  str(s: string): this {
    const b = new TextEncoder().encode(s)
    this.uint(b.length)
    for (const x of b) this.bytes.push(x)
    return this
  }
  raw(b: ArrayLike<number>): this {
    for (let i = 0; i < b.length; i++) this.bytes.push(b[i]!)
    return this
  }
  done(): Uint8Array {
    return Uint8Array.from(this.bytes)
  }
}

/// One section of one client with the structs written by `structs`, then an empty delete set.
function oneSection(client: number, clock: number, count: number, structs: (w: V1) => void): Uint8Array {
  const w = new V1().uint(1).uint(count).uint(client).uint(clock)
  structs(w)
  return w.uint(0).done()
}

describe('yjs update guard', () => {
  test('updates of real text edits pass and report their clientID', (ctx) => {
    const rng = seeded(ctx)
    const a = recorder(rng.int(1, 0xffffffff))
    for (let i = 0; i < iterations(300); i++) {
      const len = a.text.length
      const clockBefore = Y.getState(a.doc.store, a.doc.clientID)
      a.doc.transact(() => {
        for (let k = rng.int(1, 3); k > 0; k--) {
          const at = rng.int(0, a.text.length)
          if (rng.bool(0.3) && a.text.length > 0) a.text.delete(rng.int(0, a.text.length - 1), rng.int(1, 5))
          else a.text.insert(at, rng.string(rng.int(1, 20)))
        }
      })
      const u = a.updates[a.updates.length - 1]!
      const shape = accepted(u, `edit ${i} (length ${len})`)
      expect(shape.clients.length <= 1).toBe(true)
      if (shape.clients.length === 1) {
        expect(shape.clients[0]).toBe(a.doc.clientID)
        // The clock range it covers continues the writer's clock exactly.
        expect(shape.sections).toEqual([{ client: a.doc.clientID, clock: clockBefore, length: Y.getState(a.doc.store, a.doc.clientID) - clockBefore }])
      }
    }
    // A delete-only update carries no struct, only a delete set.
    a.text.delete(0, 1)
    const del = accepted(a.updates[a.updates.length - 1]!, 'delete only')
    expect(del.clients).toEqual([])
    expect(del.deleteRanges).toBe(1)
  })

  test('merged and whole-state updates of several writers pass with every clientID', () => {
    const ids = [7, 123456, 0xfffffffe]
    const docs = ids.map((id) => recorder(id))
    for (const [i, d] of docs.entries()) d.text.insert(0, `writer ${i} was here. `)
    // Everyone gets everything, then edits again.
    const all = docs.flatMap((d) => d.updates.slice())
    for (const d of docs) for (const u of all) Y.applyUpdate(d.doc, u)
    docs[0]!.text.insert(5, '<0>')
    docs[1]!.text.delete(2, 10)
    docs[2]!.text.insert(docs[2]!.text.length, '😀 end')
    const everything = docs.flatMap((d) => d.updates)
    const merged = accepted(Y.mergeUpdates(everything), 'merge of all updates')
    expect([...merged.clients].sort((x, y) => x - y)).toEqual([...ids].sort((x, y) => x - y))
    const state = accepted(Y.encodeStateAsUpdate(docs[0]!.doc), 'state of doc 0')
    expect(new Set(state.clients)).toEqual(new Set(ids))
    for (const d of docs) for (const u of d.updates) accepted(u, 'single update')
  })

  test('text with a byte-order mark, surrogate pairs and NUL passes, with the right clock', () => {
    // U+FEFF at the start of an inserted string is a character, not a BOM to strip:
    // Yjs decodes it with ignoreBOM, so must the guard (or an honest edit is refused).
    for (const s of ['\ufeff', '\ufeffabc', 'a\ufeff', '😀', '\u0000', 'é\r\n']) {
      const r = recorder(42)
      r.text.insert(0, 'x')
      r.text.insert(1, s)
      const shape = accepted(r.updates[1]!, JSON.stringify(s))
      expect(shape.clients).toEqual([42])
      // The next edit must chain on the clock the guard computed: whole state passes.
      accepted(Y.encodeStateAsUpdate(r.doc), `state after ${JSON.stringify(s)}`)
    }
  })

  test('other root names, maps, nested types and non-text content are refused', () => {
    const cases: Array<[string, (d: Y.Doc) => void, RegExp]> = [
      ['another root text', (d) => d.getText('other').insert(0, 'x'), /unknown root/],
      ['a root array', (d) => d.getArray('list').insert(0, ['x']), /unknown root|not plain text/],
      ['a map named text', (d) => d.getMap(TEXT_ROOT).set('k', 'v'), /map key|not plain text/],
      ['an array named text holding JSON', (d) => d.getArray(TEXT_ROOT).insert(0, [{ a: 1 }]), /not plain text/],
      ['a binary', (d) => d.getArray(TEXT_ROOT).insert(0, [new Uint8Array([1, 2])]), /not plain text/],
      ['a nested text', (d) => d.getArray(TEXT_ROOT).insert(0, [new Y.Text('in')]), /not plain text|nested/],
      ['an xml fragment', (d) => d.getXmlFragment(TEXT_ROOT).insert(0, [new Y.XmlElement('p')]), /not plain text/],
      ['formatting', (d) => d.getText(TEXT_ROOT).insert(0, 'bold', { bold: true }), /not plain text/],
      ['an embed', (d) => d.getText(TEXT_ROOT).insertEmbed(0, { image: 'x' }), /not plain text/],
      ['a subdocument', (d) => d.getArray(TEXT_ROOT).insert(0, [new Y.Doc()]), /not plain text/]
    ]
    for (const [what, change, reason] of cases) {
      const doc = new Y.Doc()
      doc.clientID = 5
      const updates: Uint8Array[] = []
      doc.on('update', (u: Uint8Array) => updates.push(u))
      change(doc)
      const update = Y.mergeUpdates(updates)
      expect(refused(update, what), what).toMatch(reason)
    }
    // Items nested in another item (the parent written as an ID) are refused.
    const nested = oneSection(5, 0, 1, (w) => w.u8(4).uint(0).uint(9).uint(0).str('x'))
    expect(refused(nested, 'parent is an item')).toMatch(/nested/)
  })

  test('every truncation, and every bit flip Yjs would choke on, is refused; nothing throws', () => {
    const r = recorder(99)
    r.text.insert(0, 'hello world, here is some text')
    r.text.delete(3, 4)
    r.text.insert(10, 'é😀')
    const samples = [...r.updates, Y.encodeStateAsUpdate(r.doc)]
    const context = [Y.encodeStateAsUpdate(r.doc)]
    for (const s of samples) {
      for (let len = 0; len < s.length; len++) refused(s.subarray(0, len), `cut at ${len}/${s.length}`)
      refused(b4a.concat([s, b4a.from([0])]), 'a trailing byte')
      for (let i = 0; i < s.length; i++) {
        for (let bit = 0; bit < 8; bit++) {
          const f = b4a.from(s)
          f[i]! ^= 1 << bit
          if (guard(f).ok) yjsTakes(f, context, `flip ${i}.${bit}`)
        }
      }
    }
  })

  test('random garbage and mutations never throw or hang; whatever passes, Yjs takes', (ctx) => {
    const rng = seeded(ctx)
    const r = recorder(1234)
    for (let i = 0; i < 30; i++) r.text.insert(rng.int(0, r.text.length), rng.string(rng.int(1, 8)))
    r.text.delete(2, 5)
    const base = [...r.updates, Y.encodeStateAsUpdate(r.doc)]
    const context = [Y.encodeStateAsUpdate(r.doc)]
    let passed = 0
    for (let i = 0; i < iterations(3000); i++) {
      const input = i % 3 === 0 ? rng.bytes(rng.int(0, 64)) : mutate(rng, rng.pick(base))
      if (guard(input).ok) {
        passed++
        yjsTakes(input, context, `case ${i}`)
      }
    }
    expect(passed).toBeLessThan(iterations(3000))
  })

  test('random well-shaped updates (what the guard is meant to accept) pass, and Yjs takes them', (ctx) => {
    const rng = seeded(ctx)
    const r = recorder(77)
    r.text.insert(0, 'some shared text to hang origins on')
    const context = [Y.encodeStateAsUpdate(r.doc)]
    const acceptedUpdates: Uint8Array[] = []
    for (let i = 0; i < iterations(400); i++) {
      const u = randomShapedUpdate(rng)
      const shape = accepted(u, `shaped ${i}`)
      expect(shape.structs).toBeGreaterThan(0)
      yjsTakes(u, context, `shaped ${i}`)
      acceptedUpdates.push(u)
    }
    // All of them together, in two orders (a snapshot is a merge of many).
    const doc = new Y.Doc()
    for (const u of [...context, ...acceptedUpdates]) Y.applyUpdate(doc, u)
    Y.mergeUpdates([...context, ...acceptedUpdates])
    Y.mergeUpdates(rng.shuffle([...context, ...acceptedUpdates]))
  })

  test('crafted inputs: huge declared counts, endless RLE, overlong numbers (yjs#479, yjs#687)', () => {
    // yjs#479: base64 "garbagedoc" hung Y.applyUpdate in lib0.
    expect(refused(b4a.from('garbagedoc', 'base64'), 'yjs#479 garbagedoc')).toBeTruthy()
    // yjs#498: an empty buffer.
    refused(new Uint8Array(0), 'empty')
    // Huge section count, huge struct count, huge delete-set sizes on tiny inputs.
    expect(refused(new V1().uint(2 ** 40).done(), 'sections 2^40')).toMatch(/exceeds input|truncated/)
    expect(refused(new V1().uint(1).uint(2 ** 40).uint(1).uint(0).u8(0).uint(1).uint(0).done(), 'structs 2^40')).toMatch(/exceeds input/)
    expect(refused(new V1().uint(0).uint(2 ** 45).done(), 'delete-set clients 2^45')).toMatch(/exceeds input/)
    expect(refused(new V1().uint(0).uint(1).uint(5).uint(2 ** 45).done(), 'delete ranges 2^45')).toMatch(/exceed input/)
    // Lengths that overflow the clock space.
    const deleted = (w: V1, len: number) => w.u8(1).uint(1).str(TEXT_ROOT).uint(len)
    expect(refused(oneSection(1, 0, 1, (w) => deleted(w, MAX_YJS_CLOCK + 1)), 'deleted run of 2^40+1')).toMatch(/clock/)
    expect(refused(oneSection(1, MAX_YJS_CLOCK, 1, (w) => deleted(w, 1)), 'item past 2^40')).toMatch(/clock/)
    expect(refused(new V1().uint(0).uint(1).uint(5).uint(1).uint(MAX_YJS_CLOCK).uint(1).done(), 'delete past 2^40')).toMatch(/range/)
    expect(refused(oneSection(1, 0, 1, (w) => w.u8(0x81).uint(1).uint(MAX_YJS_CLOCK + 1).uint(1)), 'origin past 2^40')).toMatch(/clock/)
    // GC and skip structs (never in a writer's own text updates).
    expect(refused(oneSection(1, 0, 1, (w) => w.u8(0).uint(5)), 'gc')).toMatch(/GC/)
    expect(refused(oneSection(1, 0, 1, (w) => w.u8(10).uint(5)), 'skip')).toMatch(/skip/)
    expect(refused(oneSection(1, 0, 1, (w) => w.u8(0x80).uint(5)), 'gc with info bits')).toMatch(/GC/)
    // References to the item itself or to a later clock of its own client (Yjs throws on them).
    expect(refused(oneSection(1, 5, 1, (w) => w.u8(0x84).uint(1).uint(5).str('x')), 'origin = itself')).toMatch(/own client/)
    expect(refused(oneSection(1, 5, 1, (w) => w.u8(0x44).uint(1).uint(9).str('x')), 'right origin ahead')).toMatch(/own client/)
    accepted(oneSection(1, 5, 1, (w) => w.u8(0x84).uint(1).uint(4).str('x')), 'origin just behind')
    // A varuint that never ends, and one longer than 7 bytes.
    refused(b4a.alloc(1000, 0xff), 'endless varuint')
    expect(refused(b4a.from([0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), '8-byte varuint')).toMatch(/too long/)
    expect(refused(b4a.from([0x80, 0x00, 0x00]), 'overlong zero')).toMatch(/overlong/)
    // A string length past the end, invalid UTF-8, empty structs.
    expect(refused(oneSection(1, 0, 1, (w) => w.u8(4).uint(1).str(TEXT_ROOT).uint(1000).u8(0x61)), 'string past end')).toMatch(/past the end/)
    expect(refused(oneSection(1, 0, 1, (w) => w.u8(4).uint(1).str(TEXT_ROOT).uint(1).u8(0xff)), 'bad UTF-8')).toMatch(/UTF-8/)
    expect(refused(oneSection(1, 0, 1, (w) => deleted(w, 0)), 'empty deleted run')).toMatch(/empty/)
    expect(refused(oneSection(1, 0, 1, (w) => w.u8(4).uint(1).str(TEXT_ROOT).uint(0)), 'empty string')).toMatch(/empty/)
    expect(refused(new V1().uint(0).uint(1).uint(5).uint(1).uint(3).uint(0).done(), 'empty delete range')).toMatch(/range/)
    // The same client twice.
    const twice = new V1().uint(2).uint(1).uint(3).uint(0)
    deleted(twice, 1).uint(1).uint(3).uint(1)
    deleted(twice, 1).uint(0)
    expect(refused(twice.done(), 'client twice')).toMatch(/twice/)
    // Over the byte cap, and over the struct cap (1 million + 1 declared, with the bytes present).
    expect(refused(new Uint8Array(MAX_UPDATE_BYTES + 1), 'over the byte cap')).toMatch(/exceeds/)
    const many = MAX_UPDATE_STRUCTS + 1
    const w = new V1().uint(1).uint(many).uint(3).uint(0).done()
    expect(refused(b4a.concat([w, b4a.alloc(2 * many + 1)]), 'too many structs')).toMatch(/too many structs/)
    // Not bytes at all.
    refused('text' as unknown as Uint8Array, 'a string')
    refused(null as unknown as Uint8Array, 'null')
  })

  test('committed crashers (test/fixtures/crashers) are refused quickly', () => {
    const files = readdirSync(CRASHERS).filter((f) => f.endsWith('.hex'))
    expect(files.length).toBeGreaterThanOrEqual(6)
    for (const f of files) {
      const content = readFileSync(join(CRASHERS, f), 'utf8')
      const hexDigits = content
        .split('\n')
        .filter((l) => !l.startsWith('#'))
        .join('')
        .replace(/\s+/g, '')
      const bytes = b4a.from(hexDigits, 'hex')
      expect(bytes.length, f).toBeGreaterThan(0)
      const reason = refused(bytes, f)
      expect(reason, f).toBeTruthy()
    }
  })

  test('accepted but hostile updates (huge deleted runs and delete ranges, many items) stay cheap for Yjs', () => {
    const hostile = [
      oneSection(9, 3, 1, (w) => w.u8(1).uint(1).str(TEXT_ROOT).uint(MAX_YJS_CLOCK - 10)),
      oneSection(9, 3, 2, (w) => w.u8(0x81).uint(9).uint(1).uint(MAX_YJS_CLOCK / 2).u8(0x84).uint(9).uint(5).str('x')),
      new V1().uint(0).uint(1).uint(9).uint(1).uint(0).uint(MAX_YJS_CLOCK - 1).done(),
      new V1().uint(0).uint(1).uint(12345).uint(1).uint(0).uint(MAX_YJS_CLOCK - 1).done()
    ]
    const r = recorder(9)
    r.text.insert(0, 'abc')
    const context = [Y.encodeStateAsUpdate(r.doc)]
    for (const [i, h] of hostile.entries()) {
      accepted(h, `hostile ${i}`)
      const start = performance.now()
      yjsTakes(h, context, `hostile ${i}`)
      expect(performance.now() - start, `hostile ${i}`).toBeLessThan(500)
    }
    // 200 000 one-character items: large but bounded, linear in its bytes.
    const n = 200_000
    const w = new V1().uint(1).uint(n).uint(9).uint(0)
    w.u8(4).uint(1).str(TEXT_ROOT).str('a')
    for (let i = 1; i < n; i++) w.u8(0x84).uint(9).uint(i - 1).str('a')
    const big = w.uint(0).done()
    const start = performance.now()
    expect(accepted(big, 'many items').structs).toBe(n)
    expect(performance.now() - start).toBeLessThan(3000)
    const doc = new Y.Doc()
    Y.applyUpdate(doc, big)
    expect(doc.getText(TEXT_ROOT).length).toBe(n)
  })
})

function mutate(rng: Prng, bytes: Uint8Array): Uint8Array {
  const out = b4a.from(bytes)
  switch (rng.int(0, 5)) {
    case 0:
      return out.subarray(0, rng.int(0, Math.max(0, out.length - 1)))
    case 1:
      for (let k = rng.int(1, 3); k > 0; k--) out[rng.int(0, out.length - 1)]! ^= 1 << rng.int(0, 7)
      return out
    case 2:
      out[rng.int(0, out.length - 1)] = rng.pick([0, 1, 4, 10, 0x7f, 0x80, 0xff, 0x84, 0xc4, 0x27])
      return out
    case 3: {
      const i = rng.int(0, out.length)
      return b4a.concat([out.subarray(0, i), rng.bytes(rng.int(1, 6)), out.subarray(i)])
    }
    case 4: {
      const i = rng.int(0, out.length - 1)
      return b4a.concat([out.subarray(0, i), out.subarray(i + rng.int(1, 4))])
    }
    default:
      // Splice two updates together.
      return b4a.concat([out.subarray(0, rng.int(0, out.length)), rng.bytes(rng.int(0, 8)), out.subarray(rng.int(0, out.length))])
  }
}

/// A random update of the shape the guard admits: deleted and string items in
/// the root text with random origins (backwards on their own client), and a
/// random delete set.
function randomShapedUpdate(rng: Prng): Uint8Array {
  const w = new V1()
  const clients = rng.shuffle([77, 1, 2, 3, 0xffffffff].slice(0, rng.int(1, 4)))
  w.uint(clients.length)
  for (const client of clients) {
    const count = rng.int(1, 6)
    let clock = rng.pick([0, rng.int(0, 50)])
    w.uint(count).uint(client).uint(clock)
    for (let i = 0; i < count; i++) {
      const kind = rng.weighted({ string: 6, deleted: 2 })
      const origin = rng.bool(0.6)
      const right = rng.bool(0.3)
      w.u8((kind === 'string' ? 4 : 1) | (origin ? 0x80 : 0) | (right ? 0x40 : 0))
      // References to the item's own client point backwards (the guard's rule);
      // other clients' clocks are anything (missing ones leave the item pending).
      const id = () => {
        let c = rng.pick([...clients, 77, 4242])
        if (c === client && clock === 0) c = 4242
        w.uint(c).uint(c === client ? rng.int(0, clock - 1) : rng.int(0, 60))
      }
      if (origin) id()
      if (right) id()
      if (!origin && !right) w.uint(1).str(TEXT_ROOT)
      if (kind === 'string') {
        const s = rng.string(rng.int(1, 10))
        w.str(s)
        clock += s.length
      } else {
        const len = rng.int(1, 10)
        w.uint(len)
        clock += len
      }
    }
  }
  const ds = rng.int(0, 3)
  w.uint(ds)
  for (let i = 0; i < ds; i++) {
    w.uint(rng.pick([77, 1, 2, 9999])).uint(2)
    w.uint(rng.int(0, 20)).uint(rng.int(1, 5))
    w.uint(rng.int(20, 80)).uint(rng.int(1, 5))
  }
  return w.done()
}
