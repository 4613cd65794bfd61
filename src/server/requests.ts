import type { DocAuthority } from './authority.js'
import type { Tab } from './connection.js'
import { memberColor, memberName } from '../values.js'
import b4a from 'b4a'
import { projectMembers } from '../doc/member-projection.js'
import { SwarmpadError } from '../errors.js'
import { type ClientMessage, type ServerMessage } from './protocol.js'

/// The page's requests about a document other than edits and presence: its
/// profile, members, history and restore, invites (PROTOCOL.md).

export async function answerRequest(authority: DocAuthority, tab: Tab, msg: ClientMessage): Promise<ServerMessage> {
  const doc = authority.doc
  switch (msg.type) {
    case 'profile': {
      const self = await doc.self()
      if (self === null) throw new SwarmpadError('NOT_WRITABLE', 'this device is not a member of the document')
      const name = memberName(msg.name)
      if (!name.ok) throw SwarmpadError.badArgument(`invalid name "${msg.name}": ${name.problem}`)
      const color = memberColor(msg.color)
      if (!color.ok) throw SwarmpadError.badArgument(`invalid colour "${msg.color}": ${color.problem}`)
      await doc.setProfile({ name: name.value, color: color.value, device: self.device })
      return { type: 'result', rid: msg.rid, doc: tab.ref }
    }
    case 'remove-member': {
      // With a re-key this document closes and the tab moves to the
      // successor (error CLOSED with resync, then a join by name) before
      // the result arrives.
      const value = await authority.hub.remover.remove(doc, b4a.from(msg.key, 'hex'), msg.rekey === true)
      return { type: 'result', rid: msg.rid, doc: tab.ref, value }
    }
    case 'history': {
      const h = authority.historyOf()
      const { count, first, points } = await h.timeline()
      const membership = await doc.membership()
      // Removed members too: their edits are in the history. Online does not apply.
      const shown = projectMembers(membership.members, doc.writerKey, new Set())
      const members = [...shown.members, ...shown.removed].map((m) => ({ key: m.hex, n: m.n, name: m.name, color: m.color, role: m.role, clientId: m.clientId, online: false, self: m.self }))
      return { type: 'history', doc: tab.ref, rid: msg.rid, count, first, points, members }
    }
    case 'history-at': {
      const clientToMember = msg.blame ? new Map((await doc.membership()).members.map((m) => [m.clientId, m.n] as const)) : null
      const { text, blame } = await authority.historyOf().textAt(msg.index, clientToMember)
      return { type: 'history-at', doc: tab.ref, rid: msg.rid, index: msg.index, text, blame }
    }
    case 'restore': {
      const { text } = await authority.historyOf().textAt(msg.index, null)
      if (!doc.writable) throw new SwarmpadError('NOT_WRITABLE', 'this device may read this document but not write to it')
      // A new edit that turns the current text into the old one: the
      // history keeps everything, and concurrent edits elsewhere survive.
      const res = doc.replaceText(text)
      await res.durable
      return { type: 'result', rid: msg.rid, doc: tab.ref, value: { version: authority.version } }
    }
    case 'invite-create': {
      const p = authority.hub.invites
      if (p === null) throw unavailable()
      const invite = await p.create(doc, msg.kind)
      return { type: 'result', rid: msg.rid, doc: tab.ref, value: invite }
    }
    case 'invite-list': {
      const p = authority.hub.invites
      return { type: 'invites', doc: tab.ref, rid: msg.rid, available: p !== null, invites: p === null ? [] : await p.list(doc) }
    }
    case 'invite-cancel': {
      const p = authority.hub.invites
      if (p === null) throw unavailable()
      await p.cancel(doc, msg.id)
      return { type: 'result', rid: msg.rid, doc: tab.ref }
    }
    default:
      throw new SwarmpadError('BAD_ARGUMENT', `unexpected ${msg.type}`)
  }
}

function unavailable(): SwarmpadError {
  return new SwarmpadError('UNAVAILABLE', 'invites are not available in this swarmpad (it runs without its pairing service)')
}
