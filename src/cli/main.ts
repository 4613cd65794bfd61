// The `swarmpad` command: global options, one module per command, exit
// statuses (0 ok, 1 failure, 2 usage), one-line errors.
import { Command, CommanderError } from 'commander'
import { SwarmpadError, type ErrorCode } from '../errors.js'
import { SWARMPAD_VERSION } from '../daemon/info.js'
import { COMMANDS } from './commands/index.js'

/// Errors about what was typed: exit status 2.
const USAGE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['USAGE', 'INVALID_KEY', 'INVALID_INVITE'])

export function buildProgram(): Command {
  const program = new Command('swarmpad')
  program
    .description('local-first, peer-to-peer collaborative text editor')
    .version(SWARMPAD_VERSION, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .option('--home <dir>', 'storage root (default: $SWARMPAD_HOME, else $XDG_DATA_HOME/swarmpad, else ~/.local/share/swarmpad)')
    .option('--bootstrap <host:port,...>', 'DHT bootstrap nodes instead of the public ones (default: $SWARMPAD_BOOTSTRAP)')
    .option('--no-lan', 'do not look for peers on the local network (also SWARMPAD_LAN=0)')
    .exitOverride()
    .configureOutput({ outputError: () => {} })
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .showSuggestionAfterError(true)
    .addHelpText(
      'after',
      [
        '',
        'A document is named by its local name or its key. Read commands take --json.',
        'Exit status: 0 ok, 1 failure, 2 usage error. SWARMPAD_DEBUG=1 prints stack traces.',
        'Run `swarmpad COMMAND --help` for the options of a command.'
      ].join('\n')
    )
  for (const register of COMMANDS) register(program)
  return program
}

/// Run the command line; resolves with the exit status.
export async function run(argv: string[]): Promise<number> {
  const program = buildProgram()
  if (argv.length <= 2) {
    process.stderr.write(program.helpInformation())
    return 2
  }
  try {
    await program.parseAsync(argv)
    return typeof process.exitCode === 'number' ? process.exitCode : 0
  } catch (err) {
    return report(err, program, argv)
  }
}

function report(err: unknown, program: Command, argv: string[]): number {
  if (process.env.SWARMPAD_DEBUG === '1' && err instanceof Error) process.stderr.write(`${err.stack ?? err.message}\n`)
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0
    const command = commandName(program, argv)
    const text = err.message
      .replace(/^error: /, '')
      .split('\n')
      .map((s) => s.trim())
      .filter((s) => s !== '')
      .join(' ')
      .replace(/\.$/, '')
    process.stderr.write(`swarmpad: ${text}; see \`swarmpad${command ? ' ' + command : ''} --help\`\n`)
    return 2
  }
  if (err instanceof SwarmpadError) {
    process.stderr.write(`swarmpad: ${oneLine(err.message)}\n`)
    return USAGE_CODES.has(err.code) ? 2 : 1
  }
  const message = err instanceof Error ? err.message : String(err)
  process.stderr.write(`swarmpad: internal error: ${oneLine(message)} (run with SWARMPAD_DEBUG=1 for details)\n`)
  return 1
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim()
}

/// The command being run, for "see `swarmpad CMD --help`".
function commandName(program: Command, argv: string[]): string | null {
  const names = new Set(program.commands.flatMap((c) => [c.name(), ...c.aliases()]))
  for (const arg of argv.slice(2)) if (names.has(arg)) return arg
  return null
}

const code = await run(process.argv)
// Let stdout and stderr drain, then exit even if a library left a handle open.
await new Promise<void>((resolve) => process.stdout.write('', () => resolve()))
await new Promise<void>((resolve) => process.stderr.write('', () => resolve()))
process.exit(code)
