// Minimal declarations for the untyped modules src/pairing uses
// (blind-pairing, blind-pairing-core, sodium-universal, hypercore-crypto).
// Only what the code calls is declared; widen here, never with `any` elsewhere.

declare module 'blind-pairing-core' {
  import { EventEmitter } from 'node:events'

  /// What an invite holds: the seed of the invite key pair and the
  /// discovery key of the document it is for.
  export interface InviteSecret {
    seed: Uint8Array
    discoveryKey: Uint8Array
  }

  export interface CreatedInvite {
    /// BLAKE2b of the invite public key (namespaced): how requests name their invite.
    id: Buffer
    /// The encoded invite (blind-pairing's own format; swarmpad uses its own code).
    invite: Buffer
    seed: Buffer
    publicKey: Buffer
    discoveryKey: Buffer
    expires: number
  }

  export function createInvite(key: Uint8Array, opts?: { discoveryKey?: Uint8Array; expires?: number; seed?: Uint8Array }): CreatedInvite

  /// The candidate's side of one request.
  export class CandidateRequest extends EventEmitter {
    constructor(invite: InviteSecret | Uint8Array, userData: Uint8Array, opts?: { session?: Uint8Array })
    readonly discoveryKey: Buffer
    readonly inviteId: Buffer
    readonly id: Buffer
    /// The decrypted response, set as soon as a reply decrypts (even a refusal).
    readonly response: { status: number } | undefined
    on(event: 'rejected', listener: (err: Error & { code?: string }) => void): this
    on(event: 'accepted', listener: (auth: PairingAuth) => void): this
    destroy(): void
  }

  /// The member's side of one request.
  export class MemberRequest {
    readonly inviteId: Buffer
    readonly userData: Buffer | null
    readonly response: Buffer | null
    discoveryKey: Buffer | null
    /// Decrypt and verify with the invite public key; throws when it does not open.
    open(publicKey: Uint8Array): Buffer | null
    confirm(reply: { key: Uint8Array; encryptionKey?: Uint8Array | null }): void
    /// status: 1 rejected, 2 used, 3 expired (other values: see src/pairing/invites.ts).
    deny(opts?: { status?: number }): void
  }

  export interface PairingAuth {
    key: Buffer
    encryptionKey: Buffer | null
    data: Buffer | null
  }
}

declare module 'blind-pairing' {
  import type { CandidateRequest, InviteSecret, MemberRequest, PairingAuth } from 'blind-pairing-core'

  export interface PairingMember {
    readonly discoveryKey: Buffer
    flushed(): Promise<void>
    close(): Promise<void>
  }

  export interface PairingCandidate {
    /// The request it made (created synchronously by addCandidate).
    readonly request: CandidateRequest
    readonly paired: PairingAuth | null
    close(): Promise<void>
  }

  export default class BlindPairing {
    /// `swarm` is a Hyperswarm: blind-pairing joins topics on it and opens a
    /// Protomux channel on each of its connections.
    constructor(swarm: object, opts?: { poll?: number })
    ready(): Promise<void>
    close(): Promise<void>
    addMember(opts: { discoveryKey: Uint8Array; announce?: boolean; onadd: (request: MemberRequest) => Promise<void> }): PairingMember
    /// Note: any object as first argument is taken as the options (is-options),
    /// so a prebuilt CandidateRequest cannot be passed; read `candidate.request`.
    addCandidate(opts: { invite: InviteSecret; userData: Uint8Array; onadd: (auth: PairingAuth) => Promise<void> | void }): PairingCandidate
  }
}

declare module 'hypercore-crypto' {
  const crypto: {
    discoveryKey(key: Uint8Array): Buffer
    keyPair(seed?: Uint8Array): { publicKey: Buffer; secretKey: Buffer }
    randomBytes(n: number): Buffer
  }
  export default crypto
}

declare module 'sodium-universal' {
  const sodium: {
    crypto_box_SEALBYTES: number
    crypto_box_PUBLICKEYBYTES: number
    crypto_box_SECRETKEYBYTES: number
    crypto_box_seal(out: Uint8Array, message: Uint8Array, publicKey: Uint8Array): void
    /// Returns false when the box does not open with this key pair.
    crypto_box_seal_open(out: Uint8Array, box: Uint8Array, publicKey: Uint8Array, secretKey: Uint8Array): boolean
    crypto_sign_ed25519_pk_to_curve25519(out: Uint8Array, publicKey: Uint8Array): void
    crypto_sign_ed25519_sk_to_curve25519(out: Uint8Array, secretKey: Uint8Array): void
    sodium_memzero(buffer: Uint8Array): void
  }
  export default sodium
}
