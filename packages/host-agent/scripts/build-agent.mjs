// Cross-compiles berth-agent (agent/*.go, standard library only) into bin/ for every Linux
// architecture Berth ships. Static (CGO off) so it runs in any image: glibc, musl or distroless.
// Go's build cache makes a rebuild with unchanged sources take about a second.
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const ARCHES = ['amd64', 'arm64'];

try {
  execFileSync('go', ['version'], { stdio: 'ignore' });
} catch {
  console.error(
    'Building @berth/host-agent needs Go >= 1.24 on PATH (https://go.dev/dl/), which compiles the in-host agent. ' +
      'Install Go, or use the published package, which ships the binaries prebuilt.',
  );
  process.exit(1);
}
mkdirSync(join(root, 'bin'), { recursive: true });
for (const arch of ARCHES) {
  execFileSync(
    'go',
    ['build', '-trimpath', '-buildvcs=false', '-ldflags=-s -w -buildid=', '-o', join(root, 'bin', `berth-agent-linux-${arch}`), '.'],
    {
      cwd: join(root, 'agent'),
      stdio: 'inherit',
      env: { ...process.env, CGO_ENABLED: '0', GOOS: 'linux', GOARCH: arch, GOFLAGS: '-mod=mod' },
    },
  );
}
