import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { environmentFor, type GlobalFlags, poolIdFrom } from './cli-environment.js';
import { drainCommand, resumeCommand, statusCommand } from './commands/drain.js';
import { execCommand } from './commands/exec.js';
import { hostsCommand } from './commands/hosts.js';
import { reapCommand } from './commands/reap.js';
import { parseDuration } from './duration.js';
import { CliError, EXIT, ExecFailure } from './exit-codes.js';
import { type Output, processOutput } from './output.js';

const EXIT_CODES_HELP = `
Exit codes:
  0    success (exec: the command's own exit code is passed on)
  1    a Berth error (the code is printed: berth: <what to do> [CODE])
  2    usage: unknown flag, missing --pool, bad duration
  3    configuration: INVALID_OPTIONS, BACKEND_UNAVAILABLE, AUTHENTICATION, CAPABILITY_UNSUPPORTED
  4    drain/resume --wait: not every live process applied it in time
  5    reap: some hosts could not be removed
  124  exec: the command timed out (--timeout)
  125  exec: Berth failed around the command (no slot, host lost…)
  130  interrupted (Ctrl-C): exec kills the remote command and releases the slot

Configuration is poolFromEnv's: BERTH_BACKEND (local, docker, nomad or an installed
berth-backend-<name>), BERTH_POOL_ID, BERTH_<BACKEND>_* and the engines' own variables
(DOCKER_HOST, NOMAD_ADDR, NOMAD_TOKEN…); BERTH_HOME (default ~/.berth) holds drain markers.`;

function durationOption(flag: string) {
  return (value: string) => {
    try {
      return parseDuration(value, flag);
    } catch (error) {
      throw new InvalidArgumentError((error as Error).message);
    }
  };
}

/** One line, like every other failure: `berth: <what> (<hint>) [USAGE]`. */
function usageErrors(hint: string) {
  return {
    outputError: (text: string, write: (text: string) => void) =>
      write(
        `berth: ${text
          .replace(/^error: /, '')
          .trim()
          .replace(/\s*\n\s*/g, ' ')} (${hint}) [USAGE]\n`,
      ),
  };
}

export interface RunContext {
  output: Output;
  signal: AbortSignal;
  env?: Record<string, string | undefined>;
}

/** The `berth` program; `run()` parses argv, runs one command and resolves its exit code. */
export function buildProgram(context: RunContext, setExitCode: (code: number) => void): Command {
  const program = new Command('berth')
    .description(
      'Operate Berth pools from outside: list and reap hosts, run a command in a slot, drain and resume running pools.',
    )
    .version('0.1.0', '-V, --version')
    .option('--backend <name>', 'the backend (same as BERTH_BACKEND)')
    .option('--home <dir>', 'the Berth home directory holding drain markers (same as BERTH_HOME)')
    .configureOutput(usageErrors('see berth <command> --help'))
    .addHelpText('after', EXIT_CODES_HELP);

  const envOf = (command: Command) => environmentFor(command.optsWithGlobals<GlobalFlags>(), context.env);
  const requirePool = (command: Command, flag: string | undefined) => {
    const env = envOf(command);
    const pool = poolIdFrom(flag, env);
    if (pool === undefined)
      throw new CliError(
        `${command.name()} needs --pool ID (or BERTH_POOL_ID).`,
        'INVALID_OPTIONS',
        EXIT.usage,
      );
    return { env, pool };
  };

  program
    .command('hosts')
    .description(
      'List every managed host: pool, profile, state, owner (and whether it is provably dead), age, spec hash, slot states',
    )
    .option('--pool <id>', 'only this pool')
    .option('--profile <name>', 'only this profile')
    .option('--json', 'machine-readable output')
    .action(async (flags: { pool?: string; profile?: string; json?: boolean }, command: Command) => {
      const env = envOf(command);
      setExitCode(
        await hostsCommand(
          env,
          { ...flags, pool: poolIdFrom(flags.pool, env) },
          context.output,
          context.signal,
        ),
      );
    });

  program
    .command('reap')
    .description(
      'Show what the orphan reaper would remove and why, then remove it (hosts are selected by labels, never by name)',
    )
    .option('--pool <id>', 'only this pool')
    .option('--profile <name>', 'only this profile')
    .option('--dry-run', 'only show what would be removed')
    .option(
      '--older-than <duration>',
      'only hosts older than this (e.g. 2h); warm hosts must also be unclaimed this long',
      durationOption('--older-than'),
    )
    .option(
      '--force',
      'reap like a persist:false pool: also warm hosts left for reuse (never a host a live process holds)',
    )
    .option('--json', 'machine-readable output')
    .action(
      async (
        flags: {
          pool?: string;
          profile?: string;
          dryRun?: boolean;
          olderThan?: number;
          force?: boolean;
          json?: boolean;
        },
        command: Command,
      ) => {
        const env = envOf(command);
        setExitCode(
          await reapCommand(
            env,
            { ...flags, pool: poolIdFrom(flags.pool, env), olderThanMs: flags.olderThan },
            context.output,
            context.signal,
          ),
        );
      },
    );

  program
    .command('exec')
    .configureOutput(usageErrors('put the command after --: berth exec --pool ID -- CMD [ARGS…]'))
    .description(
      'Acquire a slot of the pool, run CMD (argv, no shell), stream its output, release; exits with its exit code',
    )
    .usage('--pool ID [--profile P] [options] -- CMD [ARGS…]')
    .option('--pool <id>', 'the pool (or BERTH_POOL_ID)')
    .option('--profile <name>', 'the profile to acquire from')
    .option('--trajectory <id>', 'trajectory id recorded on the slot and in events')
    .option(
      '--timeout <duration>',
      'kill the command after this long (exit 124)',
      durationOption('--timeout'),
    )
    .option(
      '--acquire-timeout <duration>',
      'give up waiting for a slot after this long',
      durationOption('--acquire-timeout'),
    )
    .option('-q, --quiet', 'no progress output')
    .option('--replace', "start even when the pool's hosts were made from another spec (they are replaced)")
    .argument('<command...>', 'the command and its arguments (after --)')
    .action(
      async (
        argv: string[],
        flags: {
          pool?: string;
          profile?: string;
          trajectory?: string;
          timeout?: number;
          acquireTimeout?: number;
          quiet?: boolean;
          replace?: boolean;
        },
        command: Command,
      ) => {
        const { env, pool } = requirePool(command, flags.pool);
        try {
          const code = await execCommand(
            env,
            { ...flags, pool, timeoutMs: flags.timeout, acquireTimeoutMs: flags.acquireTimeout },
            argv,
            context.signal,
          );
          setExitCode(code);
        } catch (error) {
          throw new ExecFailure(error);
        }
      },
    );

  const waitOptions = (command: Command) =>
    command
      .option('--wait', 'wait until every live process of the pool applied it')
      .option(
        '--wait-timeout <duration>',
        'how long --wait waits (default 10s)',
        durationOption('--wait-timeout'),
      )
      .option('--json', 'machine-readable output');

  waitOptions(
    program
      .command('drain')
      .description(
        'Drain every running process of the pool: new acquires wait (or fail), in-flight work finishes. Undo with resume.',
      )
      .option('--pool <id>', 'the pool (or BERTH_POOL_ID)')
      .addOption(
        new Option('--mode <mode>', 'what new acquires do while drained')
          .choices(['wait', 'fail'])
          .default('wait'),
      ),
  ).action(
    async (
      flags: { pool?: string; mode?: 'wait' | 'fail'; wait?: boolean; waitTimeout?: number; json?: boolean },
      command: Command,
    ) => {
      const { env, pool } = requirePool(command, flags.pool);
      setExitCode(
        await drainCommand(
          env,
          { ...flags, pool, waitTimeoutMs: flags.waitTimeout },
          context.output,
          context.signal,
        ),
      );
    },
  );

  waitOptions(
    program
      .command('resume')
      .description("Remove the pool's drain marker: its processes serve acquires again (idempotent)")
      .option('--pool <id>', 'the pool (or BERTH_POOL_ID)'),
  ).action(
    async (
      flags: { pool?: string; wait?: boolean; waitTimeout?: number; json?: boolean },
      command: Command,
    ) => {
      const { env, pool } = requirePool(command, flags.pool);
      setExitCode(
        await resumeCommand(
          env,
          { ...flags, pool, waitTimeoutMs: flags.waitTimeout },
          context.output,
          context.signal,
        ),
      );
    },
  );

  program
    .command('status')
    .description("The pool's drain marker and, per live process, whether it has seen it")
    .option('--pool <id>', 'the pool (or BERTH_POOL_ID)')
    .option('--json', 'machine-readable output')
    .action(async (flags: { pool?: string; json?: boolean }, command: Command) => {
      const { env, pool } = requirePool(command, flags.pool);
      setExitCode(await statusCommand(env, { ...flags, pool }, context.output, context.signal));
    });

  for (const command of [program, ...program.commands]) command.exitOverride();
  return program;
}

/** Runs `berth` with `argv` (without `node` and the script) and resolves the exit code. */
export async function run(
  argv: readonly string[],
  context: RunContext = { output: processOutput(), signal: new AbortController().signal },
): Promise<number> {
  let exitCode: number = EXIT.ok;
  const program = buildProgram(context, (code) => (exitCode = code));
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (
        error.code === 'commander.helpDisplayed' ||
        error.code === 'commander.version' ||
        error.code === 'commander.help'
      )
        return EXIT.ok;
      return EXIT.usage; // commander has printed the one-line error and the hint already
    }
    throw error;
  }
}
