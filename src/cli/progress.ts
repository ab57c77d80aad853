import type { RecoveredFault } from '../train/fault-recovery.js';

/** A progress bar on a TTY (stderr), plain lines every tenth of the run otherwise. */
export class Progress {
  private readonly tty: boolean;
  private lastLine = 0;

  constructor(
    private readonly total: number,
    private readonly enabled: boolean,
  ) {
    this.tty = enabled && process.stderr.isTTY === true;
  }

  tick(i: number, values: Record<string, number>): void {
    if (!this.enabled) return;
    const text = Object.entries(values)
      .map(([k, v]) => `${k} ${v.toFixed(4)}`)
      .join('  ');
    if (this.tty) {
      const width = 24,
        filled = Math.round((i / this.total) * width);
      process.stderr.write(`\r[${'='.repeat(filled)}${' '.repeat(width - filled)}] ${i}/${this.total}  ${text}   `);
    } else if (i === 1 || i === this.total || i - this.lastLine >= Math.max(1, Math.floor(this.total / 10))) {
      this.lastLine = i;
      process.stderr.write(`epoch ${i}/${this.total}  ${text}\n`);
    }
  }

  end(): void {
    if (this.tty) process.stderr.write('\n');
  }
}

/** What the CLI says when a trainer recovered from a worker fault (EpochGuard). */
export function recoveredFaultLine(command: string, f: RecoveredFault): string {
  return `${command}: ${f.error} in epoch ${f.epoch}; rolled back to the epoch's in-memory snapshot and replaying it (failure ${f.failure}; restore ${f.restoreMs.toFixed(2)} ms, ${f.lostMs.toFixed(0)} ms redone)`;
}
