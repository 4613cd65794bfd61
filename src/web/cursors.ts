// Remote cursors and selections: a caret with the member's name and colour,
// and a tinted selection. Positions arrive already mapped to the current
// text (CollabClient does that) and move with every later change.
import { StateEffect, StateField, type Extension, type Range } from '@codemirror/state'
import { Decoration, EditorView, WidgetType, type DecorationSet } from '@codemirror/view'
import type { PresencePeer } from '../server/protocol.js'

export const setRemoteCursors = StateEffect.define<PresencePeer[]>()

/// A CSS colour we accept from the network (anything else becomes grey).
export function safeColor(c: string): string {
  return /^#[0-9a-fA-F]{3,8}$/.test(c) ? c : '#888888'
}

class CaretWidget extends WidgetType {
  constructor(
    readonly name: string,
    readonly color: string,
    readonly id: string
  ) {
    super()
  }

  override eq(other: CaretWidget): boolean {
    return other.name === this.name && other.color === this.color && other.id === this.id
  }

  toDOM(): HTMLElement {
    const caret = document.createElement('span')
    caret.className = 'sp-remote-caret'
    caret.style.borderLeftColor = this.color
    caret.dataset.peer = this.id
    const label = document.createElement('span')
    label.className = 'sp-remote-label'
    label.style.backgroundColor = this.color
    label.textContent = this.name
    caret.appendChild(label)
    return caret
  }

  override ignoreEvent(): boolean {
    return true
  }
}

function decorationsFor(peers: readonly PresencePeer[], docLength: number): DecorationSet {
  const ranges: Array<Range<Decoration>> = []
  for (const p of peers) {
    if (p.head === null) continue
    const color = safeColor(p.color)
    const head = Math.min(docLength, Math.max(0, p.head))
    const anchor = p.anchor === null ? head : Math.min(docLength, Math.max(0, p.anchor))
    if (anchor !== head) {
      const from = Math.min(anchor, head)
      const to = Math.max(anchor, head)
      ranges.push(Decoration.mark({ class: 'sp-remote-selection', attributes: { style: `background-color: ${color}40` } }).range(from, to))
    }
    ranges.push(Decoration.widget({ widget: new CaretWidget(p.name, color, p.id), side: 1 }).range(head))
  }
  return Decoration.set(ranges, true)
}

export const remoteCursorField = StateField.define<DecorationSet>({
  create: () => Decoration.none,
  update(value, tr) {
    let next = value.map(tr.changes)
    for (const e of tr.effects) if (e.is(setRemoteCursors)) next = decorationsFor(e.value, tr.state.doc.length)
    return next
  },
  provide: (f) => EditorView.decorations.from(f)
})

export function remoteCursors(): Extension {
  return [
    remoteCursorField,
    EditorView.baseTheme({
      '.sp-remote-caret': {
        position: 'relative',
        borderLeft: '2px solid',
        marginLeft: '-1px',
        marginRight: '-1px',
        pointerEvents: 'none'
      },
      '.sp-remote-label': {
        position: 'absolute',
        top: '-1.25em',
        left: '-2px',
        fontSize: '0.72em',
        lineHeight: '1.2',
        padding: '0 3px',
        borderRadius: '3px 3px 3px 0',
        color: '#fff',
        whiteSpace: 'nowrap',
        fontFamily: 'system-ui, sans-serif',
        zIndex: '5',
        opacity: '0.9'
      }
    })
  ]
}
