// Envoy's config dump (/config_dump?include_eds) saved into the work dir: on
// request, when Envoy goes live and every minute after, so that when Envoy
// dies the last one can be kept for study (a dead Envoy cannot be asked).
import { copyFileSync, existsSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { AdminClient } from '../envoy/admin.js';
import type { Clock, Timer } from '../lifecycle/clock.js';
import type { Logger } from '../log/logger.js';
import { isoTime } from '../util/iso-time.js';

export const CONFIG_DUMP_FILE = 'config_dump.json';
export const REFRESH_MS = 60_000;

/** Where the dumps go; keep() asks that a temporary work dir outlive the agent. */
export interface DumpDir {
  readonly path: string;
  keep(reason: string): void;
}

export class ConfigDumps {
  private timer?: Timer;

  constructor(
    private readonly admin: AdminClient,
    private readonly dir: DumpDir,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  get latest(): string {
    return join(this.dir.path, CONFIG_DUMP_FILE);
  }

  /** Fetches the dump now and writes it (0600) as config_dump.json; resolves with the path. */
  async save(): Promise<string> {
    const res = await this.admin('GET', '/config_dump?include_eds', 10_000);
    if (res.status !== 200) throw new Error(`Envoy answered /config_dump with ${res.status}`);
    const staging = `${this.latest}.tmp-${process.pid}`;
    writeFileSync(staging, res.body, { mode: 0o600 });
    renameSync(staging, this.latest);
    return this.latest;
  }

  /** Keeps the dump fresh while Envoy is live (a timer that does not keep the process up). */
  refreshEvery(ms = REFRESH_MS): void {
    this.stopRefreshing();
    const refresh = (): void => {
      this.save().catch((err: Error) => this.log.debug('could not refresh the config dump', { error: err.message }));
      this.timer = this.clock.setTimeout(refresh, ms);
    };
    refresh();
  }

  stopRefreshing(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  /** After Envoy died: keeps the last dump under a name of its own; undefined when there was none. */
  keepForCrash(): string | undefined {
    this.stopRefreshing();
    if (!existsSync(this.latest)) return undefined;
    const file = join(this.dir.path, `config_dump.crash-${isoTime(this.clock.now()).replace(/[:.]/g, '-')}.json`);
    copyFileSync(this.latest, file);
    this.dir.keep('it holds the config dump of a crashed Envoy');
    return file;
  }
}
