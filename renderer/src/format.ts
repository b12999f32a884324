// Human-readable numbers for the UI.
export { formatBytes, formatDuration, formatEncodingDevice, formatRunsOn } from '../../electron/shared/format.js';

/** 0..100, rounded down so that 100% means done. */
export function percent(done: number, total: number): number {
  return total > 0 ? Math.min(100, Math.floor((done / total) * 100)) : 0;
}

export function formatDate(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}
