import { closeSync, mkdirSync, openSync, readFileSync, renameSync, writeSync, fsyncSync } from 'node:fs'
import { dirname } from 'node:path'

/// Most bytes of a journal read at start; a larger file is read from its tail.
const MAX_READ_BYTES = 16 * 1024 * 1024

/// Sessions (daemon runs) whose records are kept when the journal is compacted.
const KEEP_SESSIONS = 4

/// Records of the current session after which the journal is compacted,
/// keeping the newest KEEP_RECORDS of them.
const COMPACT_AFTER = 50_000
const KEEP_RECORDS = 10_000

interface SessionLine {
  epoch: string
  /// This device's Yjs clock in the document when the session opened it.
  clock: number
}

interface UpdateLine {
  epoch: string
  clientID: string
  seq: number
  /// The device's Yjs clock before and after the update went into the Y.Doc.
  before: number
  after: number
}

/// Which tab updates reached the log before the daemon stopped.
///
/// The authority gives every tab update an id (the tab's clientID and a seq)
/// and deduplicates on it in memory. After a crash the memory is gone, but a
/// tab still holds the updates it never saw confirmed and sends them again;
/// some of them may have reached the log just before the crash. This journal
/// lets the next run tell which.
///
/// It is an append-only text file per document, one line per session start
/// (`S epoch clock`: this device's Yjs clock when the session opened the
/// document, which counts exactly the characters of its own that reached the
/// log) and one per accepted tab update (`U epoch clientID seq before after`:
/// the device's clock around the update, written synchronously right after
/// the update entered the Y.Doc, so before it can be durable). This device's
/// updates reach the log in clock order (one append queue, in order), so an
/// update of session s reached the log iff the clock the *next* session
/// started with is at least `after`. An update that inserts nothing leaves
/// the clock unchanged: it reached the log iff something this device inserted
/// after it did (start clock > before); otherwise it is resent, which repeats
/// only a deletion (the page maps it over the text, where it deletes nothing
/// twice).
export class EditJournal {
  private fd: number | null = null
  private readonly sessions: SessionLine[] = []
  /// Records of earlier sessions, by clientID.
  private readonly earlier = new Map<string, UpdateLine[]>()
  private currentRecords = 0
  private currentLines: string[] = []
  /// Failures writing the journal (the edit goes on; only crash dedup suffers).
  onError: (err: unknown) => void = () => {}

  constructor(
    readonly path: string,
    readonly epoch: string,
    readonly clock: number
  ) {}

  open(): void {
    let lines: string[] = []
    try {
      const buf = readFileSync(this.path)
      const text = buf.length > MAX_READ_BYTES ? buf.subarray(buf.length - MAX_READ_BYTES).toString('utf8') : buf.toString('utf8')
      lines = text.split('\n')
      if (buf.length > MAX_READ_BYTES) lines.shift() // a partial first line
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.onError(err)
    }
    const parsed: Array<SessionLine | UpdateLine> = []
    for (const line of lines) {
      const p = parseLine(line)
      if (p !== null) parsed.push(p)
    }
    // Keep the last KEEP_SESSIONS sessions (and the records after their starts).
    let starts = 0
    let from = parsed.length
    for (let i = parsed.length - 1; i >= 0; i--) {
      if (!('clientID' in parsed[i]!)) {
        starts++
        from = i
        if (starts === KEEP_SESSIONS) break
      }
    }
    const kept = parsed.slice(from)
    for (const p of kept) {
      if ('clientID' in p) {
        let list = this.earlier.get(p.clientID)
        if (list === undefined) this.earlier.set(p.clientID, (list = []))
        list.push(p)
      } else this.sessions.push(p)
    }
    this.sessions.push({ epoch: this.epoch, clock: this.clock })
    const out = kept.map(formatLine)
    out.push(formatLine({ epoch: this.epoch, clock: this.clock }))
    try {
      mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 })
      this.rewrite(out)
      this.fd = openSync(this.path, 'a', 0o600)
    } catch (err) {
      this.onError(err)
    }
  }

  close(): void {
    if (this.fd !== null) {
      try {
        closeSync(this.fd)
      } catch {
        // already gone
      }
      this.fd = null
    }
  }

  /// Note an accepted tab update. Synchronous: it must be on disk (in the
  /// page cache, which survives the process) before the update can be durable.
  record(clientID: string, seq: number, before: number, after: number): void {
    if (this.fd === null) return
    const line = formatLine({ epoch: this.epoch, clientID, seq, before, after })
    try {
      writeSync(this.fd, line + '\n')
      this.currentLines.push(line)
      if (++this.currentRecords >= COMPACT_AFTER) this.compact()
    } catch (err) {
      this.onError(err)
    }
  }

  /// The highest seq of `clientID`'s updates from earlier sessions that reached
  /// the log (-1: none known). Updates of one tab reach the log in seq order.
  appliedThrough(clientID: string): number {
    const records = this.earlier.get(clientID)
    if (records === undefined) return -1
    let best = -1
    for (const r of records) {
      const next = this.nextSessionClock(r.epoch)
      if (next === null) continue
      const applied = next >= r.after && (r.after > r.before || next > r.before)
      if (applied && r.seq > best) best = r.seq
    }
    return best
  }

  /// The highest seq of `clientID` seen in earlier sessions (-1: none).
  lastSeq(clientID: string): number {
    const records = this.earlier.get(clientID)
    if (records === undefined) return -1
    return records.reduce((m, r) => Math.max(m, r.seq), -1)
  }

  private nextSessionClock(epoch: string): number | null {
    for (let i = 0; i < this.sessions.length - 1; i++) {
      if (this.sessions[i]!.epoch === epoch) return this.sessions[i + 1]!.clock
    }
    return null
  }

  private compact(): void {
    this.currentLines = this.currentLines.slice(-KEEP_RECORDS)
    this.currentRecords = this.currentLines.length
    const out: string[] = []
    for (const s of this.sessions.slice(0, -1)) {
      out.push(formatLine(s))
      for (const list of this.earlier.values()) for (const r of list) if (r.epoch === s.epoch) out.push(formatLine(r))
    }
    out.push(formatLine({ epoch: this.epoch, clock: this.clock }), ...this.currentLines)
    this.close()
    this.rewrite(out)
    this.fd = openSync(this.path, 'a', 0o600)
  }

  private rewrite(lines: string[]): void {
    const tmp = `${this.path}.tmp`
    const fd = openSync(tmp, 'w', 0o600)
    try {
      writeSync(fd, lines.length > 0 ? lines.join('\n') + '\n' : '')
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(tmp, this.path)
  }
}

function formatLine(l: SessionLine | UpdateLine): string {
  if ('clientID' in l) return `U ${l.epoch} ${l.clientID} ${l.seq} ${l.before} ${l.after}`
  return `S ${l.epoch} ${l.clock}`
}

const TOKEN = /^[A-Za-z0-9_-]{1,64}$/

function parseLine(line: string): SessionLine | UpdateLine | null {
  const p = line.trim().split(' ')
  const nat = (s: string | undefined) => (s !== undefined && /^\d{1,16}$/.test(s) ? Number(s) : null)
  if (p[0] === 'S' && p.length === 3 && TOKEN.test(p[1]!)) {
    const clock = nat(p[2])
    return clock === null ? null : { epoch: p[1]!, clock }
  }
  if (p[0] === 'U' && p.length === 6 && TOKEN.test(p[1]!) && TOKEN.test(p[2]!)) {
    const seq = nat(p[3])
    const before = nat(p[4])
    const after = nat(p[5])
    if (seq === null || before === null || after === null || after < before) return null
    return { epoch: p[1]!, clientID: p[2]!, seq, before, after }
  }
  return null
}
