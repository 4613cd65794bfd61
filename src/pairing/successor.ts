// Pure helpers of joining and re-keying: the sealed-invite codec, library
// entries of joined and successor documents, names, and carrying edits over.
import b4a from 'b4a'
import c from 'compact-encoding'
import z32 from 'z32'
import { createHash } from 'node:crypto'
import type { ChangeSet } from '@codemirror/state'
import { SwarmpadError } from '../errors.js'
import { checkDocumentName, Library, type LibraryEntry } from '../storage/library.js'
import { toHex } from '../storage/keys.js'
import type { SwarmDocument } from '../sync/document.js'
import { changeSetOf, diffChanges, rebaseOnto } from '../doc/changes.js'
import { CODE_BYTES as INVITE_BYTES } from './code.js'


/// What a `moved` block seals to each remaining member: its invite to the
/// successor (the code's bytes) and its Yjs clock in the seed (a uint).
export function encodeSealedInvite(code: Uint8Array, seedClock: number): Uint8Array {
  return b4a.concat([code, c.encode(c.uint, seedClock)])
}

/// The inverse of encodeSealedInvite(); a box holding only the code (made
/// before the clock was added) has no clock. Throws on anything else.
export function decodeSealedInvite(bytes: Uint8Array): { code: Uint8Array; seedClock: number | null } {
  if (bytes.length === INVITE_BYTES) return { code: bytes, seedClock: null }
  if (bytes.length < INVITE_BYTES) throw new SwarmpadError('INVALID_INVITE', 'the sealed invite is too short')
  const state = { start: 0, end: bytes.length - INVITE_BYTES, buffer: b4a.from(bytes.subarray(INVITE_BYTES)) }
  let seedClock: number
  try {
    seedClock = c.uint.decode(state)
  } catch {
    throw new SwarmpadError('INVALID_INVITE', 'the sealed invite has a truncated clock')
  }
  if (state.start !== state.end) throw new SwarmpadError('INVALID_INVITE', 'the sealed invite has trailing bytes')
  return { code: bytes.subarray(0, INVITE_BYTES), seedClock }
}

/// Why a document that is moving to a re-key's successor takes no more edits.
export const MOVING = 'this document is moving to fresh keys (a re-key); edits made now go to the new copy in a moment'

/// The Corestore namespace a device uses for a document it joins with an
/// invite: derived from the invite secret, so a retry after a crash sends the
/// same writer key and the owner device confirms it again (an invite already
/// used by this very writer key is answered, not refused). Nothing is stored
/// until the pairing succeeded.
export function namespaceFor(seed: Uint8Array): string {
  return createHash('sha256').update('swarmpad join namespace\0').update(seed).digest('hex').slice(0, 32)
}

export function shortId(id: Uint8Array): string {
  return z32.encode(id).slice(0, 10)
}

/// The library entry of a re-key's successor, under the old entry's name:
/// the old document goes to `previous`. Nothing of the old document's own log
/// carries over: the successor's log starts empty (a `localLength` kept from
/// the old log made the successor's open report lost data).
export function successorEntry(current: LibraryEntry, successor: Pick<LibraryEntry, 'key' | 'namespace' | 'encryptionKey' | 'role'>, now: number): LibraryEntry {
  const { movedTo: _movedTo, localLength: _localLength, ...kept } = current
  return {
    ...kept,
    ...successor,
    previous: [...(current.previous ?? []), { key: current.key, namespace: current.namespace, encryptionKey: current.encryptionKey, movedAt: now }]
  }
}

export function newEntry(name: string, key: Uint8Array, namespace: string, encryptionKey: Uint8Array, role: LibraryEntry['role'], now: number): LibraryEntry {
  return { name, key: toHex(key), namespace, encryptionKey: toHex(encryptionKey), role, created: now, lastOpened: now }
}

/// Resolves true once `doc` is writable, false after `ms` or on abort.
export async function waitWritable(doc: SwarmDocument, ms: number, signal?: AbortSignal): Promise<boolean> {
  const end = Date.now() + ms
  while (!doc.writable) {
    if (Date.now() >= end || signal?.aborted || doc.closingOrClosed) return false
    await doc.update().catch(() => {})
    if (doc.writable) break
    await new Promise((r) => setTimeout(r, 50))
  }
  return true
}

/// Apply the edits that turned `base` into `mine` to `doc`, rebased over the
/// difference between `base` and the document's current text.
///
/// The current text is read once the view is folded into it: a follower's
/// successor is writable as soon as the owner's add-writer block is in the
/// view (the seed comes before it in the owner's log), but the text shows the
/// seed only after the fold that follows. Rebasing over the unfolded, empty
/// text put the carried edit next to the seed in Yjs order, after the whole
/// seed about one time in two.
export async function carryOver(doc: SwarmDocument, base: string, mine: string | ChangeSet): Promise<void> {
  await doc.update().catch(() => {})
  if (doc.closingOrClosed) return
  const current = doc.text.toString()
  const ours = typeof mine === 'string' ? changeSetOf(diffChanges(base, mine), base.length) : mine
  const changes = rebaseOnto(base, ours, current)
  if (changes.length > 0) doc.edit(changes)
}

/// The local name of a joined document: the one asked for (checked), else
/// `shared-` and the start of its discovery key, numbered when taken.
export function chooseName(library: Library, requested: string | undefined, discoveryKey: Uint8Array): string {
  if (requested !== undefined) {
    const problem = checkDocumentName(requested)
    if (problem !== null) throw new SwarmpadError('BAD_ARGUMENT', `invalid document name "${requested}": ${problem}`)
    if (library.find(requested)) throw new SwarmpadError('DOC_EXISTS', `a document named "${requested}" already exists; choose another name`)
    return requested
  }
  const base = `shared-${z32.encode(discoveryKey).slice(0, 6)}`
  for (let i = 1; ; i++) {
    const name = i === 1 ? base : `${base}-${i}`
    if (!library.find(name)) return name
  }
}
