// A model of an editor plugin of Teamtype's protocol (what the Neovim and VS
// Code plugins do): a buffer, an editor revision and a daemon revision, edits
// sent with the daemon revision they were made at, daemon edits applied only
// when they name the current editor revision. Positions are computed here
// with the string iterator (code points), independently of src/editor.
import type { Prng } from './prng.js'

export interface ModelPosition {
  line: number
  character: number
}
export interface ModelReplacement {
  range: { start: ModelPosition; end: ModelPosition }
  replacement: string
}

/// Text pieces that stress positions: emoji (surrogate pairs, ZWJ
/// sequences), CJK, combining marks, line breaks, plain ASCII.
export const PIECES = ['a', 'b', 'xyz', ' ', '\n', '\n\n', '😀', '👩‍👩‍👧', '漢字', 'かな', 'e\u0301', '\u0308', 'Ω', 'ß', '→', '\t']

/// UTF-16 offset of a position in `text` (lines end in "\n"), or -1.
export function modelOffset(text: string, pos: ModelPosition): number {
  const lines = text.split('\n')
  if (pos.line < 0 || pos.line >= lines.length) return -1
  let offset = 0
  for (let i = 0; i < pos.line; i++) offset += lines[i]!.length + 1
  const points = [...lines[pos.line]!]
  if (pos.character < 0 || pos.character > points.length) return -1
  return offset + points.slice(0, pos.character).join('').length
}

/// The position of a code point index of `text`.
export function modelPosition(text: string, codePoint: number): ModelPosition {
  const before = [...text].slice(0, codePoint).join('')
  const lines = before.split('\n')
  return { line: lines.length - 1, character: [...lines[lines.length - 1]!].length }
}

/// Apply a delta (ranges against the text before it, in order) to `text`.
export function applyModelDelta(text: string, delta: readonly ModelReplacement[]): string {
  const spans = delta.map((d) => ({ from: modelOffset(text, d.range.start), to: modelOffset(text, d.range.end), insert: d.replacement }))
  for (const s of spans) if (s.from < 0 || s.to < s.from) throw new Error(`model: a delta that does not fit: ${JSON.stringify(delta)} on ${JSON.stringify(text)}`)
  let out = text
  for (const s of [...spans].reverse()) out = out.slice(0, s.from) + s.insert + out.slice(s.to)
  return out
}

/// A random edit of `text`: 0-3 replacements in order, never overlapping.
export function randomDelta(rng: Prng, text: string, maxInsert = 6): ModelReplacement[] {
  const n = [...text].length
  const count = rng.weighted({ 0: 1, 1: 12, 2: 2, 3: 1 } as Record<'0' | '1' | '2' | '3', number>)
  const cuts: number[] = []
  for (let i = 0; i < Number(count) * 2; i++) cuts.push(rng.int(0, n))
  cuts.sort((a, b) => a - b)
  const out: ModelReplacement[] = []
  for (let i = 0; i < cuts.length; i += 2) {
    let end = cuts[i + 1]!
    // Mostly short deletions, like typing.
    if (rng.bool(0.7)) end = Math.min(end, cuts[i]! + rng.int(0, 2))
    let insert = ''
    const pieces = rng.int(0, maxInsert)
    for (let k = 0; k < pieces; k++) insert += rng.pick(PIECES)
    out.push({ range: { start: modelPosition(text, cuts[i]!), end: modelPosition(text, end) }, replacement: insert })
  }
  return out
}

/// One editor with one open file.
export class ModelEditor {
  content: string
  editorRevision = 0
  daemonRevision = 0
  /// Messages from the daemon not processed yet (they wait: latency).
  readonly inbox: string[] = []
  /// Answers the daemon sent, by id.
  readonly answers = new Map<number | string, { result?: unknown; error?: { code: number; message: string } }>()
  readonly cursors: Array<{ userid: string; name?: string; ranges: unknown[] }> = []
  /// Set when a daemon edit named the current revision but did not fit the
  /// buffer: the daemon and this editor disagree about its text.
  broken: string | null = null
  private nextId = 1
  /// The id of an `open` not answered yet. Like the plugins, the editor
  /// follows the file (counts revisions, applies edits) only once it is.
  private opening: number | null = null
  tracking = false

  constructor(
    readonly uri: string,
    content: string,
    private readonly send: (text: string) => void
  ) {
    this.content = content
  }

  /// Send `open`; the revisions start over when it is answered.
  open(): number {
    this.tracking = false
    this.opening = this.request('open', { uri: this.uri, content: this.content })
    return this.opening
  }

  /// Send `close`: stop following the file.
  close(): void {
    this.tracking = false
    this.opening = null
    this.request('close', { uri: this.uri })
  }

  request(method: string, params: unknown): number {
    const id = this.nextId++
    this.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }))
    return id
  }

  /// The user types: the buffer changes, then the edit goes out.
  type(delta: ModelReplacement[]): number {
    if (!this.tracking) throw new Error('model: typing before the file is open')
    this.content = applyModelDelta(this.content, delta)
    this.editorRevision++
    return this.request('edit', { uri: this.uri, revision: this.daemonRevision, delta })
  }

  /// Process the next message from the daemon; false when none waits.
  deliver(): boolean {
    const text = this.inbox.shift()
    if (text === undefined) return false
    const m = JSON.parse(text) as { id?: number | string; method?: string; params?: any; result?: unknown; error?: { code: number; message: string } }
    if (m.method === undefined) {
      if (m.id !== undefined && m.id !== null) this.answers.set(m.id, { result: m.result, ...(m.error ? { error: m.error } : {}) })
      if (m.id === this.opening && this.opening !== null) {
        this.opening = null
        if (m.error === undefined) {
          this.tracking = true
          this.editorRevision = 0
          this.daemonRevision = 0
        }
      }
      return true
    }
    if (m.method === 'edit' && m.params.uri === this.uri && this.tracking) {
      if (m.params.revision === this.editorRevision) {
        try {
          this.content = applyModelDelta(this.content, m.params.delta)
        } catch (err) {
          this.broken ??= (err as Error).message
        }
        this.daemonRevision++
      }
    } else if (m.method === 'cursor') {
      this.cursors.push(m.params)
    }
    return true
  }

  deliverAll(): void {
    while (this.deliver()) {}
  }
}
