import type { Command } from 'commander'
import { Context } from '../context.js'
import { checkDocArg } from '../input.js'
import { formatTime, lines, printJson, table } from '../output.js'
import type { MemberInfo } from '../../pairing/members.js'

export function register(program: Command): void {
  program
    .command('members')
    .description("list a document's members: name, colour, role, short device key, online, last seen")
    .argument('<name>', 'document name or key')
    .option('--json', 'print the members as JSON')
    .action(async (name: string, opts: { json?: boolean }, cmd: Command) => {
      checkDocArg(name)
      const client = await Context.of(cmd).daemon()
      const result = await client.json<{ name: string; members: MemberInfo[] }>('GET', '/api/members', { query: { doc: name } })
      if (opts.json) return printJson(result)
      // Names are chosen by each member: two that show the same get their key's start too.
      const seen = new Map<string, number>()
      for (const m of result.members) seen.set(m.name, (seen.get(m.name) ?? 0) + 1)
      const shown = (m: MemberInfo) => (m.name || '(no name)') + ((seen.get(m.name) ?? 0) > 1 ? ` [${m.shortKey}]` : '')
      await lines(
        ...table(
          ['NAME', 'COLOR', 'ROLE', 'KEY', 'ONLINE', 'LAST SEEN'],
          result.members.map((m) => [
            shown(m) + (m.self ? ' (you)' : ''),
            m.color,
            m.role,
            m.shortKey,
            m.online ? 'yes' : 'no',
            m.online ? 'now' : m.lastSeen === null ? '-' : formatTime(m.lastSeen)
          ])
        )
      )
    })
}
