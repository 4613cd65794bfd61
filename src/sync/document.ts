import * as Y from 'yjs'
import b4a from 'b4a'
import Autobase, { type UpdateChanges } from 'autobase'
import type Corestore from 'corestore'
import { deltaSplitsPair, isHighSurrogate, keepPairsWhole, pairProblem, textOf } from '../doc/text-pairs.js'
import { ChangeSet, Text } from '@codemirror/state'
import type { Duplex } from 'node:stream'
import { Resource } from '../resource.js'
import { SwarmpadError } from '../errors.js'
import { BLOCK_VERSION, encodeBlock, updateBlock, type Block, type FormatVersion, type Key, type Role } from '../doc/blocks.js'
import { activeMembers, clientIdFor, findMember, NOT_OWNER_CODES, type Member, type Membership } from '../doc/membership.js'
import { decodeRejectionEntry, decodeSnapshotEntry, decodeUpdateEntry, type RejectionEntry, type UpdateEntry } from '../doc/entries.js'
import { changeSetOf, deltaToChangeSet, diffChanges, type DeltaOp, type TextChange } from '../doc/changes.js'
import { guardUpdate, TEXT_ROOT } from '../doc/yjs-guard.js'
import { MAX_INSERT_CHUNK, MAX_REBASE_VERSIONS, MAX_TEXT_LENGTH, MAX_UPDATE_BYTES, SNAPSHOT_INTERVAL } from '../limits.js'
import { carryState } from './carry.js'
import { AppendQueue } from './append-queue.js'
import { guardAutobase } from './autobase-guard.js'
import { SigningWatch } from './signing-watch.js'
import { openCheckpoint, sealCheckpoint, type Checkpoint, type CheckpointStore } from './checkpoint.js'
import { closeView, createApply, openView, readMembership, UPGRADE_REASON, type DocumentView } from './view.js'

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
  /// Tests only: reword every refusal apply() records (see ApplyOptions.word).
  word?: (words: string) => string
}

/// Local changes waiting for their Yjs transaction. Positions of each step
/// are in the text as it is after the steps before it.
interface LocalBatch {
  steps: Array<{ at: number; del: number; insert: string }>
  inserted: number
  done: Promise<void>
  resolve: () => void
  reject: (err: Error) => void
}

/// Most edits gathered into one Yjs transaction before it is flushed anyway.
const MAX_BATCH_STEPS = 4096

/// How long close() waits for pending edits to reach the log.
const CLOSE_FLUSH_TIMEOUT = 5000

/// How long open() waits for Autobase to take up a member's writer.
const WRITABLE_WAIT_MS = 5000

/// How many view blocks are requested at once when reading a range: a view
/// that is sparse after a fast-forward is read from peers, and one request
/// at a time would cost a round trip per entry (a joining device read the
/// 147 entries of automerge-paper in about a second that way).
const READ_BATCH = 128

/// Blocks `from`..`end` of a core, requested READ_BATCH at a time.
async function readBlocks(core: { get(index: number): Promise<Buffer | null> }, from: number, end: number): Promise<Array<Buffer | null>> {
  const blocks: Array<Buffer | null> = []
  for (let start = from; start < end; start += READ_BATCH) {
    const stop = Math.min(end, start + READ_BATCH)
    blocks.push(...(await Promise.all(Array.from({ length: stop - start }, (_, k) => core.get(start + k)))))
  }
  return blocks
}

/// Resolves after `ms` without keeping the process alive.
function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref())
}

/// A checkpoint is also written after this many entries were folded since
/// the last one (when the document is quiet for CHECKPOINT_IDLE_MS), so a
/// crash does not leave a long tail to fold at the next open.
const CHECKPOINT_EVERY = 4 * SNAPSHOT_INTERVAL
const CHECKPOINT_IDLE_MS = 5000

const LOCAL = Symbol('swarmpad-local')
const REMOTE = Symbol('swarmpad-remote')

/// A swarmpad document: a Y.Text whose updates live in an Autobase.
///
/// Local edits go into the device's Y.Doc at once and into the log through an
/// append queue. Remote edits arrive as view entries that the Autobase
/// `update` hook reports; they are folded into the Y.Doc outside apply(), so
/// the Y.Doc is a cache derived from the view, rebuilt from the newest
/// snapshot when an update it had folded leaves the view.
export class SwarmDocument extends Resource {
  readonly store: Corestore
  private readonly options: DocumentOptions
  private base!: Autobase<DocumentView>
  /// Replication streams opened before the Autobase existed.
  private earlyStreams: Duplex[] = []
  private ydocValue!: Y.Doc
  private ytextValue!: Y.Text
  /// A checkpoint whose Yjs state is not loaded yet: the text is already
  /// shown; the Y.Doc is built on first use or right after open.
  private deferredLoad: { doc: Y.Doc; state: Uint8Array; text: string } | null = null
  private frozenReason: string | null = null
  /// The last profile change of this device (setProfile runs them in turn).
  private profileChanges: Promise<void> = Promise.resolve()
  private queue!: AppendQueue

  private textValue: Text = Text.empty
  private versionValue = 0
  /// ChangeSets of the last versions: history[i] turns firstVersion + i into the next.
  private history: ChangeSet[] = []
  private firstVersion = 0

  /// Update entries folded into the Y.Doc so far, and the identities
  /// (member:seq) of the recent ones, to detect an entry leaving the view.
  private folded = 0
  private foldedIds: string[] = []
  private foldedIdsStart = 0
  /// Lowest view length a truncation left since the last fold (Infinity: none).
  private truncatedTo = Infinity
  private folding: Promise<void> = Promise.resolve()
  private foldScheduled = false
  private loaded = false
  private ownMember = -1
  /// The document's format once the view says; see `format`.
  private formatKnown: FormatVersion | null = null
  /// This device's updates that are durable in its log and not settled yet,
  /// by log position. The Y.Doc always holds them, so folding skips them and
  /// a rebuild re-applies them (Yjs ignores the ones the view holds too): an
  /// accepted update that a reorder takes out of the view for a while stays
  /// in the Y.Doc, so this device never writes its Yjs clocks twice. They
  /// leave once settled: accepted below the view's signed length, rejected,
  /// skipped by Autobase (a later one of ours is signed without them), or
  /// when this device is removed (they can then never be accepted): a
  /// rejected edit does not stay on this device alone.
  private ownPending = new Map<number, Uint8Array>()
  /// Where this device's updates are in the `updates` view now (log position
  /// -> view index), until they are below its signed length.
  private ownIndex = new Map<number, number>()
  private unknownSeq = 0
  /// Rejections already checked for this device's blocks.
  private rejectionsSeen = 0
  /// The append queue gave up on local updates (see the queue's `permanent`).
  private droppedLocal = false
  /// Local changes not yet in the Y.Doc (see queueLocal()).
  private localBatch: LocalBatch | null = null

  /// `folded` when the last checkpoint was written (or loaded).
  private checkpointedAt = 0
  private checkpointTimer: NodeJS.Timeout | null = null
  private signingWatch: SigningWatch | null = null

  private membershipCache: Membership | null = null
  private membershipGeneration = 0
  state: DocumentState = 'opening'
  private openClockValue = 0
  interruptReason: string | null = null
  /// How the text was loaded at open: from this device's checkpoint, or from
  /// the log (the newest snapshot and the updates after it).
  loadedFrom: 'checkpoint' | 'log' = 'log'

  constructor(store: Corestore, options: DocumentOptions) {
    super()
    this.store = store
    this.options = options
  }

  /// The document key: share it (with the encryption key) to give read access.
  get key(): Buffer {
    return this.base.key
  }

  get discoveryKey(): Buffer {
    return this.base.discoveryKey
  }

  /// This device's writer key for this document.
  get writerKey(): Buffer {
    return this.base.local.key
  }

  get encryptionKey(): Uint8Array {
    return this.options.encryptionKey
  }

  get writable(): boolean {
    return this.base.writable && this.state === 'open' && this.frozenReason === null
  }

  /// Why this device takes no more edits into this document (it is moving
  /// to a re-key's successor), or null.
  get frozen(): string | null {
    return this.frozenReason
  }

  /// Take no more text edits from this device (edit() throws MOVED with
  /// `reason`; membership blocks still go out, peers' blocks still arrive).
  /// A re-key freezes the old document when it takes the successor's text
  /// from it, so nothing typed here afterwards is left behind; thaw() undoes
  /// it when the re-key fails.
  freeze(reason: string): void {
    this.frozenReason = reason
  }

  thaw(): void {
    this.frozenReason = null
  }

  /// The text and the Yjs clock of every client it holds, taken together
  /// (a re-key's seed: each member's clock says which of its edits the seed
  /// has), and the whole Yjs state for a format v2 seed (null when it cannot
  /// be one: over the size of one update, or refused by the guard).
  seedPoint(): { text: string; clocks: Map<number, number>; state: Uint8Array | null } {
    this.flushLocal()
    const state = Y.encodeStateAsUpdate(this.ydoc)
    const usable = state.length <= MAX_UPDATE_BYTES && guardUpdate(state).ok
    return { text: this.textValue.toString(), clocks: Y.decodeStateVector(Y.encodeStateVector(this.ydoc)), state: usable ? state : null }
  }

  /// Seed this new document (format v2, nothing written yet but its genesis)
  /// with another document's whole Yjs state: its first update. Resolves
  /// once apply() accepted it; throws otherwise.
  async seed(state: Uint8Array): Promise<void> {
    this.assertWritable()
    const payload = updateBlock(state, 0)
    const block: Block = payload.compressed ? { kind: 'seed', yjs: payload.yjs, compressed: true } : { kind: 'seed', yjs: payload.yjs }
    let bytes: Uint8Array
    try {
      bytes = encodeBlock(block, this.format)
    } catch (err) {
      throw new SwarmpadError('BAD_ARGUMENT', err instanceof Error ? err.message : String(err))
    }
    const before = this.base.view.updates.length
    await this.base.append(bytes)
    if (this.base.view.updates.length !== before + 1) {
      const mine = (await this.rejections()).reverse().find((r) => b4a.equals(r.writer, this.writerKey))
      throw new SwarmpadError('BAD_ARGUMENT', `the seed was refused: ${mine?.reason ?? 'not applied'}`)
    }
    this.scheduleFold()
    await this.settled()
  }

  /// This device's own Yjs updates in this document, in the order it wrote
  /// them: those in the view after the newest snapshot, then those not in it
  /// yet. Null when the newest snapshot holds own text from `clock` on (then
  /// they cannot be told apart from the rest any more).
  async ownUpdates(clock: number): Promise<Uint8Array[] | null> {
    const me = this.clientId
    const view = this.base.view
    const self = findMember(await readMembership(view, this.base.key), this.base.local.key)
    const selfN = self?.n ?? -1
    let start = 0
    if (view.snapshots.length > 0) {
      const block = await view.snapshots.get(view.snapshots.length - 1)
      if (block === null) return null
      const snap = decodeSnapshotEntry(block)
      if ((Y.decodeStateVector(Y.encodeStateVectorFromUpdate(snap.state)).get(me) ?? 0) > clock) return null
      start = snap.updates
    }
    const out: Uint8Array[] = []
    const end = view.updates.length
    const blocks = await readBlocks(view.updates, start, end)
    for (let i = start; i < end; i++) {
      const block = blocks[i - start]
      if (!block) return null
      const entry = decodeUpdateEntry(block)
      if (entry.member === selfN) out.push(entry.yjs)
    }
    this.flushLocal()
    out.push(...this.ownPending.values(), ...this.queue.unsaved)
    return out
  }

  /// Carry edits this member made in the document it followed here (its
  /// old client, see Member.carries), exactly as it made them: each update
  /// waits until this document holds everything it builds on (other
  /// followers carry theirs meanwhile), then goes into the Y.Doc and the log
  /// like a local edit. Returns how many of `updates` were carried, in order:
  /// fewer than all when the next could not be within `ms` (the caller
  /// carries the rest over as text).
  async carry(updates: readonly Uint8Array[], ms: number, signal?: AbortSignal): Promise<number> {
    const self = await this.self()
    const carried = self?.carries ?? null
    if (carried === null) return 0
    const deadline = Date.now() + ms
    let done = 0
    for (const update of updates) {
      for (;;) {
        if (this.closingOrClosed || signal?.aborted) return done
        this.flushLocal()
        const state = carryState(update, carried, (client) => Y.getState(this.ydoc.store, client))
        if (state === 'bad') return done
        if (state === 'done') break
        if (state === 'ready') {
          this.applyRemote([update])
          await this.queue.push(update)
          break
        }
        if (Date.now() >= deadline) return done
        await this.update().catch(() => {})
        await this.folding
        await delay(25)
      }
      done++
    }
    return done
  }

  /// What this device typed from its Yjs clock `clock` on, as two texts:
  /// `before` without those edits, `after` with them (the text now). A
  /// follower of a re-key carries over exactly the difference: its own edits
  /// the seed lacks, and nobody else's. Null when the newest snapshot already
  /// holds some of them (they cannot be taken out).
  ///
  /// `before` is the whole document seen through a Yjs snapshot: every
  /// client's items, ours only below `clock`, and only the deletions of the
  /// other updates. Others' text typed next to (so depending on) our late text
  /// stays in it, where folding the other updates alone would leave it out.
  /// An update of ours that only deletes has no clock: it counts as late once
  /// it comes after our last update the seed holds (carrying over a deletion
  /// the seed already has changes nothing).
  async ownEditsSince(clock: number): Promise<{ before: string; after: string; changes: ChangeSet } | null> {
    const me = this.clientId
    const view = this.base.view
    const self = findMember(await readMembership(view, this.base.key), this.base.local.key)
    const selfN = self?.n ?? -1
    const all: Uint8Array[] = []
    const others: Uint8Array[] = []
    const own: Uint8Array[] = []
    let start = 0
    if (view.snapshots.length > 0) {
      const block = await view.snapshots.get(view.snapshots.length - 1)
      if (block === null) return null
      const snap = decodeSnapshotEntry(block)
      if ((Y.decodeStateVector(Y.encodeStateVectorFromUpdate(snap.state)).get(me) ?? 0) > clock) return null
      all.push(snap.state)
      others.push(snap.state)
      start = snap.updates
    }
    const end = view.updates.length
    const blocks = await readBlocks(view.updates, start, end)
    for (let i = start; i < end; i++) {
      const block = blocks[i - start]
      if (!block) return null
      const entry = decodeUpdateEntry(block)
      all.push(entry.yjs)
      ;(entry.member === selfN ? own : others).push(entry.yjs)
    }
    // Own edits the view does not hold yet, up to now (no await from here on).
    this.flushLocal()
    for (const u of [...this.ownPending.values(), ...this.queue.unsaved]) {
      all.push(u)
      own.push(u)
    }
    const froms = own.map((u) => Y.parseUpdateMeta(u).from.get(me))
    const lastSeeded = froms.reduce<number>((last, from, i) => (from !== undefined && from < clock ? i : last), -1)
    const seeded = own.filter((_, i) => {
      const from = froms[i]
      return from !== undefined ? from < clock : i < lastSeeded
    })
    const doc = new Y.Doc({ gc: false })
    try {
      if (all.length > 0) Y.applyUpdate(doc, Y.mergeUpdates(all), REMOTE)
      const text = doc.getText(TEXT_ROOT)
      const deleted = Y.mergeDeleteSets([...others, ...seeded].map((u) => Y.decodeUpdate(u).ds))
      const clocks = Y.decodeStateVector(Y.encodeStateVector(doc))
      clocks.set(me, Math.min(clocks.get(me) ?? 0, clock))
      // Item by item, what our late updates added and removed: exact, where
      // a diff of the two texts could pair up unrelated characters.
      const delta = text.toDelta(Y.snapshot(doc), Y.createSnapshot(deleted, clocks)) as Array<{ insert?: unknown; attributes?: { ychange?: { type?: string } } }>
      let before = ''
      let after = ''
      const changes: TextChange[] = []
      for (const op of delta) {
        if (typeof op.insert !== 'string') continue
        const kind = op.attributes?.ychange?.type
        const last = changes[changes.length - 1]
        if (kind === 'added') {
          if (last !== undefined && (last.to ?? last.from) === before.length) last.insert = (last.insert ?? '') + op.insert
          else changes.push({ from: before.length, to: before.length, insert: op.insert })
          after += op.insert
        } else if (kind === 'removed') {
          const from = before.length
          before += op.insert
          if (last !== undefined && (last.to ?? last.from) === from) last.to = before.length
          else changes.push({ from, to: before.length, insert: '' })
        } else {
          before += op.insert
          after += op.insert
        }
      }
      return { before, after, changes: changeSetOf(changes, before.length) }
    } finally {
      doc.destroy()
    }
  }

  /// The Autobase, for the network layer (wakeup, replication stats).
  get autobase(): Autobase<DocumentView> {
    return this.base
  }

  /// The current text, as a CodeMirror Text (a rope: cheap to slice).
  get text(): Text {
    return this.textValue
  }

  get version(): number {
    return this.versionValue
  }

  /// The device's Y.Doc (loads a deferred checkpoint state first).
  private get ydoc(): Y.Doc {
    if (this.deferredLoad !== null) this.finishDeferredLoad()
    return this.ydocValue
  }

  private set ydoc(doc: Y.Doc) {
    this.ydocValue = doc
  }

  private get ytext(): Y.Text {
    if (this.deferredLoad !== null) this.finishDeferredLoad()
    return this.ytextValue
  }

  private set ytext(text: Y.Text) {
    this.ytextValue = text
  }

  /// Load the checkpoint's Yjs state into the Y.Doc. Its text was shown
  /// since open; nothing changed the Y.Doc meanwhile (local edits wait in the
  /// local batch, folds run after this), so the two agree.
  private finishDeferredLoad(): void {
    const pending = this.deferredLoad
    if (pending === null) return
    this.deferredLoad = null
    Y.applyUpdate(pending.doc, pending.state, REMOTE)
    this.ydocValue = pending.doc
    this.ytextValue = pending.doc.getText(TEXT_ROOT)
    this.keepClientId()
    this.openClockValue = Y.getState(pending.doc.store, this.clientId)
    const loaded = this.ytextValue.toString()
    if (loaded !== pending.text) {
      // Cannot happen with a sealed checkpoint; if it did, Yjs is the truth.
      this.textValue = textOf(loaded)
      this.emit('warning', new Error('checkpoint text and state disagreed; took the state'))
    }
  }

  /// The Yjs clientID of this device in this document.
  get clientId(): number {
    return clientIdFor(this.writerKey)
  }

  /// This device's Yjs clock in this document: how many characters it has
  /// inserted, ever, as far as this Y.Doc holds (right after open: the ones
  /// that reached the log). Flushes queued local edits first, so the edits
  /// made before a call and after it land in different Yjs transactions.
  /// The page's authority (src/server) uses it to tell, after a crash,
  /// whether a tab's edit reached the log.
  get localClock(): number {
    this.flushLocal()
    return Y.getState(this.ydoc.store, this.clientId)
  }

  /// localClock as it was when the document opened: it counts exactly this
  /// device's characters that reached the log in earlier sessions.
  get openClock(): number {
    if (this.deferredLoad !== null) this.finishDeferredLoad()
    return this.openClockValue
  }

  /// Blocks this device appended to its log during this session, and the
  /// local updates they carried.
  get appendStats(): { blocks: number; updates: number; unsaved: number } {
    return { blocks: this.queue.blocks, updates: this.queue.updates, unsaved: this.queue.unsaved.length }
  }

  protected override async _open(): Promise<void> {
    const { key, encryptionKey, ackInterval } = this.options
    if (!(encryptionKey instanceof Uint8Array) || encryptionKey.length !== 32) {
      throw new SwarmpadError('BAD_ARGUMENT', 'a document needs a 32-byte encryption key')
    }
    guardAutobase()
    const apply = createApply(() => this.base.key, this.options.word ? { word: this.options.word } : {})
    this.base = new Autobase<DocumentView>(this.store, key, {
      open: openView,
      apply,
      update: (view, changes) => this.onViewUpdate(view, changes),
      close: closeView,
      encryptionKey,
      encrypted: true,
      ...(ackInterval !== undefined ? { ackInterval } : {})
    })
    for (const stream of this.earlyStreams.splice(0)) {
      if (!stream.destroyed) this.base.wakeupProtocol.addStream(stream)
    }
    this.base.on('error', (err: unknown) => this.emit('error', err))
    this.base.on('interrupt', (reason: unknown) => {
      this.state = 'needs-upgrade'
      this.interruptReason = typeof reason === 'string' ? reason : UPGRADE_REASON
      this.queue?.stop()
      this.emit('interrupt', this.interruptReason)
    })
    // Autobase emits 'update' after a drain, once `base.view` shows every
    // entry the update hook reported: fold then.
    this.base.on('update', () => {
      if (this.loaded) this.scheduleFold()
    })
    this.base.on('writable', () => this.emit('writable'))
    this.base.on('unwritable', () => this.emit('unwritable'))
    this.queue = new AppendQueue(
      (block) => this.base.append(block),
      (err) => this.emit('append-error', err),
      // Autobase's append resolves with the local log length after the block.
      (yjs, length) => this.ownPending.set(typeof length === 'number' ? length - 1 : -++this.unknownSeq, yjs),
      Date.now,
      (err) => {
        if (this.base.writable || this.closingOrClosed) return null
        // The queue drops these updates for good: their text must leave the
        // Y.Doc too (a rebuild), or it would stay on this device alone and
        // every later edit would leave a gap in this device's Yjs clock.
        this.droppedLocal = true
        this.scheduleFold()
        return new SwarmpadError('NOT_WRITABLE', `this device can no longer write to this document; the edit was not saved (${err instanceof Error ? err.message : String(err)})`)
      },
      () => this.format
    )
    // Read the checkpoint and load it into a Y.Doc while Autobase opens.
    const preloaded = key !== null ? this.preloadCheckpoint(key) : Promise.resolve(null)
    await this.base.ready()
    if (this.state === 'needs-upgrade') throw new SwarmpadError('UPGRADE_REQUIRED', this.interruptReason ?? UPGRADE_REASON)
    // A new document says first what it is, in the newest format (a build
    // that cannot read it stops at this block instead of misreading later ones).
    if (key === null) await this.base.append(encodeBlock({ kind: 'genesis', type: 0 }, BLOCK_VERSION))
    await this.membership()
    this.ydoc = this.newYDoc()
    this.ytext = this.ydoc.getText(TEXT_ROOT)
    const pre = await preloaded
    await this.serial(async () => {
      if (pre !== null && (await this.useCheckpoint(pre))) this.loadedFrom = 'checkpoint'
      else await this.rebuild(false)
    })
    if (this.deferredLoad === null) this.openClockValue = Y.getState(this.ydoc.store, this.clientId)
    this.loaded = true
    this.state = 'open'
    this.scheduleFold()
    await this.settleWritable()
    if (ackInterval !== 0) {
      this.signingWatch = new SigningWatch(this.base as Autobase<unknown>, undefined, (err) => this.emit('warning', err))
      this.signingWatch.start()
    }
    // With a checkpoint and nothing new, the Y.Doc is built on first use
    // (an edit, a remote update, a cursor, a page opening the document):
    // loading it now would only hold up the rest of the daemon's start.
  }

  /// Autobase can open a member's document before it has taken up the
  /// device's own writer again (seen after a SIGKILL: the owner's log held a
  /// block the system had not indexed yet; one update() later it writes).
  /// A member's open waits for that, a little, so its first edit is not
  /// refused as "may read but not write".
  private async settleWritable(): Promise<void> {
    if (this.base.writable) return
    const settle = async () => {
      const self = findMember(await readMembership(this.base.view, this.base.key), this.base.local.key)
      if (self !== undefined && !self.removed) await this.base.update()
    }
    await Promise.race([settle().catch(() => {}), delay(WRITABLE_WAIT_MS)])
  }

  protected override async _close(): Promise<void> {
    if (this.state === 'open' && this.queue) {
      // Save what was typed: pending edits go into the log before closing
      // (bounded, in case the disk refuses them).
      this.flushLocal()
      await Promise.race([this.queue.flush(), delay(CLOSE_FLUSH_TIMEOUT)])
      if (this.options.checkpoint) {
        // Bounded too: folding reads view blocks, and a sparse view may wait
        // for a peer that is gone (closing the Autobase ends those reads).
        const checkpointed = this.settled().then(() => this.writeCheckpoint())
        await Promise.race([checkpointed.catch((err) => this.emit('warning', err)), delay(CLOSE_FLUSH_TIMEOUT)])
      }
    }
    if (this.checkpointTimer) clearTimeout(this.checkpointTimer)
    this.signingWatch?.stop()
    if (this.state !== 'needs-upgrade') this.state = 'closed'
    this.queue?.stop()
    if (this.base) await this.base.close()
    await this.folding.catch(() => {})
    this.deferredLoad?.doc.destroy()
    this.deferredLoad = null
    this.ydocValue?.destroy()
    await this.store.close()
  }

  /// Replicate this document's cores over a duplex stream (a Hyperswarm
  /// connection, or one end of an in-process pipe in tests).
  replicate(stream: Duplex | boolean): Duplex {
    // Autobase's replicate adds its wakeup protocol, which tells the peer
    // which writers have new blocks (without it a remote append is noticed
    // only at the next update()).
    // Before open() has made the Autobase (a joining device replicates
    // first: its open waits for the peer), the store replicates and the
    // wakeup protocol is added to the stream once the Autobase exists.
    if (this.base) return this.base.replicate(stream)
    const replication = this.store.replicate(stream)
    this.earlyStreams.push(replication)
    return replication
  }

  /// Fetch what connected peers have and apply it.
  async update(): Promise<void> {
    await this.base.update()
    await this.settled()
  }

  /// Resolves once every view entry seen so far is folded into the text.
  async settled(): Promise<void> {
    for (let i = 0; i < 100 && (this.foldScheduled || this.pendingFold()); i++) {
      this.scheduleFold()
      await this.folding
    }
  }

  /// Resolves when every local edit so far is durable in this device's log.
  async flush(): Promise<void> {
    this.flushLocal()
    await this.queue.flush()
  }

  // --- local edits ---

  /// Apply CodeMirror-style changes made against `baseVersion`.
  ///
  /// Changes against an older version are rebased over what happened since
  /// (up to MAX_REBASE_VERSIONS back). The text changes at once; `durable`
  /// resolves when the block holding the edit is in this device's log.
  edit(changes: readonly TextChange[] | ChangeSet, baseVersion: number = this.versionValue, opts: { tag?: unknown } = {}): EditResult {
    this.assertWritable()
    if (!Number.isInteger(baseVersion) || baseVersion > this.versionValue || baseVersion < this.firstVersion) {
      throw new SwarmpadError('STALE_VERSION', `Version ${baseVersion} is not between ${this.firstVersion} and ${this.versionValue}`)
    }
    let cs: ChangeSet
    try {
      cs = changeSetOf(changes, this.lengthAt(baseVersion))
    } catch (err) {
      throw new SwarmpadError('BAD_CHANGE', err instanceof Error ? err.message : String(err))
    }
    for (let v = baseVersion; v < this.versionValue; v++) cs = cs.map(this.history[v - this.firstVersion]!)
    // Yjs cannot hold half of a surrogate pair (it turns both halves into
    // U+FFFD): such a change would leave this text, the Y.Text and every
    // other peer's text different. Editors never make one; refuse it, so
    // whoever sent it resyncs instead of diverging.
    const cut = pairProblem(cs, this.textValue)
    if (cut !== null) throw new SwarmpadError('BAD_CHANGE', cut)
    if (cs.empty) return { version: this.versionValue, changes: cs, durable: Promise.resolve() }
    if (cs.newLength > MAX_TEXT_LENGTH) {
      throw new SwarmpadError('TOO_LARGE', `The text would be ${cs.newLength} characters long; the limit is ${MAX_TEXT_LENGTH}`)
    }

    const durable = this.queueLocal(cs)
    this.advance(cs, 'local', opts.tag)
    return { version: this.versionValue, changes: cs, durable }
  }

  /// Replace the whole text with `text` as a minimal diff, so concurrent
  /// edits elsewhere in the document survive.
  replaceText(text: string): EditResult {
    // A character diff may cut a surrogate pair ("😀" -> "😁" share the high
    // half): widen such changes to whole pairs.
    const cs = changeSetOf(diffChanges(this.textValue.toString(), text), this.textValue.length)
    return this.edit(keepPairsWhole(cs, this.textValue))
  }

  private assertWritable(text = true): void {
    if (this.state === 'needs-upgrade') throw new SwarmpadError('UPGRADE_REQUIRED', this.interruptReason ?? UPGRADE_REASON)
    if (this.state !== 'open') throw new SwarmpadError('CLOSED', 'document is not open')
    if (text && this.frozenReason !== null) throw new SwarmpadError('MOVED', this.frozenReason)
    if (!this.base.writable) throw new SwarmpadError('NOT_WRITABLE', 'this device may read this document but not write to it')
  }

  /// Queue a local change for the Y.Doc. Edits that arrive together (in one
  /// turn of the event loop) go into one Yjs transaction: one update to
  /// encode and merge instead of one per keystroke. The text (a rope) is
  /// already current; everything that reads the Y.Doc calls flushLocal() first.
  private queueLocal(cs: ChangeSet): Promise<void> {
    let batch = this.localBatch
    if (batch === null) {
      let resolve!: () => void
      let reject!: (err: Error) => void
      const done = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)))
      done.catch(() => {}) // callers that ignore durability must not see an unhandled rejection
      batch = this.localBatch = { steps: [], inserted: 0, done, resolve, reject }
      setImmediate(() => this.flushLocal())
    }
    const steps = batch.steps
    cs.iterChanges((fromA, toA, fromB, _toB, inserted) => {
      const text = inserted.toString()
      steps.push({ at: fromB, del: toA - fromA, insert: text })
      batch.inserted += text.length
    })
    const done = batch.done
    if (steps.length >= MAX_BATCH_STEPS || batch.inserted >= MAX_INSERT_CHUNK) this.flushLocal()
    return done
  }

  /// Apply queued local changes to the Y.Text, in LOCAL transactions of at
  /// most MAX_INSERT_CHUNK inserted characters each (so every Yjs update fits
  /// in one block), and hand the updates to the append queue.
  private flushLocal(): void {
    const batch = this.localBatch
    if (batch === null) return
    this.localBatch = null
    if (this.state !== 'open') {
      batch.reject(new SwarmpadError('CLOSED', 'document closed before the edit was saved'))
      return
    }
    const updates: Uint8Array[] = []
    const collect = (update: Uint8Array, origin: unknown) => {
      if (origin === LOCAL) updates.push(update)
    }
    this.ydoc.on('update', collect)
    try {
      let i = 0
      const steps = batch.steps
      while (i < steps.length) {
        this.ydoc.transact(() => {
          let budget = MAX_INSERT_CHUNK
          while (i < steps.length && (budget > 0 || steps[i]!.insert.length === 0)) {
            const s = steps[i]!
            if (s.del > 0) {
              this.ytext.delete(s.at, s.del)
              s.del = 0
            }
            if (s.insert.length <= budget) {
              if (s.insert.length > 0) this.ytext.insert(s.at, s.insert)
              budget -= s.insert.length
              i++
              continue
            }
            // Split a long insert; never between the halves of a surrogate pair.
            let cut = budget
            if (isHighSurrogate(s.insert.charCodeAt(cut - 1))) cut--
            if (cut <= 0) break
            this.ytext.insert(s.at, s.insert.slice(0, cut))
            s.at += cut
            s.insert = s.insert.slice(cut)
            budget = 0
          }
        }, LOCAL)
      }
    } finally {
      this.ydoc.off('update', collect)
    }
    let last: Promise<void> = Promise.resolve()
    for (const u of updates) last = this.queue.push(u)
    last.then(batch.resolve, batch.reject)
  }

  private lengthAt(version: number): number {
    if (version === this.versionValue) return this.textValue.length
    return this.history[version - this.firstVersion]!.length
  }

  private advance(cs: ChangeSet, origin: ChangeOrigin, tag?: unknown): void {
    this.textValue = cs.apply(this.textValue)
    this.history.push(cs)
    this.versionValue++
    // Trim in large steps so keeping the history costs O(1) per version.
    if (this.history.length >= 2 * MAX_REBASE_VERSIONS) {
      const drop = this.history.length - MAX_REBASE_VERSIONS
      this.history.splice(0, drop)
      this.firstVersion += drop
    }
    this.emit('change', { version: this.versionValue, changes: cs, origin, ...(tag !== undefined ? { tag } : {}) } satisfies DocumentChange)
  }

  // --- positions that survive concurrent edits (for cursors) ---

  /// Encode an offset of the current text as a Yjs relative position: it
  /// stays next to the same character while others edit around it.
  relativePosition(offset: number, assoc = 0): Uint8Array {
    this.flushLocal()
    const clamped = Math.max(0, Math.min(this.textValue.length, Math.floor(offset)))
    return Y.encodeRelativePosition(Y.createRelativePositionFromTypeIndex(this.ytext, clamped, assoc))
  }

  /// The current offset of a relative position, or null when it does not
  /// decode or points at something this document does not hold (yet).
  offsetOf(relative: Uint8Array): number | null {
    this.flushLocal()
    try {
      const pos = Y.createAbsolutePositionFromRelativePosition(Y.decodeRelativePosition(relative), this.ydoc)
      if (pos === null || pos.type !== this.ytext) return null
      return Math.max(0, Math.min(this.textValue.length, pos.index))
    } catch {
      return null
    }
  }

  // --- membership ---

  /// The membership as of the current view.
  async membership(): Promise<Membership> {
    if (this.membershipCache !== null) return this.membershipCache
    // A read that began before the view changed must not be cached after it.
    const generation = this.membershipGeneration
    const m = await readMembership(this.base.view, this.base.key)
    if (generation === this.membershipGeneration) this.membershipCache = m
    this.learn(m, this.base.view)
    return m
  }

  /// What a membership record says about the document.
  private learn(m: Membership, view: DocumentView): void {
    if (view.members.length > 0) this.formatKnown = m.format
  }

  /// The format this device writes the document's blocks in: the document's
  /// own (a v1 document stays v1, so v1 peers keep reading it); a document
  /// nothing was applied to yet gets the newest (its first block decides).
  get format(): FormatVersion {
    if (this.formatKnown !== null) return this.formatKnown
    const v = this.base.view
    if (v.members.length === 0 && (v.updates.length > 0 || v.rejections.length > 0)) return (this.formatKnown = 1)
    return BLOCK_VERSION
  }

  private invalidateMembership(): void {
    this.membershipCache = null
    this.membershipGeneration++
  }

  async members(): Promise<Member[]> {
    return activeMembers(await this.membership())
  }

  /// This device's member record, or null when it is not (or no longer) a member.
  async self(): Promise<Member | null> {
    const m = findMember(await this.membership(), this.writerKey)
    return m !== undefined && !m.removed ? m : null
  }

  /// Add a device as a collaborator (`writer`) or an owner device (`owner`).
  /// Resolves when apply() has accepted it; throws with apply()'s reason otherwise.
  /// `carries` (format v2, a re-key): the Yjs clientID the device had in the
  /// document this one succeeds, whose edits it may carry over exactly.
  async addMember(key: Key, role: Role, carries: number | null = null): Promise<void> {
    await this.appendControl(carries !== null ? { kind: 'add-writer', key, role, continues: carries } : { kind: 'add-writer', key, role }, (m) => {
      const x = findMember(m, key)
      return x !== undefined && !x.removed && x.role === role
    })
  }

  async removeMember(key: Key): Promise<void> {
    await this.appendControl({ kind: 'remove-writer', key }, (m) => {
      const x = findMember(m, key)
      return x === undefined || x.removed
    })
  }

  /// Set this device's name, colour and presence key in the document; a
  /// field left out keeps its value. The changes of one device run one at a
  /// time, each merged into what the one before wrote: the network adding the
  /// device key while a join sets the name must not put back the old name.
  async setProfile(profile: { name?: string | undefined; color?: string | undefined; device?: Key | null | undefined }): Promise<void> {
    const change = this.profileChanges.then(async () => {
      const self = findMember(await this.membership(), this.writerKey)
      const name = profile.name ?? self?.name ?? ''
      const color = profile.color ?? self?.color ?? ''
      const device = profile.device !== undefined ? profile.device : (self?.device ?? null)
      await this.appendControl({ kind: 'profile', name, color, device }, (m) => {
        const x = findMember(m, this.writerKey)
        return x !== undefined && x.name === name && x.color === color
      })
    })
    this.profileChanges = change.catch(() => {})
    await change
  }

  /// Record that the document moved to a successor `key` (a re-key), with
  /// the successor's access sealed to each remaining member. Owners only;
  /// resolves when apply() accepted it, throws with its reason otherwise.
  async markMoved(key: Key, sealed: Array<{ writer: Key; box: Uint8Array }>): Promise<void> {
    await this.appendControl({ kind: 'moved', key, sealed }, (m) => m.movedTo !== null && b4a.equals(m.movedTo.key, key))
  }

  /// Append a membership block and check its effect once applied locally.
  private async appendControl(block: Block, accepted: (m: Membership) => boolean): Promise<void> {
    this.assertWritable(false)
    let bytes: Uint8Array
    try {
      bytes = encodeBlock(block, this.format)
    } catch (err) {
      throw new SwarmpadError('BAD_ARGUMENT', err instanceof Error ? err.message : String(err))
    }
    const rejectionsBefore = this.base.view.rejections.length
    await this.base.append(bytes)
    this.invalidateMembership()
    const m = await this.membership()
    if (accepted(m)) return
    const rejections = await this.rejections(rejectionsBefore)
    const mine = rejections.reverse().find((r) => b4a.equals(r.writer, this.writerKey))
    const code = mine !== undefined && NOT_OWNER_CODES.has(mine.code) ? 'NOT_OWNER' : 'BAD_ARGUMENT'
    throw new SwarmpadError(code, mine ? mine.reason : `the ${block.kind} block was not applied`)
  }

  /// Blocks apply() refused (the same list on every peer), from index `from`.
  async rejections(from = 0): Promise<RejectionEntry[]> {
    const out: RejectionEntry[] = []
    const core = this.base.view.rejections
    for (let i = from; i < core.length; i++) {
      const b = await core.get(i, { wait: false })
      if (b !== null) out.push(decodeRejectionEntry(b, this.format))
    }
    return out
  }

  /// Accepted updates in linearized order, from index `from` (entries that
  /// are not on this device, after a fast-forward, are skipped).
  async *updates(from = 0): AsyncGenerator<UpdateEntry & { index: number }> {
    const core = this.base.view.updates
    for (let i = from; i < core.length; i++) {
      const b = await core.get(i, { wait: false })
      if (b !== null) yield { index: i, ...decodeUpdateEntry(b) }
    }
  }

  /// The number of accepted updates in the view.
  get updateCount(): number {
    return this.base.view.updates.length
  }

  // --- folding the view into the Y.Doc ---

  private newYDoc(): Y.Doc {
    const doc = new Y.Doc({ gc: true })
    return doc
  }

  /// The Autobase update hook: note what changed; the fold runs outside.
  private async onViewUpdate(view: DocumentView, changes: UpdateChanges): Promise<void> {
    const members = changes.get('members')
    if (members !== undefined && (members.to !== members.from || members.shared !== members.from)) {
      this.invalidateMembership()
      // `base.view` shows the new entries only after this hook returns; read
      // them from the hook's view, so 'members' listeners see the change.
      const generation = this.membershipGeneration
      const m = await readMembership(view, this.base.key).catch(() => null)
      if (m !== null) this.learn(m, view)
      if (m !== null && generation === this.membershipGeneration) this.membershipCache = m
      this.emit('members')
    }
    const updates = changes.get('updates')
    if (updates === undefined) return
    if (updates.shared < updates.from) this.truncatedTo = Math.min(this.truncatedTo, updates.shared)
    // `base.view` shows these entries only after the drain that runs this
    // hook: the scheduled fold first waits for it (see scheduleFold()).
    if (this.loaded) this.scheduleFold()
  }

  private pendingFold(): boolean {
    return this.loaded && (this.truncatedTo !== Infinity || this.droppedLocal || this.folded !== this.base.view.updates.length)
  }

  private scheduleFold(): void {
    if (this.foldScheduled || this.closingOrClosed) return
    this.foldScheduled = true
    void this.serial(async () => {
      this.foldScheduled = false
      // Let the base finish the drain in progress first: a fold that read
      // `base.view` before a reorder showed would mark reordered entries
      // folded and lose them.
      if (!this.closingOrClosed) await this.base.update().catch(() => {})
      await this.fold()
    })
  }

  private serial(task: () => Promise<void>): Promise<void> {
    const run = this.folding.then(task, task)
    this.folding = run.catch((err) => {
      if (!this.closingOrClosed) this.emit('error', err)
    })
    return run
  }

  /// Bring the Y.Doc up to the view: fold new entries, or rebuild when an
  /// entry that was folded has left the view.
  private async fold(): Promise<void> {
    if (this.closingOrClosed || this.state !== 'open') return
    const core = this.base.view.updates
    if (this.truncatedTo !== Infinity) {
      const from = Math.min(this.truncatedTo, this.folded)
      this.truncatedTo = Infinity
      if (from < this.folded) {
        if (from < this.foldedIdsStart || !(await this.stillInView(from))) {
          await this.rebuild(true)
          return
        }
        // Every folded entry is still there: the rest is new or a repeat, and
        // Yjs ignores repeats.
        this.folded = from
        this.foldedIds.length = from - this.foldedIdsStart
        for (const [seq, index] of this.ownIndex) if (index >= from) this.ownIndex.delete(seq)
      }
    }
    if ((await this.settleOwn()) || this.droppedLocal) {
      await this.rebuild(true)
      return
    }
    const end = core.length
    if (end <= this.folded) {
      if (this.settleSigned()) await this.rebuild(true)
      return
    }
    // Far behind (after a fast-forward, or a long time offline): a snapshot
    // lies within the gap, so rebuild from the newest one and the entries
    // after it instead of fetching every entry (a fast-forwarded view is sparse).
    // A device that just joined starts there too (v2 writes snapshots by size).
    if (this.base.view.snapshots.length > 0 && (end - this.folded > SNAPSHOT_INTERVAL || this.folded === 0)) {
      await this.rebuild(true)
      return
    }
    const updates: Uint8Array[] = []
    const blocks = await readBlocks(core, this.folded, end)
    for (let i = this.folded; i < end; i++) {
      const block = blocks[i - this.folded]
      if (!block) throw new Error(`update ${i} is unavailable`)
      const entry = decodeUpdateEntry(block)
      this.foldedIds.push(`${entry.member}:${entry.seq}`)
      if (entry.member === this.ownMember) {
        this.ownIndex.set(entry.seq, i)
        // Ours and still in the Y.Doc: nothing to apply. (Ours from an
        // earlier session, or dropped by a rebuild, is applied like any other.)
        if (this.ownPending.has(entry.seq)) continue
      }
      updates.push(entry.yjs)
    }
    this.folded = end
    this.pruneFoldedIds()
    if (updates.length > 0) this.applyRemote(updates)
    if (this.settleSigned()) await this.rebuild(true)
    this.maybeScheduleCheckpoint()
  }

  // --- checkpoints ---

  /// Read, decrypt and load the checkpoint into a fresh Y.Doc (null when
  /// there is none or it does not open).
  private async preloadCheckpoint(key: Key): Promise<Checkpoint | null> {
    const store = this.options.checkpoint
    if (!store) return null
    const bytes = await store.load().catch(() => null)
    if (bytes === null) return null
    const checkpoint = openCheckpoint(bytes, this.options.encryptionKey, key)
    if (checkpoint === null) this.emit('warning', new Error('ignored a damaged or foreign checkpoint; rebuilt from the log'))
    return checkpoint
  }

  /// Adopt a checkpoint if the view still holds everything it was made
  /// from; fold the view's entries from its signed length on top. When the
  /// view holds exactly what the checkpoint does (a reopen with nothing new),
  /// the text is shown at once and Yjs loads the state later (deferredLoad).
  private async useCheckpoint(cp: Checkpoint): Promise<boolean> {
    const view = this.base.view
    const end = view.updates.length
    if (cp.signed > end || cp.signed > (view.updates.signedLength ?? 0)) return false
    const self = findMember(await readMembership(view, this.base.key), this.base.local.key)
    const selfN = self?.n ?? -1
    const ids: string[] = []
    const parts: Uint8Array[] = []
    const seen = new Map<number, number>()
    const blocks = await readBlocks(view.updates, cp.signed, end)
    for (let i = cp.signed; i < end; i++) {
      const block = blocks[i - cp.signed]
      if (block === null || block === undefined) return false
      const entry = decodeUpdateEntry(block)
      ids.push(`${entry.member}:${entry.seq}`)
      parts.push(entry.yjs)
      if (entry.member === selfN) seen.set(entry.seq, i)
    }
    const present = new Set(ids)
    if (!cp.tail.every((id) => present.has(id))) {
      this.emit('warning', new Error('the checkpoint holds updates the log no longer has; rebuilt from the log'))
      return false
    }
    const unchanged = end === cp.length && ids.every((id, i) => id === cp.tail[i])
    const doc = this.newYDoc()
    const old = this.ydocValue
    if (unchanged) {
      this.deferredLoad = { doc, state: cp.state, text: cp.text }
      this.textValue = textOf(cp.text)
    } else {
      try {
        Y.applyUpdate(doc, cp.state, REMOTE)
      } catch {
        doc.destroy()
        return false
      }
      if (parts.length > 0) doc.transact(() => { for (const u of parts) Y.applyUpdate(doc, u, REMOTE) }, REMOTE)
      this.ydocValue = doc
      this.ytextValue = doc.getText(TEXT_ROOT)
      this.keepClientId()
      this.textValue = textOf(this.ytextValue.toString())
    }
    if (old !== undefined && old !== doc) old.destroy()
    this.ownIndex = seen
    this.ownMember = selfN
    if (removedForGood(self, view)) this.dropOwn()
    this.folded = end
    this.foldedIds = ids
    this.foldedIdsStart = cp.signed
    this.checkpointedAt = end
    this.invalidateMembership()
    return true
  }

  /// Save the Y.Doc as a checkpoint, when it holds exactly what the view
  /// holds (no local edit outside the log, nothing unfolded).
  private async writeCheckpoint(): Promise<void> {
    const store = this.options.checkpoint
    if (!store || !this.loaded || this.state !== 'open') return
    const core = this.base.view.updates
    if (this.localBatch !== null || !this.queue.idle || this.droppedLocal || this.truncatedTo !== Infinity) return
    // Still as loaded from the checkpoint: nothing to write.
    if (this.deferredLoad !== null) return
    if (this.folded !== core.length) return
    for (const seq of this.ownPending.keys()) if (!this.ownIndex.has(seq)) return
    const signed = Math.max(this.foldedIdsStart, Math.min(core.signedLength ?? 0, this.folded))
    if (signed > (core.signedLength ?? 0)) return // entries below it are not all signed: cannot name them
    const tail = this.foldedIds.slice(signed - this.foldedIdsStart)
    const cp: Checkpoint = { length: this.folded, signed, tail, state: Y.encodeStateAsUpdate(this.ydoc), text: this.textValue.toString() }
    this.checkpointedAt = this.folded
    await store.save(sealCheckpoint(cp, this.options.encryptionKey, this.base.key))
  }

  private maybeScheduleCheckpoint(): void {
    if (!this.options.checkpoint || this.folded - this.checkpointedAt < CHECKPOINT_EVERY) return
    if (this.checkpointTimer) clearTimeout(this.checkpointTimer)
    this.checkpointTimer = setTimeout(() => {
      this.checkpointTimer = null
      void this.serial(() => this.writeCheckpoint().catch((err) => void this.emit('warning', err)))
    }, CHECKPOINT_IDLE_MS)
    this.checkpointTimer.unref()
  }

  /// Check the view for the fate of this device's pending updates. Returns
  /// true when some must leave the Y.Doc (a rebuild is needed): one was
  /// rejected, or this device is no longer a member.
  private async settleOwn(): Promise<boolean> {
    let drop = false
    const rejections = this.base.view.rejections
    if (rejections.length < this.rejectionsSeen) this.rejectionsSeen = rejections.length
    // Only signed rejections are final: an unsigned one may be undone by a
    // reorder (and the update accepted after all), so the update stays in the
    // Y.Doc until then (dropping it and writing its Yjs clocks again would
    // make every later edit of this device refused).
    const end = Math.min(rejections.length, rejections.signedLength ?? 0)
    for (let i = this.rejectionsSeen; i < end; i++) {
      const block = await rejections.get(i, { wait: false })
      if (block === null) continue
      const r = decodeRejectionEntry(block, this.format)
      if (this.ownPending.has(r.seq) && b4a.equals(r.writer, this.writerKey)) {
        this.ownPending.delete(r.seq)
        drop = true
      }
    }
    this.rejectionsSeen = Math.max(this.rejectionsSeen, end)
    const me = findMember(await this.membership(), this.writerKey)
    if (me !== undefined) this.ownMember = me.n
    if (removedForGood(me, this.base.view) && (this.ownPending.size > 0 || !this.queue.idle)) {
      this.dropOwn()
      drop = true
    }
    return drop
  }

  /// This device was removed: what it wrote that the view does not hold
  /// will never be accepted. Forget it, and refuse what is still queued.
  private dropOwn(): void {
    this.ownPending.clear()
    this.ownIndex.clear()
    this.queue.discard(new SwarmpadError('NOT_WRITABLE', 'this device was removed from the document; the edit was not saved'))
  }

  /// Forget own updates whose fate is final. Ours below the signed length of
  /// the view never move again. Autobase linearizes our log in order, so once
  /// one of ours is signed, an earlier one that is not in the view never will
  /// be (it was rejected, or skipped: this device was removed meanwhile and
  /// added back, and Autobase resumed after it): returns true when such an
  /// update is in the Y.Doc and must leave it (a rebuild).
  private settleSigned(): boolean {
    const signed = this.base.view.updates.signedLength ?? 0
    let last = -1
    for (const [seq, index] of this.ownIndex) {
      if (index >= signed) continue
      last = Math.max(last, seq)
      this.ownIndex.delete(seq)
      this.ownPending.delete(seq)
    }
    let skipped = false
    if (last < 0) return false
    for (const seq of this.ownPending.keys()) {
      if (seq >= 0 && seq < last && !this.ownIndex.has(seq)) {
        this.ownPending.delete(seq)
        skipped = true
      }
    }
    return skipped
  }

  /// Whether every entry folded at or after `from` is still in the view.
  private async stillInView(from: number): Promise<boolean> {
    const core = this.base.view.updates
    const present = new Set<string>()
    const blocks = await readBlocks(core, from, core.length)
    for (const block of blocks) {
      if (!block) return false
      const e = decodeUpdateEntry(block)
      present.add(`${e.member}:${e.seq}`)
    }
    for (let i = from; i < this.folded; i++) {
      if (!present.has(this.foldedIds[i - this.foldedIdsStart]!)) return false
    }
    return true
  }

  /// Entries below the signed length never reorder: forget their identities.
  private pruneFoldedIds(): void {
    const signed = Math.min(this.base.view.updates.signedLength ?? 0, this.folded)
    if (signed > this.foldedIdsStart) {
      this.foldedIds.splice(0, signed - this.foldedIdsStart)
      this.foldedIdsStart = signed
    }
  }

  /// Integrate remote updates into the Y.Doc and emit the change.
  private applyRemote(updates: Uint8Array[]): void {
    this.flushLocal()
    const before = this.textValue.length
    let delta: DeltaOp[] | null = null
    const observer = (event: Y.YTextEvent) => {
      delta = event.delta as DeltaOp[]
    }
    this.ytext.observe(observer)
    try {
      this.ydoc.transact(() => {
        for (const u of updates) Y.applyUpdate(this.ydoc, u, REMOTE)
      }, REMOTE)
    } finally {
      this.ytext.unobserve(observer)
      this.keepClientId()
    }
    if (delta === null) return
    const splits = deltaSplitsPair(delta, this.textValue)
    this.advance(deltaToChangeSet(delta, before), 'remote')
    if (splits) {
      // Yjs replaced the halves of a surrogate pair the update split with
      // U+FFFD, which its delta does not report: take the text from the Y.Text.
      const now = this.ytext.toString()
      const cs = changeSetOf(diffChanges(this.textValue.toString(), now), this.textValue.length)
      if (!cs.empty) this.advance(cs, 'remote')
    }
  }

  /// Yjs picks a new random clientID when a remote transaction advances its
  /// own one (our own blocks from an earlier session): always put ours back.
  private keepClientId(): void {
    const id = this.clientId
    if (this.ydoc.clientID !== id) this.ydoc.clientID = id
  }

  /// Build the Y.Doc from the newest snapshot and the updates after it, then
  /// re-apply local edits that are not durable yet. With `announce`, the
  /// difference to the old text is emitted as a remote change.
  private async rebuild(announce: boolean): Promise<void> {
    const view = this.base.view
    const doc = this.newYDoc()
    const text = doc.getText(TEXT_ROOT)
    const parts: Uint8Array[] = []
    let from = 0
    if (view.snapshots.length > 0) {
      const block = await view.snapshots.get(view.snapshots.length - 1)
      if (block === null) throw new Error('snapshot unavailable')
      const snap = decodeSnapshotEntry(block)
      parts.push(snap.state)
      from = snap.updates
    }
    const end = view.updates.length
    const ids: string[] = []
    const self = findMember(await readMembership(view, this.base.key), this.base.local.key)
    const selfN = self?.n ?? -1
    const seen = new Map<number, number>()
    const blocks = await readBlocks(view.updates, from, end)
    for (let i = from; i < end; i++) {
      const block = blocks[i - from]
      if (!block) throw new Error(`update ${i} unavailable`)
      const entry = decodeUpdateEntry(block)
      ids.push(`${entry.member}:${entry.seq}`)
      parts.push(entry.yjs)
      if (entry.member === selfN) seen.set(entry.seq, i)
    }
    // No awaits from here on: local edits cannot slip between reading what
    // this device wrote and swapping the Y.Doc. Own updates that are not
    // settled go back in (those the view holds are repeats to Yjs; those a
    // reorder took out of it must stay: they will be back).
    this.ownIndex = seen
    this.settleSigned()
    if (removedForGood(self, view)) this.dropOwn()
    this.flushLocal()
    this.droppedLocal = false
    parts.push(...this.ownPending.values(), ...this.queue.unsaved)
    // One transaction applying each part: about a third faster than merging
    // them first (automerge-paper's snapshot and 61 updates: 30 ms, not 40-90).
    if (parts.length > 0) doc.transact(() => { for (const u of parts) Y.applyUpdate(doc, u, REMOTE) }, REMOTE)
    this.ownMember = selfN
    const old = this.ydoc
    this.ydoc = doc
    this.ytext = text
    this.keepClientId()
    this.folded = end
    this.foldedIds = ids
    this.foldedIdsStart = from
    this.invalidateMembership()
    if (old !== doc) old.destroy()

    const next = text.toString()
    if (!announce) {
      this.textValue = textOf(next)
      return
    }
    const cs = changeSetOf(diffChanges(this.textValue.toString(), next), this.textValue.length)
    if (!cs.empty) this.advance(cs, 'remote')
  }
}

/// This device was removed, and the record saying so is signed (a reorder
/// cannot undo it): what it wrote that the view does not hold will never be
/// accepted. (A membership read in the middle of a reorder may miss this
/// device, or show it removed, for a moment: that must not drop its edits.)
function removedForGood(self: Member | undefined, view: DocumentView): boolean {
  return self !== undefined && self.removed && view.members.length <= (view.members.signedLength ?? 0)
}

export { keepPairsWhole, pairProblem, textOf } from '../doc/text-pairs.js'
