/// Stable, greppable error identities. The CLI maps them to exit statuses; the
/// daemon API sends `code` and `message`; tests assert on `code`.
export type ErrorCode =
  | 'USAGE' // bad command-line usage: exit 2
  | 'BAD_ARGUMENT' // a value that does not parse or is out of range
  | 'DOC_NOT_FOUND'
  | 'DOC_EXISTS'
  | 'INVALID_KEY'
  | 'STORAGE_LOCKED' // another process owns the storage root
  | 'STORAGE_CORRUPT'
  | 'STORAGE_MOVED' // the storage root was copied or restored: `swarmpad recover`
  | 'STORAGE_ACCESS' // EACCES, ENOSPC, ENOTDIR ...
  | 'LIBRARY_CORRUPT'
  | 'NOT_WRITABLE' // this device may not write to the document
  | 'NOT_OWNER'
  | 'MOVED' // the document is moving to a re-key's successor: try again in a moment
  | 'STALE_VERSION' // an edit based on a version too old to rebase
  | 'BAD_CHANGE' // an edit that does not fit the document
  | 'TOO_LARGE'
  | 'UPGRADE_REQUIRED' // a peer wrote a block of a newer format
  | 'CLOSED'
  | 'SAVE_UNCERTAIN' // closed while the edit's block was being appended: it may be in the log
  | 'INVALID_INVITE'
  | 'INVITE_USED'
  | 'INVITE_EXPIRED'
  | 'INVITE_CANCELLED'
  | 'PAIRING_REJECTED'
  | 'TIMEOUT'
  | 'DAEMON_UNAVAILABLE'
  | 'PORT_IN_USE'
  | 'PEER_PROTOCOL'
  | 'UNAUTHORIZED' // the daemon's API without its token, or a page login that is used up
  | 'UNAVAILABLE' // a capability this daemon was started without (the page's invites)
  // The page's collab protocol (src/server/PROTOCOL.md): the tab starts over.
  | 'STALE_EPOCH' // a push made against an earlier run of the authority
  | 'BAD_VERSION' // a version that does not exist
  | 'BAD_SEQ' // update numbers that do not increase
  | 'INTERNAL'

export class SwarmpadError extends Error {
  readonly code: ErrorCode
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'SwarmpadError'
    this.code = code
  }

  static usage(message: string): SwarmpadError {
    return new SwarmpadError('USAGE', message)
  }

  static badArgument(message: string): SwarmpadError {
    return new SwarmpadError('BAD_ARGUMENT', message)
  }
}

/// True for errors that carry one of our codes.
export function isSwarmpadError(err: unknown, code?: ErrorCode): err is SwarmpadError {
  return err instanceof SwarmpadError && (code === undefined || err.code === code)
}

/// The message of any thrown value, for one-line reports.
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message
  return String(err)
}
