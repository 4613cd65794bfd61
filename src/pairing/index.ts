// Invites, members, re-keying: who may read and write a document.
export { Invites, DEFAULT_INVITE_EXPIRY, DEFAULT_JOIN_TIMEOUT, DEFAULT_REKEY_EXPIRY, MAX_INVITE_EXPIRY } from './invites.js'
export type {
  CreatedInvite,
  InviteInfo,
  InvitesOptions,
  JoinOptions,
  JoinProgress,
  JoinStage,
  MovedEvent,
  PairingRequest,
  PairingSwarm,
  RekeyResult
} from './invites.js'
export { Members } from './members.js'
export { colorFor } from '../doc/member-view.js'
export type { MemberInfo, MembersOptions, RemoveResult } from './members.js'
export { SwarmPresence } from './presence.js'
export type { PresenceSource } from './presence.js'
export { decodeInvite, encodeInvite, looksLikeInvite, INVITE_CODE_LENGTH, type InviteRole, type ParsedInvite } from './code.js'
export { resolveMember, SHORT_KEY_LENGTH } from './resolve.js'
