import b4a from 'b4a'
import { SwarmpadError } from '../errors.js'
import type { Member } from '../doc/membership.js'
import { formatKey, parseKey } from '../storage/keys.js'

/// Length of the short form of a writer key shown in member lists.
export const SHORT_KEY_LENGTH = 8

/// Find a member by writer key (z32 or hex, whole), by a unique prefix of
/// its z32 key (at least 4 characters), or by its unique profile name.
/// Active members are preferred over removed ones of the same name.
export function resolveMember(members: readonly Member[], who: string | Uint8Array): Member {
  if (who instanceof Uint8Array) {
    const m = members.find((x) => b4a.equals(x.key, who))
    if (!m) throw new SwarmpadError('BAD_ARGUMENT', `${formatKey(who)} is not a member`)
    return m
  }
  const text = typeof who === 'string' ? who.trim() : ''
  if (text === '') throw new SwarmpadError('BAD_ARGUMENT', 'name a member by its key or name')
  const key = parseKey(text)
  if (key !== null) {
    const m = members.find((x) => b4a.equals(x.key, key))
    if (m) return m
  }
  const lower = text.toLowerCase()
  const byPrefix = lower.length >= 4 ? members.filter((x) => formatKey(x.key).startsWith(lower)) : []
  const byName = members.filter((x) => x.name !== '' && x.name === text)
  const candidates = byPrefix.length > 0 ? byPrefix : byName
  const active = candidates.filter((x) => !x.removed)
  const pick = active.length > 0 ? active : candidates
  if (pick.length === 1) return pick[0]!
  const known = members
    .filter((x) => !x.removed)
    .map((x) => `${formatKey(x.key).slice(0, SHORT_KEY_LENGTH)}${x.name ? ` (${x.name})` : ''}`)
    .join(', ')
  if (pick.length > 1) throw new SwarmpadError('BAD_ARGUMENT', `"${text}" matches ${pick.length} members; give more of the key (members: ${known})`)
  throw new SwarmpadError('BAD_ARGUMENT', `no member "${text}" (members: ${known}); see \`swarmpad members\``)
}
