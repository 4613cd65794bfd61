// Why apply() refuses a block: a stable number. Format v2 writes only the
// number (and, for a few, numbers that go with it) into the replicated
// `rejections` view, so two builds that word a reason differently still
// compute the same view bytes. The words are derived locally from the code;
// format v1 documents keep the exact words of v1 in their entries (see
// PROTOCOL.md, "Refusals").

/// Refusal codes (protocol: never renumber, never reuse).
export const Refusal = {
  /// The signer is not an active member.
  NOT_MEMBER: 1,
  /// The block does not decode (any rule of the block layout or its values).
  MALFORMED_BLOCK: 2,
  /// The update's payload does not inflate within its cap, or the Yjs guard refuses it.
  BAD_UPDATE: 3,
  NO_CHANGE: 4,
  FOREIGN_TEXT: 5,
  /// args: [clock, expected]
  CLOCK_GAP: 6,
  UNKNOWN_REFERENCE: 7,
  MISSING_REFERENCE: 8,
  UNKNOWN_DELETE: 9,
  MISSING_DELETE: 10,
  TOO_LONG: 11,
  OVER_QUOTA: 12,
  KEY_REMOVED: 13,
  ONLY_OWNERS_ADD: 14,
  ONLY_OWNERS_REMOVE: 15,
  ONLY_OWNERS_MOVE: 16,
  ALREADY_MEMBER: 17,
  ALREADY_MEMBER_OTHER_ROLE: 18,
  /// args: [limit]
  TOO_MANY_OWNERS: 19,
  /// args: [limit]
  TOO_MANY_MEMBERS: 20,
  CLIENT_COLLISION: 21,
  TARGET_NOT_MEMBER: 22,
  LAST_OWNER: 23,
  CANNOT_REMOVE_NOW: 24,
  ALREADY_MOVED: 25,
  /// Autobase refused the removal.
  REMOVE_FAILED: 26,
  // --- format v2 only ---
  /// A block of another format version than the document's.
  WRONG_VERSION: 27,
  /// An update names a file the document does not have.
  UNKNOWN_FILE: 28,
  /// A seed from someone other than the creator, or after the first update.
  SEED_NOT_FIRST: 29,
  /// A member added to continue a Yjs client that is not free to continue.
  BAD_CONTINUATION: 30,
  /// A genesis block after the first block.
  GENESIS_NOT_FIRST: 31,
  /// A deflated payload does not inflate within its cap (v1: one of the "bad update" words).
  BAD_COMPRESSION: 32
} as const

export type RefusalCode = (typeof Refusal)[keyof typeof Refusal]

/// One refusal as apply() decides it: the code (and its numbers) for the
/// view of a v2 document, and `words`, the exact reason of format v1 (written
/// into a v1 document's view, and shown locally).
export interface Verdict {
  code: RefusalCode
  args?: number[]
  words: string
}

export const refuse = (code: RefusalCode, words: string, args?: number[]): Verdict => (args === undefined ? { code, words } : { code, args, words })

const WORDS: Record<RefusalCode, (args: readonly number[]) => string> = {
  [Refusal.NOT_MEMBER]: () => 'signer is not a member',
  [Refusal.MALFORMED_BLOCK]: () => 'malformed block',
  [Refusal.BAD_UPDATE]: () => 'bad update',
  [Refusal.NO_CHANGE]: () => 'update changes nothing',
  [Refusal.FOREIGN_TEXT]: () => 'update holds text authored by another writer',
  [Refusal.CLOCK_GAP]: (a) => `update does not continue its writer's text (clock ${a[0] ?? '?'}, expected ${a[1] ?? '?'})`,
  [Refusal.UNKNOWN_REFERENCE]: () => 'update builds on text of an unknown writer',
  [Refusal.MISSING_REFERENCE]: () => 'update builds on text that is not in the document',
  [Refusal.UNKNOWN_DELETE]: () => 'update deletes text of an unknown writer',
  [Refusal.MISSING_DELETE]: () => 'update deletes text that is not in the document',
  [Refusal.TOO_LONG]: () => 'update would make the text longer than the limit',
  [Refusal.OVER_QUOTA]: () => 'writer is over its quota of update bytes',
  [Refusal.KEY_REMOVED]: () => 'a removed writer key cannot be added back; invite the device again',
  [Refusal.ONLY_OWNERS_ADD]: () => 'only owners add members',
  [Refusal.ONLY_OWNERS_REMOVE]: () => 'only owners remove members',
  [Refusal.ONLY_OWNERS_MOVE]: () => 'only owners move a document',
  [Refusal.ALREADY_MEMBER]: () => 'already a member',
  [Refusal.ALREADY_MEMBER_OTHER_ROLE]: () => 'already a member with another role',
  [Refusal.TOO_MANY_OWNERS]: (a) => `a document has at most ${a[0] ?? '?'} owner devices`,
  [Refusal.TOO_MANY_MEMBERS]: (a) => `a document has at most ${a[0] ?? '?'} members`,
  [Refusal.CLIENT_COLLISION]: () => 'writer key collides with a member clientID',
  [Refusal.TARGET_NOT_MEMBER]: () => 'not a member',
  [Refusal.LAST_OWNER]: () => 'the last owner cannot be removed',
  [Refusal.CANNOT_REMOVE_NOW]: () => 'writer cannot be removed now',
  [Refusal.ALREADY_MOVED]: () => 'document already moved',
  [Refusal.REMOVE_FAILED]: () => 'writer cannot be removed',
  [Refusal.WRONG_VERSION]: () => 'block is not in the format version of the document',
  [Refusal.UNKNOWN_FILE]: () => 'update names a file the document does not have',
  [Refusal.SEED_NOT_FIRST]: () => 'only the creator seeds a document, before its first update',
  [Refusal.BAD_CONTINUATION]: () => 'the new member cannot continue that text',
  [Refusal.GENESIS_NOT_FIRST]: () => 'a genesis block comes first',
  [Refusal.BAD_COMPRESSION]: () => 'bad update: compressed payload does not inflate within the size cap'
}

/// The words for a code read from a v2 view (an unknown code, from a newer
/// build, gets a generic phrase).
export function refusalWords(code: number, args: readonly number[] = []): string {
  const words = (WORDS as Record<number, ((a: readonly number[]) => string) | undefined>)[code]
  return words === undefined ? `refused (code ${code})` : words(args)
}

/// The code of a v1 entry's words (v1 views hold words only): the inverse of
/// the v1 wording, for showing and for the rules that read refusals.
export function codeOfV1Words(words: string): { code: RefusalCode | 0; args: number[] } {
  const gap = /^update does not continue its writer's text \(clock (\d+), expected (\d+)\)$/.exec(words)
  if (gap) return { code: Refusal.CLOCK_GAP, args: [Number(gap[1]), Number(gap[2])] }
  const owners = /^a document has at most (\d+) owner devices$/.exec(words)
  if (owners) return { code: Refusal.TOO_MANY_OWNERS, args: [Number(owners[1])] }
  const members = /^a document has at most (\d+) members$/.exec(words)
  if (members) return { code: Refusal.TOO_MANY_MEMBERS, args: [Number(members[1])] }
  if (words === WORDS[Refusal.BAD_COMPRESSION]([])) return { code: Refusal.BAD_COMPRESSION, args: [] }
  if (words.startsWith('bad update')) return { code: Refusal.BAD_UPDATE, args: [] }
  if (words.startsWith('writer cannot be removed: ')) return { code: Refusal.REMOVE_FAILED, args: [] }
  for (const [code, word] of Object.entries(WORDS)) {
    if (word([]) === words) return { code: Number(code) as RefusalCode, args: [] }
  }
  return { code: 0, args: [] }
}
