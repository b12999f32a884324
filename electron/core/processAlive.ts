// Whether a process of this machine is still running: for files and locks left by a process
// that may have been killed (a pack import's staging folder, an `encode --redis` run).
export function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
