// JSON-RPC 2.0 as the editor protocol uses it, and the few private additions
// between `swarmpad client` and the daemon (below; the editor never sees them).

export type Id = number | string | null

export interface RpcRequest {
  jsonrpc?: string
  id?: Id
  method: string
  params?: unknown
}

export interface RpcError {
  code: number
  message: string
}

/// JSON-RPC's own error codes, and one for everything swarmpad refuses.
export const PARSE_ERROR = -32700
export const INVALID_REQUEST = -32600
export const METHOD_NOT_FOUND = -32601
export const INVALID_PARAMS = -32602
export const REFUSED = -32000

/// The field the daemon adds to some messages for the client's replica of
/// each file's state (src/editor/relay.ts); the client strips it before the
/// editor sees the message. Values: "op" on an `edit` notification that is a
/// new change of the document, "resend" on one that repeats queued changes
/// after an edit of the editor, "applied" on the answer to an `edit` that
/// moved the file's state on (taken, or taken and undone with a new "op").
export const PRIVATE = 'swarmpad'
export type PrivateMark = 'op' | 'resend' | 'applied'

/// Methods only `swarmpad client` sends: `swarmpad/hello { root }`,
/// `swarmpad/resume { uri, state, desynced? }` (after a daemon restart) and
/// `swarmpad/dropped { uri?, reason }` (an editor message it could not pass on).
export const HELLO = 'swarmpad/hello'
export const RESUME = 'swarmpad/resume'
export const DROPPED = 'swarmpad/dropped'

export function response(id: Id, result: unknown, mark?: PrivateMark): string {
  return JSON.stringify(mark === undefined ? { jsonrpc: '2.0', id, result } : { jsonrpc: '2.0', id, result, [PRIVATE]: mark })
}

export function errorResponse(id: Id, code: number, message: string, mark?: PrivateMark): string {
  const error: RpcError = { code, message }
  return JSON.stringify(mark === undefined ? { jsonrpc: '2.0', id, error } : { jsonrpc: '2.0', id, error, [PRIVATE]: mark })
}

/// (The mark is the last member, so that `swarmpad client` can pass a
/// marked notification on without parsing it first: withoutMark().)
export function notification(method: string, params: unknown, mark?: PrivateMark): string {
  return JSON.stringify(mark === undefined ? { jsonrpc: '2.0', method, params } : { jsonrpc: '2.0', method, params, [PRIVATE]: mark })
}

const MARK_SUFFIXES: Record<'op' | 'resend', string> = { op: `,"${PRIVATE}":"op"}`, resend: `,"${PRIVATE}":"resend"}` }

/// A notification of the daemon marked "op" or "resend" (as notification()
/// writes it: the mark last), as the editor gets it: without the mark. Null
/// when `text` does not end with one. Only the daemon's own messages are
/// passed in: a JSON object whose text ends with `,"swarmpad":"op"}` has that
/// member last at its top level (inside a string the quotes would be escaped).
export function withoutMark(text: string): { mark: 'op' | 'resend'; text: string } | null {
  if (text.charCodeAt(text.length - 1) !== 0x7d) return null
  for (const mark of ['op', 'resend'] as const) {
    const suffix = MARK_SUFFIXES[mark]
    if (text.endsWith(suffix)) return { mark, text: text.slice(0, text.length - suffix.length) + '}' }
  }
  return null
}

/// A JSON-RPC id as JSON-RPC allows it, or undefined.
export function idOf(value: unknown): Id | undefined {
  if (value === null || typeof value === 'string') return value
  if (typeof value === 'number' && Number.isFinite(value)) return value
  return undefined
}
