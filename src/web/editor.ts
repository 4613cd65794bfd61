// The CodeMirror configuration of the page.
import { Compartment, EditorSelection, EditorState, Transaction, type Extension, type Text } from '@codemirror/state'
import {
  crosshairCursor,
  drawSelection,
  dropCursor,
  EditorView,
  highlightActiveLine,
  highlightActiveLineGutter,
  highlightSpecialChars,
  keymap,
  lineNumbers,
  rectangularSelection
} from '@codemirror/view'
import { defaultKeymap, history, historyKeymap, indentWithTab } from '@codemirror/commands'
import { highlightSelectionMatches, search, searchKeymap } from '@codemirror/search'
import { bracketMatching, HighlightStyle, indentOnInput, syntaxHighlighting } from '@codemirror/language'
import { markdown } from '@codemirror/lang-markdown'
import { tags as t } from '@lezer/highlight'
import { collab } from '@codemirror/collab'
import { remoteCursors } from './cursors.js'
import { insertedLength, MAX_UPDATE_INSERT, PASTE_CHUNK } from '../server/protocol.js'

/// Colours come from CSS variables, so one theme follows the system's light
/// or dark scheme (app.css switches the variables).
const highlight = HighlightStyle.define([
  { tag: t.heading, color: 'var(--hl-heading)', fontWeight: 'bold' },
  { tag: [t.strong], fontWeight: 'bold' },
  { tag: [t.emphasis], fontStyle: 'italic' },
  { tag: t.strikethrough, textDecoration: 'line-through' },
  { tag: [t.link, t.url], color: 'var(--hl-link)' },
  { tag: [t.monospace, t.string], color: 'var(--hl-code)' },
  { tag: [t.quote, t.comment], color: 'var(--hl-quote)', fontStyle: 'italic' },
  { tag: [t.processingInstruction, t.meta, t.contentSeparator], color: 'var(--hl-mark)' },
  { tag: [t.keyword], color: 'var(--hl-keyword)' }
])

const theme = EditorView.theme({
  '&': { height: '100%', backgroundColor: 'var(--bg)', color: 'var(--fg)' },
  '.cm-scroller': { fontFamily: 'var(--mono)', lineHeight: '1.55' },
  '.cm-content': { caretColor: 'var(--fg)', padding: '12px 0' },
  '.cm-gutters': { backgroundColor: 'var(--bg-2)', color: 'var(--fg-3)', borderRight: '1px solid var(--line)' },
  '.cm-activeLine': { backgroundColor: 'var(--active-line)' },
  '.cm-activeLineGutter': { backgroundColor: 'var(--active-line)' },
  '&.cm-focused .cm-cursor': { borderLeftColor: 'var(--fg)' },
  '&.cm-focused .cm-selectionBackground, .cm-selectionBackground, ::selection': { backgroundColor: 'var(--selection) !important' },
  '.cm-panels': { backgroundColor: 'var(--bg-2)', color: 'var(--fg)' },
  '.cm-searchMatch': { backgroundColor: 'var(--search-match)' },
  '.cm-textfield': { backgroundColor: 'var(--bg)', color: 'var(--fg)', border: '1px solid var(--line)' },
  '.cm-button': { backgroundImage: 'none', backgroundColor: 'var(--bg-2)', color: 'var(--fg)', border: '1px solid var(--line)' }
})

/// Paste a long text as several transactions of at most PASTE_CHUNK
/// characters (several updates of bounded size; history groups them into one
/// undo step). CRLF line ends become LF.
const pasteHandler = EditorView.domEventHandlers({
  paste(event, view) {
    const data = event.clipboardData?.getData('text/plain')
    if (data === undefined || view.state.readOnly) return false
    if (data.length <= PASTE_CHUNK && !data.includes('\r')) return false
    event.preventDefault()
    pasteText(view, data.replace(/\r\n?/g, '\n'))
    return true
  }
})

export function pasteText(view: EditorView, text: string): void {
  const sel = view.state.selection.main
  let from = sel.from
  let to = sel.to
  let i = 0
  do {
    let end = Math.min(text.length, i + PASTE_CHUNK)
    // Never split a surrogate pair between two updates.
    const last = text.charCodeAt(end - 1)
    if (end < text.length && last >= 0xd800 && last <= 0xdbff) end--
    const piece = text.slice(i, end)
    view.dispatch({
      changes: { from, to, insert: piece },
      selection: EditorSelection.cursor(from + piece.length),
      userEvent: 'input.paste',
      scrollIntoView: true
    })
    from += piece.length
    to = from
    i = end
  } while (i < text.length)
}

/// Refuse a single transaction that inserts more than one update may carry
/// (the paste handler splits pastes; this catches anything else).
const insertLimit = EditorState.transactionFilter.of((tr: Transaction) => {
  if (!tr.docChanged || tr.annotation(Transaction.remote)) return tr
  if (insertedLength(tr.changes) <= MAX_UPDATE_INSERT) return tr
  window.dispatchEvent(new CustomEvent('swarmpad-notice', { detail: `That change inserts more than ${MAX_UPDATE_INSERT} characters at once; paste it in parts.` }))
  return []
})

export const readOnlyCompartment = new Compartment()

/// What goes in readOnlyCompartment: a device that may not write gets an editor it cannot type into.
export function readOnlyExtension(writable: boolean): Extension {
  return [EditorState.readOnly.of(!writable), EditorView.editable.of(writable)]
}
export const languageCompartment = new Compartment()
export const darkCompartment = new Compartment()

export interface EditorConfig {
  markdown: boolean
  writable: boolean
  dark: boolean
  /// Called after every transaction the view applied.
  onUpdate: (tr: readonly Transaction[], docChanged: boolean, selectionSet: boolean) => void
}

export function editorExtensions(cfg: EditorConfig, version: number, clientID: string): Extension {
  return [
    EditorState.lineSeparator.of('\n'),
    lineNumbers(),
    highlightActiveLineGutter(),
    highlightSpecialChars(),
    history(),
    drawSelection(),
    dropCursor(),
    EditorState.allowMultipleSelections.of(true),
    indentOnInput(),
    syntaxHighlighting(highlight),
    bracketMatching(),
    rectangularSelection(),
    crosshairCursor(),
    highlightActiveLine(),
    highlightSelectionMatches(),
    search({ top: true }),
    keymap.of([...defaultKeymap, ...searchKeymap, ...historyKeymap, indentWithTab]),
    EditorView.lineWrapping,
    theme,
    darkCompartment.of(EditorView.darkTheme.of(cfg.dark)),
    languageCompartment.of(cfg.markdown ? markdown() : []),
    readOnlyCompartment.of(readOnlyExtension(cfg.writable)),
    collab({ startVersion: version, clientID }),
    remoteCursors(),
    pasteHandler,
    insertLimit,
    EditorView.updateListener.of((u) => cfg.onUpdate(u.transactions, u.docChanged, u.selectionSet))
  ]
}

/// A state for the history view: read-only, same look.
export function historyExtensions(markdownOn: boolean, dark: boolean, extra: Extension): Extension {
  return [
    EditorState.lineSeparator.of('\n'),
    lineNumbers(),
    highlightSpecialChars(),
    drawSelection(),
    syntaxHighlighting(highlight),
    EditorView.lineWrapping,
    theme,
    EditorView.darkTheme.of(dark),
    markdownOn ? markdown() : [],
    EditorState.readOnly.of(true),
    EditorView.editable.of(false),
    extra
  ]
}

export function emptyDoc(): Text {
  return EditorState.create().doc
}
