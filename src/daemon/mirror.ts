import { watch, type FSWatcher } from 'node:fs'
import { lstat } from 'node:fs/promises'
import { basename, dirname } from 'node:path'
import { createHash } from 'node:crypto'
import { EventEmitter } from 'node:events'
import type { OpenDocument } from '../swarmpad.js'
import { SwarmpadError, errorMessage } from '../errors.js'
import { changeSetOf, diffChanges } from '../doc/changes.js'
import { userFileMode } from '../storage/perms.js'
import { checkReplacement, identityOf, inspectPath, readSyncedFile, replaceFile, type FileIdentity } from './safe-file.js'
import { changeCost, closestInHistory, saveConflictCopy } from './mirror-resume.js'

/// How a new mirror starts when the file and the document differ:
/// `file` replaces the document's text with the file's (as a minimal diff),
/// `doc` overwrites the file, `resume` merges what changed on either side
/// since the last sync (after a daemon restart).
export type MirrorStart = 'file' | 'doc' | 'resume'

/// Wait this long after the last file event before reading the file, so an
/// editor's save (truncate + several writes, or write + rename) is complete.
const FILE_SETTLE_MS = 40
/// Batch remote edits this long before writing them to the file.
const DOC_SETTLE_MS = 50
/// A file modified this recently may be in the middle of a save: do not
/// overwrite it yet.
const BUSY_MS = 100
/// Safety net for file systems where watching misses events.
const POLL_MS = 1000
/// Texts the file held lately, kept as candidate merge bases: a program that
/// read the file before a remote edit was written to it (an editor that does
/// not reload, a formatter, a copy put back) saves on top of one of them.
const RECENT_TEXTS = 8
const RECENT_CHARS = 32 * 1024 * 1024

export function hashText(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

/// What a mirror knows of its last common text after a restart.
export interface MirrorBase {
  /// sha256 of the last text file and document had in common.
  hash: string | null
  /// sha256 of a text the mirror was about to write to the file (saved
  /// before the write, so a daemon killed in between knows the file may hold it).
  pending?: string | null
  /// How many accepted updates the document held when that text was its
  /// text too (where the document's history can give the text back).
  version?: number | null
}

/// What a FileMirror emits.
export interface FileMirrorEvents {
  /// The file and the document agree again (the new base: its hash, and
  /// the document's update count when the document held exactly that text).
  synced: [hash: string, version: number | null]
  /// A file change went into the document.
  saved: [e: { version: number }]
  /// The document was written to the file.
  written: []
  /// The file cannot be used (why).
  problem: [message: string]
}

/// Keeps one plain-text file and one document equal, both ways.
///
/// `base` is the last text the file and the document had in common. A save
/// of the file is merged into the document as a three-way merge: the change
/// base -> file, rebased over what the document did since base -> document
/// (fast-diff for the two diffs, CodeMirror's ChangeSet mapping for the
/// rebase), so concurrent remote edits survive. The base of a save is the
/// recent text of the file closest to what was saved: whoever wrote the file
/// started from one of the texts it held, and the closest one is the one it
/// started from (an editor that never reloaded saves the old text plus its
/// own change; one that did reload saves the new text plus its change).
///
/// With `writeBack` (`swarmpad sync`), remote edits are written to the file
/// when it holds exactly `base` (nothing unsaved in it is overwritten) and
/// was not modified in the last moment. Without it (`swarmpad edit`, while
/// the editor holds the file), the file is the editor's alone: nothing is
/// written behind its back, so an editor that does not reload never sees a
/// file that changed under it.
///
/// Events: FileMirrorEvents.
export class FileMirror extends EventEmitter<FileMirrorEvents> {
  readonly path: string
  readonly doc: OpenDocument
  private base: string | null = null
  private baseHash: string | null
  /// What the file may hold after a restart besides `baseHash` (MirrorBase.pending).
  private pendingHash: string | null
  /// MirrorBase.version of the base known at the start.
  private baseVersion: number | null
  private readonly intend: ((hash: string) => Promise<void>) | null
  /// Texts the file held lately (oldest first; the last is `base`).
  private recent: string[] = []
  private readonly writeBack: boolean
  private chain: Promise<void> = Promise.resolve()
  private watcher: FSWatcher | null = null
  private fileTimer: NodeJS.Timeout | null = null
  private docTimer: NodeJS.Timeout | null = null
  private pollTimer: NodeJS.Timeout | null = null
  private lastStat = ''
  /// Device and inode of the file last read or written.
  private identity: FileIdentity | null = null
  /// Mode of the file last read (a file recreated after it went missing gets it).
  private mode: number | null = null
  private closed = false
  /// While an editor edits the file live (src/editor), the mirror neither reads nor writes it.
  private held = false
  /// The problem reported last (reported once until it changes).
  problem: string | null = null
  private readonly onChange = () => this.scheduleToFile()

  /// `intend` is called with the hash of each text before it is written to
  /// the file, and the write waits for it (the caller makes it durable).
  constructor(doc: OpenDocument, path: string, opts: { base?: MirrorBase; writeBack?: boolean; intend?: (hash: string) => Promise<void> } = {}) {
    super()
    this.doc = doc
    this.path = path
    this.baseHash = opts.base?.hash ?? null
    this.pendingHash = opts.base?.pending ?? null
    this.baseVersion = opts.base?.version ?? null
    this.writeBack = opts.writeBack ?? true
    this.intend = opts.intend ?? null
  }

  get hash(): string | null {
    return this.baseHash
  }

  /// Whether the document holds edits the file does not (made by others
  /// while a `writeBack: false` mirror kept the file as the editor left it).
  get behind(): boolean {
    return this.base !== null && this.base !== this.doc.doc.text.toString()
  }

  /// Bring file and document together once, then follow both.
  /// A new mirror (`doc`, `file`) refuses a path that is not a regular file
  /// of ours (see safe-file.ts); a resumed one reports it as its problem and
  /// keeps watching, so it syncs again once the file is fixed.
  async start(how: MirrorStart): Promise<void> {
    try {
      await this.serial(async () => {
        const docText = this.doc.doc.text.toString()
        if (how !== 'resume') {
          const state = await inspectPath(this.path)
          if (state.kind === 'unsafe') throw new SwarmpadError('BAD_ARGUMENT', state.problem)
        }
        if (how === 'doc') {
          await this.intendWrite(docText)
          await this.writeFile(docText)
          this.setBase(docText)
        } else if (how === 'file') {
          this.setBase(docText)
          await this.fromFile()
        } else {
          await this.resume()
        }
      })
    } catch (err) {
      // Reported (the `problem` event); a resumed mirror keeps watching.
      if (how !== 'resume') throw err
    }
    if (this.closed) return
    if (this.writeBack) this.doc.doc.on('change', this.onChange)
    this.watchFile()
  }

  /// Apply what the file holds now and wait until it is durable in the log.
  async flush(): Promise<{ version: number }> {
    await this.serial(() => this.fromFile())
    await this.doc.doc.flush()
    return { version: this.doc.doc.version }
  }

  /// Given back by the editor, the mirror takes over: a file equal to the
  /// document is the new base; one as before gets the document; one changed meanwhile is merged.
  hold(held: boolean): void {
    this.held = held
    if (held || this.closed) return
    void this.serial(async () => {
      const text = await this.readFileText()
      if (typeof text === 'string' && text === this.doc.doc.text.toString()) this.setBase(text)
      else if (this.writeBack) this.scheduleToFile(0)
    }).catch(() => {})
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.doc.doc.off('change', this.onChange)
    this.watcher?.close()
    for (const t of [this.fileTimer, this.docTimer, this.pollTimer]) if (t) clearTimeout(t)
    await this.chain
  }

  // --- scheduling ---

  private serial(task: () => Promise<void>): Promise<void> {
    const run = this.chain.then(task)
    this.chain = run.catch((err) => this.report(errorMessage(err)))
    return run
  }

  private watchFile(): void {
    const name = basename(this.path)
    try {
      this.watcher = watch(dirname(this.path), { persistent: false }, (_event, file) => {
        if (file === null || file === name) this.scheduleFromFile()
      })
      this.watcher.on('error', () => {
        this.watcher?.close()
        this.watcher = null
      })
    } catch {
      this.watcher = null
    }
    const poll = () => {
      if (this.closed) return
      void this.statKey().then((key) => {
        if (key !== this.lastStat) {
          this.lastStat = key
          this.scheduleFromFile()
        }
        if (!this.closed) this.pollTimer = setTimeout(poll, POLL_MS).unref()
      })
    }
    this.pollTimer = setTimeout(poll, POLL_MS).unref()
  }

  private scheduleFromFile(): void {
    if (this.closed) return
    if (this.fileTimer) clearTimeout(this.fileTimer)
    this.fileTimer = setTimeout(() => {
      this.fileTimer = null
      void this.serial(() => this.fromFile()).catch(() => {})
    }, FILE_SETTLE_MS)
  }

  private scheduleToFile(delay = DOC_SETTLE_MS): void {
    if (this.closed || this.docTimer) return
    this.docTimer = setTimeout(() => {
      this.docTimer = null
      void this.serial(() => this.toFile()).catch(() => {})
    }, delay)
  }

  /// What the path is now, without following a symbolic link there.
  private async statKey(): Promise<string> {
    try {
      const s = await lstat(this.path)
      return `${s.ino}:${s.mode}:${s.uid}:${s.nlink}:${s.size}:${s.mtimeMs}`
    } catch {
      return 'missing'
    }
  }

  // --- the two directions ---

  /// The file's text, 'missing', or 'unusable' (reported).
  private async readFileText(): Promise<string | 'missing' | 'unusable'> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const before = await this.statKey()
      if (before === 'missing') return 'missing'
      let text: string
      let info: { dev: number; ino: number; mode: number }
      try {
        const read = await readSyncedFile(this.path)
        checkReplacement(this.path, this.identity, read.info)
        text = read.text
        info = read.info
      } catch (err) {
        if ((await this.statKey()) === 'missing') return 'missing'
        this.lastStat = await this.statKey()
        this.report(`${errorMessage(err)}; the file is not synced until it is fixed`)
        return 'unusable'
      }
      const after = await this.statKey()
      // Changed while we read it: an editor is still saving.
      if (after === before) {
        this.lastStat = after
        this.identity = identityOf(info)
        this.mode = info.mode & 0o777
        return text
      }
      await new Promise((r) => setTimeout(r, FILE_SETTLE_MS))
    }
    return 'unusable'
  }

  /// A save of the file: merge it into the document.
  private async fromFile(): Promise<void> {
    if (this.closed || this.held) return
    const fileText = await this.readFileText()
    if (fileText === 'missing' || fileText === 'unusable') return
    this.clearProblem()
    if (this.base === null) {
      await this.resumeWith(fileText)
      return
    }
    if (fileText === this.base) return
    const doc = this.doc.doc
    const base = this.closestRecent(fileText)
    const docText = doc.text.toString()
    const mine = changeSetOf(diffChanges(base, fileText), base.length)
    const theirs = changeSetOf(diffChanges(base, docText), base.length)
    const merged = mine.map(theirs)
    if (!merged.empty) {
      const result = doc.edit(merged, doc.version)
      this.setBase(fileText)
      await result.durable
      this.emit('saved', { version: result.version })
    } else {
      this.setBase(fileText)
    }
    if (this.writeBack && doc.text.toString() !== fileText) this.scheduleToFile(0)
  }

  /// The recent text of the file that `fileText` is the smallest change of
  /// (the newest on a tie).
  private closestRecent(fileText: string): string {
    let best = this.base!
    let bestCost = changeCost(best, fileText)
    for (let i = this.recent.length - 2; i >= 0 && bestCost > 0; i--) {
      const candidate = this.recent[i]!
      // A diff is at least the difference in length: skip what cannot win.
      if (Math.abs(candidate.length - fileText.length) >= bestCost) continue
      const cost = changeCost(candidate, fileText)
      if (cost < bestCost) {
        best = candidate
        bestCost = cost
      }
    }
    return best
  }

  /// Remote (or other local) edits: write them to the file if it holds no
  /// unsaved change and is not being saved right now.
  private async toFile(): Promise<void> {
    if (this.closed || this.held || this.base === null) return
    const docText = this.doc.doc.text.toString()
    if (docText === this.base) return
    let mtime: number
    try {
      mtime = (await lstat(this.path)).mtimeMs
    } catch {
      mtime = 0
    }
    if (Date.now() - mtime < BUSY_MS) {
      this.scheduleToFile(BUSY_MS)
      return
    }
    const fileText = await this.readFileText()
    if (fileText === 'missing') {
      this.report(`${this.path} is missing; it is synced again once it exists`)
      return
    }
    if (fileText === 'unusable') return
    if (fileText !== this.base) {
      // The file holds a save we have not merged yet: merge it first; that
      // schedules this write again if the document still differs.
      await this.fromFile()
      return
    }
    const latest = this.doc.doc.text.toString()
    await this.intendWrite(latest)
    await this.writeFile(latest)
    this.setBase(latest)
    this.emit('written')
  }

  /// After a restart only the hash of the old base is known.
  private async resume(): Promise<void> {
    const fileText = await this.readFileText()
    if (fileText === 'missing') {
      this.report(`${this.path} is missing; it is synced again once it exists`)
      return
    }
    if (fileText === 'unusable') return
    await this.resumeWith(fileText)
  }

  private async resumeWith(fileText: string): Promise<void> {
    const docText = this.doc.doc.text.toString()
    const fileHash = hashText(fileText)
    if (this.baseHash !== null && (fileHash === this.baseHash || fileHash === this.pendingHash)) {
      // The file did not change (or holds what was being written when the
      // daemon stopped): the document may have; write it out.
      this.setBase(fileText)
      if (docText !== fileText) await this.toFile()
      return
    }
    if (docText === fileText) {
      this.setBase(fileText)
      return
    }
    if (this.baseHash !== null && hashText(docText) === this.baseHash) {
      // Only the file changed while swarmpad was stopped: an ordinary save.
      this.setBase(docText)
      await this.fromFile()
      return
    }
    // Both changed. The file was written from some text the document held
    // since the last sync: the closest one in its history is the base, and
    // the two changes are merged against it, as a save is merged.
    const base = await closestInHistory(this.doc.doc, fileText, this.baseVersion)
    if (base !== null && base.text === fileText) {
      // The file holds an earlier text of the document (written by swarmpad
      // before it stopped): nothing of yours to merge; it gets the document.
      this.setBase(fileText)
      await this.toFile()
      return
    }
    if (base !== null) {
      this.report(`${this.path} and the document both changed while swarmpad was stopped; the file's change was merged (against the document's text after ${base.version} updates)`)
      this.setBase(base.text)
      await this.fromFile()
      return
    }
    // No common text is known: nothing is thrown away. The document keeps
    // its text, and the file's text is kept beside it for you to merge.
    const copy = await saveConflictCopy(this.path, fileText, this.mode ?? userFileMode())
    this.report(`${this.path} and the document both changed while swarmpad was stopped and their common text is not known; the file now holds the document's text, and the file's text was saved as ${copy}`)
    this.setBase(fileText)
    await this.toFile()
  }

  private setBase(text: string): void {
    this.base = text
    this.remember(text)
    const hash = hashText(text)
    const version = text === this.doc.doc.text.toString() ? this.doc.doc.updateCount : null
    if (hash !== this.baseHash || version !== this.baseVersion || this.pendingHash !== null) {
      this.baseHash = hash
      this.baseVersion = version
      this.pendingHash = null
      this.emit('synced', hash, version)
    }
  }

  private remember(text: string): void {
    const at = this.recent.indexOf(text)
    if (at !== -1) this.recent.splice(at, 1)
    this.recent.push(text)
    let chars = 0
    for (const t of this.recent) chars += t.length
    while (this.recent.length > RECENT_TEXTS || (this.recent.length > 1 && chars > RECENT_CHARS)) {
      chars -= this.recent.shift()!.length
    }
  }

  /// Replace the file atomically (an exclusively created temporary file with
  /// a random name, renamed over it; see safe-file.ts), keeping its mode. A
  /// path that is not a regular file of ours is left alone.
  private async writeFile(text: string): Promise<void> {
    const state = await inspectPath(this.path)
    if (state.kind === 'unsafe') throw new SwarmpadError('BAD_ARGUMENT', state.problem)
    const mode = state.kind === 'file' ? state.info.mode & 0o777 : (this.mode ?? userFileMode())
    await replaceFile(this.path, text, mode)
    this.lastStat = await this.statKey()
    this.identity = identityOf(await lstat(this.path).catch(() => null))
  }

  private async intendWrite(text: string): Promise<void> {
    if (this.intend === null) return
    this.pendingHash = hashText(text)
    await this.intend(this.pendingHash)
  }

  private report(message: string): void {
    if (message === this.problem) return
    this.problem = message
    this.emit('problem', message)
  }

  private clearProblem(): void {
    this.problem = null
  }
}
