/// Every size and count cap in one place, each with the reason it exists.

/// Largest encoded block we append or accept. Hypercore suggests at most 15 MiB
/// per block; we stay far below so one block never stalls replication of the
/// others and a hostile peer cannot make every device allocate much.
export const MAX_BLOCK_BYTES = 4 * 1024 * 1024

/// Largest Yjs update inside one block. Local edits larger than this are split
/// into several transactions (see MAX_INSERT_CHUNK) so they always fit.
export const MAX_UPDATE_BYTES = MAX_BLOCK_BYTES - 1024

/// Largest piece of inserted text put into one Yjs transaction. A 20 MB paste
/// becomes 20 blocks instead of one block no peer would accept. UTF-8 needs at
/// most 3 bytes per UTF-16 unit, so 1 M units stay below MAX_UPDATE_BYTES.
export const MAX_INSERT_CHUNK = 1024 * 1024

/// Largest number of structs (items, skips, gc) one update may declare. Guards
/// against updates that claim huge counts to make the decoder spin (yjs#479).
export const MAX_UPDATE_STRUCTS = 1_000_000

/// Largest number of delete ranges one update may carry (same reason).
export const MAX_UPDATE_DELETE_RANGES = 1_000_000

/// Largest Yjs clock a struct may reach. Real documents stay far below 2^40
/// characters per device; larger clocks only come from crafted updates.
export const MAX_YJS_CLOCK = 2 ** 40

/// Largest document text we hold (UTF-16 units): 64 Mi characters.
export const MAX_TEXT_LENGTH = 64 * 1024 * 1024

/// Profile fields: a display name and a CSS colour.
export const MAX_NAME_LENGTH = 64
export const MAX_COLOR_LENGTH = 16

/// Owners are the indexers of a document; Autobase signs with a majority of
/// them, so three gives "survives losing one" without slowing signing.
export const MAX_OWNER_DEVICES = 3

/// Members a document can have. Every member adds a writer core each peer
/// must track; this bounds memory and membership-record size.
export const MAX_MEMBERS = 1000

/// A snapshot of the whole document is written every this many accepted updates,
/// so reopening or joining reads one snapshot plus at most this many updates.
export const SNAPSHOT_INTERVAL = 512

/// How many past versions a document keeps the changes of, so an edit made
/// against a slightly old version can still be rebased onto the current text.
export const MAX_REBASE_VERSIONS = 2000
