import * as Y from 'yjs'
import Autobase, { type UpdateChanges } from 'autobase'
import type Corestore from 'corestore'
import type { ChangeSet, Text } from '@codemirror/state'
import type { Duplex } from 'node:stream'
import { textOf } from '../doc/text-pairs.js'
import { Resource } from '../resource.js'
import { SwarmpadError } from '../errors.js'
import { BLOCK_VERSION, encodeBlock, type FormatVersion, type Key, type Role } from '../doc/blocks.js'
import { clientIdFor, type Member, type Membership } from '../doc/membership.js'
import type { RejectionEntry, UpdateEntry } from '../doc/entries.js'
import type { TextChange } from '../doc/changes.js'
import { AppendQueue } from './append-queue.js'
import { guardAutobase } from './autobase-guard.js'
import { SigningWatch } from './signing-watch.js'
import { CheckpointKeeper } from './checkpoint-keeper.js'
import type { DocumentChange, DocumentEvents, DocumentOptions, DocumentState, EditResult } from './document-types.js'
import { ViewFold } from './fold.js'
import { LocalEdits } from './local-edits.js'
import { Members } from './members.js'
import * as rekey from './rekey.js'
import { newYDoc, Replica } from './replica.js'
import { TextHistory } from './text-history.js'
import { delay, readSelf } from './view-read.js'
import { closeView, createApply, openView, UPGRADE_REASON, type DocumentView } from './view.js'

export type { ChangeOrigin, DocumentChange, DocumentEvents, DocumentOptions, DocumentState, EditResult } from './document-types.js'

/// How long close() waits for pending edits to reach the log.
const CLOSE_FLUSH_TIMEOUT = 5000

/// How long open() waits for Autobase to take up a member's writer.
const WRITABLE_WAIT_MS = 5000

/// A swarmpad document: a Y.Text whose updates live in an Autobase.
///
/// Local edits go into the device's Y.Doc at once and into the log through an
/// append queue. Remote edits arrive as view entries that the Autobase
/// `update` hook reports; they are folded into the Y.Doc outside apply(), so
/// the Y.Doc is a cache derived from the view, rebuilt from the newest
/// snapshot when an update it had folded leaves the view.
///
/// The parts, each given only what it needs of the document: the text and
/// its versions (TextHistory), the Y.Doc (Replica), local edits
/// (LocalEdits), the fold of the view (ViewFold, with this device's own
/// updates in OwnUpdates), checkpoints (CheckpointKeeper), the membership
/// (Members) and the re-key helpers (rekey.ts).
export class SwarmDocument extends Resource<DocumentEvents> {
  readonly store: Corestore
  private readonly options: DocumentOptions
  private base!: Autobase<DocumentView>
  /// Replication streams opened before the Autobase existed.
  private earlyStreams: Duplex[] = []
  private frozenReason: string | null = null
  private queue!: AppendQueue
  private signingWatch: SigningWatch | null = null

  private readonly history = new TextHistory((change: DocumentChange) => void this.emit('change', change))
  private readonly replica = new Replica(
    () => this.clientId,
    (loaded, expected) => {
      if (loaded === expected) return
      // Cannot happen with a sealed checkpoint; if it did, Yjs is the truth.
      this.history.reset(textOf(loaded))
      this.emit('warning', new Error('checkpoint text and state disagreed; took the state'))
    }
  )
  private readonly local: LocalEdits
  private readonly fold: ViewFold
  private readonly checkpoints: CheckpointKeeper
  private readonly membersPart: Members
  private readonly rekeyHost: rekey.RekeyHost

  state: DocumentState = 'opening'
  interruptReason: string | null = null
  /// How the text was loaded at open: from this device's checkpoint, or from
  /// the log (the newest snapshot and the updates after it).
  loadedFrom: 'checkpoint' | 'log' = 'log'

  constructor(store: Corestore, options: DocumentOptions) {
    super()
    this.store = store
    this.options = options
    // Each part sees the document through a narrow interface; the getters
    // read the Autobase and the queue as they are when called.
    const base = () => this.base
    const isOpen = () => this.state === 'open'
    const closing = () => this.closingOrClosed
    const format = () => this.format
    const queue = () => this.queue
    const clientId = () => this.clientId
    this.membersPart = new Members({
      get view() { return base().view },
      get creator() { return base().key },
      get local() { return base().local.key },
      assertWritable: (text) => this.assertWritable(text),
      append: (block) => this.base.append(block)
    })
    this.local = new LocalEdits({
      history: this.history,
      replica: this.replica,
      isOpen,
      assertWritable: () => this.assertWritable(),
      push: (update) => this.queue.push(update)
    })
    this.fold = new ViewFold({
      get view() { return base().view },
      get creator() { return base().key },
      get local() { return base().local.key },
      get format() { return format() },
      get closing() { return closing() },
      isOpen,
      update: () => this.base.update(),
      membership: () => this.membership(),
      invalidateMembership: () => this.membersPart.invalidate(),
      flushLocal: () => this.flushLocal(),
      get queue() { return queue() },
      replica: this.replica,
      history: this.history,
      error: (err) => void this.emit('error', err),
      foldedNew: () => this.checkpoints.schedule()
    })
    this.checkpoints = new CheckpointKeeper({
      store: options.checkpoint,
      encryptionKey: options.encryptionKey,
      get view() { return base().view },
      get creator() { return base().key },
      get local() { return base().local.key },
      fold: this.fold,
      replica: this.replica,
      history: this.history,
      isOpen,
      localPending: () => this.local.pending,
      queueIdle: () => this.queue.idle,
      invalidateMembership: () => this.membersPart.invalidate(),
      warn: (err) => void this.emit('warning', err)
    })
    this.rekeyHost = {
      get view() { return base().view },
      get creator() { return base().key },
      get local() { return base().local.key },
      get clientId() { return clientId() },
      get format() { return format() },
      get closing() { return closing() },
      replica: this.replica,
      history: this.history,
      fold: this.fold,
      get queue() { return queue() },
      flushLocal: () => this.flushLocal(),
      assertWritable: () => this.assertWritable(),
      append: (block) => this.base.append(block),
      rejections: () => this.rejections(),
      self: () => this.self(),
      update: () => this.update()
    }
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

  // --- re-keying (see rekey.ts) ---

  /// The text and the Yjs clock of every client it holds, taken together
  /// (a re-key's seed: each member's clock says which of its edits the seed
  /// has), and the whole Yjs state for a format v2 seed (null when it cannot
  /// be one: over the size of one update, or refused by the guard).
  seedPoint(): { text: string; clocks: Map<number, number>; state: Uint8Array | null } {
    return rekey.seedPoint(this.rekeyHost)
  }

  /// Seed this new document (format v2, nothing written yet but its genesis)
  /// with another document's whole Yjs state: its first update. Resolves
  /// once apply() accepted it; throws otherwise.
  seed(state: Uint8Array): Promise<void> {
    return rekey.seed(this.rekeyHost, state)
  }

  /// This device's own Yjs updates in this document, in the order it wrote
  /// them: those in the view after the newest snapshot, then those not in it
  /// yet. Null when the newest snapshot holds own text from `clock` on (then
  /// they cannot be told apart from the rest any more).
  ownUpdates(clock: number): Promise<Uint8Array[] | null> {
    return rekey.ownUpdates(this.rekeyHost, clock)
  }

  /// Carry edits this member made in the document it followed here (its
  /// old client, see Member.carries), exactly as it made them. Returns how
  /// many of `updates` were carried, in order: fewer than all when the next
  /// could not be within `ms` (the caller carries the rest over as text).
  carry(updates: readonly Uint8Array[], ms: number, signal?: AbortSignal): Promise<number> {
    return rekey.carry(this.rekeyHost, updates, ms, signal)
  }

  /// What this device typed from its Yjs clock `clock` on, as two texts:
  /// `before` without those edits, `after` with them (the text now). A
  /// follower of a re-key carries over exactly the difference: its own edits
  /// the seed lacks, and nobody else's. Null when the newest snapshot already
  /// holds some of them (they cannot be taken out).
  ownEditsSince(clock: number): Promise<{ before: string; after: string; changes: ChangeSet } | null> {
    return rekey.ownEditsSince(this.rekeyHost, clock)
  }

  /// The Autobase, for the network layer (wakeup, replication stats).
  get autobase(): Autobase<DocumentView> {
    return this.base
  }

  /// The current text, as a CodeMirror Text (a rope: cheap to slice).
  get text(): Text {
    return this.history.text
  }

  get version(): number {
    return this.history.version
  }

  /// The device's Y.Doc (loads a deferred checkpoint state first).
  private get ydoc(): Y.Doc {
    return this.replica.doc
  }

  private get ytext(): Y.Text {
    return this.replica.ytext
  }

  /// Not private: a failing fuzz run prints these (test/fuzz/convergence-sim).
  protected get ownPending(): Map<number, Uint8Array> {
    return this.fold.own.pending
  }

  protected get folded(): number {
    return this.fold.folded
  }

  protected get foldScheduled(): boolean {
    return this.fold.scheduled
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
    return this.replica.openClock
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
      if (this.fold.loaded) this.fold.schedule()
    })
    this.base.on('writable', () => this.emit('writable'))
    this.base.on('unwritable', () => this.emit('unwritable'))
    const syncLog = this.options.syncLog
    this.queue = new AppendQueue(
      (block) => this.base.append(block),
      (err) => this.emit('append-error', err),
      // Autobase's append resolves with the local log length after the block.
      (yjs, length) => this.fold.own.durable(yjs, length),
      Date.now,
      (err) => {
        if (this.base.writable || this.closingOrClosed) return null
        // The queue drops these updates for good: their text must leave the
        // Y.Doc too (a rebuild), or it would stay on this device alone and
        // every later edit would leave a gap in this device's Yjs clock.
        this.fold.dropLocal()
        return new SwarmpadError('NOT_WRITABLE', `this device can no longer write to this document; the edit was not saved (${err instanceof Error ? err.message : String(err)})`)
      },
      () => this.format,
      // Acknowledged only once the block is durable against a power cut. The
      // block is in the log by then: a failed sync is reported, not retried
      // as an append (that would write the block twice).
      async () => {
        if (syncLog !== undefined) await syncLog().catch((err) => this.emit('warning', err))
      }
    )
    // Read the checkpoint and load it into a Y.Doc while Autobase opens.
    const preloaded = key !== null ? this.checkpoints.preload(key) : Promise.resolve(null)
    await this.base.ready()
    if (this.state === 'needs-upgrade') throw new SwarmpadError('UPGRADE_REQUIRED', this.interruptReason ?? UPGRADE_REASON)
    // A new document says first what it is, in the newest format (a build
    // that cannot read it stops at this block instead of misreading later ones).
    if (key === null) await this.base.append(encodeBlock({ kind: 'genesis', type: 0 }, BLOCK_VERSION))
    await this.membership()
    this.replica.set(newYDoc())
    const pre = await preloaded
    await this.fold.serial(async () => {
      if (pre !== null && (await this.checkpoints.use(pre))) this.loadedFrom = 'checkpoint'
      else await this.fold.rebuild(false)
    })
    this.replica.markOpenClock()
    this.fold.loaded = true
    this.state = 'open'
    this.fold.schedule()
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
      const self = await readSelf(this.base.view, this.base.key, this.base.local.key)
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
        const checkpointed = this.settled().then(() => this.checkpoints.write())
        await Promise.race([checkpointed.catch((err) => this.emit('warning', err)), delay(CLOSE_FLUSH_TIMEOUT)])
      }
    }
    this.checkpoints.stop()
    this.signingWatch?.stop()
    if (this.state !== 'needs-upgrade') this.state = 'closed'
    this.queue?.stop()
    if (this.base) await this.base.close()
    await this.fold.folding.catch(() => {})
    this.replica.destroy()
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
  settled(): Promise<void> {
    return this.fold.settled()
  }

  /// Resolves when every local edit so far is durable in this device's log.
  async flush(): Promise<void> {
    this.flushLocal()
    await this.queue.flush()
  }

  // --- local edits (see local-edits.ts) ---

  /// Apply CodeMirror-style changes made against `baseVersion`.
  ///
  /// Changes against an older version are rebased over what happened since
  /// (up to MAX_REBASE_VERSIONS back). The text changes at once; `durable`
  /// resolves when the block holding the edit is in this device's log.
  edit(changes: readonly TextChange[] | ChangeSet, baseVersion: number = this.history.version, opts: { tag?: unknown } = {}): EditResult {
    return this.local.edit(changes, baseVersion, opts.tag)
  }

  /// Replace the whole text with `text` as a minimal diff, so concurrent
  /// edits elsewhere in the document survive.
  replaceText(text: string): EditResult {
    return this.local.replaceText(text)
  }

  private assertWritable(text = true): void {
    if (this.state === 'needs-upgrade') throw new SwarmpadError('UPGRADE_REQUIRED', this.interruptReason ?? UPGRADE_REASON)
    if (this.state !== 'open') throw new SwarmpadError('CLOSED', 'document is not open')
    if (text && this.frozenReason !== null) throw new SwarmpadError('MOVED', this.frozenReason)
    if (!this.base.writable) throw new SwarmpadError('NOT_WRITABLE', 'this device may read this document but not write to it')
  }

  /// Put queued local edits into the Y.Doc (everything that reads it calls this first).
  private flushLocal(): void {
    this.local.flush()
  }

  // --- positions that survive concurrent edits (for cursors) ---

  /// Encode an offset of the current text as a Yjs relative position: it
  /// stays next to the same character while others edit around it.
  relativePosition(offset: number, assoc = 0): Uint8Array {
    this.flushLocal()
    const clamped = Math.max(0, Math.min(this.history.text.length, Math.floor(offset)))
    return Y.encodeRelativePosition(Y.createRelativePositionFromTypeIndex(this.ytext, clamped, assoc))
  }

  /// The current offset of a relative position, or null when it does not
  /// decode or points at something this document does not hold (yet).
  offsetOf(relative: Uint8Array): number | null {
    this.flushLocal()
    try {
      const pos = Y.createAbsolutePositionFromRelativePosition(Y.decodeRelativePosition(relative), this.ydoc)
      if (pos === null || pos.type !== this.ytext) return null
      return Math.max(0, Math.min(this.history.text.length, pos.index))
    } catch {
      return null
    }
  }

  // --- membership (see members.ts) ---

  /// The membership as of the current view.
  membership(): Promise<Membership> {
    return this.membersPart.membership()
  }

  /// The format this device writes the document's blocks in: the document's
  /// own (a v1 document stays v1, so v1 peers keep reading it); a document
  /// nothing was applied to yet gets the newest (its first block decides).
  get format(): FormatVersion {
    return this.membersPart.format
  }

  members(): Promise<Member[]> {
    return this.membersPart.members()
  }

  /// This device's member record, or null when it is not (or no longer) a member.
  self(): Promise<Member | null> {
    return this.membersPart.self()
  }

  /// Add a device as a collaborator (`writer`) or an owner device (`owner`).
  /// Resolves when apply() has accepted it; throws with apply()'s reason otherwise.
  /// `carries` (format v2, a re-key): the Yjs clientID the device had in the
  /// document this one succeeds, whose edits it may carry over exactly.
  addMember(key: Key, role: Role, carries: number | null = null): Promise<void> {
    return this.membersPart.addMember(key, role, carries)
  }

  removeMember(key: Key): Promise<void> {
    return this.membersPart.removeMember(key)
  }

  /// Set this device's name, colour and presence key in the document; a
  /// field left out keeps its value (the changes of one device run in turn).
  setProfile(profile: { name?: string | undefined; color?: string | undefined; device?: Key | null | undefined }): Promise<void> {
    return this.membersPart.setProfile(profile)
  }

  /// Record that the document moved to a successor `key` (a re-key), with
  /// the successor's access sealed to each remaining member. Owners only;
  /// resolves when apply() accepted it, throws with its reason otherwise.
  markMoved(key: Key, sealed: Array<{ writer: Key; box: Uint8Array }>): Promise<void> {
    return this.membersPart.markMoved(key, sealed)
  }

  /// Blocks apply() refused (the same list on every peer), from index `from`.
  rejections(from = 0): Promise<RejectionEntry[]> {
    return this.membersPart.rejections(from)
  }

  /// Accepted updates in linearized order, from index `from` (entries that
  /// are not on this device, after a fast-forward, are skipped).
  updates(from = 0): AsyncGenerator<UpdateEntry & { index: number }> {
    return this.membersPart.updates(from)
  }

  /// The number of accepted updates in the view.
  get updateCount(): number {
    return this.base.view.updates.length
  }

  // --- the view changed (see fold.ts) ---

  /// The Autobase update hook: note what changed; the fold runs outside.
  private async onViewUpdate(view: DocumentView, changes: UpdateChanges): Promise<void> {
    const members = changes.get('members')
    if (members !== undefined && (members.to !== members.from || members.shared !== members.from)) {
      await this.membersPart.changed(view)
      this.emit('members')
    }
    const updates = changes.get('updates')
    if (updates === undefined) return
    if (updates.shared < updates.from) this.fold.truncated(updates.shared)
    // `base.view` shows these entries only after the drain that runs this
    // hook: the scheduled fold first waits for it (see ViewFold.schedule()).
    if (this.fold.loaded) this.fold.schedule()
  }
}

export { keepPairsWhole, pairProblem, textOf } from '../doc/text-pairs.js'
