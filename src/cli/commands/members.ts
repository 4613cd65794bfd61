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
      // Names come as the page shows them (src/doc/member-projection.ts):
      // two members that chose the same name already carry their key's start.
      await lines(
        ...table(
          ['NAME', 'COLOR', 'ROLE', 'KEY', 'ONLINE', 'LAST SEEN'],
          result.members.map((m) => [
            m.name + (m.self ? ' (you)' : ''),
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
