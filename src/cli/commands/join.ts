import type { Command } from 'commander'
import { Context } from '../context.js'
import { checkNewName, parseDuration, readInviteCode } from '../input.js'
import { JOIN_TIMEOUT } from '../../values.js'
import { lines, printJson } from '../output.js'
import { replyError } from '../client.js'
import { SwarmpadError, type ErrorCode } from '../../errors.js'
import { decodeInvite, isExpired } from '../../pairing/code.js'
import type { DocumentSummary } from '../../daemon/api.js'

type JoinEvent =
  | { type: 'progress'; stage: string; message: string }
  | { type: 'done'; document: DocumentSummary }
  | { type: 'error'; error: { code: ErrorCode; message: string } }

export function register(program: Command): void {
  program
    .command('join')
    .description('join a document with an invite code (waits for the inviting device), then add it to the library; give the code as - (or not at all) to type or pipe it in, so other users of this machine never see it in `ps`')
    .argument('[code]', 'the invite code, or - to read it from standard input (the default)')
    .argument('[name]', 'local name for the document (default: shared-XXXXXX)')
    .option('--timeout <duration>', 'how long to wait for the inviting device: 30s, 5m ... (default 2m)')
    .option('--json', 'print the result as JSON')
    .action(async (given: string | undefined, name: string | undefined, opts: { timeout?: string; json?: boolean }, cmd: Command) => {
      const code = given === undefined || given === '-' ? await readInviteCode() : given
      // Everything that can be checked without the network is checked first.
      const invite = decodeInvite(code)
      if (isExpired(invite, Date.now())) throw new SwarmpadError('INVITE_EXPIRED', `this invite expired on ${new Date(invite.expires).toISOString()}; ask for a new one`)
      if (name !== undefined) checkNewName(name)
      const timeout = opts.timeout === undefined ? undefined : parseDuration(opts.timeout, JOIN_TIMEOUT)
      const ctx = Context.of(cmd)
      const client = await ctx.daemon()
      const res = await client.send('POST', '/api/join', { json: { code, name, timeout } })
      if (res.statusCode !== 200) {
        const chunks: Buffer[] = []
        for await (const c of res) chunks.push(c as Buffer)
        throw replyError(res.statusCode ?? 0, Buffer.concat(chunks))
      }
      // Ctrl-C closes the request: the daemon cancels the join and keeps nothing.
      const onSigint = () => {
        res.destroy()
        process.stderr.write('swarmpad: join cancelled; nothing was added\n')
        process.exit(130)
      }
      process.once('SIGINT', onSigint)
      let result: DocumentSummary | null = null
      let buffer = ''
      try {
        for await (const chunk of res) {
          buffer += (chunk as Buffer).toString('utf8')
          let nl: number
          while ((nl = buffer.indexOf('\n')) !== -1) {
            const line = buffer.slice(0, nl).trim()
            buffer = buffer.slice(nl + 1)
            if (line === '') continue
            const e = JSON.parse(line) as JoinEvent
            if (e.type === 'progress') ctx.progress(e.message)
            else if (e.type === 'error') {
              // Say where it looked: an unreachable bootstrap node looks the same as an offline owner.
              const where = e.error.code === 'TIMEOUT' ? `; bootstrap nodes tried: ${client.info.network?.bootstrap ?? 'the public DHT'}` : ''
              throw new SwarmpadError(e.error.code, e.error.message + where)
            }
            else result = e.document
          }
        }
      } finally {
        process.off('SIGINT', onSigint)
      }
      if (result === null) throw new SwarmpadError('DAEMON_UNAVAILABLE', `the daemon stopped answering while joining; see ${ctx.paths.log}`)
      if (opts.json) return printJson(result)
      await lines(`joined ${result.name} as ${result.role}`, `key: ${result.key}`)
    })
}
