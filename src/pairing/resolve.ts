import b4a from 'b4a'
import { SwarmpadError } from '../errors.js'
import type { Member } from '../doc/membership.js'
import { formatKey, parseKey } from '../storage/keys.js'

/// Length of the short form of a writer key shown in member lists.
export const SHORT_KEY_LENGTH = 8

/// Find a member by writer key (z32 or hex, whole), by its profile name, or
/// by a prefix of its z32 key (at least 4 characters). A name is only a
/// hint any member can choose, so it never silently beats a key: when a
/// text is one member's name and the start of another's key (or several
/// members' name), the answer is an error listing them, asking for more of
/// the key. Active members are preferred over removed ones.
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
  const preferActive = (list: Member[]) => {
    const active = list.filter((x) => !x.removed)
    return active.length > 0 ? active : list
  }
  const lower = text.toLowerCase()
  const byName = preferActive(members.filter((x) => x.name !== '' && x.name === text))
  const byPrefix = preferActive(lower.length >= 4 ? members.filter((x) => formatKey(x.key).startsWith(lower)) : [])
  const pick = [...byName, ...byPrefix.filter((x) => !byName.includes(x))]
  if (pick.length === 1) return pick[0]!
  const describe = (x: Member) => `${formatKey(x.key).slice(0, SHORT_KEY_LENGTH)}${x.name ? ` (${x.name})` : ''}`
  if (pick.length > 1) {
    throw new SwarmpadError('BAD_ARGUMENT', `"${text}" could be ${pick.length} members: ${pick.map(describe).join(', ')}; give more of the key (\`swarmpad members\` shows them)`)
  }
  const known = members.filter((x) => !x.removed).map(describe).join(', ')
  throw new SwarmpadError('BAD_ARGUMENT', `no member "${text}" (members: ${known}); see \`swarmpad members\``)
}
