// Background priority for the encoder process, so that an answer being generated gets the cores
// first. ggml's threads spin while they wait for each other: an encoder and an answer that both
// use every core make each other's threads wait on a descheduled sibling (bench/trainer.md), and
// the answer the user waits for crawls. At the lowest priority the scheduler gives the encoder
// only what the answer leaves idle, so encoding loses nothing while no one asks. On Linux the
// encoder's threads also move to the idle scheduling class (native/src/thread_class.h): a niced
// thread keeps a core an answer's thread wakes up for until its time slice ends, an idle-class
// one gives it up at once.
import { readdirSync } from 'node:fs';
import { constants, setPriority } from 'node:os';
import { loadNativeTrainer } from '../core/trainer/nativeTrainerBinding.js';

/**
 * Lowers this process to the lowest scheduling priority. On macOS and Windows the priority is
 * the process's; on Linux each thread has its own (a new thread inherits its creator's), so every
 * thread that exists now is lowered too, and moved to the idle class when `idleClass` (and the
 * trainer's addon loads). Threads that ggml and libuv start later inherit both. Where the system
 * refuses, the encoder runs at normal priority, or only niced.
 */
export function runInBackground(options: { idleClass?: boolean } = {}): void {
  const lowest = constants.priority.PRIORITY_LOW;
  const threads = process.platform === 'linux' ? readdirSync('/proc/self/task').map(Number) : [];
  try {
    setPriority(0, lowest);
    for (const tid of threads) setPriority(tid, lowest);
  } catch { /* refused: normal priority */ }
  if (options.idleClass === false || threads.length === 0) return;
  try {
    const native = loadNativeTrainer();
    for (const tid of threads) native.threadSetIdleClass(tid);
  } catch { /* no addon: niced only */ }
}
