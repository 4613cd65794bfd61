import * as Y from 'yjs'
import b4a from 'b4a'
import type { AutobaseNode, HostCalls, ViewStore } from 'autobase'
import type Hypercore from 'hypercore'
import { decodeBlock, inflateCap, updatePayload, type Key } from '../doc/blocks.js'
import { decide, decodeMembership, encodeMembership, findMember, genesis, type Membership } from '../doc/membership.js'
import {
  decodeSnapshotEntry,
  decodeUpdateEntry,
  encodeRejectionEntry,
  encodeSnapshotEntry,
  encodeUpdateEntry
} from '../doc/entries.js'
import { guardUpdate } from '../doc/yjs-guard.js'
import { SNAPSHOT_INTERVAL } from '../limits.js'
import { APPLY_LIMITS, REASONS, RejectionTail, WriterClocks, type ApplyLimits } from './limits-check.js'

export { WriterClocks } from './limits-check.js'

/// The views every peer derives from the linearized blocks.
export interface DocumentView {
  /// One entry per accepted update (UpdateEntry).
  updates: Hypercore
  /// Every SNAPSHOT_INTERVAL accepted updates, the merged document (SnapshotEntry).
  snapshots: Hypercore
  /// The membership after each change to it (Membership record).
  members: Hypercore
  /// Every refused block with its reason (RejectionEntry).
  rejections: Hypercore
}

export const VIEW_NAMES = ['updates', 'snapshots', 'members', 'rejections'] as const

export function openView(store: ViewStore): DocumentView {
  return {
    updates: store.get('updates'),
    snapshots: store.get('snapshots'),
    members: store.get('members'),
    rejections: store.get('rejections')
  }
}

export async function closeView(view: DocumentView): Promise<void> {
  await Promise.all(VIEW_NAMES.map((name) => view[name].close()))
}

/// The current membership: the newest record, or the creator alone.
export async function readMembership(view: DocumentView, creator: Key): Promise<Membership> {
  if (view.members.length === 0) return genesis(creator)
  const last = await view.members.get(view.members.length - 1)
  if (last === null) throw new Error('membership record unavailable')
  return decodeMembership(last)
}

/// The message apply() interrupts the document with when a newer peer wrote.
export const UPGRADE_REASON = 'upgrade swarmpad: a member uses a newer block format'

/// Build the apply() handler of a document created by `creator()` (the Autobase key).
///
/// Deterministic and total: it reads and writes only the view, never throws on
/// bad input, and records refusals with their reason (up to a per-writer cap,
/// see RejectionTail), so every peer that applies the same blocks ends with
/// the same views. `limits` exist for tests: a document's peers must all use
/// the defaults (APPLY_LIMITS), which are part of the protocol.
export function createApply(creator: () => Key, limits: Partial<ApplyLimits> = {}) {
  const lim: ApplyLimits = { ...APPLY_LIMITS, ...limits }
  const clocks = new WriterClocks()
  const tail = new RejectionTail()
  return async function apply(nodes: AutobaseNode[], view: DocumentView, host: HostCalls): Promise<void> {
    let membership = await readMembership(view, creator())
    await clocks.sync(view, membership, lim)

    const reject = async (node: AutobaseNode, reason: string) => {
      const seq = node.length - 1
      await tail.sync(view, lim) // read only when a refusal is to be recorded
      if (!tail.allows(node.from.key, seq, lim)) return // over the cap: refused, not recorded
      await view.rejections.append(encodeRejectionEntry({ writer: node.from.key, seq, reason }))
      tail.recorded(view, node.from.key, seq, lim)
    }

    for (const node of nodes) {
      if (node.value === null) continue // an ack
      const signer = node.from.key
      const author = findMember(membership, signer)
      if (author === undefined || author.removed) {
        await reject(node, 'signer is not a member')
        continue
      }

      const decoded = decodeBlock(node.value)
      if (!decoded.ok) {
        if (decoded.newerVersion !== null) {
          // Skipping would make old and new peers' documents differ: stop instead.
          host.interrupt(`${UPGRADE_REASON} (version ${decoded.newerVersion})`)
          return
        }
        await reject(node, decoded.reason)
        continue
      }

      const decision = decide(membership, signer, decoded.block, (key) => host.removeable(key))
      switch (decision.action) {
        case 'reject':
          await reject(node, decision.reason)
          break

        case 'update': {
          if (decoded.block.kind !== 'update') break
          const seq = node.length - 1
          // Before inflating or parsing: an over-quota writer costs little.
          if (clocks.overQuota(decision.member.n, seq, decoded.block.yjs.length, lim)) {
            await reject(node, REASONS.overQuota)
            break
          }
          let yjs: Uint8Array
          try {
            yjs = updatePayload(decoded.block, inflateCap(decoded.block.yjs.length))
          } catch {
            await reject(node, 'bad update: compressed payload does not inflate within the size cap')
            break
          }
          const verdict = guardUpdate(yjs)
          if (!verdict.ok) {
            await reject(node, `bad update: ${verdict.reason}`)
            break
          }
          const { clients, deleteRanges } = verdict.shape
          if (clients.length === 0 && deleteRanges === 0) {
            await reject(node, 'update changes nothing')
            break
          }
          if (clients.some((id) => id !== decision.member.clientId)) {
            await reject(node, 'update holds text authored by another writer')
            break
          }
          // A writer's text continues its own clock: no clock written twice
          // (two histories under one clientID, e.g. a copied device, would
          // merge differently in a snapshot than folded one by one) and no gap.
          const own = verdict.shape.sections[0]
          const expected = clocks.next(decision.member.n)
          if (own !== undefined && own.clock !== expected) {
            await reject(node, `update does not continue its writer's text (clock ${own.clock}, expected ${expected})`)
            break
          }
          // Text is placed next to text it builds on. When that text is not in
          // the document (its writer was removed before it was signed, so
          // Autobase dropped it), Yjs would hold this update back forever and
          // its writer's clock would stall: refuse it here, the same way on
          // every peer; its author rebuilds and types on.
          const missing = missingReference(verdict.shape.references, membership, clocks)
          if (missing !== null) {
            await reject(node, missing)
            break
          }
          // Deletions cover only text that exists (Yjs would keep the rest
          // pending, walk it on every later update, and delete text typed
          // later on some peers only), and the text stays within its limit.
          const inserted = own === undefined ? 0 : own.length
          const deletion = clocks.deletionProblem(verdict.shape, membership, decision.member, inserted)
          if (deletion !== null) {
            await reject(node, deletion)
            break
          }
          const plan = clocks.planText(verdict.shape)
          if (clocks.tooLong(plan, inserted, lim.maxTextLength)) {
            await reject(node, REASONS.tooLong)
            break
          }
          const entry = encodeUpdateEntry({
            member: decision.member.n,
            seq,
            time: decoded.block.time,
            yjs: decoded.block.yjs,
            compressed: decoded.block.compressed === true
          })
          await view.updates.append(entry)
          clocks.accepted(decision.member.n, own === undefined ? expected : own.clock + own.length, { seq, entryBytes: entry.length, plan, inserted }, lim)
          if (view.updates.length % SNAPSHOT_INTERVAL === 0) await writeSnapshot(view)
          break
        }

        case 'add-writer':
          await host.addWriter(decision.key, { indexer: decision.indexer })
          membership = decision.next
          await view.members.append(encodeMembership(membership))
          break

        case 'remove-writer':
          try {
            await host.removeWriter(decision.key)
          } catch (err) {
            await reject(node, `writer cannot be removed: ${err instanceof Error ? err.message : String(err)}`)
            break
          }
          membership = decision.next
          await view.members.append(encodeMembership(membership))
          break

        case 'membership':
          membership = decision.next
          await view.members.append(encodeMembership(membership))
          break
      }
    }
  }
}

/// Why an update builds on text that is not in the document (every item it
/// refers to must be accepted text of a member), or null when it does not.
function missingReference(references: Array<{ client: number; clock: number }>, membership: Membership, clocks: WriterClocks): string | null {
  for (const ref of references) {
    const member = membership.members.find((m) => m.clientId === ref.client)
    if (member === undefined) return 'update builds on text of an unknown writer'
    if (ref.clock >= clocks.next(member.n)) return 'update builds on text that is not in the document'
  }
  return null
}

/// Append Y.mergeUpdates([previous snapshot, ...updates since]) to `snapshots`.
/// mergeUpdates is a pure function of its inputs, so every peer writes the
/// same bytes (with the same Yjs version).
async function writeSnapshot(view: DocumentView): Promise<void> {
  const parts: Uint8Array[] = []
  let from = 0
  if (view.snapshots.length > 0) {
    const prev = decodeSnapshotEntry(await mustGet(view.snapshots, view.snapshots.length - 1))
    parts.push(prev.state)
    from = prev.updates
  }
  for (let i = from; i < view.updates.length; i++) {
    parts.push(decodeUpdateEntry(await mustGet(view.updates, i)).yjs)
  }
  await view.snapshots.append(encodeSnapshotEntry({ updates: view.updates.length, state: Y.mergeUpdates(parts) }))
}

async function mustGet(core: Hypercore, index: number): Promise<Buffer> {
  const block = await core.get(index)
  if (block === null) throw new Error(`view block ${index} unavailable`)
  return block
}

export function keysEqual(a: Uint8Array, b: Uint8Array): boolean {
  return b4a.equals(a, b)
}
