// The joining side of blind-pairing: one candidate per document topic at a
// time, until the device that made the invite answers, the deadline passes,
// or it is cancelled.
import { MAX_TIMER, STATUS_CANCELLED } from './invite-types.js'
import BlindPairing from 'blind-pairing'
import { type CandidateRequest, type PairingAuth } from 'blind-pairing-core'
import b4a from 'b4a'
import { SwarmpadError, errorMessage } from '../errors.js'
import { toHex } from '../storage/keys.js'


/// Joins through blind-pairing (the invite's seed and discovery key), one
/// candidate per topic: the next waits until the last one has closed.
export class PairingCandidates {
  private readonly candidatesClosing = new Map<string, Promise<void>>()

  constructor(
    private readonly pairing: () => BlindPairing,
    private readonly closing: AbortSignal,
    private readonly now: () => number
  ) {}

  /// Run one blind-pairing request until an owner device answers it.
  async pair(invite: { seed: Uint8Array; discoveryKey: Uint8Array }, writerKey: Uint8Array, opts: { deadline: number; signal?: AbortSignal }): Promise<{ key: Buffer; encryptionKey: Buffer }> {
    // blind-pairing allows one candidate per topic: let the last one finish closing.
    const dk = toHex(invite.discoveryKey)
    await this.candidatesClosing.get(dk)
    return new Promise((resolve, reject) => {
      let settled = false
      let timer: NodeJS.Timeout | undefined
      let candidate: { close(): Promise<void> } | null = null
      const signals = [this.closing, ...(opts.signal ? [opts.signal] : [])]
      const onAbort = () => finish(new SwarmpadError('CLOSED', 'joining was cancelled'))
      const finish = (err: Error | null, auth?: PairingAuth) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        for (const s of signals) s.removeEventListener('abort', onAbort)
        if (candidate) {
          const closing = candidate.close().catch(() => {})
          this.candidatesClosing.set(dk, closing)
          void closing.then(() => {
            if (this.candidatesClosing.get(dk) === closing) this.candidatesClosing.delete(dk)
          })
        }
        if (err) return reject(err)
        if (!auth || auth.key.length !== 32 || !auth.encryptionKey || auth.encryptionKey.length !== 32) {
          return reject(new SwarmpadError('PEER_PROTOCOL', 'the owner device answered without the document keys'))
        }
        resolve({ key: Buffer.from(auth.key), encryptionKey: Buffer.from(auth.encryptionKey) })
      }
      const onRejected = (request: CandidateRequest) => (err: Error & { code?: string }) => {
        // Only answers that decrypted with this invite count; anything else
        // (garbage, a reply for another request) is ignored and we keep waiting.
        const status = request.response?.status
        if (status === STATUS_CANCELLED) finish(new SwarmpadError('INVITE_CANCELLED', 'this invite was cancelled by the device that created it; ask for a new one'))
        else if (err.code === 'INVITE_USED') finish(new SwarmpadError('INVITE_USED', 'this invite was already used; an invite works once: ask for a new one'))
        else if (err.code === 'INVITE_EXPIRED') finish(new SwarmpadError('INVITE_EXPIRED', 'this invite has expired; ask for a new one'))
        else if (err.code === 'PAIRING_REJECTED') finish(new SwarmpadError('PAIRING_REJECTED', 'the owner device rejected this request (it may have been declined, or the document no longer accepts it)'))
      }
      for (const s of signals) {
        if (s.aborted) return onAbort()
        s.addEventListener('abort', onAbort)
      }
      const ms = Math.max(0, opts.deadline - this.now())
      // setTimeout cannot wait longer than 2^31-1 ms (a re-key invite waits up to 30 days): re-arm.
      const arm = () => {
        const left = opts.deadline - this.now()
        if (left > 0) {
          timer = setTimeout(arm, Math.min(left, MAX_TIMER))
          return
        }
        finish(new SwarmpadError('TIMEOUT', `no answer within ${Math.round(ms / 1000)} s from the device that created the invite; it must be online with swarmpad running: try again later`))
      }
      timer = setTimeout(arm, Math.min(ms, MAX_TIMER))
      try {
        const made = this.pairing().addCandidate({
          invite: { seed: invite.seed, discoveryKey: invite.discoveryKey },
          userData: b4a.from(writerKey),
          onadd: (auth) => finish(null, auth)
        })
        candidate = made
        // Answers arrive asynchronously: listening now misses none.
        made.request.on('rejected', onRejected(made.request))
        if (settled) void made.close().catch(() => {})
      } catch (err) {
        finish(new SwarmpadError('BAD_ARGUMENT', `already joining this document: ${errorMessage(err)}`))
      }
    })
  }
}
