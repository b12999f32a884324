// Background priority for the encoder process, so that an answer being generated gets the cores
// first. ggml's threads spin while they wait for each other: an encoder and an answer that both
// use every core make each other's threads wait on a descheduled sibling (bench/trainer.md), and
// the answer the user waits for crawls. At the lowest priority the scheduler gives the encoder
// only what the answer leaves idle, so encoding loses nothing while no one asks.
import { readdirSync } from 'node:fs';
import { constants, setPriority } from 'node:os';

/**
 * Lowers this process to the lowest scheduling priority. On macOS and Windows the priority is
 * the process's; on Linux each thread has its own (a new thread inherits its creator's), so every
 * thread that exists now is lowered too. Threads that ggml and libuv start later inherit it.
 * Returns false where the system refused (the encoder then runs at normal priority).
 */
export function runInBackground(): boolean {
  const lowest = constants.priority.PRIORITY_LOW;
  try {
    setPriority(0, lowest);
    if (process.platform === 'linux') {
      for (const task of readdirSync('/proc/self/task')) setPriority(Number(task), lowest);
    }
    return true;
  } catch {
    return false;
  }
}
