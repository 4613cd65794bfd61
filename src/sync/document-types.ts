import type { ChangeSet } from '@codemirror/state'
import type { Key } from '../doc/blocks.js'
import type { CheckpointStore } from './checkpoint.js'

/// Where a change came from: this device's edit() or the shared log.
export type ChangeOrigin = 'local' | 'remote'

/// Emitted as `change` for every new version of the text.
export interface DocumentChange {
  /// The version after this change; the change turns version - 1 into it.
  version: number
  changes: ChangeSet
  origin: ChangeOrigin
  /// What the caller of edit() passed as `tag` (local changes only), like a
  /// Yjs transaction origin: who made the edit, for those listening.
  tag?: unknown
}

export interface EditResult {
  version: number
  /// The changes as applied to the current text (after rebasing).
  changes: ChangeSet
  /// Resolves when the block holding the edit is durable in this device's log.
  durable: Promise<void>
}

/// The life of a document: `open`, `needs-upgrade` (a peer wrote a newer block
/// format: nothing more is applied until swarmpad is upgraded) or `closed`.
export type DocumentState = 'opening' | 'open' | 'needs-upgrade' | 'closed'

export interface DocumentOptions {
  /// The document key; null creates a new document with this device as owner.
  key: Key | null
  /// Encrypts every core of the document at rest. Required: documents are never stored in the clear.
  encryptionKey: Uint8Array
  /// Autobase ack interval in ms (indexers sign the linearized order this often).
  ackInterval?: number
  /// Where to keep a local checkpoint of the Y.Doc, so reopening loads one
  /// compact state instead of a snapshot plus the updates after it.
  checkpoint?: CheckpointStore
  /// Makes what the store wrote durable (see storage/log-sync.ts); an edit's
  /// `durable` resolves only after it. Without it, "durable" means written
  /// to the storage (which syncs only when it closes).
  syncLog?: () => Promise<void>
  /// Tests only: reword every refusal apply() records (see ApplyOptions.word).
  word?: (words: string) => string
}

/// The events of a SwarmDocument (typed: an unknown name or wrong arguments
/// do not compile).
export interface DocumentEvents {
  /// A new version of the text (local or remote).
  change: [change: DocumentChange]
  /// The membership (or a profile, the title, `moved`) changed.
  members: []
  error: [err: unknown]
  warning: [err: unknown]
  /// A member wrote a newer block format, or the document is of a newer type: it stops.
  interrupt: [reason: string]
  writable: []
  unwritable: []
  /// An append failed (it is retried; see AppendQueue).
  'append-error': [err: unknown]
  close: []
}
