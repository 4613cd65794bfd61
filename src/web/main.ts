// The editor page: one document per page (/doc/NAME), or the document list (/).
import { EditorSelection, EditorState, Text, Transaction } from '@codemirror/state'
import { EditorView } from '@codemirror/view'
import { undo, redo } from '@codemirror/commands'
import { CollabClient, type ClientHost } from './collab-client.js'
import { darkCompartment, editorExtensions, readOnlyCompartment, readOnlyExtension } from './editor.js'
import { setRemoteCursors, safeColor } from './cursors.js'
import { PageSocket, type SocketState } from './socket.js'
import { HistoryPanel } from './history.js'
import { clear, dialog, el, initials, notice } from './dom.js'
import { memberColor, memberName } from '../values.js'
import { redeemLogin } from './credential.js'
import type { DocumentInfo, InviteInfo, InviteKind, MemberInfo, PresencePeer, RemoveInfo, ServerMessage, WelcomeMessage } from '../server/protocol.js'

type StatusMsg = Extract<ServerMessage, { type: 'status' }>
type InvitesMsg = Extract<ServerMessage, { type: 'invites' }>
type ResultMsg = Extract<ServerMessage, { type: 'result' }>

const app = document.getElementById('app')!
const docName = routeDoc()
const clientID = randomId()
const darkQuery = window.matchMedia('(prefers-color-scheme: dark)')

let welcome: WelcomeMessage | null = null
let members: MemberInfo[] = []
let canManage = false
let documents: DocumentInfo[] = []
let status: StatusMsg | null = null
let peers: PresencePeer[] = []
let socketState: SocketState = 'connecting'

function routeDoc(): string | null {
  const m = /^\/doc\/(.+)$/.exec(location.pathname)
  if (!m) return null
  try {
    return decodeURIComponent(m[1]!)
  } catch {
    return null
  }
}

function randomId(): string {
  const a = new Uint8Array(9)
  crypto.getRandomValues(a)
  return Array.from(a, (b) => b.toString(36).padStart(2, '0')).join('').slice(0, 16)
}

// --- the socket ---

const socket = new PageSocket(onMessage, onOpen, onSocketState)

function onOpen(): void {
  socket.send(JSON.stringify({ type: 'documents' }))
  client?.connected((data) => socket.send(data))
}

function onSocketState(s: SocketState): void {
  socketState = s
  if (s !== 'open') client?.disconnected()
  renderStatus()
}

function onMessage(msg: ServerMessage): void {
  if (msg.type === 'welcome') welcome = msg
  if (client?.receive(msg)) {
    if (msg.type === 'welcome') afterWelcome(msg)
    return
  }
  switch (msg.type) {
    case 'documents':
      documents = msg.documents
      renderDocuments()
      break
    case 'members':
      members = msg.members
      canManage = msg.canManage
      renderMembers()
      break
    case 'access':
      if (welcome === null || msg.doc !== docName || welcome.writable === msg.writable) break
      welcome = { ...welcome, writable: msg.writable }
      view?.dispatch({ effects: readOnlyCompartment.reconfigure(readOnlyExtension(msg.writable)) })
      notice(msg.writable ? 'You can edit this document now.' : 'This device may read this document but no longer write to it.')
      renderMembers()
      break
    case 'status':
      status = msg
      renderStatus()
      break
    case 'error':
      notice(`${msg.message}`)
      break
    default:
      break
  }
}

// --- the editor ---

const shell = docName !== null ? buildEditorShell(docName) : null
let view: EditorView | null = null
let client: CollabClient | null = null
let history: HistoryPanel | null = null

const host: ClientHost = {
  get state() {
    return view!.state
  },
  dispatch(tr: Transaction) {
    view!.dispatch(tr)
  },
  setState(state: EditorState) {
    view!.setState(state)
  },
  createState(doc: Text, version: number, id: string, selection: EditorSelection | null) {
    return EditorState.create({
      doc,
      ...(selection ? { selection } : {}),
      extensions: editorExtensions(
        { markdown: welcome?.markdown ?? false, writable: welcome?.writable ?? false, dark: darkQuery.matches, onUpdate },
        version,
        id
      )
    })
  }
}

let statusFrame: number | null = null

function onUpdate(trs: readonly Transaction[], docChanged: boolean, selectionSet: boolean): void {
  if (docChanged) {
    if (trs.some((tr) => tr.docChanged && !tr.annotation(Transaction.remote))) client?.changed()
    hooks.onDocChange?.(view!.state.doc.length, performance.timeOrigin + performance.now())
    scheduleStatus()
  }
  // One cursor message per view update, not throttled here: the one
  // presence throttle is the network's, towards other devices
  // (PRESENCE_MIN_INTERVAL_MS, src/server/PROTOCOL.md "Presence").
  if (docChanged || selectionSet) {
    const m = client?.cursorMessage()
    if (m) socket.send(m)
  }
}

function scheduleStatus(): void {
  if (statusFrame !== null) return
  statusFrame = requestAnimationFrame(() => {
    statusFrame = null
    renderStatus()
  })
}

if (shell !== null && docName !== null) {
  view = new EditorView({
    parent: shell.editor,
    state: EditorState.create({ doc: 'connecting to swarmpad…', extensions: [EditorState.readOnly.of(true), EditorView.editable.of(false)] })
  })
  client = new CollabClient({
    doc: docName,
    clientID,
    host,
    nextRid: () => socket.nextRid(),
    events: {
      presence: (p) => {
        peers = p
        view!.dispatch({ effects: setRemoteCursors.of(p) })
      },
      error: (code, message) => {
        if (code === 'DOC_NOT_FOUND') showMissing(message)
        else notice(message)
      },
      dropped: (n) => notice(`${n} of your changes no longer fitted the document and were dropped.`)
    }
  })
  client.autoPush = true
  history = new HistoryPanel(socket, docName, {
    markdown: () => welcome?.markdown ?? false,
    dark: () => darkQuery.matches,
    writable: () => welcome?.writable ?? false,
    onClose: () => view?.focus()
  })
  shell.main.append(history.root)
  darkQuery.addEventListener('change', () => view?.dispatch({ effects: darkCompartment.reconfigure(EditorView.darkTheme.of(darkQuery.matches)) }))
  window.addEventListener('swarmpad-notice', (e) => notice(String((e as CustomEvent).detail)))
  window.addEventListener('beforeunload', (e) => {
    if (client !== null && client.unconfirmed > 0) e.preventDefault()
  })
} else {
  buildDocumentsPage()
}

function afterWelcome(msg: WelcomeMessage): void {
  document.title = `${msg.name} — swarmpad`
  if (shell) shell.docButton.textContent = `${msg.name} ▾`
  if (!msg.writable) notice('This device may read this document but not write to it.')
  renderStatus()
}

function showMissing(message: string): void {
  if (!shell) return
  clear(shell.editor)
  shell.editor.append(el('div', { class: 'sp-docs' }, el('h1', {}, 'No such document'), el('p', {}, message), el('p', {}, el('a', { href: '/' }, 'All documents'))))
}

// --- header, status, members ---

function buildEditorShell(name: string) {
  const docButton = el('button', { class: 'sp-doc-button', title: 'switch document', onclick: () => openDocuments() }, `${name} ▾`)
  const statusEl = el('span', { class: 'sp-status', 'data-state': 'disconnected', role: 'status', 'aria-live': 'polite' }, 'connecting…')
  const avatars = el('span', { class: 'sp-avatars', onclick: () => openMembers(), title: 'members' })
  const actions = el(
    'span',
    { class: 'sp-actions' },
    el('button', { onclick: () => view && undo(view), title: 'undo your last change (Ctrl+Z)', 'aria-label': 'undo' }, '↶'),
    el('button', { onclick: () => view && redo(view), title: 'redo (Ctrl+Shift+Z)', 'aria-label': 'redo' }, '↷'),
    el('button', { onclick: () => void toggleHistory(), 'data-action': 'history' }, 'History'),
    el('button', { onclick: () => openShare(), 'data-action': 'share' }, 'Share'),
    el('button', { onclick: () => openMembers(), 'data-action': 'members' }, 'Members')
  )
  const header = el('header', { class: 'sp-header' }, docButton, statusEl, el('span', { class: 'sp-spacer' }), avatars, actions)
  const editor = el('div', { class: 'sp-editor' })
  const main = el('main', { class: 'sp-main' }, editor)
  app.append(header, main)
  return { docButton, statusEl, avatars, editor, main }
}

function renderStatus(): void {
  if (!shell) return
  const unsent = client?.unconfirmed ?? 0
  let state: string
  let text: string
  if (socketState === 'outdated') {
    state = 'disconnected'
    text = `swarmpad was updated while this tab was open: reload the page${unsent ? ` (${unsent} changes not saved yet: copy them before reloading)` : ''}`
  } else if (socketState === 'unauthorized') {
    state = 'disconnected'
    text = `swarmpad restarted: run \`swarmpad open\` again and this tab reconnects${unsent ? ` (${unsent} unsaved changes kept in this tab)` : ''}`
  } else if (socketState !== 'open' || client === null || !client.ready) {
    state = 'disconnected'
    text = `not connected to swarmpad — retrying${unsent ? ` (${unsent} unsaved changes kept in this tab)` : ''}`
  } else {
    state = status?.state ?? 'offline'
    text = status?.label ?? 'offline'
    if (state !== 'synced' && status?.state === 'offline') text = 'offline · saved on this device'
    if (unsent > 0 || status?.saving) text += ' · saving…'
  }
  shell.statusEl.dataset.state = state
  shell.statusEl.textContent = text
}

function renderMembers(): void {
  if (!shell) return
  clear(shell.avatars)
  for (const m of members) {
    const a = el('span', { class: `sp-avatar${m.online ? ' online' : ''}`, title: `${m.name}${m.self ? ' (you)' : ''} · ${m.role} · ${m.online ? 'online' : 'offline'}` }, initials(m.name))
    a.style.backgroundColor = safeColor(m.color)
    shell.avatars.append(a)
  }
  if (membersDialog?.dialog.open) fillMembers()
}

// --- documents ---

let docsDialog: ReturnType<typeof dialog> | null = null

function documentList(onOpen: (name: string) => void): HTMLElement {
  const list = el('ul', { class: 'sp-doc-list' })
  for (const d of documents) {
    const a = el('a', { href: `/doc/${encodeURIComponent(d.name)}` }, d.name, ' ', el('span', { class: 'sp-muted' }, d.role))
    a.addEventListener('click', (e) => {
      e.preventDefault()
      onOpen(d.name)
    })
    list.append(el('li', {}, a))
  }
  if (documents.length === 0) list.append(el('li', { class: 'sp-muted' }, 'No documents yet.'))
  return list
}

function newDocumentForm(): HTMLElement {
  const input = el('input', { type: 'text', placeholder: 'new document name, e.g. notes.md', 'aria-label': 'new document name', maxlength: '64' })
  const form = el('form', { class: 'row' }, input, el('button', { class: 'primary', type: 'submit' }, 'New document'))
  form.addEventListener('submit', (e) => {
    e.preventDefault()
    const name = input.value.trim()
    if (!name) return
    socket
      .request<ResultMsg>({ type: 'create', name })
      .then(() => goTo(name))
      .catch((err: Error) => notice(`Could not create "${name}": ${err.message}`))
  })
  return form
}

function goTo(name: string): void {
  location.assign(`/doc/${encodeURIComponent(name)}`)
}

function openDocuments(): void {
  docsDialog ??= dialog('Documents', 'sp-documents')
  fillDocuments()
  docsDialog.dialog.showModal()
}

function fillDocuments(): void {
  if (!docsDialog) return
  clear(docsDialog.body)
  docsDialog.body.append(documentList(goTo), newDocumentForm())
}

let docsPage: HTMLElement | null = null

function buildDocumentsPage(): void {
  docsPage = el('div', { class: 'sp-docs' })
  app.append(docsPage)
  renderDocuments()
}

function renderDocuments(): void {
  if (docsDialog?.dialog.open) fillDocuments()
  if (!docsPage) return
  clear(docsPage)
  docsPage.append(el('h1', {}, 'swarmpad'), documentList(goTo), newDocumentForm())
}

// --- history ---

async function toggleHistory(): Promise<void> {
  if (!history) return
  if (history.isOpen) history.close()
  else await history.open()
}

// --- members ---

let membersDialog: ReturnType<typeof dialog> | null = null

function openMembers(): void {
  membersDialog ??= dialog('Members', 'sp-members')
  fillMembers()
  membersDialog.dialog.showModal()
}

function fillMembers(): void {
  if (!membersDialog || !docName) return
  const body = membersDialog.body
  clear(body)
  const list = el('ul')
  for (const m of members) {
    const dot = el('span', { class: 'sp-dot' })
    dot.style.backgroundColor = safeColor(m.color)
    const remove =
      canManage && !m.self
        ? el('button', {
            class: 'danger',
            'data-remove': 'plain',
            title: 'They can no longer write; their device keeps reading what others write',
            onclick: () => {
              if (!window.confirm(`Remove ${m.name}? Their device keeps what it has and can still read new edits, but can no longer write. To stop it reading new edits too, use "Remove and re-key".`)) return
              socket
                .request({ type: 'remove-member', doc: docName, key: m.key })
                .then(() => notice(`${m.name} was removed.`))
                .catch((err: Error) => notice(`Could not remove ${m.name}: ${err.message}`))
            }
          }, 'Remove')
        : null
    const rekey =
      canManage && !m.self
        ? el('button', {
            class: 'danger',
            'data-remove': 'rekey',
            title: 'Move everyone else to a copy with fresh keys: their device reads nothing written from now on',
            onclick: () => {
              if (!window.confirm(`Remove ${m.name} and re-key? Everyone else moves to a copy of this document with fresh keys (their devices follow by themselves while this device is online). ${m.name}'s device keeps what it has, and gets nothing written from now on.`)) return
              notice('Re-keying…')
              socket
                .request<ResultMsg>({ type: 'remove-member', doc: docName, key: m.key, rekey: true })
                .then((reply) => {
                  const r = (reply.value as RemoveInfo | undefined)?.rekey
                  const follow = r ? ` ${r.sealed === 1 ? '1 member follows' : `${r.sealed} members follow`}${r.unreachable > 0 ? `; ${r.unreachable} could not be reached and must be invited again` : ''}.` : ''
                  notice(`${m.name} was removed and the document moved to fresh keys.${follow}`)
                })
                .catch((err: Error) => notice(`Could not remove ${m.name}: ${err.message}`))
            }
          }, 'Remove and re-key')
        : null
    list.append(
      el(
        'li',
        { 'data-member': m.key },
        dot,
        el('span', { class: 'grow' }, m.name, m.self ? ' (you)' : ''),
        el('span', { class: 'sp-muted' }, m.role === 'owner' ? 'owner' : 'writer'),
        el('span', { class: 'sp-muted' }, m.online ? '● online' : '○ offline'),
        remove,
        rekey
      )
    )
  }
  body.append(list)
  const self = members.find((m) => m.self)
  if (self && welcome?.writable) {
    const name = el('input', { type: 'text', value: self.name.startsWith('member ') ? '' : self.name, placeholder: 'your name', 'aria-label': 'your name', maxlength: '64' })
    const color = el('input', { type: 'color', value: memberColor(self.color).ok ? self.color : '#4363d8', 'aria-label': 'your colour' })
    const form = el('form', { class: 'row' }, name, color, el('button', { type: 'submit' }, 'Save'))
    form.addEventListener('submit', (e) => {
      e.preventDefault()
      const checkedName = memberName(name.value.trim())
      const checkedColor = memberColor(color.value)
      if (!checkedName.ok) return notice(`Could not save: ${checkedName.problem}.`)
      if (!checkedColor.ok) return notice(`Could not save: ${checkedColor.problem}.`)
      socket
        .request({ type: 'profile', doc: docName, name: checkedName.value, color: checkedColor.value })
        .then(() => notice('Saved.'))
        .catch((err: Error) => notice(`Could not save: ${err.message}`))
    })
    body.append(el('p', { class: 'sp-muted' }, 'How others see you in this document:'), form)
  }
  if (!canManage) body.append(el('p', { class: 'sp-muted' }, 'Only owners add and remove members.'))
}

// --- share ---

let shareDialog: ReturnType<typeof dialog> | null = null

function openShare(): void {
  shareDialog ??= dialog('Share', 'sp-share')
  void fillShare()
  shareDialog.dialog.showModal()
}

const KINDS: Array<[InviteKind, string, string]> = [
  ['writer', 'Writer invite', 'a collaborator who can edit'],
  ['owner', 'Owner-device invite', 'another device of yours (an owner)'],
  ['reader', 'Read-only invite', 'someone who can read but not write']
]

async function fillShare(): Promise<void> {
  if (!shareDialog || !docName) return
  const body = shareDialog.body
  clear(body)
  const out = el('div')
  const buttons = el('div', { class: 'row' })
  for (const [kind, label, help] of KINDS) {
    buttons.append(
      el('button', {
        title: help,
        'data-kind': kind,
        disabled: !canManage && kind !== 'reader',
        onclick: () => {
          socket
            .request<ResultMsg>({ type: 'invite-create', doc: docName, kind })
            .then((r) => {
              const inv = r.value as InviteInfo
              showCode(out, inv)
              void fillInvites(list)
            })
            .catch((err: Error) => {
              clear(out)
              out.append(el('p', { class: 'sp-muted' }, (err as Error & { code?: string }).code === 'UNAVAILABLE' ? 'Invites are not available yet in this build of swarmpad.' : err.message))
            })
        }
      }, label)
    )
  }
  const list = el('ul')
  body.append(el('p', { class: 'sp-muted' }, 'An invite is a one-time code that expires. Give it to one person; they join with `swarmpad join CODE`.'), buttons, out, el('h2', {}, 'Open invites'), list)
  await fillInvites(list)
}

function showCode(out: HTMLElement, inv: InviteInfo): void {
  clear(out)
  const code = el('input', { type: 'text', class: 'sp-code', readonly: true, value: inv.code ?? '', 'aria-label': 'invite code' })
  const copy = el('button', {
    onclick: () => {
      code.select()
      const done = () => notice('Copied.')
      if (navigator.clipboard) navigator.clipboard.writeText(code.value).then(done, () => document.execCommand('copy') && done())
      else if (document.execCommand('copy')) done()
    }
  }, 'Copy')
  out.append(el('div', { class: 'row' }, code, copy), el('p', { class: 'sp-muted' }, `${inv.kind} invite · expires ${new Date(inv.expires).toLocaleString()}`))
}

async function fillInvites(list: HTMLElement): Promise<void> {
  if (!docName) return
  clear(list)
  let msg: InvitesMsg
  try {
    msg = await socket.request<InvitesMsg>({ type: 'invite-list', doc: docName })
  } catch (err) {
    list.append(el('li', { class: 'sp-muted' }, (err as Error).message))
    return
  }
  if (!msg.available) {
    list.append(el('li', { class: 'sp-muted', 'data-unavailable': true }, 'Invites are not available yet in this build of swarmpad.'))
    return
  }
  if (msg.invites.length === 0) list.append(el('li', { class: 'sp-muted' }, 'None.'))
  for (const inv of msg.invites) {
    list.append(
      el(
        'li',
        {},
        el('span', { class: 'grow' }, `${inv.kind} · created ${new Date(inv.created).toLocaleString()} · expires ${new Date(inv.expires).toLocaleString()}`),
        el('button', {
          class: 'danger',
          onclick: () => {
            socket
              .request({ type: 'invite-cancel', doc: docName, id: inv.id })
              .then(() => fillInvites(list))
              .catch((err: Error) => notice(`Could not cancel: ${err.message}`))
          }
        }, 'Cancel')
      )
    )
  }
}

// --- hooks for tests and the curious (no secrets here) ---

interface Hooks {
  text(): string
  view(): EditorView | null
  ready(): boolean
  unconfirmed(): number
  peers(): PresencePeer[]
  members(): MemberInfo[]
  status(): StatusMsg | null
  historyText(): string | null
  onDocChange?: (length: number, time: number) => void
}

const hooks: Hooks = {
  text: () => view?.state.doc.toString() ?? '',
  view: () => view,
  ready: () => client?.ready ?? false,
  unconfirmed: () => client?.unconfirmed ?? 0,
  peers: () => peers,
  members: () => members,
  status: () => status,
  historyText: () => history?.text ?? null
}
;(window as unknown as { swarmpad: Hooks }).swarmpad = hooks

if (location.pathname === '/login') {
  void redeemLogin().then((problem) => {
    if (problem !== null) {
      clear(app)
      app.append(el('main', { class: 'sp-login' }, el('h1', {}, 'swarmpad'), el('p', { role: 'alert' }, problem)))
    }
  })
} else socket.start()
