/**
 * The host-side half of the shell protocol: plain POSIX `sh` (dash, busybox ash, bash) so that any
 * image with a shell works, and no helper binary has to be installed into hosts.
 *
 * Every value that comes from the user reaches the host only through `shellQuote` (single quotes,
 * the one quoting POSIX sh never interprets), so no host-side shell string is built from raw input.
 */
import { InvalidOptionsError } from '../errors/index.js';

/** Marker bytes: ASCII RS, then `BRT`, the session nonce, and a body, then RS again. */
export const MARKER_START = 0x1e;

/** POSIX single-quote quoting: `it's` → `'it'\''s'`. NUL cannot be passed to a shell at all. */
export function shellQuote(value: string, field = 'command'): string {
  if (value.includes('\0')) {
    throw new InvalidOptionsError(field, 'contains a NUL byte, which no shell can pass; remove it.');
  }
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function assertEnvName(name: string): void {
  if (!ENV_NAME.test(name)) {
    throw new InvalidOptionsError(
      `env.${name}`,
      'environment variable names must match [A-Za-z_][A-Za-z0-9_]*; rename the variable.',
    );
  }
}

/**
 * Phase one of session start: become a process-group leader (so a release can sweep every
 * background process the slot's commands left behind), then say `S`. Sent alone, and the client
 * waits for `S` before sending more, because `exec` drops whatever the old shell had buffered.
 */
export function leaderScript(nonce: string): string {
  const ready = `printf '\\036BRT%s:0:S\\036\\n' '${nonce}'`;
  return (
    `__berth_g=; { read -r __berth_l < /proc/$$/stat; } 2>/dev/null && set -- \${__berth_l##*) } && __berth_g=$3; ` +
    `if [ -n "$__berth_g" ] && [ "$__berth_g" != "$$" ] && command -v setsid >/dev/null 2>&1; ` +
    `then exec setsid sh -c "${ready.replaceAll('"', '\\"').replaceAll('$', '\\$')}; exec sh"; fi; ${ready}\n`
  );
}

/**
 * Phase two: helper functions, then `R<pid>` so the client knows the shell's pid (its group id).
 * `__berth_ps` prints `pid ppid pgid sid` for every process; the kill helpers build on it: a
 * command's tree is its session (every command leads one) plus whatever descends from it.
 * `__berth_marked` lists the processes whose environment carries a lease marker prefix
 * (`BERTH_LEASE=<host>.<slot>.`): a command that left its session and parent (`setsid`, a double
 * fork, `nohup`) keeps the environment it was started with, so a release still finds it. GNU grep
 * scans /proc in one process; elsewhere (busybox grep stops at the first NUL) the shell reads each
 * environment itself, which `read` does with the NULs dropped.
 */
export function preludeScript(nonce: string): string {
  return `__berth_n='${nonce}'
unset HISTFILE
__berth_ps() {
  for __s in /proc/[0-9]*/stat; do
    { read -r __l < "$__s"; } 2>/dev/null || continue
    __p=\${__s#/proc/}; __p=\${__p%/stat}
    set -- \${__l##*) }
    echo "$__p $2 $3 $4"
  done
}
__berth_tree() {
  __t=$(__berth_ps); __k=" $1 "; __c=1
  while [ "$__c" = 1 ]; do
    __c=0
    while read -r __p __pp __g __sid; do
      case "$__k" in *" $__p "*) continue ;; esac
      case "$__k" in *" $__pp "*|*" $__sid "*) __k="$__k$__p "; __c=1 ;; esac
    done <<__BERTH_EOF
$__t
__BERTH_EOF
  done
  echo $__k
}
__berth_kill() {
  __sig=$1; __root=$2
  if [ -d /proc/self ]; then
    if [ "$__sig" = KILL ]; then
      kill -STOP $(__berth_tree "$__root") 2>/dev/null
      kill -STOP $(__berth_tree "$__root") 2>/dev/null
    fi
    kill -"$__sig" $(__berth_tree "$__root") 2>/dev/null
  else
    kill -"$__sig" "$__root" 2>/dev/null
  fi
  return 0
}
__berth_sweep() {
  [ -d /proc/self ] || return 0
  __v=$(__berth_ps | while read -r __p __pp __g __sid; do
    [ "$__g" = "$1" ] && [ "$__p" != "$1" ] && echo "$__p"; done)
  [ -n "$__v" ] && kill -KILL $__v 2>/dev/null
  return 0
}
__berth_marked() {
  if [ -n "$__berth_gg" ]; then
    grep -l -F -- "BERTH_LEASE=$1" /proc/[0-9]*/environ 2>/dev/null | while IFS=/ read -r _ _ __p _; do
      [ "$__p" != "$$" ] && echo "$__p"; done
    return 0
  fi
  for __e in /proc/[0-9]*/environ; do
    __p=\${__e#/proc/}; __p=\${__p%/environ}
    [ "$__p" = "$$" ] && continue
    { while IFS= read -r __l || [ -n "$__l" ]; do
      case "$__l" in *"BERTH_LEASE=$1"*) echo "$__p"; break ;; esac
    done < "$__e"; } 2>/dev/null
  done
  return 0
}
__berth_lease_kill() {
  [ -d /proc/self ] || return 0
  for __r in 1 2 3 4; do
    __v=$(__berth_marked "$1")
    [ -n "$__v" ] || return 0
    kill -STOP $__v 2>/dev/null; kill -KILL $__v 2>/dev/null
  done
  return 0
}
__berth_alive() {
  for __x in "$@"; do [ -d "/proc/$__x" ] && echo "$__x"; done; return 0
}
__berth_ss=; command -v setsid >/dev/null 2>&1 && __berth_ss=setsid
__berth_gg=; grep --version 2>/dev/null | grep -q GNU && __berth_gg=1
printf '\\036BRT%s:0:R%s\\036\\n' "$__berth_n" "$$"
`;
}

export interface CommandScriptInput {
  nonce: string;
  seq: number;
  /** Already validated, absolute. */
  cwd: string;
  env?: Readonly<Record<string, string>>;
  /** Path of a file holding stdin inside the host, or undefined for /dev/null. */
  stdinPath?: string;
  /** A shell string for `sh -c`, or an argv for `exec` (no shell interpretation). */
  command: string | readonly string[];
  /** `BERTH_LEASE` value every process of this command inherits, so a release can find them all. */
  leaseMarker: string;
  /** Core-built prefix that runs the command as the slot's user (`asUserPrefix`), if any. */
  asUser?: string;
}

/** Lease markers are built by core from hex and digits only; anything else is a bug. */
const LEASE_MARKER = /^[A-Za-z0-9_.-]+$/;

/**
 * One command: its own `sh` (so `$$`, `exit`, `exec`, `trap`, `kill -9 $$` are the command's own),
 * started in a session of its own (`setsid`, so `kill 0` or a group kill reaches only the command),
 * carrying the lease marker in its environment. The slot shell learns its pid (`P` marker) and
 * reports its exit status (`E` markers on both streams). Its stdin is never the protocol pipe, so a
 * command that reads stdin cannot swallow the next command.
 */
export function commandScript(input: CommandScriptInput): string {
  const { seq } = input;
  if (!LEASE_MARKER.test(input.leaseMarker))
    throw new InvalidOptionsError('leaseMarker', 'unexpected characters.');
  const inner: string[] = [];
  inner.push(`cd -- ${shellQuote(input.cwd, 'cwd')} 2>/dev/null || {`);
  inner.push(
    `  printf 'berth: working directory %s does not exist\\n' ${shellQuote(input.cwd, 'cwd')} >&2; exit 1; }`,
  );
  for (const [name, value] of Object.entries(input.env ?? {})) {
    assertEnvName(name);
    inner.push(`export ${name}=${shellQuote(value, `env.${name}`)}`);
  }
  if (typeof input.command === 'string') {
    inner.push(`eval ${shellQuote(input.command)}`);
  } else {
    inner.push(`exec ${input.command.map((arg) => shellQuote(arg)).join(' ')}`);
  }
  const stdin = input.stdinPath === undefined ? '/dev/null' : shellQuote(input.stdinPath);
  const lines: string[] = [];
  lines.push(
    `BERTH_LEASE=${input.leaseMarker} $__berth_ss ${input.asUser ? `${input.asUser} ` : ''}sh -c ${shellQuote(inner.join('\n'))} sh < ${stdin} &`,
  );
  lines.push('__berth_p=$!');
  lines.push(`printf '\\036BRT%s:${seq}:P%s\\036\\n' "$__berth_n" "$__berth_p"`);
  lines.push('wait "$__berth_p"; __berth_r=$?');
  if (input.stdinPath !== undefined) lines.push(`rm -f ${stdin}`);
  lines.push(`printf '\\036BRT%s:${seq}:E%s\\036\\n' "$__berth_n" "$__berth_r"`);
  lines.push(`printf '\\036BRT%s:${seq}:E\\036\\n' "$__berth_n" >&2`);
  return `${lines.join('\n')}\n`;
}

/** A control-shell script run inline (no subshell, no pid): used for kill, sweep, mkdir, leases. */
export function inlineScript(nonce: string, seq: number, body: string): string {
  return (
    `${body}\n__berth_r=$?\n` +
    `printf '\\036BRT%s:${seq}:E%s\\036\\n' '${nonce}' "$__berth_r"\n` +
    `printf '\\036BRT%s:${seq}:E\\036\\n' '${nonce}' >&2\n`
  );
}

/** What the reset script prints on stderr (and exits 0) when an earlier background delete failed. */
export const TRASH_WARNING = 'berth: an old workspace could not be deleted:';

/**
 * Empties `directory` (dotfiles included, symlinks not followed) in O(1): renames it into
 * `<stateDirectory>/trash/<name>` and recreates it, then deletes the old tree in the background,
 * detached from the protocol's pipes (making read-only directories writable first, as a Go module
 * cache needs). The rename is used only when it cannot turn into a copy or a move out of the host's
 * own directories: the state and trash directories are real directories (not symlinks a lessee
 * planted) on the directory's filesystem. Otherwise it deletes in place, as before. A background
 * delete that failed left `<name>.err`; the next reset reports it (TRASH_WARNING) and clears it.
 * Resets of a host's slots run at once, so a delete still in progress writes to `<name>.log`
 * (which no reset reads) and renames it to `<name>.err` only once it failed, complete; a reset
 * claims an `.err` by renaming it to a name of its own first, so each failure is reported once.
 */
export function emptyDirectoryScript(directory: string, stateDirectory: string, name: string): string {
  const d = shellQuote(directory, 'directory');
  const s = shellQuote(stateDirectory, 'stateDirectory');
  const t = shellQuote(`${stateDirectory}/trash`, 'stateDirectory');
  const m = shellQuote(`${stateDirectory}/trash/${name}`, 'name');
  const log = shellQuote(`${stateDirectory}/trash/${name}.log`, 'name');
  const claim = shellQuote(`${stateDirectory}/trash/${name}.claimed`, 'name');
  return `for __b_f in ${t}/*.err; do
  [ -f "$__b_f" ] && mv "$__b_f" ${claim} 2>/dev/null || continue
  __b_l=; { read -r __b_l < ${claim}; } 2>/dev/null; printf '%s %s\n' '${TRASH_WARNING}' "$__b_l" >&2; rm -f ${claim}
done
__b_x=; __b_y=
if [ -d ${s} ] && [ ! -L ${s} ] && mkdir -p ${t} 2>/dev/null && [ ! -L ${t} ]; then
  __b_x=$(stat -c %d ${d} 2>/dev/null); __b_y=$(stat -c %d ${t} 2>/dev/null)
fi
if [ -n "$__b_x" ] && [ "$__b_x" = "$__b_y" ] && mv ${d} ${m} 2>/dev/null; then
  { chmod -R u+rwX ${m} 2>/dev/null; rm -rf ${m} 2>${log} && rm -f ${log} ||
    { [ -s ${log} ] || echo 'rm -rf exited non-zero' >${log}; mv ${log} ${m}.err; }; } </dev/null >/dev/null 2>&1 &
  mkdir -p ${d}
else
  chmod -R u+rwX ${d} 2>/dev/null; rm -rf ${d} && mkdir -p ${d}
fi`;
}

/**
 * Writes `bytes` to `path` inside the host through a here-document of base64 lines, and removes
 * `path` first so a failed decode never leaves a stale file. Needs `base64` in the host.
 */
export function writeBase64Script(path: string, bytes: Uint8Array, append = false): string {
  const quoted = shellQuote(path, 'path');
  const encoded = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
  const lines: string[] = [];
  for (let offset = 0; offset < encoded.length; offset += 76) lines.push(encoded.slice(offset, offset + 76));
  return `base64 -d ${append ? '>>' : '>'} ${quoted} <<'__BERTH_B64__'\n${lines.join('\n')}\n__BERTH_B64__`;
}
