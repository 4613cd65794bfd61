// device-file (a dependency of hypercore-storage): the CORESTORE file that
// records where a storage root was made (inode, platform, an xattr), so a
// copied root is refused instead of appending to its logs from a copy.
declare module 'device-file' {
  export default class DeviceFile {
    constructor(filename: string, opts?: { create?: boolean; wait?: boolean; lock?: boolean; data?: Record<string, string | number | null> })
    ready(): Promise<void>
    close(): Promise<void>
    static validate(filename: string, data?: Record<string, string | number | null>): Promise<boolean>
  }
}
