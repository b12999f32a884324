// Main's side of the encoder: starts encoderWorker.js as an Electron utilityProcess when the
// engine process asks (only main can), and relays its messages both ways. The engine process
// decides when to start, stop and restart it (startEncoderProcess).
import { utilityProcess, type UtilityProcess } from 'electron';
import { ENCODER_WORKER } from '../node/encoderProcess.js';
import type { FromEncoder } from '../node/encoderMessages.js';
import type { EngineProcessCommand, EngineProcessReport } from './processMessages.js';

export class EncoderWorkers {
  private readonly workers = new Map<number, UtilityProcess>();

  /** @param toEngine posts a command to the engine process that owns these workers. */
  constructor(private readonly toEngine: (command: EngineProcessCommand) => void) {}

  /** Handles the encoder-* reports of the engine process; false for any other report. */
  handle(report: EngineProcessReport): boolean {
    switch (report.type) {
      case 'encoder-spawn': this.spawn(report.workerId); return true;
      case 'encoder-send': this.workers.get(report.workerId)?.postMessage(report.message); return true;
      case 'encoder-kill': this.workers.get(report.workerId)?.kill(); return true;
      default: return false;
    }
  }

  /** Ends every worker, e.g. when their engine process died. */
  killAll(): void {
    for (const worker of this.workers.values()) worker.kill();
    this.workers.clear();
  }

  private spawn(workerId: number): void {
    const worker = utilityProcess.fork(ENCODER_WORKER, [], { serviceName: 'ParamKB encoder', stdio: 'inherit' });
    this.workers.set(workerId, worker);
    worker.on('message', (message: FromEncoder) => this.toEngine({ type: 'encoder-message', workerId, message }));
    worker.once('exit', (code) => {
      if (this.workers.get(workerId) !== worker) return;
      this.workers.delete(workerId);
      this.toEngine({ type: 'encoder-exit', workerId, failure: code === 0 ? null : `exit code ${code}` });
    });
  }
}
