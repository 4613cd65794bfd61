// Yjs V1 updates written byte by byte: what a modified build could sign.
// Used by test/integration/apply-limits.test.ts and the fuzz suites.
import b4a from 'b4a'
import * as Y from 'yjs'
import { clientIdFor } from '../../src/doc/membership.js'
import { MAX_YJS_CLOCK } from '../../src/limits.js'
import type { Prng } from './prng.js'

export function varuint(n: number): number[] {
  const out: number[] = []
  for (; n > 0x7f; n = Math.floor(n / 128)) out.push((n % 128) | 0x80)
  out.push(n)
  return out
}

function varstring(s: string): number[] {
  const bytes = [...b4a.from(s, 'utf8')]
  return [...varuint(bytes.length), ...bytes]
}

/// One item of `text` by `client` at `clock`, with no origins (placed at
/// the start of the root text), and no deletions.
export function itemUpdate(client: number, clock: number, text: string): Uint8Array {
  const head = [1, 1, ...varuint(client), ...varuint(clock), 4, 1, ...varstring('text')]
  return b4a.concat([b4a.from(head), b4a.from(varuint(b4a.byteLength(text, 'utf8'))), b4a.from(text, 'utf8'), b4a.from([0])])
}

/// An item whose string claims `claimed` bytes but carries `text`: a
/// "huge length" the decoder must refuse without allocating it.
export function lyingItemUpdate(client: number, clock: number, claimed: number, text: string): Uint8Array {
  const head = [1, 1, ...varuint(client), ...varuint(clock), 4, 1, ...varstring('text'), ...varuint(claimed)]
  return b4a.concat([b4a.from(head), b4a.from(text, 'utf8'), b4a.from([0])])
}

/// An update that only deletes: `[client, clock, length]` ranges, as given
/// (unsorted and repeated ranges are written as they are).
export function deleteUpdate(ranges: Array<[number, number, number]>): Uint8Array {
  const byClient = new Map<number, Array<[number, number]>>()
  for (const [client, clock, len] of ranges) {
    let list = byClient.get(client)
    if (list === undefined) byClient.set(client, (list = []))
    list.push([clock, len])
  }
  const out: number[] = [0, ...varuint(byClient.size)]
  for (const [client, list] of byClient) {
    out.push(...varuint(client), ...varuint(list.length))
    for (const [clock, len] of list) out.push(...varuint(clock), ...varuint(len))
  }
  return b4a.from(out)
}

/// Updates shaped like the attacks of issue 13: delete sets naming unknown
/// clients or clocks far past what exists, inserts of huge (or falsely
/// claimed) length. The guard accepts some (apply() refuses them against the
/// document); the worker runs apply()'s document checks on what it accepts.
export function craftedUpdates(rng: Prng): Uint8Array[] {
  const client = clientIdFor(rng.bytes(32))
  const other = clientIdFor(rng.bytes(32))
  return [
    deleteUpdate([[client, 7, MAX_YJS_CLOCK - 7]]),
    deleteUpdate([[rng.int(0, 2 ** 32 - 1), 0, 10]]),
    deleteUpdate(Array.from({ length: 5000 }, (_, i): [number, number, number] => [i % 2 === 0 ? client : other, 2 * (i % 300) + rng.int(0, 2 ** 20), rng.int(1, 3)])),
    Y.mergeUpdates([itemUpdate(client, 0, 'x'.repeat(40_000)), deleteUpdate([[client, 10, 39_000], [other, 0, 5]])]),
    Y.mergeUpdates([itemUpdate(client, 0, 'abc'), deleteUpdate([[client, 1, 2 ** 39]])]),
    lyingItemUpdate(client, 0, 2 ** 31, 'short'),
    lyingItemUpdate(client, 0, 2 ** 48, 'short')
  ]
}
