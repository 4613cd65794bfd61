import * as Y from 'yjs'
import b4a from 'b4a'
import type { AutobaseNode, HostCalls, ViewStore } from 'autobase'
import type Hypercore from 'hypercore'
import { BLOCK_VERSION, decodeBlock, type FormatVersion, type Key } from '../doc/blocks.js'
import { decide, decodeMembership, encodeMembership, findMember, genesis, type Membership } from '../doc/membership.js'
import {
  decodeSnapshotEntry,
  decodeUpdateEntry,
  encodeRejectionEntry,
  encodeSnapshotEntry,
  encodeUpdateEntry
} from '../doc/entries.js'
import { Refusal, refuse, type Verdict } from '../doc/refusals.js'
import { checkUpdate } from './accept-update.js'
import { APPLY_LIMITS, RejectionTail, snapshotDue, WriterClocks, type ApplyLimits } from './limits-check.js'

export { WriterClocks } from './limits-check.js'

/// The views every peer derives from the linearized blocks.
export interface DocumentView {
  /// One entry per accepted update (UpdateEntry).
  updates: Hypercore
  /// Now and then (see snapshotDue), the merged document (SnapshotEntry).
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
/// ... or when the document is of a type this build does not know (v2 genesis).
export const UPGRADE_TYPE_REASON = 'upgrade swarmpad: the document is of a newer type'

/// The format of the document the view belongs to: the membership record's
/// version once there is one; 1 when a v1 document has entries but no record
/// yet; null when nothing was applied (the first block decides).
export function viewFormat(view: ViewLengths, membership: Membership | null): FormatVersion | null {
  if (view.members.length > 0 && membership === null) return null
  if (view.members.length > 0) return membership!.format
  if (view.updates.length > 0 || view.rejections.length > 0) return 1
  return null
}

type ViewLengths = { [K in 'members' | 'updates' | 'rejections']: { length: number } }

/// The format a view's entries are read in: its document's, or (nothing
/// applied yet) the newest.
export function entryFormat(view: ViewLengths, membership: Membership | null): FormatVersion {
  return viewFormat(view, membership) ?? BLOCK_VERSION
}

/// Options of createApply. `limits` exist for tests that drive apply() with
/// small numbers (a document's peers must all use APPLY_LIMITS, which are
/// part of the protocol); `word` rewords every refusal (a test stands for a
/// build that words reasons differently: v2 views must not change).
export interface ApplyOptions {
  limits?: Partial<ApplyLimits>
  word?: (words: string) => string
}

/// Build the apply() handler of a document created by `creator()` (the Autobase key).
///
/// Deterministic and total: it reads and writes only the view, never throws on
/// bad input, and records refusals (a code in v2, the v1 words in v1; up to a
/// per-writer cap, see RejectionTail), so every peer that applies the same
/// blocks ends with the same views.
export function createApply(creator: () => Key, options: ApplyOptions = {}) {
  const lim: ApplyLimits = { ...APPLY_LIMITS, ...options.limits }
  const word = options.word ?? ((w: string) => w)
  const clocks = new WriterClocks()
  const tail = new RejectionTail()
  return async function apply(nodes: AutobaseNode[], view: DocumentView, host: HostCalls): Promise<void> {
    let membership = await readMembership(view, creator())
    let format = viewFormat(view, membership)
    await clocks.sync(view, lim)

    const reject = async (node: AutobaseNode, verdict: Verdict) => {
      const seq = node.length - 1
      const f = format ?? 1 // a refusal before anything was applied: a v1 document
      format = f
      await tail.sync(view, f, lim) // read only when a refusal is to be recorded
      if (!tail.allows(node.from.key, seq, lim)) return // over the cap: refused, not recorded
      await view.rejections.append(encodeRejectionEntry({ writer: node.from.key, seq, code: verdict.code, ...(verdict.args ? { args: verdict.args } : {}), reason: word(verdict.words) }, f))
      tail.recorded(view, node.from.key, seq, lim)
    }

    for (const node of nodes) {
      if (node.value === null) continue // an ack
      const signer = node.from.key
      const author = findMember(membership, signer)
      if (author === undefined || author.removed) {
        await reject(node, refuse(Refusal.NOT_MEMBER, 'signer is not a member'))
        continue
      }

      const decoded = decodeBlock(node.value)
      if (!decoded.ok) {
        if (decoded.newerVersion !== null) {
          // Skipping would make old and new peers' documents differ: stop instead.
          host.interrupt(`${UPGRADE_REASON} (version ${decoded.newerVersion})`)
          return
        }
        await reject(node, refuse(Refusal.MALFORMED_BLOCK, decoded.reason))
        continue
      }
      const block = decoded.block

      if (format === null) {
        // The document's first block decides its format. A v2 document
        // starts with a membership record that says so (and its type).
        if (decoded.version === 2) {
          const type = block.kind === 'genesis' ? block.type : 0
          if (type !== 0) {
            host.interrupt(`${UPGRADE_TYPE_REASON} (type ${type})`)
            return
          }
          membership = genesis(creator(), 2, type)
          await view.members.append(encodeMembership(membership))
          format = 2
          if (block.kind === 'genesis') continue
        } else format = 1
      }
      if (decoded.version !== format) {
        // v1 builds stop at a v2 block ("upgrade swarmpad"); a v2 build refuses
        // a block of the other format, on every peer alike.
        await reject(node, refuse(Refusal.WRONG_VERSION, 'block is not in the format version of the document'))
        continue
      }

      const decision = decide(membership, signer, block, { removable: (key) => host.removeable(key), hasText: (client) => clocks.next(client) > 0 })
      switch (decision.action) {
        case 'reject':
          await reject(node, decision.verdict)
          break

        case 'update': {
          if (block.kind !== 'update' && block.kind !== 'seed') break
          const seq = node.length - 1
          const result = checkUpdate(block, { member: decision.member, membership, seq, clocks, limits: lim, updates: view.updates.length })
          if (!result.ok) {
            await reject(node, result.verdict)
            break
          }
          const entry = encodeUpdateEntry({
            member: decision.member.n,
            seq,
            time: block.kind === 'update' ? block.time : 0,
            yjs: block.yjs,
            compressed: block.compressed === true
          })
          await view.updates.append(entry)
          const { next, plan, inserted } = result.accepted
          clocks.accepted(decision.member.n, next, { seq, entryBytes: entry.length, plan, inserted }, lim)
          if (snapshotDue(format, clocks.sinceSnapshot, view.updates.length)) clocks.snapshotted(await writeSnapshot(view))
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
            await reject(node, refuse(Refusal.REMOVE_FAILED, `writer cannot be removed: ${err instanceof Error ? err.message : String(err)}`))
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

/// Append Y.mergeUpdates([previous snapshot, ...updates since]) to `snapshots`
/// and return the state's size. mergeUpdates is a pure function of its
/// inputs, so every peer writes the same bytes (with the same Yjs version).
async function writeSnapshot(view: DocumentView): Promise<number> {
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
  const state = Y.mergeUpdates(parts)
  await view.snapshots.append(encodeSnapshotEntry({ updates: view.updates.length, state }))
  return state.length
}

async function mustGet(core: Hypercore, index: number): Promise<Buffer> {
  const block = await core.get(index)
  if (block === null) throw new Error(`view block ${index} unavailable`)
  return block
}

export function keysEqual(a: Uint8Array, b: Uint8Array): boolean {
  return b4a.equals(a, b)
}
