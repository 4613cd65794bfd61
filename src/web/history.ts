// The history panel: a slider over the document's accepted updates, the text
// at that point (read-only), blame colours by member, and "restore".
import { EditorState, StateEffect, StateField, type Range } from '@codemirror/state'
import { Decoration, EditorView, type DecorationSet } from '@codemirror/view'
import type { BlameRun, MemberInfo, ServerMessage, TimelinePoint } from '../server/protocol.js'
import { historyExtensions } from './editor.js'
import { clear, el, notice } from './dom.js'
import { safeColor } from './cursors.js'
import type { PageSocket } from './socket.js'

const setBlame = StateEffect.define<{ runs: BlameRun[] | null; colors: Map<number, string> }>()

const blameField = StateField.define<DecorationSet>({
  create: () => Decoration.none,
  update(value, tr) {
    for (const e of tr.effects) {
      if (!e.is(setBlame)) continue
      const ranges: Array<Range<Decoration>> = []
      for (const [from, to, member] of e.value.runs ?? []) {
        if (to <= from || to > tr.state.doc.length) continue
        const color = e.value.colors.get(member) ?? '#888888'
        ranges.push(Decoration.mark({ attributes: { style: `background-color: ${color}38`, 'data-member': String(member) } }).range(from, to))
      }
      return Decoration.set(ranges, true)
    }
    return value.map(tr.changes)
  },
  provide: (f) => EditorView.decorations.from(f)
})

type HistoryMsg = Extract<ServerMessage, { type: 'history' }>
type HistoryAtMsg = Extract<ServerMessage, { type: 'history-at' }>

export class HistoryPanel {
  readonly root: HTMLElement
  private readonly slider: HTMLInputElement
  private readonly label: HTMLElement
  private readonly blameBox: HTMLInputElement
  private readonly restoreButton: HTMLButtonElement
  private readonly legend: HTMLElement
  private readonly viewParent: HTMLElement
  private view: EditorView | null = null
  private points: TimelinePoint[] = []
  private first = 0
  private members: MemberInfo[] = []
  private requestTimer: number | null = null
  private requesting = false
  private wanted: number | null = null
  /// The index (number of updates) shown now.
  shown = -1

  constructor(
    private readonly socket: PageSocket,
    private readonly doc: string,
    private readonly opts: { markdown: () => boolean; dark: () => boolean; writable: () => boolean; onClose: () => void }
  ) {
    this.slider = el('input', { type: 'range', min: '0', max: '0', value: '0', 'aria-label': 'point in history' })
    this.slider.addEventListener('input', () => this.schedule())
    this.label = el('span', { class: 'sp-history-label' }, 'loading history…')
    this.blameBox = el('input', { type: 'checkbox', checked: true })
    this.blameBox.addEventListener('change', () => this.load(true))
    this.restoreButton = el('button', { class: 'primary', onclick: () => void this.restore() }, 'Restore this version')
    this.legend = el('div', { class: 'sp-legend' })
    this.viewParent = el('div', { class: 'sp-history-view' })
    this.root = el(
      'section',
      { class: 'sp-history', hidden: true, 'aria-label': 'history' },
      el(
        'div',
        { class: 'sp-history-bar' },
        el('strong', {}, 'History'),
        this.slider,
        this.label,
        el('label', {}, this.blameBox, ' who wrote what'),
        this.restoreButton,
        el('button', { onclick: () => this.close() }, 'Close')
      ),
      this.legend,
      this.viewParent
    )
  }

  get isOpen(): boolean {
    return !this.root.hidden
  }

  async open(): Promise<void> {
    this.root.hidden = false
    this.label.textContent = 'loading history…'
    this.restoreButton.disabled = !this.opts.writable()
    let msg: HistoryMsg
    try {
      msg = await this.socket.request<HistoryMsg>({ type: 'history', doc: this.doc })
    } catch (err) {
      this.label.textContent = `history unavailable: ${(err as Error).message}`
      return
    }
    this.points = msg.points
    this.first = msg.first
    this.members = msg.members
    this.slider.max = String(this.points.length)
    this.slider.value = String(this.points.length)
    this.renderLegend()
    await this.load(true)
  }

  close(): void {
    this.root.hidden = true
    this.view?.destroy()
    this.view = null
    this.shown = -1
    this.opts.onClose()
  }

  /// The number of updates at slider position i (0: the oldest known point).
  private indexAt(i: number): number {
    if (i <= 0) return this.first
    return this.points[Math.min(i, this.points.length) - 1]!.index
  }

  private schedule(): void {
    if (this.requestTimer !== null) return
    this.requestTimer = window.setTimeout(() => {
      this.requestTimer = null
      void this.load(false)
    }, 60)
  }

  private describe(i: number): string {
    const index = this.indexAt(i)
    if (i <= 0) return this.first === 0 ? 'the empty document' : `earliest stored point (${index} updates)`
    const p = this.points[i - 1]!
    const m = this.members.find((x) => x.n === p.member)
    const when = p.time > 0 ? new Date(p.time).toLocaleString() : ''
    const now = i === this.points.length ? ' (now)' : ''
    return `update ${index}${now} · ${m ? m.name : 'unknown'} · ${when}`
  }

  async load(force: boolean): Promise<void> {
    const i = Number(this.slider.value)
    const index = this.indexAt(i)
    if (!force && index === this.shown) return
    if (this.requesting) {
      this.wanted = i
      return
    }
    this.requesting = true
    try {
      const msg = await this.socket.request<HistoryAtMsg>({ type: 'history-at', doc: this.doc, index, blame: this.blameBox.checked })
      this.show(msg)
      this.label.textContent = this.describe(i)
    } catch (err) {
      this.label.textContent = (err as Error).message
    } finally {
      this.requesting = false
    }
    if (this.wanted !== null) {
      this.wanted = null
      void this.load(false)
    }
  }

  private show(msg: HistoryAtMsg): void {
    const colors = new Map(this.members.map((m) => [m.n, safeColor(m.color)] as const))
    const state = EditorState.create({ doc: msg.text, extensions: historyExtensions(this.opts.markdown(), this.opts.dark(), blameField) })
    if (this.view === null) this.view = new EditorView({ state, parent: this.viewParent })
    else this.view.setState(state)
    this.view.dispatch({ effects: setBlame.of({ runs: msg.blame, colors }) })
    this.shown = msg.index
    this.root.dataset.index = String(msg.index)
  }

  private renderLegend(): void {
    clear(this.legend)
    for (const m of this.members) {
      const s = el('span', {}, m.name)
      s.style.setProperty('--c', safeColor(m.color))
      this.legend.append(s)
    }
  }

  /// The text shown now (for tests).
  get text(): string | null {
    return this.view?.state.doc.toString() ?? null
  }

  private async restore(): Promise<void> {
    if (this.shown < 0) return
    if (!window.confirm('Restore this version? It becomes a new edit; nothing is lost.')) return
    this.restoreButton.disabled = true
    try {
      await this.socket.request({ type: 'restore', doc: this.doc, index: this.shown })
      notice('Restored. The change is a new edit in the history.')
      this.close()
    } catch (err) {
      notice(`Could not restore: ${(err as Error).message}`)
    } finally {
      this.restoreButton.disabled = !this.opts.writable()
    }
  }
}
