// The daemon's file mirrors: the persistent ones of `swarmpad sync` (kept in
// mirrors.json) and the temporary ones of `swarmpad edit` sessions.
import type { OpenDocument } from '../swarmpad.js'
import { SwarmpadError, errorMessage } from '../errors.js'
import { readJsonFile, writeJsonFile } from '../storage/json-file.js'
import { FileMirror, type MirrorStart } from './mirror.js'

/// One persistent mirror, as kept in `mirrors.json`.
export interface MirrorRecord {
  /// Document key (hex).
  doc: string
  /// Absolute path of the file (symlinks resolved).
  path: string
  /// sha256 of the last text file and document had in common.
  hash: string | null
  /// sha256 of the text being written to the file (saved before the write;
  /// null once it is written). Absent in files of earlier releases.
  pending?: string | null
  /// The document's update count when it held the text of `hash` (where its
  /// history can give that text back); null when it never held exactly it.
  version?: number | null
}

/// `mirrors.json`: `{ "version": 1, "mirrors": [MirrorRecord] }`.
const MIRRORS_FILE = { version: 1, field: 'mirrors' }

/// The daemon's file mirrors: persistent ones (`swarmpad sync`, kept in
/// `mirrors.json` so they survive restarts) and the temporary ones of
/// `swarmpad edit` sessions.
export class Mirrors {
  private records: MirrorRecord[] = []
  private readonly active = new Map<string, FileMirror>()
  private readonly sessions = new Set<FileMirror>()
  private readonly holds = new Set<string>()
  private damaged: string | null = null
  private saveTimer: NodeJS.Timeout | null = null
  private saving: Promise<void> = Promise.resolve()
  /// Starts of the mirrors of `mirrors.json` still running (close waits).
  private readonly starting = new Set<Promise<void>>()

  constructor(
    readonly file: string,
    private readonly log: (line: string) => void
  ) {}

  /// Read `mirrors.json` and start the mirrors of the documents given. The
  /// starts run in the background: a file that cannot be read (or a slow
  /// disk) never holds up the daemon's readiness; problems go to the log and
  /// to `swarmpad status`.
  async load(open: (key: string) => OpenDocument | undefined): Promise<void> {
    try {
      const read = await readJsonFile(this.file, MIRRORS_FILE)
      if (read.state === 'damaged') this.damaged = `${this.file} is damaged (${read.why}); it was left untouched: fix it or move it away`
      else if (read.state === 'ok') {
        const records = read.records as Array<Partial<MirrorRecord> | null>
        if (records.every(isMirrorRecord)) this.records = records as MirrorRecord[]
        else this.damaged = `${this.file} is damaged (malformed entry); it was left untouched: fix it or move it away`
      }
    } catch (err) {
      this.damaged = `cannot read ${this.file}: ${errorMessage(err)}`
    }
    if (this.damaged) this.log(`file sync disabled: ${this.damaged}`)
    for (const r of this.records) {
      const doc = open(r.doc)
      if (!doc) {
        this.log(`not syncing ${r.path}: its document is not open`)
        continue
      }
      const start: Promise<void> = this.startMirror(r, doc, 'resume')
        .catch((err) => this.log(`not syncing ${r.path}: ${errorMessage(err)}`))
        .finally(() => this.starting.delete(start))
      this.starting.add(start)
    }
  }

  list(): Array<MirrorRecord & { active: boolean; problem: string | null }> {
    return this.records.map((r) => {
      const m = this.active.get(mirrorId(r.doc, r.path))
      return { ...r, active: m !== undefined, problem: m?.problem ?? null }
    })
  }

  /// Start mirroring `path` (absolute, resolved) with a document, and keep it.
  async add(doc: OpenDocument, path: string, how: MirrorStart): Promise<void> {
    this.assertUsable()
    const existing = this.records.find((r) => r.path === path)
    if (existing) {
      if (existing.doc === doc.entry.key) return
      throw new SwarmpadError('BAD_ARGUMENT', `${path} is already synced with another document; \`swarmpad unsync\` it first`)
    }
    const record: MirrorRecord = { doc: doc.entry.key, path, hash: null }
    await this.startMirror(record, doc, how)
    this.records.push(record)
    await this.save()
  }

  /// Stop mirroring; false when it was not mirrored.
  async remove(docKey: string, path: string): Promise<boolean> {
    this.assertUsable()
    const i = this.records.findIndex((r) => r.doc === docKey && r.path === path)
    if (i === -1) return false
    const [record] = this.records.splice(i, 1)
    const id = mirrorId(record!.doc, record!.path)
    const m = this.active.get(id)
    this.active.delete(id)
    await m?.close()
    await this.save()
    return true
  }

  /// The document of some mirrors moved to a successor (re-key): follow it.
  async moved(fromKey: string, to: OpenDocument): Promise<void> {
    let changed = false
    for (const r of this.records) {
      if (r.doc !== fromKey) continue
      const id = mirrorId(r.doc, r.path)
      await this.active.get(id)?.close()
      this.active.delete(id)
      r.doc = to.entry.key
      changed = true
      await this.startMirror(r, to, 'resume').catch((err) => this.log(`not syncing ${r.path}: ${errorMessage(err)}`))
    }
    if (changed) await this.save()
  }

  /// Hold `path` for a live editor (src/editor) or give it back: its mirror neither reads nor writes it meanwhile.
  hold(path: string, held: boolean): void {
    if (held) this.holds.add(path)
    else this.holds.delete(path)
    for (const m of this.active.values()) if (m.path === path) m.hold(held)
  }

  /// A temporary mirror for an edit session (not kept across restarts).
  async session(doc: OpenDocument, path: string): Promise<FileMirror> {
    const m = new FileMirror(doc, path, { writeBack: false })
    m.on('problem', (msg: string) => this.log(`edit ${doc.entry.name}: ${msg}`))
    await m.start('doc')
    this.sessions.add(m)
    return m
  }

  async endSession(m: FileMirror): Promise<void> {
    this.sessions.delete(m)
    await m.close()
  }

  async close(): Promise<void> {
    await Promise.all(this.starting)
    for (const m of this.sessions) await m.flush().catch(() => {})
    for (const m of this.sessions) await m.close()
    this.sessions.clear()
    for (const m of this.active.values()) await m.close()
    this.active.clear()
    if (this.saveTimer) {
      clearTimeout(this.saveTimer)
      this.saveTimer = null
      await this.save().catch(() => {})
    }
    await this.saving
  }

  private async startMirror(record: MirrorRecord, doc: OpenDocument, how: MirrorStart): Promise<void> {
    // Before the mirror writes the file, mirrors.json says what it writes:
    // a daemon killed right after the write then knows the file holds
    // swarmpad's text, not an edit of yours.
    const intend = async (hash: string) => {
      record.pending = hash
      await this.save()
    }
    const m = new FileMirror(doc, record.path, { base: record, intend })
    if (this.holds.has(record.path)) m.hold(true)
    m.on('problem', (msg: string) => this.log(`sync ${doc.entry.name} ${record.path}: ${msg}`))
    m.on('synced', (hash: string, version: number | null) => {
      record.hash = hash
      record.version = version
      record.pending = null
      this.saveSoon()
    })
    // Listed (with its problem, if any) while it starts.
    const id = mirrorId(record.doc, record.path)
    this.active.set(id, m)
    try {
      await m.start(how)
    } catch (err) {
      if (this.active.get(id) === m) this.active.delete(id)
      await m.close()
      throw err
    }
    record.hash = m.hash
  }

  private assertUsable(): void {
    if (this.damaged) throw new SwarmpadError('STORAGE_CORRUPT', this.damaged)
  }

  private saveSoon(): void {
    if (this.saveTimer || this.damaged) return
    this.saveTimer = setTimeout(() => {
      this.saveTimer = null
      void this.save().catch((err) => this.log(`cannot save ${this.file}: ${errorMessage(err)}`))
    }, 200)
    this.saveTimer.unref()
  }

  private async save(): Promise<void> {
    if (this.damaged) return
    const records = this.records.map((r) => ({ ...r }))
    const write = this.saving.then(() => writeJsonFile(this.file, MIRRORS_FILE, records))
    this.saving = write.catch(() => {})
    await write
  }
}

function isMirrorRecord(r: Partial<MirrorRecord> | null): boolean {
  const nullableString = (v: unknown) => v === undefined || v === null || typeof v === 'string'
  const nullableCount = (v: unknown) => v === undefined || v === null || (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0)
  return typeof r?.doc === 'string' && typeof r.path === 'string' && (r.hash === null || typeof r.hash === 'string') && nullableString(r.pending) && nullableCount(r.version)
}

function mirrorId(doc: string, path: string): string {
  return `${doc}\u0000${path}`
}
