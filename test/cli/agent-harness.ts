// Shared set-up for tests that run `kuma-dp run` as a process against the
// in-test control plane and the Envoy double.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { KUMA_DP, ROOT, start, type Running } from '../helpers/cli.js';
import { startFakeCp } from '../helpers/fake-cp.js';
import { freePort } from '../helpers/ports.js';

export const ENVOY_DOUBLE_DIR = join(ROOT, 'test/fixtures/bin');
export const ENVOY_DOUBLE = join(ENVOY_DOUBLE_DIR, 'envoy');

export const DATAPLANE_YAML = `type: Dataplane
mesh: default
name: web-1
networking:
  address: 127.0.0.1
  inbound:
    - port: {{inboundPort}}
      servicePort: {{servicePort}}
      tags:
        kuma.io/service: web
  outbound:
    - port: {{outboundPort}}
      tags:
        kuma.io/service: backend
`;

/** `-v` values for DATAPLANE_YAML's ports. */
export const DATAPLANE_VARS = ['-v', 'inboundPort=20001', '-v', 'servicePort=20002', '-v', 'outboundPort=20003'];

export interface Scratch {
  dir: string;
  recordFile: string;
  adminPort: number;
  file(name: string, content: string): string;
  /** The Envoy double's recorded events. */
  events(): Array<Record<string, unknown>>;
  cleanup(): void;
}

export async function scratch(): Promise<Scratch> {
  const dir = mkdtempSync(join(tmpdir(), 'kuma-dp-test-'));
  const recordFile = join(dir, 'envoy-record.jsonl');
  return {
    dir,
    recordFile,
    adminPort: await freePort(),
    file(name, content) {
      const path = join(dir, name);
      writeFileSync(path, content);
      return path;
    },
    events() {
      if (!existsSync(recordFile)) return [];
      return readFileSync(recordFile, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>);
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Starts `kuma-dp run` with the Envoy double, fast retries and the given extra args and env. */
export function startAgent(s: Scratch, args: string[], env: NodeJS.ProcessEnv = {}): Running {
  return start(KUMA_DP, ['run', '--binary-path', ENVOY_DOUBLE, ...args], {
    env: {
      ENVOY_DOUBLE_RECORD: s.recordFile,
      KUMA_CONTROL_PLANE_RETRY_BACKOFF: '50ms',
      KUMA_CONTROL_PLANE_RETRY_MAX_DURATION: '20s',
      ...env,
    },
  });
}

/** A scratch directory and the fake control plane, both gone when the test ends, and DATAPLANE_YAML in dp.yaml with the `-v` values for it. */
export async function agentSetup(t: Test) {
  const s = await scratch();
  const cp = await startFakeCp();
  t.teardown(async () => {
    await cp.close();
    s.cleanup();
  });
  return { s, cp, dpFile: s.file('dp.yaml', DATAPLANE_YAML), vars: DATAPLANE_VARS };
}
