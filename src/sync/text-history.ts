import { ChangeSet, Text } from '@codemirror/state'
import { SwarmpadError } from '../errors.js'
import { changeSetOf, type TextChange } from '../doc/changes.js'
import { MAX_REBASE_VERSIONS } from '../limits.js'
import type { ChangeOrigin, DocumentChange } from './document-types.js'

/// The text a document shows, its version and the ChangeSets of the last
/// versions (to rebase an edit made against an older one). Pure: no Yjs, no
/// disk; every new version is handed to `onChange` (the document's `change`
/// event).
export class TextHistory {
  private textValue: Text = Text.empty
  private versionValue = 0
  /// ChangeSets of the last versions: history[i] turns firstVersion + i into the next.
  private history: ChangeSet[] = []
  private firstVersion = 0

  constructor(private readonly onChange: (change: DocumentChange) => void) {}

  /// The current text, as a CodeMirror Text (a rope: cheap to slice).
  get text(): Text {
    return this.textValue
  }

  get version(): number {
    return this.versionValue
  }

  /// The oldest version an edit may still be made against.
  get first(): number {
    return this.firstVersion
  }

  /// Show `text` without a new version (a load: nobody saw the text before,
  /// or the Y.Doc it came from is the truth).
  reset(text: Text): void {
    this.textValue = text
  }

  /// `changes` made against `baseVersion`, as a ChangeSet of the current text:
  /// rebased over what happened since (up to MAX_REBASE_VERSIONS back).
  rebase(changes: readonly TextChange[] | ChangeSet, baseVersion: number): ChangeSet {
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
    return cs
  }

  private lengthAt(version: number): number {
    if (version === this.versionValue) return this.textValue.length
    return this.history[version - this.firstVersion]!.length
  }

  /// Apply `cs` to the text as the next version and report it.
  advance(cs: ChangeSet, origin: ChangeOrigin, tag?: unknown): void {
    this.textValue = cs.apply(this.textValue)
    this.history.push(cs)
    this.versionValue++
    // Trim in large steps so keeping the history costs O(1) per version.
    if (this.history.length >= 2 * MAX_REBASE_VERSIONS) {
      const drop = this.history.length - MAX_REBASE_VERSIONS
      this.history.splice(0, drop)
      this.firstVersion += drop
    }
    this.onChange({ version: this.versionValue, changes: cs, origin, ...(tag !== undefined ? { tag } : {}) } satisfies DocumentChange)
  }
}
