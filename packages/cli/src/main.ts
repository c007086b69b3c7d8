import { describeFailure, EXIT } from './exit-codes.js';
import { processOutput } from './output.js';
import { run } from './program.js';

// `berth hosts | head`: a closed pipe ends the output, not with a stack trace.
for (const stream of [process.stdout, process.stderr])
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });

// Ctrl-C once: abort what is running (exec kills the remote command, then releases). Twice: leave now.
const controller = new AbortController();
process.on('SIGINT', () => {
  if (controller.signal.aborted) process.exit(EXIT.interrupted);
  controller.abort(new Error('interrupted'));
});

try {
  process.exitCode = await run(process.argv.slice(2), { output: processOutput(), signal: controller.signal });
} catch (error) {
  const { line, exitCode } = describeFailure(error);
  process.stderr.write(`${line}\n`);
  process.exitCode = controller.signal.aborted ? EXIT.interrupted : exitCode;
}
