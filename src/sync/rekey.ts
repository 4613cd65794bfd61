import * as Y from 'yjs'
import b4a from 'b4a'
import type { ChangeSet } from '@codemirror/state'
import { SwarmpadError } from '../errors.js'
import { encodeBlock, updateBlock, type Block, type FormatVersion, type Key } from '../doc/blocks.js'
import type { Member } from '../doc/membership.js'
import { decodeUpdateEntry, type RejectionEntry, type UpdateEntry } from '../doc/entries.js'
import { guardUpdate } from '../doc/yjs-guard.js'
import { MAX_UPDATE_BYTES } from '../limits.js'
import type { AppendQueue } from './append-queue.js'
import { carryState } from './carry.js'
import type { ViewFold } from './fold.js'
import { holdsFrom, ownEditsDelta } from './own-edits.js'
import type { Replica } from './replica.js'
import type { TextHistory } from './text-history.js'
import type { DocumentView } from './view.js'
import { delay, newestSnapshot, readEntries, readSelf } from './view-read.js'

// The document's side of a re-key: the seed a successor starts from, what
// this device typed since, and carrying a follower's edits over exactly.

/// What the re-key helpers need of their document.
export interface RekeyHost {
  readonly view: DocumentView
  /// The document key (the creator's writer key) and this device's writer key.
  readonly creator: Key
  readonly local: Key
  /// This device's Yjs clientID in the document.
  readonly clientId: number
  readonly format: FormatVersion
  readonly closing: boolean
  readonly replica: Replica
  readonly history: TextHistory
  readonly fold: ViewFold
  readonly queue: Pick<AppendQueue, 'unsaved' | 'push'>
  flushLocal(): void
  /// Throws unless this device may edit the text now.
  assertWritable(): void
  /// Append a block to this device's log (base.append()).
  append(block: Uint8Array): Promise<unknown>
  rejections(): Promise<RejectionEntry[]>
  self(): Promise<Member | null>
  /// Fetch what connected peers have and fold it (SwarmDocument.update()).
  update(): Promise<void>
}

/// The text and the Yjs clock of every client it holds, taken together
/// (a re-key's seed: each member's clock says which of its edits the seed
/// has), and the whole Yjs state for a format v2 seed (null when it cannot
/// be one: over the size of one update, or refused by the guard).
export function seedPoint(host: RekeyHost): { text: string; clocks: Map<number, number>; state: Uint8Array | null } {
  host.flushLocal()
  const doc = host.replica.doc
  const state = Y.encodeStateAsUpdate(doc)
  const usable = state.length <= MAX_UPDATE_BYTES && guardUpdate(state).ok
  return { text: host.history.text.toString(), clocks: Y.decodeStateVector(Y.encodeStateVector(doc)), state: usable ? state : null }
}

/// Seed this new document (format v2, nothing written yet but its genesis)
/// with another document's whole Yjs state: its first update. Resolves
/// once apply() accepted it; throws otherwise.
export async function seed(host: RekeyHost, state: Uint8Array): Promise<void> {
  host.assertWritable()
  const payload = updateBlock(state, 0)
  const block: Block = payload.compressed ? { kind: 'seed', yjs: payload.yjs, compressed: true } : { kind: 'seed', yjs: payload.yjs }
  let bytes: Uint8Array
  try {
    bytes = encodeBlock(block, host.format)
  } catch (err) {
    throw new SwarmpadError('BAD_ARGUMENT', err instanceof Error ? err.message : String(err))
  }
  const before = host.view.updates.length
  await host.append(bytes)
  if (host.view.updates.length !== before + 1) {
    const mine = (await host.rejections()).reverse().find((r) => b4a.equals(r.writer, host.local))
    throw new SwarmpadError('BAD_ARGUMENT', `the seed was refused: ${mine?.reason ?? 'not applied'}`)
  }
  host.fold.schedule()
  await host.fold.settled()
}

/// The newest snapshot and the entries after it, with this device's member
/// number; null when part of it cannot be read, or the snapshot already
/// holds own text from `clock` on.
async function sinceSnapshot(host: RekeyHost, clock: number): Promise<{ snapshot: Uint8Array | null; entries: UpdateEntry[]; self: number } | null> {
  const view = host.view
  const self = await readSelf(view, host.creator, host.local)
  const selfN = self?.n ?? -1
  const snap = await newestSnapshot(view)
  if (snap === 'unavailable') return null
  if (snap !== 'none' && holdsFrom(snap.state, host.clientId, clock)) return null
  const read = await readEntries(view.updates, snap === 'none' ? 0 : snap.updates, view.updates.length)
  if (read.missing !== null) return null
  return { snapshot: snap === 'none' ? null : snap.state, entries: read.entries, self: selfN }
}

/// This device's own updates the view does not hold yet, up to now.
function unsent(host: RekeyHost): Uint8Array[] {
  host.flushLocal()
  return [...host.fold.own.pending.values(), ...host.queue.unsaved]
}

/// This device's own Yjs updates in this document from its Yjs clock `clock`
/// on, in the order it wrote them: its entries in the view, read backwards
/// from the end until the one that starts before `clock` (the seed holds
/// what comes before it), then those the view does not hold yet. A
/// snapshot does not stop it: the entries it covers are still in this
/// device's own view (it wrote them; a re-key while typing fast put a
/// snapshot in the middle of a follower's late edits, and only what it
/// typed after noticing the move went over). Null when an entry on the
/// way is not on this device (a view sparse after a fast-forward).
export async function ownUpdates(host: RekeyHost, clock: number): Promise<Uint8Array[] | null> {
  const view = host.view
  const self = await readSelf(view, host.creator, host.local)
  const selfN = self?.n ?? -1
  const me = host.clientId
  const out: Uint8Array[] = []
  let end = view.updates.length
  scan: while (end > 0) {
    const start = Math.max(0, end - BACKWARD_BATCH)
    const blocks = await Promise.all(Array.from({ length: end - start }, (_, k) => view.updates.get(start + k, { wait: false })))
    for (let i = end - 1; i >= start; i--) {
      const block = blocks[i - start]
      if (!block) return null
      const entry = decodeUpdateEntry(block)
      if (entry.member !== selfN) continue
      out.push(entry.yjs)
      const from = Y.parseUpdateMeta(entry.yjs).from.get(me)
      if (from !== undefined && from < clock) break scan
    }
    end = start
  }
  out.reverse()
  out.push(...unsent(host))
  return out
}

/// View entries read at once by ownUpdates (from this device's own storage).
const BACKWARD_BATCH = 256

/// What this device typed from its Yjs clock `clock` on, as two texts:
/// `before` without those edits, `after` with them (the text now). A
/// follower of a re-key carries over exactly the difference: its own edits
/// the seed lacks, and nobody else's. Null when the newest snapshot already
/// holds some of them (they cannot be taken out). See ownEditsDelta().
export async function ownEditsSince(host: RekeyHost, clock: number): Promise<{ before: string; after: string; changes: ChangeSet } | null> {
  const since = await sinceSnapshot(host, clock)
  if (since === null) return null
  // Own edits the view does not hold yet, up to now (no await from here on).
  return ownEditsDelta({ ...since, unsent: unsent(host), client: host.clientId, clock })
}

/// Carry edits this member made in the document it followed here (its
/// old client, see Member.carries), exactly as it made them: each update
/// waits until this document holds everything it builds on (other
/// followers carry theirs meanwhile), then goes into the Y.Doc and the log
/// like a local edit. Returns how many of `updates` were carried, in order:
/// fewer than all when the next could not be within `ms` (the caller
/// carries the rest over as text).
export async function carry(host: RekeyHost, updates: readonly Uint8Array[], ms: number, signal?: AbortSignal): Promise<number> {
  const self = await host.self()
  const carried = self?.carries ?? null
  if (carried === null) return 0
  const deadline = Date.now() + ms
  let done = 0
  for (const update of updates) {
    for (;;) {
      if (host.closing || signal?.aborted) return done
      host.flushLocal()
      const state = carryState(update, carried, (client) => Y.getState(host.replica.doc.store, client))
      if (state === 'bad') return done
      if (state === 'done') break
      if (state === 'ready') {
        host.fold.applyRemote([update])
        await host.queue.push(update)
        break
      }
      if (Date.now() >= deadline) return done
      await host.update().catch(() => {})
      await host.fold.folding
      await delay(25)
    }
    done++
  }
  return done
}
