// The page's credential: obtained once by redeeming the single-use ticket of
// a `swarmpad open` address (/login#ticket=...&next=...), then kept in this
// origin's localStorage. An origin includes the port, so no server on
// another port of 127.0.0.1 can read it, and nothing sends it anywhere but
// the WebSocket of this origin (no cookie). It changes at every start of the
// daemon: a tab that outlives its daemon must be opened again.

const STORAGE_KEY = 'swarmpad.page-credential'

export function pageCredential(): string | null {
  try {
    return localStorage.getItem(STORAGE_KEY)
  } catch {
    return null
  }
}

export function forgetCredential(): void {
  try {
    localStorage.removeItem(STORAGE_KEY)
  } catch {}
}

/// Where a login may lead: the document list or a document of this page,
/// nothing else (no other host, no scheme, no protocol-relative path).
export function safeNext(next: string | null): string {
  if (next === null || !/^\/(doc\/[^/?#\\\u0000-\u001f\u007f]+)?$/.test(next)) return '/'
  return next
}

/// On /login: trade the ticket for the credential, then go to the page it
/// names. Resolves with an error message to show when that fails.
export async function redeemLogin(): Promise<string | null> {
  const params = new URLSearchParams(location.hash.slice(1))
  const ticket = params.get('ticket')
  const next = safeNext(params.get('next'))
  // The ticket leaves the address bar and the history entry at once.
  history.replaceState(null, '', '/login')
  if (ticket === null) return 'This address has no login ticket. Run `swarmpad open NAME` to open a document.'
  let res: Response
  try {
    res = await fetch('/page/redeem', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ ticket }), cache: 'no-store', credentials: 'omit' })
  } catch {
    return 'swarmpad is not running. Start it with `swarmpad open NAME`.'
  }
  if (res.status !== 200) return 'This address was used already or is more than two minutes old. Run `swarmpad open NAME` again.'
  const { credential } = (await res.json()) as { credential?: unknown }
  if (typeof credential !== 'string') return 'swarmpad sent an unexpected answer. Run `swarmpad open NAME` again.'
  try {
    localStorage.setItem(STORAGE_KEY, credential)
  } catch {
    return 'This browser does not let the page keep its login (local storage is off). Allow it for this address.'
  }
  location.replace(next)
  return null
}

/// Whether the daemon still takes our credential (false after a restart).
export async function credentialValid(credential: string | null): Promise<boolean> {
  if (credential === null) return false
  const res = await fetch('/page/session', { method: 'HEAD', cache: 'no-store', credentials: 'omit', headers: { 'X-Swarmpad-Page': credential } })
  return res.status === 204
}
