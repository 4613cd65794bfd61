// Carrying a follower's edits into a re-key's successor exactly (format v2).
// The successor is seeded with the old document's whole Yjs state, item
// identities included, and each remaining member is added as carrying its
// old clientID (PROTOCOL.md, "Seeds and carried clients"). The edits a
// follower made that the seed lacks are then its own old Yjs updates, sent
// again unchanged: Yjs places every character where its author typed it,
// next to the same neighbours, instead of a text patch finding a context.
// Pure: the document supplies its updates and its state.
import * as Y from 'yjs'
import { guardUpdate } from '../doc/yjs-guard.js'

/// Of a device's own updates (in the order it wrote them, all of client
/// `me`), the parts the seed lacks: from clock `clock` on. An update that
/// only deletes is late once it comes after the last update the seed holds
/// text of (as ownEditsSince() counts it). Each is cut to the clocks from
/// `clock` on (the part before is in the seed).
export function lateUpdates(own: readonly Uint8Array[], me: number, clock: number): Uint8Array[] {
  const metas = own.map((u) => Y.parseUpdateMeta(u))
  let lastSeeded = -1
  metas.forEach((m, i) => {
    const from = m.from.get(me)
    if (from !== undefined && from < clock) lastSeeded = i
  })
  const since = Y.encodeStateVector(new Map([[me, clock]]))
  const out: Uint8Array[] = []
  own.forEach((u, i) => {
    const to = metas[i]!.to.get(me)
    if (to === undefined ? i > lastSeeded : to > clock) out.push(to !== undefined && (metas[i]!.from.get(me) ?? 0) < clock ? Y.diffUpdate(u, since) : u)
  })
  return out
}

/// Where carrying `update` stands in a document whose clock per client is
/// `stateOf(client)`: `ready` when everything it builds on and deletes is
/// there and its own text (of client `carried`) continues exactly where the
/// document has that client (then apply() accepts it and Yjs integrates it
/// at once); `wait` when something it builds on has not arrived yet; `done`
/// when the document already holds its text; `bad` when it is not an update
/// a follower carries (another client's structs, or malformed).
export function carryState(update: Uint8Array, carried: number, stateOf: (client: number) => number): 'ready' | 'wait' | 'done' | 'bad' {
  const verdict = guardUpdate(update)
  if (!verdict.ok) return 'bad'
  const shape = verdict.shape
  if (shape.clients.some((c) => c !== carried)) return 'bad'
  const own = shape.sections[0]
  if (own !== undefined) {
    if (stateOf(carried) >= own.clock + own.length) return 'done'
    if (stateOf(carried) !== own.clock) return 'wait'
  }
  const ownEnd = own === undefined ? stateOf(carried) : own.clock + own.length
  for (const ref of shape.references) if (stateOf(ref.client) <= ref.clock) return 'wait'
  const d = shape.deletes
  for (let i = 0; i < d.length; i += 3) {
    const end = d[i]! === carried ? ownEnd : stateOf(d[i]!)
    if (d[i + 1]! + d[i + 2]! > end) return 'wait'
  }
  return 'ready'
}
