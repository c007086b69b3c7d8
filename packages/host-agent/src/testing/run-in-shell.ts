import type { HostChannelV1 } from '@berth/core';

/** Test helper: sends `script` to a shell channel, then reads stdout until an end marker appears. */
export async function runInShell(channel: HostChannelV1, script: string): Promise<string> {
  const marker = `__done_${Math.random().toString(36).slice(2)}`;
  channel.stdin.write(`${script}\necho ${marker}\n`);
  let seen = '';
  for await (const chunk of channel.stdout) {
    seen += (chunk as Buffer).toString();
    const at = seen.indexOf(`${marker}\n`);
    if (at >= 0) return seen.slice(0, at);
  }
  throw new Error(`stdout ended before ${marker}; saw ${seen}`);
}
